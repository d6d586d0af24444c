"""Where the time goes: per-stage milliseconds of one or several runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ._base import _mpl, _new_axes

_TIMING_LABELS = {
    "preprocess": "preprocess (stretch to input size)",
    "network": "network (CNN forward pass)",
    "postprocess": "upsample + smooth + peaks",
    "paf": "PAF grouping into people",
    "other": "other (between the timed stages)",
}


def _stage_values(runs: Sequence[Mapping[str, float]]) -> tuple[list[str], np.ndarray]:
    """Stage names and (runs, stages) ms; an "other" stage holds each run's total minus its stages.

    The bars then add up to the total: what a run's total holds beyond its named stages (the time
    between them) is a bar of its own, shown when its median is at least 0.1 ms.
    """
    stages = [k for k in runs[0] if k != "total"]
    values = np.array([[float(r[k]) for k in stages] for r in runs])
    totals = np.array([float(r.get("total", np.nan)) for r in runs])
    other = np.clip(np.nan_to_num(totals - values.sum(axis=1), nan=0.0), 0.0, None)
    if "other" not in stages and np.median(other) >= 0.1:
        stages.append("other")
        values = np.column_stack([values, other])
    return stages, values


def plot_timings(
    timings: Mapping[str, float] | Sequence[Mapping[str, float]], *, title: str | None = None, ax=None
):
    """Where the time goes: a horizontal bar per stage in milliseconds.

    Args:
        timings: one ``InferenceResult.timings`` dict, or a list of them (e.g. one per
            video frame): bars then show the median, with a whisker from the 10th to the
            90th percentile. The "total" key is not a bar of its own: what it holds beyond the
            named stages is the bar "other", so the bars add up to the total in the title (with
            several runs: the sum of the bars' medians).
        title: Axes title.
        ax: Axes to draw into, or None for a new figure.

    Returns:
        The Axes.
    """
    many = not isinstance(timings, Mapping)
    runs = list(timings) if many else [timings]
    if not runs:
        raise ValueError("timings is empty")
    stages, values = _stage_values(runs)
    med = np.median(values, axis=0)
    ax = _new_axes(ax, 0.0, extra_height=0.5 * len(stages) + 1.0)
    labels = [_TIMING_LABELS.get(k, k) for k in stages]
    ypos = np.arange(len(stages))[::-1]
    hi = med
    if many and len(runs) > 1:
        lo, hi = np.percentile(values, 10, axis=0), np.percentile(values, 90, axis=0)
        ax.barh(ypos, med, xerr=[med - lo, hi - med], color="#4363d8", capsize=4)
    else:
        ax.barh(ypos, med, color="#4363d8")
    ax.set_yticks(ypos, labels)
    total = float(med.sum())  # the bars add up to the title's total
    pad = 0.01 * float(hi.max())
    for y, v, right in zip(ypos, med, hi):
        ax.text(right + pad, y, f" {v:.1f} ms ({100 * v / total:.0f}%)", va="center", fontsize=10)
    ax.set_xlim(0, float(hi.max()) * 1.35)
    ax.set_xlabel("milliseconds" + (" (median over runs, whiskers 10th-90th percentile)" if many else ""))
    what = f"medians of {len(runs)} runs" if many else "one image"
    ax.set_title(
        title
        if title is not None
        else f"Where the time goes ({what}): total {total:.0f} ms = {1000 / total:.1f} FPS"
    )
    return ax


def plot_speed_comparison(
    timings: Mapping[str, Sequence[Mapping[str, float]]], *, title: str | None = None, ax=None
):
    """Milliseconds per image of several models or settings: one stacked bar each, split by stage.

    Args:
        timings: {label: list of ``InferenceResult.timings`` dicts} (several runs each); every
            segment is that stage's median over the runs.
        title: Axes title.
        ax: Axes to draw into, or None for a new figure.

    Returns:
        The Axes; each bar is labelled with its total (the sum of its segments: the stage medians, and
        "other" for what the runs' totals hold beyond the named stages) and the frames per second it allows.
    """
    labels = list(timings)
    if not labels or any(len(timings[k]) == 0 for k in labels):
        raise ValueError("timings needs at least one run per label")
    per_label = [_stage_values(list(timings[k])) for k in labels]
    stages = max((st for st, _ in per_label), key=len)  # "other" where any label has it
    med = np.array(
        [[np.median(v[:, st.index(s)]) if s in st else 0.0 for s in stages] for st, v in per_label]
    )
    totals = med.sum(axis=1)  # each bar ends at its label's total
    ax = _new_axes(ax, 0.0, extra_height=0.55 * len(labels) + 1.6)
    ypos = np.arange(len(labels))[::-1]
    left = np.zeros(len(labels))
    stage_colors = ("#a9a9a9", "#4363d8", "#f58231", "#3cb44b", "#911eb4", "#42d4f4")
    for s, stage in enumerate(stages):
        color = stage_colors[s % len(stage_colors)]
        ax.barh(ypos, med[:, s], left=left, color=color, label=_TIMING_LABELS.get(stage, stage))
        left += med[:, s]
    right = float(max(left))
    for y, end, total in zip(ypos, left, totals):
        label = f" total {total:.0f} ms = {1000 / total:.1f} FPS"
        ax.text(end + 0.01 * right, y, label, va="center", fontsize=10)
    ax.set_yticks(ypos, labels)
    ax.set_xlim(0, right * 1.35)
    ax.set_xlabel("milliseconds per image (median of each stage over the runs)")
    below = _mpl().transforms.offset_copy(ax.transAxes, fig=ax.figure, y=-0.5, units="inches")
    ax.legend(
        loc="upper center", bbox_to_anchor=(0.5, 0.0), bbox_transform=below, ncol=min(len(stages), 4),
        fontsize=8, frameon=False,
    )  # fmt: skip
    ax.set_title(title if title is not None else "Time per image by stage (medians over the runs)")
    return ax
