"""How good is it: OKS tolerances, detections matched to human labels, AP step by step, errors, failures.

The data come from ``posekit.evaluate`` (COCO keypoint annotations and results, ``ImageMatch``,
``accumulate``, ``keypoint_error_table``); keypoints are in COCO's 17-keypoint order, in original-image
pixels. Labels and detections are drawn as posekit skeletons through ``posekit.train.coco_to_posekit``
(the neck, which COCO lacks, is the midpoint of the shoulders there: the one rule for the neck).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..skeleton import LIMBS, RENDER_LIMBS
from ._base import _faded_image, _label_image_axes, _new_figure, to_rgb

__all__ = [
    "KEYPOINT_GROUP_COLORS",
    "failures",
    "plot_failures",
    "plot_keypoint_errors",
    "plot_matches",
    "plot_modes",
    "plot_oks_tolerance",
    "plot_precision_recall",
]

#: Colours (matplotlib) of COCO's keypoint groups: face (0-4), arms (5-10), hips and legs (11-16).
KEYPOINT_GROUP_COLORS = {"face": "#e6ab02", "arms": "#1b9e77", "legs": "#7570b3"}
_GROUP = ["face"] * 5 + ["arms"] * 6 + ["legs"] * 6
_MATCHED, _FALSE, _MISSED, _LABEL = "#1f78b4", "#e31a1c", "#ff7f00", "white"


def _kp17(entry: Mapping[str, Any]) -> np.ndarray:
    return np.asarray(entry["keypoints"], dtype=np.float64).reshape(17, 3)


def _skeleton(
    ax, entry: Mapping[str, Any], color, *, lw: float = 2.0, dots: bool = True, zorder: int = 3
) -> None:
    """A COCO label or detection drawn as posekit's skeleton (neck = shoulders' midpoint)."""
    from ..train import coco_to_posekit

    kp = coco_to_posekit(_kp17(entry))
    shown = kp[:, 2] > 0
    for k in RENDER_LIMBS:
        a, b = LIMBS[int(k), 0], LIMBS[int(k), 1]
        if shown[a] and shown[b]:
            ax.plot(kp[[a, b], 0], kp[[a, b], 1], color=color, lw=lw, solid_capstyle="round", zorder=zorder)
    if dots:
        ax.scatter(kp[shown, 0], kp[shown, 1], s=12, color=color, edgecolors="black", linewidths=0.5,
                   zorder=zorder + 1)  # fmt: skip


def plot_oks_tolerance(
    image: np.ndarray,
    labels: Sequence[Mapping[str, Any]],
    *,
    similarity: float = 0.5,
    title: str | None = None,
    ax=None,
):
    """Each labelled keypoint with its OKS tolerance circle (a detected keypoint on it scores ``similarity``).

    The radius is ``tolerance_radius(area)``: proportional to the person's scale sqrt(area) and to the
    keypoint's sigma (tight for eyes, wide for hips). Labels without keypoints or crowd regions are boxed
    grey.

    Args:
        image: BGR uint8 (H, W, 3).
        labels: the image's COCO annotations.
        similarity: the keypoint similarity on the circle (0.5: halfway).
        title: Axes title.
        ax: Axes to draw into, or None for a new figure.

    Returns:
        The Axes.
    """
    from matplotlib.patches import Circle, Rectangle

    from ..evaluate import tolerance_radius

    ax = _faded_image(ax, image, None, None)
    for g in labels:
        kp = _kp17(g)
        if g.get("iscrowd", 0) or g["num_keypoints"] == 0:
            x, y, w, h = g["bbox"]
            ax.add_patch(Rectangle((x, y), w, h, fill=False, ec="0.6", ls="--", lw=1.2, zorder=2))
            ax.text(x, y - 2, "ignored (crowd)" if g.get("iscrowd", 0) else "ignored (no keypoints)",
                    color="0.85", fontsize=7, va="bottom")  # fmt: skip
            continue
        _skeleton(ax, g, _LABEL, lw=1.0, dots=False, zorder=2)
        radius = tolerance_radius(float(g["area"]), similarity=similarity)
        for k in np.flatnonzero(kp[:, 2] > 0):
            color = KEYPOINT_GROUP_COLORS[_GROUP[k]]
            ax.add_patch(Circle(kp[k, :2], radius[k], fill=False, ec=color, lw=1.3, zorder=3))
            ax.plot(*kp[k, :2], "o", ms=2.5, color=color, zorder=4)
    for group, color in KEYPOINT_GROUP_COLORS.items():
        ax.plot([], [], "o", mfc="none", mec=color, label=group)
    title_text = f"similarity {similarity:g} on the circle"
    ax.legend(loc="lower right", fontsize=8, framealpha=0.85, title=title_text, title_fontsize=8)
    _label_image_axes(ax, title if title is not None else "OKS tolerance of each labelled keypoint")
    return ax


def plot_matches(
    image: np.ndarray,
    labels: Sequence[Mapping[str, Any]],
    detections: Sequence[Mapping[str, Any]],
    match,
    *,
    threshold: float = 0.5,
    title: str | None = None,
    ax=None,
):
    """Detections matched to labels at one OKS threshold, each with its OKS; misses and false people marked.

    Labels are thin white skeletons; a matched detection is blue with its OKS; a false person (matched to
    nothing) red with its best OKS; a missed label gets an orange box. Ignored labels and detections are grey.

    Args:
        image: BGR uint8 (H, W, 3).
        labels: the image's COCO annotations (the list ``match`` was made from, same order).
        detections: the image's COCO results (same order as for ``match``).
        match: its ``posekit.evaluate.ImageMatch``.
        threshold: the OKS threshold whose matching is shown (one of ``match.thresholds``).
        title: Axes title.
        ax: Axes to draw into, or None for a new figure.

    Returns:
        The Axes.
    """
    from matplotlib.patches import Rectangle

    ti = _threshold_index(match, threshold)
    ax = _faded_image(ax, image, None, None)
    for gi, li in enumerate(match.label_index):
        g = labels[li]
        if match.label_ignored[gi]:
            x, y, w, h = g["bbox"]
            ax.add_patch(Rectangle((x, y), w, h, fill=False, ec="0.6", ls="--", lw=1.0))
            continue
        _skeleton(ax, g, _LABEL, lw=1.0, dots=False, zorder=2)
        if gi not in match.matched[ti]:
            x, y, w, h = g["bbox"]
            ax.add_patch(Rectangle((x, y), w, h, fill=False, ec=_MISSED, lw=2.0, zorder=5))
            ax.text(x, y + h + 2, "missed", color=_MISSED, fontsize=9, fontweight="bold", va="top")
    for di, index in enumerate(match.detection_index):
        d = detections[index]
        gi = match.matched[ti, di]
        if match.detection_ignored[ti, di]:
            color, text = "0.6", "ignored"
        elif gi >= 0:
            color, text = _MATCHED, f"OKS {match.oks[di, gi]:.2f}"
        else:
            best = match.oks[di].max() if match.oks.shape[1] else 0.0
            color, text = _FALSE, f"false (best OKS {best:.2f})"
        _skeleton(ax, d, color, lw=2.0)
        kp = _kp17(d)
        shown = kp[:, 2] > 0
        if shown.any():
            x, y = kp[shown, 0].min(), kp[shown, 1].min()
            ax.text(x, y - 4, text, color="white", fontsize=8, va="bottom",
                    bbox={"facecolor": color, "alpha": 0.85, "pad": 1.5, "lw": 0})  # fmt: skip
    n_match = int((match.matched[ti] >= 0).sum())
    default = f"OKS >= {threshold:g}: {n_match} matched, {int(match.false_positive[ti].sum())} false"
    _label_image_axes(ax, title if title is not None else default)
    return ax


def _threshold_index(match, threshold: float) -> int:
    ti = int(np.argmin(np.abs(match.thresholds - threshold)))
    if abs(match.thresholds[ti] - threshold) > 1e-9:
        raise ValueError(
            f"the match has no threshold {threshold}; it has {list(np.round(match.thresholds, 2))}"
        )
    return ti


def plot_precision_recall(
    acc: Mapping[str, Any], *, thresholds: Sequence[float] = (0.5, 0.75, 0.95), fig=None
):
    """AP step by step: precision against recall at some OKS thresholds, then AP at every threshold.

    Args:
        acc: ``posekit.evaluate.accumulate`` output.
        thresholds: which thresholds' curves to draw (left panel).
        fig: Figure to fill, or None for a new one.

    Returns:
        The Figure: left, interpolated precision at COCO's 101 recall points (the mean of each curve is that
        threshold's AP); right, AP per threshold with their mean, the AP.
    """
    fig = _new_figure(fig, 3.8)
    left, right = fig.subplots(1, 2)
    rec = acc["recall_points"]
    for t in thresholds:
        ti = int(np.argmin(np.abs(acc["thresholds"] - t)))
        line = left.step(rec, acc["precision"][ti], where="post", label=f"OKS {t:g}: AP {acc['ap'][ti]:.3f}")
        left.fill_between(rec, acc["precision"][ti], step="post", alpha=0.12, color=line[0].get_color())
    left.set(xlabel="recall (share of labelled people found)", ylabel="precision (interpolated)",
             xlim=(0, 1.01), ylim=(0, 1.05), title="precision at 101 recall points")  # fmt: skip
    left.legend(fontsize=8, loc="lower left")
    right.bar([f"{t:.2f}" for t in acc["thresholds"]], acc["ap"], color="#6baed6")
    right.axhline(acc["AP"], color="black", lw=1.5, label=f"AP = mean = {acc['AP']:.3f}")
    right.set(xlabel="OKS threshold", ylabel="AP at the threshold", ylim=(0, 1.05), title="AP per threshold")
    right.tick_params(axis="x", labelrotation=45, labelsize=8)
    right.legend(fontsize=8)
    return fig


def plot_keypoint_errors(table: Mapping[str, np.ndarray], *, fig=None):
    """Which keypoints are worst (error relative to the person's scale) and the mean signed offsets in x, y.

    Args:
        table: ``posekit.evaluate.keypoint_error_table`` output (17 keypoints then "all").
        fig: Figure to fill, or None for a new one.

    Returns:
        The Figure: left, the median distance / sqrt(area) per keypoint, sorted, beside COCO's sigma
        (the labellers' own spread); right, mean signed error dx, dy (pixels) with 95% intervals (1.96 se).
    """
    from ..evaluate import COCO_SIGMAS

    fig = _new_figure(fig, 4.6)
    left, right = fig.subplots(1, 2)
    names, rel = table["name"][:17], table["relative"][:17]
    order = np.argsort(np.nan_to_num(rel, nan=-1))[::-1]
    y = np.arange(17)
    left.barh(y, rel[order], color=[KEYPOINT_GROUP_COLORS[_GROUP[k]] for k in order])
    left.plot(COCO_SIGMAS[order], y, "k|", ms=10, mew=2, label="COCO sigma (labellers' spread)")
    left.set_yticks(y, [f"{names[k]} ({table['n'][k]})" for k in order], fontsize=8)
    left.invert_yaxis()
    left.set(xlabel="median |detection - label| / sqrt(area)", title="worst keypoints first (n compared)")
    left.legend(fontsize=8, loc="lower right")
    rows = np.arange(18)
    for key, off, color in (("dx", -0.18, "#d95f02"), ("dy", 0.18, "#1b9e77")):
        right.errorbar(table[key], rows + off, xerr=1.96 * np.nan_to_num(table[key + "_se"]), fmt="o", ms=4,
                       color=color, capsize=2, label=f"mean {key} (95% interval)")  # fmt: skip
    right.axvline(0, color="black", lw=0.8)
    right.set_yticks(rows, list(table["name"]), fontsize=8)
    right.invert_yaxis()
    right.set(xlabel="mean signed error, pixels (+x right, +y down)", title="systematic offset?")
    right.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2)
    return fig


def failures(
    annotations: Mapping[str, Any], results: Sequence[Mapping[str, Any]], matches, *, threshold: float = 0.5
) -> list[dict[str, Any]]:
    """The missed labels and the false people at one OKS threshold, as a list of dicts.

    Each dict: "kind" ("missed" or "false"), "image_id", "entry" (the COCO label or detection), "box"
    (x0, y0, x1, y1 around it, pixels) and "info" (a short text: labelled keypoints, or score and best OKS).
    """
    labels: dict[int, list] = {}
    for g in annotations["annotations"]:
        labels.setdefault(int(g["image_id"]), []).append(g)
    dets: dict[int, list] = {}
    for d in results:
        dets.setdefault(int(d["image_id"]), []).append(d)
    out = []
    for m in matches:
        ti = _threshold_index(m, threshold)
        for gi, li in enumerate(m.label_index):
            if m.label_ignored[gi] or gi in m.matched[ti]:
                continue
            g = labels[m.image_id][li]
            x, y, w, h = g["bbox"]
            best = m.oks[:, gi].max() if len(m.oks) else 0.0
            out.append({"kind": "missed", "image_id": m.image_id, "entry": g, "box": (x, y, x + w, y + h),
                        "info": f"{g['num_keypoints']} keypoints labelled, best OKS {best:.2f}"})  # fmt: skip
        for di in np.flatnonzero(m.false_positive[ti]):
            d = dets[m.image_id][m.detection_index[di]]
            kp = _kp17(d)
            shown = kp[:, 2] > 0
            pts = kp[shown, :2] if shown.any() else np.zeros((1, 2))  # no keypoints at all: the corner
            x0, y0 = pts.min(axis=0)
            x1, y1 = pts.max(axis=0)
            best = m.oks[di].max() if m.oks.shape[1] else 0.0
            info = f"score {d['score']:.2f}, {int(shown.sum())} keypoints, best OKS {best:.2f}"
            out.append({"kind": "false", "image_id": m.image_id, "entry": d, "box": (x0, y0, x1, y1),
                        "info": info})  # fmt: skip
    return out


def plot_failures(images: Mapping[int, np.ndarray], found: Sequence[Mapping[str, Any]], *, columns: int = 4,
                  fig=None):  # fmt: skip
    """Crops of ``failures(...)``: each missed label (orange, the label drawn) and false person (red).

    Args:
        images: {image_id: BGR uint8 (H, W, 3)}.
        found: ``failures(...)`` output.
        columns: crops per row.
        fig: Figure to fill, or None for a new one.

    Returns:
        The Figure (one "nothing to show" panel when ``found`` is empty).
    """
    columns = max(1, min(columns, len(found)))
    rows = max(1, -(-len(found) // columns))
    fig = _new_figure(fig, 3.6 * rows)
    axes = np.atleast_1d(fig.subplots(rows, columns)).ravel()
    for ax in axes:
        ax.axis("off")
    if not found:
        axes[0].text(0.5, 0.5, "no misses and no false people", ha="center", va="center")
    for ax, f in zip(axes, found):
        img = images[f["image_id"]]
        x0, y0, x1, y1 = f["box"]
        pad = 0.25 * max(x1 - x0, y1 - y0, 20)
        ax.imshow(to_rgb(img))
        _skeleton(ax, f["entry"], _MISSED if f["kind"] == "missed" else _FALSE, lw=1.8)
        ax.set_xlim(max(x0 - pad, 0), min(x1 + pad, img.shape[1]))
        ax.set_ylim(min(y1 + pad, img.shape[0]), max(y0 - pad, 0))
        label = "missed person (label drawn)" if f["kind"] == "missed" else "false person (detection drawn)"
        ax.set_title(f"{label}, image {f['image_id']}\n{f['info']}", fontsize=9)
    return fig


def plot_modes(rows: Sequence[Mapping[str, Any]], *, fig=None):
    """AP with its bootstrap interval beside the time per image, one row per mode.

    Args:
        rows: dicts with "mode" (str), "AP", "low", "high" (the 95% interval) and "ms" (per image).
        fig: Figure to fill, or None for a new one.

    Returns:
        The Figure: left, AP with its interval (the default's AP as a dotted line); right, the time per image.
    """
    fig = _new_figure(fig, 0.45 * len(rows) + 1.6)
    left, right = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [3, 2]})
    y = np.arange(len(rows))
    ap = np.array([r["AP"] for r in rows])
    err = np.array([[r["AP"] - r["low"], r["high"] - r["AP"]] for r in rows]).T
    left.errorbar(ap, y, xerr=err, fmt="o", color="#08519c", capsize=3)
    left.axvline(ap[0], color="0.5", ls=":", lw=1)
    left.set_yticks(y, [r["mode"] for r in rows], fontsize=8)
    left.invert_yaxis()
    left.set(xlabel="AP (95% bootstrap interval, images resampled)", xlim=(0, 1))
    right.barh(y, [r["ms"] for r in rows], color="#9ecae1")
    for yi, r in zip(y, rows):
        right.text(r["ms"], yi, f" {r['ms']:.0f}", va="center", fontsize=8)
    right.set(xlabel="ms per image (network + grouping)", xlim=(0, 1.18 * max(r["ms"] for r in rows)))
    return fig
