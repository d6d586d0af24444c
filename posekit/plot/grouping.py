"""Views of the PAF grouping, decision by decision, from a ``posekit.paf_trace.GroupingTrace``.

A trace (``posekit.paf_trace.trace``) records, per limb, every candidate (pair of peaks of the limb's
two parts) with its line integral, its score and what the greedy matching did with it, and the partial
people after each limb. These views draw that data over the image, in original-image pixels: the
trace's grid coordinates are mapped with ``posekit.preprocess.FieldTransform``. One candidate's line
integral is drawn by ``line_integral``; the same decisions as tables and words (no matplotlib)
are in ``posekit.paf_trace_tables``, the boxes to zoom on in ``grouping_zoom``. Colours are
``draw.DEFAULT_SPEC``'s: limbs and parts in their colours, partial people one colour per row.

Line styles say what happened to a candidate everywhere in this module:

* solid, in the limb's colour: **kept** (passed the criterion and won the matching);
* solid grey: **failed the criterion** (too few PAF samples above the threshold, or score <= 0);
* dashed, in the limb's colour: passed the criterion but **lost the matching** (a peak of it was
  already taken by a higher-scoring candidate).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..paf_trace_tables import (
    _FAILED,
    _KEPT,
    _LOST,
    _candidate_order,
    _count,
    _limb,
    _limb_name,
    candidate_kinds,
    limb_summary,
    person_connections,
    trace_people,
)
from ..preprocess import FieldTransform
from ..skeleton import PART_NAMES
from ._base import (
    FIGURE_WIDTH,
    Box,
    _aspect,
    _faded_image,
    _label_image_axes,
    _limb_rgb,
    _new_figure,
    _outlined,
    _part_rgb,
    _people,
    _person_rgb,
)
from .grouping_zoom import _transform
from .people import plot_people

__all__ = [
    "GREY",
    "plot_assembly",
    "plot_limb_candidates",
    "plot_partial_people",
    "plot_peak_ids",
    "plot_person_connections",
    "plot_trace_vs_people",
]

GREY = (0.55, 0.55, 0.55)  #: colour of candidates that failed the criterion


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
    kp = trace.keypoints_of(snapshot)
    x, y = tf.to_image(kp[..., 0], kp[..., 1])
    present = kp[..., 2] > 0
    table = np.asarray(trace.limb_table)
    for r in range(len(kp)):
        color = _person_rgb(r)
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
                _label_above(ax, x[r, pts], y[r, pts], f"row {r}", 7, "black", color, 0.15, 0.8, zorder=4)


def _label_above(ax, xs, ys, text: str, lift: float, color, fc, pad: float, alpha: float, **kw) -> None:
    """``text`` in a rounded box ``lift`` points above the topmost of the points (xs, ys): a row's label."""
    top = int(np.argmin(ys))
    box = {"boxstyle": f"round,pad={pad:g}", "fc": fc, "alpha": alpha, "lw": 0}
    ax.annotate(text, (xs[top], ys[top]), xytext=(0, lift), textcoords="offset points", ha="center",
                fontsize=8, color=color, bbox=box, **kw)  # fmt: skip


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
    ax = _faded_image(ax, image, tf.image_size, zoom, image_alpha)
    if people:
        _draw_rows(ax, trace, step.people_after, step.index, tf, linewidth=1.6, alpha=0.55, labels=False)
    color = _limb_rgb(step.index)
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
        pcolor = _part_rgb(part)
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
    kp = trace.keypoints_of(snap)
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
        _label_above(ax, x[r, pts], y[r, pts], f"row {r} dropped: {why}", 10, "white", (0.75, 0.0, 0.0), 0.2,
                     0.9, zorder=10, gid="dropped-row")  # fmt: skip
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
    ax = _faded_image(ax, image, tf.image_size, zoom, 0.8)
    handles = []
    # labels of peaks close to one another go to different corners, so none hides another
    corners = ((4, 4), (4, -11), (-22, 4), (-22, -11))
    near = 0.03 * max(tf.image_size)
    placed: list[tuple[float, float]] = []
    for part, found in enumerate(trace.peaks):
        if not len(found):
            continue
        px, py = tf.to_image(found[:, 1], found[:, 2])
        color = _part_rgb(part)
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
    n = len(trace.peak_table)
    default = f"{_count(n, 'peak')} above heat_threshold {trace.params.heat_threshold:g}, by global id"
    _label_image_axes(ax, title if title is not None else default)
    return ax


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
    ax = _faded_image(ax, image, tf.image_size, zoom, image_alpha)
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
    fig = _new_figure(fig, nrows * (panel_h + 0.5) + 0.6, width)
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
    ax = _faded_image(ax, image, tf.image_size, zoom, 0.7)
    line = trace.peak_table
    for k, row in zip(table.limbs, table.rows):
        a, b = int(row[1]), int(row[2])
        (xa, xb), (ya, yb) = tf.to_image(line[[a, b], 1], line[[a, b], 2])
        color = _limb_rgb(k)
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
    plot_people(image, mine, zoom=zoom, ax=left, title=f"paf_trace.trace: {_people(len(mine))}")
    plot_people(image, theirs, zoom=zoom, ax=right, title=f"estimator.inference: {_people(len(theirs))}")
    for ax in (left, right):
        leg = ax.get_legend()
        if leg is not None:
            for text in leg.get_texts():
                text.set_fontsize(7)
    fig.suptitle("The traced grouping's people and the estimator's", fontsize=12)
    return fig
