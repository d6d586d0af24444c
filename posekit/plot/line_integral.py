"""One candidate's line integral, from a ``posekit.paf_trace.GroupingTrace``: the PAF read at its
samples as arrows over the image, and the dot products along the segment as a curve."""

from __future__ import annotations

import numpy as np

from ..paf_trace_tables import _limb, _limb_name
from ..preprocess import FieldTransform
from ..skeleton import PART_NAMES
from ._base import (
    FIGURE_WIDTH,
    Box,
    _faded_image,
    _label_image_axes,
    _limb_rgb,
    _new_figure,
    _pyplot,
)
from .grouping_zoom import _transform

__all__ = ["plot_line_integral", "plot_paf_samples", "plot_sample_dots"]


def _best_candidate(step) -> int:
    """The candidate the matching tried first (the best that passed), else the best score."""
    if len(step.score) == 0:
        raise ValueError(f"limb {step.index} {_limb_name(step)} has no candidates")
    first = np.flatnonzero(np.asarray(step.match_rank) == 0)
    return int(first[0]) if len(first) else int(np.argmax(step.score))


def _candidate(step, candidate: int | None) -> int:
    if candidate is None:
        return _best_candidate(step)
    c = int(candidate)
    if not 0 <= c < len(step.score):
        raise ValueError(
            f"candidate must be in [0, {len(step.score)}) for limb {step.index}, got {candidate}"
        )
    return c


def _segment_box(tf: FieldTransform, step, c: int, margin: float = 0.15) -> Box:
    (xa, xb), (ya, yb) = tf.to_image(
        np.array([step.xy_a[c, 0], step.xy_b[c, 0]], float),
        np.array([step.xy_a[c, 1], step.xy_b[c, 1]], float),
    )
    side = max(abs(xb - xa), abs(yb - ya), 24.0) * (1 + 2 * margin)
    cx, cy = (xa + xb) / 2, (ya + yb) / 2
    w, h = tf.image_size
    x0, y0 = max(cx - side / 2, -0.5), max(cy - side / 2, -0.5)
    x1, y1 = min(cx + side / 2, w - 0.5), min(cy + side / 2, h - 0.5)
    return (float(x0), float(y0), float(x1), float(y1))


def plot_paf_samples(
    image: np.ndarray | None,
    pafs: np.ndarray,
    trace,
    limb: int | str,
    candidate: int | None = None,
    *,
    zoom: Box | None | str = "auto",
    image_size: tuple[int, int] | None = None,
    title: str | None = None,
    ax=None,
):
    """The PAF read at one candidate's samples, as arrows along its segment over the image.

    Arrows are the limb's PAF vector at each sample point (``LimbStep.sample_xy``), stretched back
    to image pixels like ``show_paf_arrows``; green where its dot product with the direction A -> B
    is above ``vector_score_threshold``, red where not.

    Args:
        image: BGR uint8 (H, W, 3), or None for a blank canvas of ``image_size``.
        pafs: float32 (H, W, 38): the fields the trace was made from (``InferenceResult.pafs``).
        trace: a ``GroupingTrace``.
        limb: limb index or name.
        candidate: index into the limb's candidates; None for its first kept one (else the best).
        zoom: a region (x0, y0, x1, y1) in image pixels, "auto" around the segment, None for all.
        image_size: (width, height) when ``image`` is None.
        title: Axes title.
        ax: Axes to draw into, or None for a new figure.

    Returns:
        The Axes.
    """
    step = _limb(trace, limb)
    c = _candidate(step, candidate)
    pafs = np.asarray(pafs)
    if pafs.shape[:2] != (trace.grid_size[1], trace.grid_size[0]):
        raise ValueError(f"pafs must be on the trace's grid {trace.grid_size[::-1]}, got shape {pafs.shape}")
    tf = _transform(trace, image, image_size)
    if isinstance(zoom, str):
        if zoom != "auto":
            raise ValueError(f"zoom must be a box, 'auto' or None, got {zoom!r}")
        zoom = _segment_box(tf, step, c)
    ax = _faded_image(ax, image, tf.image_size, zoom, 0.75)
    sx, sy = tf.scale
    s_xy = np.asarray(step.sample_xy[c])
    px = pafs[s_xy[:, 1], s_xy[:, 0], step.paf_x].astype(float)
    py = pafs[s_xy[:, 1], s_xy[:, 0], step.paf_y].astype(float)
    x, y = tf.to_image(s_xy[:, 0].astype(float), s_xy[:, 1].astype(float))
    (xa, xb), (ya, yb) = tf.to_image(
        np.array([step.xy_a[c, 0], step.xy_b[c, 0]], float),
        np.array([step.xy_a[c, 1], step.xy_b[c, 1]], float),
    )
    ax.plot([xa, xb], [ya, yb], color="black", lw=1.2, ls=":", zorder=3, gid="segment")
    u, v = px * sx, py * sy
    spacing = np.hypot(xb - xa, yb - ya) / max(len(x), 1)
    length = np.hypot(u, v)
    # a PAF of magnitude 1 is drawn as long as the gap between samples, at least 1/14 of the view
    arrow = max(spacing, (zoom[2] - zoom[0]) / 14) if zoom else spacing
    norm = np.where(length > 0, np.hypot(px, py) / np.maximum(length, 1e-9), 0) * 0.9 * arrow
    above = np.asarray(step.sample_dot[c]) > trace.params.vector_score_threshold
    colors = np.where(above[:, None], np.array([[0.1, 0.6, 0.2]]), np.array([[0.85, 0.15, 0.1]]))
    ax.quiver(
        x,
        y,
        u * norm,
        v * norm,
        color=colors,
        angles="xy",
        scale_units="xy",
        scale=1.0,
        width=0.007,
        headwidth=3.5,
        headlength=4,
        headaxislength=3.5,
        zorder=5,
        edgecolor="black",
        linewidth=0.4,
    )
    # the samples themselves in the same colours, so a sample whose PAF is ~0 (no visible arrow) still
    # shows its verdict
    ax.scatter(x, y, s=34, c=colors, edgecolors="black", linewidths=0.6, zorder=6, gid="sample")
    for (px_, py_, name), marker in (
        ((xa, ya, PART_NAMES[step.part_a]), "o"),
        ((xb, yb, PART_NAMES[step.part_b]), "s"),
    ):
        color = _limb_rgb(step.index)
        ax.scatter([px_], [py_], s=80, marker=marker, color=color, edgecolors="black", zorder=7)
        ax.annotate(
            name,
            (px_, py_),
            xytext=(6, -10),
            textcoords="offset points",
            fontsize=9,
            zorder=8,
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "alpha": 0.8, "lw": 0},
        )
    default = (
        f"limb {step.index} {_limb_name(step)}, candidate {c} "
        f"(#{int(step.peak_a[c])} -> #{int(step.peak_b[c])}): PAF at {len(x)} samples"
    )
    _label_image_axes(ax, title if title is not None else default)
    return ax


def plot_sample_dots(
    trace, limb: int | str, candidate: int | None = None, *, title: str | None = None, ax=None
):
    """One candidate's line integral as a curve: PAF . unit(A -> B) against the sample index.

    The curve (``gid`` "sample-dot") holds ``LimbStep.sample_dot[candidate]``; the dashed line
    (``gid`` "threshold") is ``vector_score_threshold``; the samples above it are green, the others
    red; the title gives the count against ``vector_count_threshold``, the mean, the distance
    penalty and the score.

    Args:
        trace: a ``GroupingTrace``.
        limb: limb index or name.
        candidate: index into the limb's candidates; None for its first kept one (else the best).
        title: Axes title.
        ax: Axes to draw into, or None for a new figure.

    Returns:
        The Axes.
    """
    step = _limb(trace, limb)
    c = _candidate(step, candidate)
    if ax is None:
        _fig, ax = _pyplot().subplots(figsize=(FIGURE_WIDTH * 0.6, 3.6), layout="constrained")
    params = trace.params
    dots = np.asarray(step.sample_dot[c])
    i = np.arange(len(dots))
    above = dots > params.vector_score_threshold
    ax.plot(i, dots, color="black", lw=1.5, zorder=2, gid="sample-dot")
    ax.scatter(
        i[above], dots[above], s=40, color=(0.1, 0.6, 0.2), zorder=3, label=f"above ({int(above.sum())})"
    )
    ax.scatter(
        i[~above],
        dots[~above],
        s=40,
        color=(0.85, 0.15, 0.1),
        zorder=3,
        label=f"not above ({int((~above).sum())})",
    )
    ax.axhline(
        params.vector_score_threshold,
        color="tab:blue",
        ls="--",
        lw=1.2,
        gid="threshold",
        label=f"vector_score_threshold = {params.vector_score_threshold:g}",
    )
    ax.axhline(
        float(step.mean_dot[c]), color="tab:purple", ls=":", lw=1.2, label=f"mean = {step.mean_dot[c]:.3f}"
    )
    ax.axhline(0.0, color="gray", lw=0.6)
    low, high = min(-0.2, float(dots.min()) - 0.1), max(1.1, float(dots.max()) + 0.1)
    ax.set_ylim(low, high)
    ax.set_xticks(i)
    ax.set_xlabel("sample index i (point a + i (b - a) / S)")
    ax.set_ylabel("PAF . unit(A -> B)")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8, framealpha=0.85)
    verdict = "passed" if step.passed[c] else "failed"
    default = (
        f"{int(step.count_above[c])} of {len(dots)} above (need > {params.vector_count_threshold}); "
        f"score {step.mean_dot[c]:.3f} {step.distance_penalty[c]:+.3f} = {step.score[c]:.3f}: {verdict}"
    )
    ax.set_title(title if title is not None else default, fontsize=10)
    return ax


def plot_line_integral(
    image: np.ndarray | None,
    pafs: np.ndarray,
    trace,
    limb: int | str,
    candidate: int | None = None,
    *,
    image_size: tuple[int, int] | None = None,
    fig=None,
):
    """One candidate's line integral: the sampled PAF arrows over the image and the dot-product curve.

    Args:
        image, pafs, trace, limb, candidate, image_size: as ``plot_paf_samples``.
        fig: Figure to fill, or None for a new one.

    Returns:
        The Figure (left ``plot_paf_samples`` zoomed to the segment, right ``plot_sample_dots``).
    """
    step = _limb(trace, limb)
    c = _candidate(step, candidate)
    fig = _new_figure(fig, 4.6)
    left, right = fig.subplots(1, 2, width_ratios=[1, 1.25])
    plot_paf_samples(
        image,
        pafs,
        trace,
        step.index,
        c,
        image_size=image_size,
        ax=left,
        title=f"PAF at the {step.sample_dot.shape[1]} samples",
    )
    plot_sample_dots(trace, step.index, c, ax=right)
    fig.suptitle(
        f"Line integral of limb {step.index} {_limb_name(step)}, candidate {c} "
        f"(peak #{int(step.peak_a[c])} -> #{int(step.peak_b[c])}): {step.match_status[c]}",
        fontsize=12,
    )
    return fig
