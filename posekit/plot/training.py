"""Views of how the network learned: targets beside its maps, per-stage losses, cost against people."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..skeleton import NUM_HEATMAPS, NUM_PAFS, NUM_PARTS
from ._base import HEATMAP_CMAP, _new_axes, _new_figure, to_rgb

__all__ = ["plot_cost_vs_people", "plot_loss_curves", "plot_stage_losses", "plot_targets_vs_maps"]

STAGE_COLORS = ("#440154", "#414487", "#2a788e", "#22a884", "#7ad151", "#fde725")  #: stage 1 .. 6 (viridis)


def _parts_max(heat: np.ndarray, name: str) -> np.ndarray:
    heat = np.asarray(heat, dtype=np.float32)
    if heat.ndim != 3 or heat.shape[-1] != NUM_HEATMAPS:
        raise ValueError(f"{name} must have shape (h, w, {NUM_HEATMAPS}), got {heat.shape}")
    return heat[..., :NUM_PARTS].max(axis=-1)


def _paf_magnitude(paf: np.ndarray, name: str) -> np.ndarray:
    paf = np.asarray(paf, dtype=np.float32)
    if paf.ndim != 3 or paf.shape[-1] != NUM_PAFS:
        raise ValueError(f"{name} must have shape (h, w, {NUM_PAFS}), got {paf.shape}")
    return np.hypot(paf[..., 0::2], paf[..., 1::2]).max(axis=-1)


def plot_targets_vs_maps(image, heat_target, paf_target, heat_net, paf_net, *, fig=None):
    """Training targets beside the network's maps: 2 x 2 panels on the (darkened) image.

    Top row: the max over the 18 part channels of the target heatmaps and of the network's;
    bottom row: the largest PAF vector length over the 19 limbs, target and network.

    Args:
        image: BGR uint8 (H, W, 3) the fields cover (drawn stretched under them).
        heat_target, heat_net: float32 (h, w, 19) heatmaps (target, network) on the same grid.
        paf_target, paf_net: float32 (h, w, 38) PAFs (target, network).
        fig: Figure to fill, or None for a new one.

    Returns:
        The Figure; its four image Axes carry the field shown (``ax.images[-1]``, extent = image pixels).
    """
    rgb = to_rgb(image)
    height, width = rgb.shape[:2]
    panels = [
        (_parts_max(heat_target, "heat_target"), "target heatmaps (max of 18 parts)"),
        (_parts_max(heat_net, "heat_net"), "network heatmaps (max of 18 parts)"),
        (_paf_magnitude(paf_target, "paf_target"), "target PAFs (longest limb vector)"),
        (_paf_magnitude(paf_net, "paf_net"), "network PAFs (longest limb vector)"),
    ]
    if panels[0][0].shape != panels[1][0].shape or panels[2][0].shape != panels[0][0].shape:
        raise ValueError("targets and network maps must be on the same grid")
    fig = _new_figure(fig, 2 * 10.0 / 2 * height / width + 1.0)
    axes = fig.subplots(2, 2)
    for ax, (field, title) in zip(axes.ravel(), panels):
        ax.imshow(rgb, alpha=0.45)
        im = ax.imshow(
            field, cmap=HEATMAP_CMAP, vmin=0.0, vmax=1.0, alpha=0.6, extent=(0, width, height, 0),
            interpolation="nearest",
        )  # fmt: skip
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=axes, shrink=0.7, label="value (0..1)")
    return fig


def plot_stage_losses(losses: Sequence[float], *, title: str | None = None, ax=None):
    """Bar chart of one loss per refinement stage (stage 1 first), each bar labelled with its value.

    Args:
        losses: one float per stage.
        title: Axes title.
        ax: Axes to draw into, or None for a new figure.

    Returns:
        The Axes; ``ax.patches`` holds one bar per stage, heights = ``losses``.
    """
    values = np.asarray(losses, dtype=np.float64).ravel()
    if values.size == 0:
        raise ValueError("losses is empty: pass one loss per stage")
    ax = _new_axes(ax, 0.4)
    stages = np.arange(1, values.size + 1)
    colors = [STAGE_COLORS[i % len(STAGE_COLORS)] for i in range(values.size)]
    bars = ax.bar(stages, values, color=colors)
    ax.bar_label(bars, fmt="%.1f", fontsize=9)
    ax.set_xticks(stages)
    ax.set_xlabel("stage")
    ax.set_ylabel("L2 loss against the targets")
    ax.set_title(title or "loss of each stage")
    return ax


def plot_loss_curves(history, *, title: str | None = None, ax=None):
    """The per-stage losses of a ``posekit.train.fit`` run against the step, one line per stage.

    Args:
        history: a ``posekit.train.History`` or a float array (steps, stages).
        title: Axes title.
        ax: Axes to draw into, or None for a new figure.

    Returns:
        The Axes; ``ax.lines[t]`` is stage t + 1's curve (x = step from 1, y = loss).
    """
    arr = history.stage_array() if hasattr(history, "stage_array") else np.asarray(history, np.float64)
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(f"history must hold (steps, stages) losses, got shape {arr.shape}")
    ax = _new_axes(ax, 0.45)
    steps = np.arange(1, arr.shape[0] + 1)
    for t in range(arr.shape[1]):
        ax.plot(
            steps,
            arr[:, t],
            marker="o",
            ms=3,
            color=STAGE_COLORS[t % len(STAGE_COLORS)],
            label=f"stage {t + 1}",
        )
    ax.set_xlabel("step")
    ax.set_ylabel("L2 loss (batch)")
    ax.set_title(title or "fine-tuning: loss of each stage")
    ax.legend(ncols=min(arr.shape[1], 6), fontsize=8)
    return ax


def plot_cost_vs_people(people: Sequence[int], network_ms: Sequence[float], grouping_ms: Sequence[float], *,
                        labels: Sequence[str] | None = None, fig=None):  # fmt: skip
    """Network and grouping milliseconds against the number of people found, side by side.

    Args:
        people: people found in each image.
        network_ms: the network's time per image (ms).
        grouping_ms: the grouping's (post-processing) time per image (ms).
        labels: optional name of each image, written next to its points.
        fig: Figure to fill, or None for a new one.

    Returns:
        The Figure; its two Axes hold one scatter (``ax.collections[0]``) each, x = people.
    """
    x = np.asarray(people, dtype=np.float64)
    ys = [np.asarray(network_ms, np.float64), np.asarray(grouping_ms, np.float64)]
    if any(y.shape != x.shape for y in ys) or x.ndim != 1 or x.size == 0:
        raise ValueError("people, network_ms and grouping_ms must be 1-D of the same non-zero length")
    fig = _new_figure(fig, 3.8)
    axes = fig.subplots(1, 2)
    for ax, y, what, color in zip(axes, ys, ("network", "grouping"), ((0.2, 0.4, 0.8), (0.85, 0.35, 0.1))):
        ax.scatter(x, y, color=color, s=30)
        if labels is not None:
            for xi, yi, name in zip(x, y, labels):
                ax.annotate(str(name), (xi, yi), textcoords="offset points", xytext=(4, 3), fontsize=7)
        ax.set_xlabel("people found")
        ax.set_ylabel("ms")
        ax.set_ylim(0, max(float(y.max()) * 1.2, 1e-3))
        ax.set_title(f"{what} time against people")
    return fig
