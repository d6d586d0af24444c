"""Multi-scale inference, off by default: ``PoseEstimator(..., scales=(1.0, 0.75, 1.25))``.

As OpenPose does, the network runs on the image resized to several scales of the input size, each
scale's heatmaps and PAFs are resized to one common grid (the single-scale upsampled grid) with
bicubic interpolation, and the fields are averaged before peak finding and grouping. Scaled sizes
other than 1.0 are rounded to multiples of 8 (at least 16), so the network's stride-8 output covers
the scaled image exactly; none may exceed ``preprocess.MAX_INPUT_SIDE``. Cost: one network run per
scale. Sizes are (width, height) throughout. The scale-1.0 size is the image's network input size
(``preprocess.network_input_size``: with ``input_size=(None, H)`` the aspect-kept width); the networks of
the other sizes come from the estimator's ``network.engines.SizedRunners`` (OpenVINO: one per height).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np

from .preprocess import MAX_INPUT_SIDE, MIN_INPUT_SIDE, STRIDE, prepare

__all__ = ["check_scales", "scaled_size", "resize_fields", "multiscale_fields"]

Runner = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


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
    if not all(math.isfinite(v) for v in values):
        raise ValueError(
            f"scales must be a non-empty sequence of positive numbers, got {scales!r} (not finite)"
        )
    if not values or not all(v > 0 for v in values):
        raise ValueError(f"scales must be a non-empty sequence of positive numbers, got {scales!r}")
    return values


def scaled_size(size: tuple[int, int], scale: float) -> tuple[int, int]:
    """(width, height) of ``size`` times ``scale``; other than 1.0, rounded to multiples of STRIDE (>= 16).

    Raises:
        ValueError: a scaled side exceeds ``preprocess.MAX_INPUT_SIDE``.
    """
    if scale == 1.0:
        return int(size[0]), int(size[1])
    sides = [v * scale for v in size]
    if not max(sides) <= MAX_INPUT_SIDE + 4:  # rounds to at most MAX_INPUT_SIDE (NaN fails too)
        raise ValueError(
            f"input size {size[0]}x{size[1]} at scale {scale:g} exceeds the limit of {MAX_INPUT_SIDE} "
            "pixels per side: use smaller scales or input size"
        )
    w, h = (max(MIN_INPUT_SIDE, STRIDE * math.floor(v / STRIDE + 0.5)) for v in sides)
    return w, h


def resize_fields(fields: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Bicubic resize of float32 (h, w, C) fields to ``grid`` = (width, height), half-pixel-centre aligned.

    Returns:
        float32 (height, width, C).
    """
    import cv2

    W, H = (int(v) for v in grid)
    src = np.ascontiguousarray(fields, np.float32)
    if src.shape[:2] == (H, W):
        return src
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
        grid: (width, height) of the common grid the fields are resized to and averaged on.
        runner_for: (width, height) -> runner mapping float32 BGR (1, h, w, 3) to
            ``(heatmaps (1, h/8, w/8, 19), pafs (1, h/8, w/8, 38))``.

    Returns:
        (heatmaps (height, width, 19), pafs (height, width, 38), timings {"preprocess", "network",
        "postprocess"} in ms).

    Raises:
        ValueError: a scaled size exceeds ``preprocess.MAX_INPUT_SIDE`` (checked before any run).
    """
    W, H = (int(v) for v in grid)
    sizes = [scaled_size(base_size, s) for s in scales]
    heat_sum = np.zeros((H, W, 19), np.float32)
    paf_sum = np.zeros((H, W, 38), np.float32)
    t = {"preprocess": 0.0, "network": 0.0, "postprocess": 0.0}
    for size in sizes:
        t0 = time.perf_counter()
        inp = prepare(image, size)
        run = runner_for(size)
        t1 = time.perf_counter()
        heat, paf = run(inp[None])
        t2 = time.perf_counter()
        heat_sum += resize_fields(heat[0], (W, H))
        paf_sum += resize_fields(paf[0], (W, H))
        t3 = time.perf_counter()
        t["preprocess"] += (t1 - t0) * 1e3
        t["network"] += (t2 - t1) * 1e3
        t["postprocess"] += (t3 - t2) * 1e3
    n = np.float32(len(sizes))
    return heat_sum / n, paf_sum / n, t
