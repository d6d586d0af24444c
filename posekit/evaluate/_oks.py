"""OKS, COCO's per-image matching and the AP accumulation, written to be read (``posekit.evaluate``).

Pure NumPy on COCO-format dicts: no files, no pycocotools. Each function equals its pycocotools counterpart
(``computeOks``, ``evaluateImg``, ``accumulate``); ``tests/test_oks.py`` checks it on random seeded cases.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import numpy as np

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


def _precision_recall(tp: np.ndarray, fp: np.ndarray, labelled: int) -> tuple[np.ndarray, np.ndarray]:
    """COCO's interpolated precision (T, 101) and final recall (T,) from bool (T, D) right / false flags in
    score order; NaN without a counted label."""
    T, D = tp.shape
    precision, recall = np.zeros((T, len(_RECALL_POINTS))), np.zeros(T)
    if labelled == 0:
        return precision * np.nan, recall * np.nan
    if D == 0:
        return precision, recall
    tps, fps = np.cumsum(tp, axis=1, dtype=float), np.cumsum(fp, axis=1, dtype=float)
    rc = tps / labelled
    pr = np.maximum.accumulate((tps / (tps + fps + np.spacing(1)))[:, ::-1], axis=1)[:, ::-1]
    for ti in range(T):
        idx = np.searchsorted(rc[ti], _RECALL_POINTS, side="left")
        ok = idx < D
        precision[ti, ok] = pr[ti, idx[ok]]
    return precision, rc[:, -1].copy()


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
    pool = _Pool(matches)
    order = np.argsort(-pool.scores, kind="mergesort")
    labelled = int(pool.labelled.sum())
    precision, recall = _precision_recall(pool.tp[:, order], pool.fp[:, order], labelled)
    ap = precision.mean(axis=1)
    t = pool.thresholds
    return {"AP": float(ap.mean()), "AR": float(recall.mean()), "labelled": labelled, "thresholds": t,
            "ap": ap, "recall": recall, "precision": precision, "recall_points": _RECALL_POINTS}  # fmt: skip


class _Pool:
    """Every detection of some images in one set of arrays (image by image, each in score order): the
    bootstrap resamples images without matching again."""

    def __init__(self, matches: list[ImageMatch], positions: list[int] | None = None) -> None:
        self.thresholds = matches[0].thresholds
        where = positions if positions is not None else list(range(len(matches)))
        size = max(where, default=-1) + 1
        self.scores = np.concatenate([m.scores for m in matches])
        self.tp = np.concatenate([m.true_positive for m in matches], axis=1)
        self.fp = np.concatenate([m.false_positive for m in matches], axis=1)
        self.labelled, self.start, self.length = (np.zeros(size, dtype=np.int64) for _ in range(3))
        self.labelled[where] = [np.count_nonzero(~m.label_ignored) for m in matches]
        self.length[where] = [len(m.scores) for m in matches]
        self.start[where] = np.cumsum([len(m.scores) for m in matches]) - self.length[where]

    def ap(self, counts: np.ndarray) -> float:
        """AP with image k taken ``counts[k]`` times, the copies one after the other (as ``accumulate`` of
        the resampled list of images would order them)."""
        counts = np.asarray(counts)[: len(self.labelled)]
        images = np.repeat(np.arange(len(counts)), counts)
        lengths = self.length[images]
        within = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        keep = np.repeat(self.start[images], lengths) + within
        order = keep[np.argsort(-self.scores[keep], kind="mergesort")]
        precision, _ = _precision_recall(self.tp[:, order], self.fp[:, order], int(counts @ self.labelled))
        return float(precision.mean())


def _interval(values: list[float], level: float) -> tuple[float, float, np.ndarray]:
    kept = np.array([v for v in values if not np.isnan(v)], dtype=np.float64)
    if len(kept) == 0:
        return float("nan"), float("nan"), kept
    lo, hi = np.quantile(kept, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi), kept


def bootstrap_ap(
    matches: Iterable[ImageMatch], *, samples: int = 1000, level: float = 0.95, seed: int = 0
) -> tuple[float, float, np.ndarray]:
    """A percentile bootstrap interval of AP with the images resampled (with replacement).

    Each sample draws as many images as there are, with replacement (seeded), and recomputes AP from their
    matches (matching is per image, so it stays exact); samples without a counted label are dropped.

    Returns:
        (low, high, aps): the interval's bounds and the float64 AP of every kept sample.
    """
    matches = list(matches)
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    if not matches:
        return float("nan"), float("nan"), np.zeros(0)
    pool, rng, n = _Pool(matches), np.random.default_rng(seed), len(matches)
    return _interval(
        [pool.ap(np.bincount(rng.integers(0, n, n), minlength=n)) for _ in range(int(samples))], level
    )


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
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    a = {m.image_id: m for m in matches}
    b = {m.image_id: m for m in baseline}
    ids = sorted(set(a) | set(b))
    if not a or not b:
        return float("nan"), float("nan"), np.zeros(0)
    pos = {i: k for k, i in enumerate(ids)}
    pool_a = _Pool([a[i] for i in ids if i in a], [pos[i] for i in ids if i in a])
    pool_b = _Pool([b[i] for i in ids if i in b], [pos[i] for i in ids if i in b])
    rng, n = np.random.default_rng(seed), len(ids)
    diffs = []
    for _ in range(int(samples)):
        counts = np.bincount(rng.integers(0, n, n), minlength=n)
        diffs.append(pool_a.ap(counts) - pool_b.ap(counts))
    return _interval(diffs, level)
