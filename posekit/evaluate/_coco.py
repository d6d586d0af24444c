"""COCO evaluation on files: annotations, pycocotools' ten numbers, a ``PoseEstimator`` over images, keypoint
errors (``posekit.evaluate`` exports them; its docstring gives the conventions).
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ..preprocess import DEFAULT_UPSAMPLE
from ._oks import OKS_THRESHOLDS, ImageMatch, accumulate, bootstrap_ap, match_image

#: The ten numbers of COCO's keypoint summary, in pycocotools' order (``COCOeval.stats``).
METRICS: tuple[str, ...] = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")


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
    from ..export import COCO_KEYPOINT_NAMES, coco_results

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
    upsample: float = DEFAULT_UPSAMPLE,
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
    from ..export import coco_results
    from ..preprocess import read_image

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
    from ..export import COCO_KEYPOINT_NAMES

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
