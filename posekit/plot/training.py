"""Views of how the network learned: targets beside its maps, per-stage losses, cost against people."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..skeleton import NUM_HEATMAPS, NUM_PAFS, NUM_PARTS
from ._base import HEATMAP_CMAP, _new_axes, _new_figure, to_rgb

__all__ = [
    "plot_cost_vs_people",
    "plot_loss_curves",
    "plot_max_vs_sum",
    "plot_paf_overlap",
    "plot_stage_losses",
    "plot_targets_vs_maps",
]

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
        The Figure; its four image Axes carry the field shown (``ax.images[-1]``, extent = image pixels);
        the colour scale runs from 0 to the largest value shown (at least 1), written on the colour bar.
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
    # one colour scale for all four panels, wide enough for the largest value shown: the network's
    # PAF vectors can be longer than 1 (the targets are unit vectors)
    top = max(1.0, max(float(np.nanmax(field)) for field, _ in panels))
    for ax, (field, title) in zip(axes.ravel(), panels):
        ax.imshow(rgb, alpha=0.45)
        im = ax.imshow(
            field, cmap=HEATMAP_CMAP, vmin=0.0, vmax=top, alpha=0.6, extent=(0, width, height, 0),
            interpolation="nearest",
        )  # fmt: skip
        ax.set_title(f"{title}, max {float(np.nanmax(field)):.2f}", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=axes, shrink=0.7, label=f"value (colour scale 0..{top:.2f})")
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


def plot_max_vs_sum(sigma: float, separations: Sequence[float] = (1.5, 2.0, 3.0), *, fig=None):
    """Two people's Gaussians for one part, combined by max (the targets) and by sum, along a line.

    Each panel puts two keypoints ``d`` apart (``d`` in units of ``sigma``) and draws the two
    Gaussians ``exp(-x^2 / (2 sigma^2))``, their maximum and their sum. The title counts the peaks
    of each: the maximum keeps two peaks as long as the Gaussians are distinct; the sum merges them
    into one peak once ``d <= 2 sigma`` (and exceeds 1 between them).

    Args:
        sigma: the Gaussian's standard deviation in image pixels (``posekit.targets.DEFAULT_SIGMA``).
        separations: the distances between the two keypoints, in units of ``sigma``.
        fig: Figure to fill, or None for a new one.

    Returns:
        The Figure; panel i's Axes holds the lines "person 1", "person 2", "max", "sum" (labels) and
        its ``peaks`` attribute the peak counts ``{"max": n, "sum": n}``.
    """
    sigma = float(sigma)
    if not np.isfinite(sigma) or sigma <= 0:
        raise ValueError(f"sigma must be a finite number > 0, got {sigma!r}")
    seps = [float(d) for d in separations]
    if not seps or any(not np.isfinite(d) or d <= 0 for d in seps):
        raise ValueError(f"separations must be positive numbers, got {separations!r}")
    fig = _new_figure(fig, 3.4)
    axes = np.atleast_1d(fig.subplots(1, len(seps), sharey=True))
    for ax, d in zip(axes, seps):
        half = d * sigma / 2
        x = np.linspace(-half - 4 * sigma, half + 4 * sigma, 801)
        g1 = np.exp(-((x + half) ** 2) / (2 * sigma**2))
        g2 = np.exp(-((x - half) ** 2) / (2 * sigma**2))
        both = {"max": np.maximum(g1, g2), "sum": g1 + g2}
        ax.plot(x, g1, color="tab:blue", lw=1, ls="--", label="person 1")
        ax.plot(x, g2, color="tab:green", lw=1, ls="--", label="person 2")
        ax.plot(x, both["max"], color="black", lw=2.2, label="max")
        ax.plot(x, both["sum"], color="tab:red", lw=1.6, label="sum")
        peaks = {k: int(np.sum((v[1:-1] > v[:-2]) & (v[1:-1] >= v[2:]))) for k, v in both.items()}
        ax.peaks = peaks
        ax.set_title(
            f"d = {d:g} sigma ({d * sigma:.0f} px): max {peaks['max']} peaks, sum {peaks['sum']}", fontsize=9
        )
        ax.set_xlabel("position along the line (image px)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("target value")
    axes[0].legend(fontsize=8, loc="upper left")
    return fig


def plot_paf_overlap(
    image, keypoints, paf_each, paf_target, limb: int, *, limb_width: float, zoom=None, ax=None
):
    """One limb's PAF target for several people: arrows, and the cells two people's bands share.

    Args:
        image: BGR uint8 (H, W, 3) the keypoints are in.
        keypoints: float (P, 18, 3) the people, image pixels.
        paf_each: P float32 (h, w, 38) arrays: each person's PAF target alone.
        paf_target: float32 (h, w, 38): the target of all of them (``targets.paf_targets``: the
            average of the people covering a cell).
        limb: the limb's row in ``LIMBS``.
        limb_width: the band's half-width in image pixels (written in the title).
        zoom: (x0, y0, x1, y1) region in image pixels, or None for all.
        ax: Axes to draw into, or None for a new figure.

    Returns:
        The Axes; its ``shared`` attribute is the number of cells covered by two or more people
        and ``shared_length`` the target vector lengths on them (float (n,)).
    """
    from ..preprocess import FieldTransform
    from ..skeleton import LIMBS, PART_NAMES

    a, b, cx, cy = (int(v) for v in LIMBS[int(limb)])
    rgb = to_rgb(image)
    height, width = rgb.shape[:2]
    target = np.asarray(paf_target, np.float32)
    gh, gw = target.shape[:2]
    count = sum((np.hypot(p[..., cx], p[..., cy]) > 0).astype(int) for p in paf_each)
    tf = FieldTransform((gw, gh), (width, height))
    xs, ys = tf.to_image(np.arange(gw, dtype=float), np.arange(gh, dtype=float))
    gx, gy = np.meshgrid(xs, ys)
    ax = _new_axes(ax, height / width)
    ax.imshow(rgb, alpha=0.5)
    u, v = target[..., cx], target[..., cy]
    on = count > 0
    shared = count >= 2
    ax.scatter(
        gx[shared],
        gy[shared],
        s=90,
        marker="s",
        color="orange",
        alpha=0.6,
        zorder=2,
        label="covered by 2 people",
    )
    step = xs[1] - xs[0] if gw > 1 else 1.0
    ax.quiver(
        gx[on], gy[on], u[on] * step * 0.9, v[on] * step * 0.9, angles="xy", scale_units="xy", scale=1.0,
        color=np.where(shared[on][:, None], [[0.8, 0.1, 0.1]], [[0.1, 0.3, 0.8]]), width=0.004, zorder=3,
    )  # fmt: skip
    kp = np.asarray(keypoints, np.float64)
    for i, person in enumerate(kp):
        if person[a, 2] > 0 and person[b, 2] > 0:
            ax.plot(person[[a, b], 0], person[[a, b], 1], color="black", lw=1, ls=":", zorder=4)
            ax.annotate(
                f"person {i + 1}", person[b, :2], xytext=(4, 4), textcoords="offset points", fontsize=8
            )
    length = np.hypot(u[shared], v[shared])
    ax.shared = int(shared.sum())
    ax.shared_length = length
    ax.set_xlim(*(zoom[0], zoom[2]) if zoom else (0, width))
    ax.set_ylim(*(zoom[3], zoom[1]) if zoom else (height, 0))
    ax.set_title(
        f"{PART_NAMES[a]}-{PART_NAMES[b]} PAF target: band half-width {limb_width:g} px; "
        f"{ax.shared} cells shared, averaged there",
        fontsize=9,
    )
    ax.legend(fontsize=8, loc="lower left")
    return ax
