"""Views of the PAF grouping, decision by decision, from a ``posekit.paf.GroupingTrace``.

A trace (``posekit.paf.trace``) records, per limb, every candidate (pair of peaks of the limb's two
parts) with its line integral, its score and what the greedy matching did with it, and the partial
people after each limb. These views draw that data over the image, in original-image pixels: the
trace's grid coordinates are mapped with ``posekit.preprocess.FieldTransform``.
The same decisions as tables, words and zoom boxes (no drawing) are in ``grouping_data`` and
re-exported here.

Line styles say what happened to a candidate everywhere in this module:

* solid, in the limb's colour: **kept** (passed the criterion and won the matching);
* solid grey: **failed the criterion** (too few PAF samples above the threshold, or score <= 0);
* dashed, in the limb's colour: passed the criterion but **lost the matching** (a peak of it was
  already taken by a higher-scoring candidate).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..preprocess import FieldTransform
from ..skeleton import COLORS_BGR, PART_NAMES
from ._base import (
    FIGURE_WIDTH,
    Box,
    _aspect,
    _image_or_canvas,
    _label_image_axes,
    _new_figure,
    _people,
    _rgb01,
    _set_view,
    to_rgb,
)
from .grouping_data import (
    _FAILED,
    _KEPT,
    _LOST,
    MIN_ZOOM,
    _candidate_order,
    _count,
    _limb,
    _limb_name,
    _peak_table,
    _snapshot_keypoints,
    _transform,
    assembly_table,
    candidate_kinds,
    candidates_table,
    limb_summary,
    limb_zoom,
    matching_comparison,
    matching_table,
    optimal_matching,
    partial_people_table,
    people_zoom,
    person_connections,
    rows_table,
    rows_zoom,
    trace_people,
)
from .people import plot_people

__all__ = [
    "GREY",
    "MIN_ZOOM",
    "assembly_table",
    "candidate_kinds",
    "candidates_table",
    "limb_summary",
    "limb_zoom",
    "matching_comparison",
    "matching_table",
    "optimal_matching",
    "partial_people_table",
    "people_zoom",
    "person_connections",
    "plot_assembly",
    "plot_person_connections",
    "plot_limb_candidates",
    "plot_line_integral",
    "plot_paf_samples",
    "plot_partial_people",
    "plot_peak_ids",
    "plot_sample_dots",
    "plot_trace_vs_people",
    "rows_table",
    "rows_zoom",
    "trace_people",
]

GREY = (0.55, 0.55, 0.55)  #: colour of candidates that failed the criterion


def _outlined(width: float):
    from matplotlib import patheffects

    return [patheffects.Stroke(linewidth=width + 2.0, foreground="black"), patheffects.Normal()]


def _draw_rows(
    ax,
    trace,
    snapshot,
    upto: int,
    tf: FieldTransform,
    *,
    linewidth: float,
    alpha: float,
    new_limb: int | None = None,
    labels: bool = True,
) -> None:
    """Partial people of a snapshot: parts and the limbs 0..``upto`` joining two present parts."""
    from ..draw import person_color

    kp = _snapshot_keypoints(trace, snapshot)
    x, y = tf.to_image(kp[..., 0], kp[..., 1])
    present = kp[..., 2] > 0
    table = np.asarray(trace.limb_table)
    for r in range(len(kp)):
        color = _rgb01(person_color(r))
        for j in range(min(upto + 1, len(table))):
            a, b = int(table[j, 0]), int(table[j, 1])
            if present[r, a] and present[r, b]:
                new = j == new_limb
                ax.plot(
                    [x[r, a], x[r, b]],
                    [y[r, a], y[r, b]],
                    color=color,
                    alpha=1.0 if new else alpha,
                    lw=linewidth * (1.8 if new else 1.0),
                    solid_capstyle="round",
                    zorder=2.5 if new else 2,
                    path_effects=_outlined(linewidth * 1.8) if new else None,
                    gid="partial-limb",
                )
        pts = np.flatnonzero(present[r])
        if len(pts):
            ax.scatter(
                x[r, pts],
                y[r, pts],
                s=18,
                color=color,
                edgecolors="black",
                linewidths=0.5,
                alpha=max(alpha, 0.6),
                zorder=2.6,
                label=f"row {r}: {_count(len(pts), 'part')}",
            )
            if labels:
                top = pts[np.argmin(y[r, pts])]
                ax.annotate(
                    f"row {r}",
                    (x[r, top], y[r, top]),
                    xytext=(0, 7),
                    textcoords="offset points",
                    ha="center",
                    fontsize=8,
                    color="black",
                    zorder=4,
                    bbox={"boxstyle": "round,pad=0.15", "fc": color, "alpha": 0.8, "lw": 0},
                )


def _show_faded(ax, image, image_size, zoom, image_alpha: float):
    """The image at ``image_alpha`` over white (so coloured lines stand out), or a blank canvas."""
    if image is None:
        return _image_or_canvas(None, image_size, zoom, ax)
    ax = _image_or_canvas(None, (image.shape[1], image.shape[0]), zoom, ax)
    ax.imshow(to_rgb(image), alpha=float(image_alpha), zorder=0)
    _set_view(ax, (image.shape[1], image.shape[0]), zoom)
    return ax


def _limb_color(step) -> tuple[float, float, float]:
    return _rgb01(COLORS_BGR[step.index % len(COLORS_BGR)])


def plot_limb_candidates(
    image: np.ndarray | None,
    trace,
    limb: int | str,
    *,
    people: bool = False,
    dropped: bool = False,
    scores: bool = True,
    peak_ids: bool = True,
    image_alpha: float = 0.65,
    legend: bool = True,
    title: str | None = None,
    image_size: tuple[int, int] | None = None,
    zoom: Box | None = None,
    ax=None,
):
    """Every candidate of one limb as a segment over the image, styled by its fate, with its score.

    Kept candidates are solid in the limb's colour, those that failed the criterion solid grey,
    those that lost the matching dashed in the limb's colour (``gid`` "candidate-kept",
    "candidate-failed", "candidate-lost" on the Line2D artists). The peaks of the limb's two
    parts are dots labelled with their global ids.

    Args:
        image: BGR uint8 (H, W, 3), or None for a blank canvas of ``image_size``.
        trace: a ``GroupingTrace`` of this image's fields.
        limb: limb index (row of the limb table) or name, e.g. "LShoulder-LElbow".
        people: also draw the partial people after this limb (thin, one colour per row).
        dropped: also mark the rows the end filter drops (``GroupingTrace.row_status`` not
            "kept": too few parts or a score under ``human_score_threshold``): a red cross on
            each of their parts and a label with the reason (``gid`` "dropped-row").
        scores: write each candidate's score at its middle (failed ones only when there are at
            most 12 candidates).
        peak_ids: write each peak's global id beside it.
        image_alpha: opacity of the image over white.
        legend: add a legend of the three styles and the two parts.
        title: Axes title (default: ``limb_summary``).
        image_size: (width, height) when ``image`` is None.
        zoom: (x0, y0, x1, y1) region to show in image pixels, or None for all.
        ax: Axes to draw into, or None for a new figure.

    Returns:
        The Axes.
    """
    from matplotlib.lines import Line2D

    step = _limb(trace, limb)
    tf = _transform(trace, image, image_size)
    ax = _show_faded(ax, image, tf.image_size, zoom, image_alpha)
    if people:
        _draw_rows(ax, trace, step.people_after, step.index, tf, linewidth=1.6, alpha=0.55, labels=False)
    color = _limb_color(step)
    kinds = candidate_kinds(step)
    xa, ya = tf.to_image(step.xy_a[:, 0].astype(float), step.xy_a[:, 1].astype(float))
    xb, yb = tf.to_image(step.xy_b[:, 0].astype(float), step.xy_b[:, 1].astype(float))
    style = {
        _KEPT: {"color": color, "ls": "-", "lw": 3.2, "zorder": 5, "gid": "candidate-kept"},
        _LOST: {"color": color, "ls": (0, (4, 2.5)), "lw": 2.4, "zorder": 4, "gid": "candidate-lost"},
        _FAILED: {"color": GREY, "ls": "-", "lw": 1.3, "zorder": 3, "gid": "candidate-failed"},
    }
    for c in _candidate_order(step)[::-1]:  # failed first, kept on top
        kind = kinds[c]
        st = style[kind]
        ax.plot(
            [xa[c], xb[c]],
            [ya[c], yb[c]],
            **st,
            alpha=0.9 if kind == _FAILED else 1.0,
            path_effects=None if kind == _FAILED else _outlined(st["lw"]),
            solid_capstyle="round",
        )
        if scores and (kind != _FAILED or len(kinds) <= 12):
            ax.annotate(
                f"{step.score[c]:.2f}",
                ((xa[c] + xb[c]) / 2, (ya[c] + yb[c]) / 2),
                ha="center",
                va="center",
                fontsize=8 if kind == _FAILED else 9,
                zorder=6,
                color="dimgray" if kind == _FAILED else "black",
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "alpha": 0.8, "lw": 0},
            )
    handles = []
    for part, marker in ((step.part_a, "o"), (step.part_b, "s")):
        found = trace.peaks[part]
        px, py = tf.to_image(found[:, 1], found[:, 2])
        pcolor = _rgb01(COLORS_BGR[part])
        ax.scatter(px, py, s=60, marker=marker, color=pcolor, edgecolors="black", linewidths=1.0, zorder=7)
        handles.append(
            Line2D(
                [],
                [],
                ls="none",
                marker=marker,
                color=pcolor,
                markeredgecolor="black",
                label=f"{'A' if part == step.part_a else 'B'}: {PART_NAMES[part]} "
                f"({_count(len(found), 'peak')})",
            )
        )
        if peak_ids:
            for pid, x, y in zip(found[:, 0], px, py):
                ax.annotate(
                    f"#{int(pid)}",
                    (x, y),
                    xytext=(5, 5),
                    textcoords="offset points",
                    fontsize=8,
                    zorder=8,
                    bbox={"boxstyle": "round,pad=0.1", "fc": "white", "alpha": 0.7, "lw": 0},
                )
    n_dropped = _mark_dropped_rows(ax, trace, tf) if dropped else 0
    if legend:
        n = {k: int((kinds == k).sum()) for k in (_KEPT, _LOST, _FAILED)}
        handles = [
            Line2D([], [], color=color, lw=3, label=f"kept ({n[_KEPT]})"),
            Line2D([], [], color=GREY, lw=1.5, label=f"failed the criterion ({n[_FAILED]})"),
            Line2D([], [], color=color, lw=2.2, ls=(0, (4, 2.5)), label=f"lost the matching ({n[_LOST]})"),
            *handles,
        ]
        if n_dropped:
            handles.append(
                Line2D(
                    [],
                    [],
                    ls="none",
                    marker="x",
                    color="red",
                    mew=2,
                    label=f"dropped at the end ({n_dropped})",
                )
            )
        ax.legend(handles=handles, loc="best", fontsize=8, framealpha=0.85)
    _label_image_axes(ax, title if title is not None else limb_summary(trace, step.index))
    return ax


def _mark_dropped_rows(ax, trace, tf: FieldTransform) -> int:
    """Red crosses on the parts of the rows the end filter drops, labelled with the reason."""
    snap = trace.people_before_filter
    kp = _snapshot_keypoints(trace, snap)
    x, y = tf.to_image(kp[..., 0], kp[..., 1])
    params = trace.params
    n = 0
    for r, status in enumerate(trace.row_status):
        pts = np.flatnonzero(kp[r, :, 2] > 0)
        if status == "kept" or not len(pts):
            continue
        n += 1
        count = int(snap.counts[r])
        why = (
            f"{count} parts < {params.part_count_threshold}"
            if status == "too few parts"
            else f"score {float(snap.totals[r]) / max(count, 1):.2f} < {params.human_score_threshold:g}"
        )
        ax.scatter(
            x[r, pts], y[r, pts], s=70, marker="x", color="red", linewidths=2.2, zorder=9, gid="dropped-row"
        )
        top = pts[np.argmin(y[r, pts])]
        ax.annotate(
            f"row {r} dropped: {why}",
            (x[r, top], y[r, top]),
            xytext=(0, 10),
            textcoords="offset points",
            ha="center",
            fontsize=8,
            color="white",
            zorder=10,
            gid="dropped-row",
            bbox={"boxstyle": "round,pad=0.2", "fc": (0.75, 0.0, 0.0), "alpha": 0.9, "lw": 0},
        )
    return n


def plot_peak_ids(
    image: np.ndarray | None,
    trace,
    *,
    image_size: tuple[int, int] | None = None,
    zoom: Box | None = None,
    legend: bool = True,
    title: str | None = None,
    ax=None,
):
    """Every peak of the trace's peak list, coloured by part and labelled with its global id "#n".

    The ids are the ones every other view of the grouping writes ("#12" here is "#12" in
    ``plot_limb_candidates``, ``candidates_table`` and ``matching_table``).

    Args:
        image: BGR uint8 (H, W, 3), or None for a blank canvas of ``image_size``.
        trace: a ``GroupingTrace``.
        image_size: (width, height) when ``image`` is None.
        zoom: (x0, y0, x1, y1) region to show in image pixels, or None for all.
        legend: a legend of the parts with their ids.
        title: Axes title.
        ax: Axes to draw into, or None for a new figure.

    Returns:
        The Axes.
    """
    from matplotlib.lines import Line2D

    tf = _transform(trace, image, image_size)
    ax = _show_faded(ax, image, tf.image_size, zoom, 0.8)
    handles = []
    # labels of peaks close to one another go to different corners, so none hides another
    corners = ((4, 4), (4, -11), (-22, 4), (-22, -11))
    near = 0.03 * max(tf.image_size)
    placed: list[tuple[float, float]] = []
    for part, found in enumerate(trace.peaks):
        if not len(found):
            continue
        px, py = tf.to_image(found[:, 1], found[:, 2])
        color = _rgb01(COLORS_BGR[part % len(COLORS_BGR)])
        ax.scatter(px, py, s=40, color=color, edgecolors="black", linewidths=0.8, zorder=5, gid="peak")
        for pid, x, y in zip(found[:, 0], px, py):
            crowd = sum(np.hypot(x - qx, y - qy) < near for qx, qy in placed)
            placed.append((float(x), float(y)))
            ax.annotate(
                f"#{int(pid)}",
                (x, y),
                xytext=corners[crowd % len(corners)],
                textcoords="offset points",
                fontsize=8,
                zorder=6,
                bbox={"boxstyle": "round,pad=0.1", "fc": "white", "alpha": 0.75, "lw": 0},
            )
        ids = ", ".join(f"#{int(i)}" for i in found[:, 0])
        handles.append(
            Line2D(
                [],
                [],
                ls="none",
                marker="o",
                color=color,
                markeredgecolor="black",
                label=f"{part} {PART_NAMES[part]}: {ids}",
            )
        )
    if legend and handles:
        ax.legend(
            handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, title="part: peak ids"
        )
    n = len(_peak_table(trace))
    default = f"{_count(n, 'peak')} above heat_threshold {trace.params.heat_threshold:g}, by global id"
    _label_image_axes(ax, title if title is not None else default)
    return ax


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
    ax = _show_faded(ax, image, tf.image_size, zoom, 0.75)
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
        ax.scatter([px_], [py_], s=80, marker=marker, color=_limb_color(step), edgecolors="black", zorder=7)
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
    from ._base import _pyplot

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


def plot_partial_people(
    image: np.ndarray | None,
    trace,
    limb: int | str,
    *,
    labels: bool = True,
    linewidth: float = 2.2,
    image_alpha: float = 0.65,
    legend: bool = False,
    title: str | None = None,
    image_size: tuple[int, int] | None = None,
    zoom: Box | None = None,
    ax=None,
):
    """The partial people after a limb: each row in its own colour, its parts and the limbs so far.

    The connections this limb added are drawn thicker with a black outline. Rows are numbered as
    in ``LimbStep.people_after``; a merge removes a row, so a number (and colour) can pass to
    another partial person from one limb to the next.

    Args:
        image: BGR uint8 (H, W, 3), or None for a blank canvas of ``image_size``.
        trace: a ``GroupingTrace``.
        limb: limb index or name: show the people after this limb.
        labels: write "row r" above each partial person.
        linewidth: limb line width in points (this limb's links are drawn 1.8 times as wide).
        image_alpha: opacity of the image over white.
        legend: add a legend of the rows and their part counts.
        title: Axes title.
        image_size: (width, height) when ``image`` is None.
        zoom: (x0, y0, x1, y1) region to show in image pixels, or None for all.
        ax: Axes to draw into, or None for a new figure.

    Returns:
        The Axes.
    """
    step = _limb(trace, limb)
    tf = _transform(trace, image, image_size)
    ax = _show_faded(ax, image, tf.image_size, zoom, image_alpha)
    _draw_rows(
        ax,
        trace,
        step.people_after,
        step.index,
        tf,
        linewidth=linewidth,
        alpha=0.9,
        new_limb=step.index,
        labels=labels,
    )
    if legend and len(step.people_after):
        ax.legend(loc="best", fontsize=8, framealpha=0.85)
    rows = len(step.people_after)
    default = (
        f"after limb {step.index} {_limb_name(step)}: {_count(rows, 'partial person', 'partial people')}"
    )
    _label_image_axes(ax, title if title is not None else default)
    return ax


def plot_assembly(
    image: np.ndarray | None,
    trace,
    limbs: Sequence[int] | None = None,
    *,
    ncols: int = 4,
    width: float = FIGURE_WIDTH,
    labels: bool = False,
    image_size: tuple[int, int] | None = None,
    zoom: Box | None = None,
    fig=None,
):
    """A grid of panels: the partial people after each of the chosen limbs.

    Args:
        image: BGR uint8 (H, W, 3), or None (then give ``image_size``).
        trace: a ``GroupingTrace``.
        limbs: limb indices, in the order to show (default: 8 limbs spread over the assembly,
            ending with the last).
        ncols: panels per row.
        width: figure width in inches (a new figure only); panels are width / ncols wide.
        labels: write "row r" above each partial person.
        image_size: (width, height) when ``image`` is None.
        zoom: (x0, y0, x1, y1) region to show in every panel, or None for all.
        fig: Figure to fill, or None for a new one.

    Returns:
        The Figure.
    """
    n_limbs = len(trace.limbs)
    if limbs is None:
        limbs = sorted({int(round(v)) for v in np.linspace(0, n_limbs - 1, min(8, n_limbs))})
    limbs = [_limb(trace, k).index for k in limbs]
    if not limbs:
        raise ValueError("limbs must not be empty")
    ncols = max(1, min(int(ncols), len(limbs)))
    nrows = -(-len(limbs) // ncols)
    tf = _transform(trace, image, image_size)
    panel_h = float(width) / ncols * _aspect(tf.image_size, zoom)
    if fig is None:
        from ._base import _pyplot

        fig = _pyplot().figure(figsize=(float(width), nrows * (panel_h + 0.5) + 0.6), layout="constrained")
    else:
        fig.clear()
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax, k in zip(axes.flat, limbs):
        step = trace.limbs[k]
        plot_partial_people(
            image,
            trace,
            k,
            image_size=tf.image_size,
            zoom=zoom,
            ax=ax,
            labels=labels,
            linewidth=1.6 if labels else 1.3,
            title=f"after {k} {_limb_name(step)}: {len(step.people_after)} rows",
        )
        ax.title.set_fontsize(9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("")
        ax.set_ylabel("")
    for ax in list(axes.flat)[len(limbs) :]:
        ax.set_axis_off()
    fig.suptitle(
        "People growing limb after limb (one colour per partial person; this limb's links outlined)",
        fontsize=12,
    )
    return fig


def plot_person_connections(
    image: np.ndarray, trace, person: int, *, zoom: Box | None = None, title: str | None = None, ax=None
):
    """The connections that built one final person, each drawn in its limb's colour with its score.

    Args:
        image: BGR uint8 (H, W, 3) the trace's fields come from.
        trace: a ``GroupingTrace``.
        person: index among the final people.
        zoom: (x0, y0, x1, y1) region in image pixels, or None for all.
        title: Axes title (default: the ``person_connections`` caption).
        ax: Axes to draw into, or None for a new figure.

    Returns:
        The Axes (one Line2D per connection, ``gid`` "connection").
    """
    table = person_connections(trace, person)
    tf = _transform(trace, image, None)
    ax = _show_faded(ax, image, tf.image_size, zoom, 0.7)
    line = _peak_table(trace)
    for k, row in zip(table.limbs, table.rows):
        a, b = int(row[1]), int(row[2])
        (xa, xb), (ya, yb) = tf.to_image(line[[a, b], 1], line[[a, b], 2])
        color = _rgb01(COLORS_BGR[k % len(COLORS_BGR)])
        ax.plot([xa, xb], [ya, yb], color=color, lw=2.6, solid_capstyle="round", gid="connection",
                path_effects=_outlined(2.6))  # fmt: skip
        ax.scatter([xa, xb], [ya, yb], s=22, color=color, edgecolors="black", linewidths=0.6, zorder=5)
        ax.annotate(
            f"{k}: {row[6]:.2f}",
            ((xa + xb) / 2, (ya + yb) / 2),
            ha="center",
            va="center",
            fontsize=8,
            zorder=6,
            bbox={"boxstyle": "round,pad=0.12", "fc": "white", "alpha": 0.8, "lw": 0},
        )
    _label_image_axes(ax, title if title is not None else f"{table.caption} (limb: score)")
    return ax


def plot_trace_vs_people(image: np.ndarray, trace, people, *, zoom: Box | None = None, fig=None):
    """The trace's final people beside another set of people (e.g. ``PoseEstimator.inference``'s).

    Args:
        image: BGR uint8 (H, W, 3), the image of both.
        trace: a ``GroupingTrace`` of this image's fields.
        people: list of Person or an InferenceResult, in image pixels.
        zoom: (x0, y0, x1, y1) region to show, or None for all.
        fig: Figure to fill, or None for a new one.

    Returns:
        The Figure (left the trace's people, right the others, the same colours by index).
    """
    size = (int(image.shape[1]), int(image.shape[0]))
    mine = trace_people(trace, size)
    theirs = people.people if hasattr(people, "people") else list(people)
    fig = _new_figure(fig, FIGURE_WIDTH / 2 * _aspect(size, zoom) + 1.0)
    left, right = fig.subplots(1, 2)
    plot_people(image, mine, zoom=zoom, ax=left, title=f"paf.trace: {_people(len(mine))}")
    plot_people(image, theirs, zoom=zoom, ax=right, title=f"estimator.inference: {_people(len(theirs))}")
    for ax in (left, right):
        leg = ax.get_legend()
        if leg is not None:
            for text in leg.get_texts():
                text.set_fontsize(7)
    fig.suptitle("The traced grouping's people and the estimator's", fontsize=12)
    return fig
