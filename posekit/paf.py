"""Peaks + Part Affinity Fields -> people: the PAF grouping of OpenPose / tf-pose-estimation.

The algorithm is the one of Cao et al., "Realtime Multi-Person 2D Pose Estimation using Part
Affinity Fields" (CVPR 2017), as tf-pose-estimation's ``tf_pose/pafprocess`` implements it.
Two backends compute the same people (keypoints and scores equal to 1e-5):

- ``"cpp"``: the compiled extension ``posekit._pafprocess`` (built from ``pafprocess_cpp/`` by
  ``pip install .`` or ``pip install -e .``). This module is its only importer. Ctrl-C
  interrupts it (``KeyboardInterrupt``) while it runs.
- ``"numpy"``: ``posekit._paf_numpy``, the pure-NumPy twin (fallback and test oracle).

``BACKEND`` is ``"cpp"`` when the extension imported and ``"numpy"`` otherwise. Setting the
environment variable ``POSEKIT_PURE_PYTHON=1`` before import forces ``"numpy"``. A missing
extension falls back to NumPy with one ``RuntimeWarning``.

``find_peak_list`` lists the peaks the grouping sees; ``posekit.paf_trace.trace`` runs the NumPy
grouping and returns every decision it made, for teaching and inspection.

Coordinates: keypoints come out as (x = column, y = row) in the pixel grid of the fields
(e.g. 216 x 184 for a 432 x 368 input upsampled 4x), integers stored as float32.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from types import ModuleType

import numpy as np

from . import _paf_numpy
from .params import TFPOSE_DEFAULTS, PostprocessParams
from .skeleton import LIMBS, NUM_PARTS, START_LIMBS

__all__ = [
    "BACKEND",
    "available_backends",
    "find_peak_list",
    "group_people",
]

_BUILD_HINT = (
    "posekit's C++ PAF grouping (posekit._pafprocess) is not built; using the slower NumPy "
    "backend. Build it with `pip install -e .` (or `pip install .`) from the posekit source "
    "folder; set POSEKIT_PURE_PYTHON=1 to silence this warning."
)

_INT32_MAX = 2**31 - 1


def _pure_python_forced() -> bool:
    return os.environ.get("POSEKIT_PURE_PYTHON", "").strip().lower() not in ("", "0", "false", "no")


def _import_extension() -> tuple[ModuleType | None, str]:
    try:
        from . import _pafprocess  # type: ignore[attr-defined]
    except ImportError as exc:
        return None, str(exc)
    return _pafprocess, ""


if _pure_python_forced():
    _ext: ModuleType | None = None
    _ext_tried = False
    BACKEND = "numpy"
else:
    _ext, _ext_error = _import_extension()
    _ext_tried = True
    if _ext is None:
        warnings.warn(f"{_BUILD_HINT} (import error: {_ext_error})", RuntimeWarning, stacklevel=2)
        BACKEND = "numpy"
    else:
        BACKEND = "cpp"


def _extension() -> ModuleType:
    """The compiled module, imported on first explicit request when POSEKIT_PURE_PYTHON was set."""
    global _ext, _ext_tried
    if _ext is None and not _ext_tried:
        _ext, _ = _import_extension()
        _ext_tried = True
    if _ext is None:
        raise RuntimeError(
            "backend='cpp' requested but posekit._pafprocess is not built; "
            "run `pip install -e .` in the posekit source folder"
        )
    return _ext


def available_backends() -> tuple[str, ...]:
    """The backends usable in this process: ``("cpp", "numpy")`` or ``("numpy",)``."""
    try:
        _extension()
    except RuntimeError:
        return ("numpy",)
    return ("cpp", "numpy")


def _check_array(a: object, name: str, ndim: int, dtype: type) -> np.ndarray:
    """Same checks and messages as pafprocess_cpp/bindings.cpp; never copies."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray of {np.dtype(dtype).name}, got {type(a).__name__}")
    if a.dtype != np.dtype(dtype) or not a.dtype.isnative:
        raise TypeError(f"{name} must have dtype {np.dtype(dtype).name}, got {a.dtype}")
    if a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {a.shape}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous (use numpy.ascontiguousarray); got a strided view")
    if not a.flags.aligned:
        raise ValueError(f"{name} must be aligned in memory")
    return a


def _check_num_parts(num_parts: object) -> int:
    if isinstance(num_parts, bool) or not isinstance(num_parts, (int, np.integer)) or num_parts < 1:
        raise ValueError(f"num_parts must be a positive integer, got {num_parts!r}")
    return int(num_parts)


def _check_peak_shapes(peaks: np.ndarray, heatmaps: np.ndarray, num_parts: int) -> None:
    if peaks.shape[2] < num_parts:
        raise ValueError(f"peaks must have at least {num_parts} channels, got shape {peaks.shape}")
    if heatmaps.shape[:2] != peaks.shape[:2]:
        raise ValueError(
            f"heatmaps must have the same height and width as peaks {peaks.shape}, got shape {heatmaps.shape}"
        )
    if heatmaps.shape[2] < num_parts:
        raise ValueError(f"heatmaps must have at least {num_parts} channels, got shape {heatmaps.shape}")


def _check_paf_upsample(paf_upsample: object) -> int:
    if (
        isinstance(paf_upsample, bool)
        or not isinstance(paf_upsample, (int, np.integer))
        or not 1 <= paf_upsample <= (1 << 20)
    ):
        raise ValueError(f"paf_upsample must be an integer in 1..2**20, got {paf_upsample!r}")
    return int(paf_upsample)


def _validate(
    peaks: object,
    heatmaps: object,
    pafs: object,
    limbs: object,
    params: PostprocessParams,
    num_parts: int,
    paf_upsample: int = 1,
) -> None:
    """Same checks, order and messages as pafprocess_cpp/bindings.cpp."""
    peaks = _check_array(peaks, "peaks", 3, np.float32)
    heatmaps = _check_array(heatmaps, "heatmaps", 3, np.float32)
    pafs = _check_array(pafs, "pafs", 3, np.float32)
    limbs = _check_array(limbs, "limbs", 2, np.int32)
    _check_peak_shapes(peaks, heatmaps, num_parts)
    h, w = peaks.shape[:2]
    u = paf_upsample
    if h % u or w % u or pafs.shape[:2] != (h // u, w // u):
        divided = f" divided by paf_upsample={u}" if u > 1 else ""
        raise ValueError(
            f"pafs must have the same height and width as peaks {peaks.shape}{divided}, "
            f"got shape {pafs.shape}"
        )
    if max(h, w, peaks.shape[2], heatmaps.shape[2], pafs.shape[2]) > (1 << 20):
        raise ValueError("peaks, heatmaps and pafs must have fewer than 2**20 rows, columns and channels")
    if limbs.shape[1] != 4:
        raise ValueError(
            f"limbs must have shape (L, 4) (part_a, part_b, paf_x, paf_y), got shape {limbs.shape}"
        )
    if limbs.shape[0] > (1 << 20):
        raise ValueError("limbs must have fewer than 2**20 rows")
    if params.paf_steps < 1:
        raise ValueError(f"paf_steps must be >= 1, got {params.paf_steps}")
    if params.max_peaks_per_part < 1:
        raise ValueError(f"max_peaks_per_part must be >= 1, got {params.max_peaks_per_part}")
    for k, row in enumerate(limbs.tolist()):
        for v in row[:2]:
            if not 0 <= v < num_parts:
                raise ValueError(f"limbs[{k}] has part index {v} outside 0..{num_parts - 1}")
        for v in row[2:]:
            if not 0 <= v < pafs.shape[2]:
                raise ValueError(f"limbs[{k}] has PAF channel {v} but pafs has {pafs.shape[2]} channels")


def group_people(
    peaks: np.ndarray,
    heatmaps: np.ndarray,
    pafs: np.ndarray,
    *,
    params: PostprocessParams = TFPOSE_DEFAULTS,
    limbs: np.ndarray = LIMBS,
    num_parts: int = NUM_PARTS,
    start_limbs: int = START_LIMBS,
    backend: str | None = None,
    paf_upsample: int = 1,
    stage_ms: dict[str, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Assemble people from heatmap peaks and Part Affinity Fields (tf-pose's pafprocess).

    Args:
        peaks: float32 (H, W, C>=num_parts), C-contiguous: the smoothed heatmap kept only at
            local maxima, 0 elsewhere. Channels 0..num_parts-1 are used; a pixel is a peak if
            its value is above ``params.heat_threshold``; at most ``params.max_peaks_per_part``
            peaks per part are kept (the strongest).
        heatmaps: float32 (H, W, C>=num_parts), C-contiguous: the unsmoothed upsampled
            heatmaps; the part scores are read here.
        pafs: float32 (H, W, 38), C-contiguous: upsampled Part Affinity Fields (any channel
            count covering the channels named in ``limbs``); or float32
            (H / paf_upsample, W / paf_upsample, 38), the fields before an integer block-replicating
            upsampling (the network's stride-8 PAFs): the same people, a 16th of the memory read
            at upsample 4.
        params: thresholds, ``paf_steps`` and ``max_peaks_per_part``
            (see ``posekit.params.PostprocessParams``).
        limbs: int32 (L, 4), C-contiguous rows (part_a, part_b, paf_x_channel, paf_y_channel),
            in assembly order (``posekit.skeleton.LIMBS``).
        num_parts: keypoints per person (``posekit.skeleton.NUM_PARTS``).
        start_limbs: only limb rows below this may start a person; later rows only join people
            (``posekit.skeleton.START_LIMBS``: tf-pose's rule for the shoulder-ear limbs).
        backend: ``None`` (use ``BACKEND``), ``"cpp"`` or ``"numpy"``.
        paf_upsample: grid cells per ``pafs`` cell along each axis (1: ``pafs`` is on the grid);
            grid cell (row, col) reads ``pafs[row // paf_upsample, col // paf_upsample]``.
        stage_ms: a dict the C++ backend fills with the milliseconds of its steps (for benchmarks):
            ``"peaks"`` (listing the peaks: one pass over ``peaks``), ``"scoring"`` (limb candidates:
            the PAF reads), ``"matching"`` (sort, greedy matching), ``"assembly"`` (people, filter,
            output). The NumPy backend leaves it unchanged.

    Returns:
        ``(keypoints, scores)``: keypoints float32 (P, num_parts, 3) with x = peak column and
        y = peak row in the fields' pixel grid and score = heatmap value at the peak; a missing
        part is x = y = NaN, score 0. Scores float32 (P,): (sum of part and limb scores) / part
        count. People come in the reference's assembly order.

    Raises:
        TypeError: an array argument is not a numpy array or has the wrong dtype.
        ValueError: wrong ndim or shape, non-contiguous array, or out-of-range limb values.
        RuntimeError: ``backend="cpp"`` while the extension is not built.
        KeyboardInterrupt: Ctrl-C during the C++ grouping (it stops within about 20 ms).
    """
    which = BACKEND if backend is None else backend
    if which not in ("cpp", "numpy"):
        raise ValueError(f"backend must be None, 'cpp' or 'numpy', got {backend!r}")
    num_parts = _check_num_parts(num_parts)
    paf_upsample = _check_paf_upsample(paf_upsample)
    if which == "cpp":
        args = (*_cpp_args(peaks, heatmaps, pafs, params, limbs, num_parts, start_limbs), paf_upsample)
        if stage_ms is None:
            return _extension().group(*args)
        keypoints, scores, ms = _extension().group_timed(*args)
        stage_ms.update(ms)
        return keypoints, scores
    _validate(peaks, heatmaps, pafs, limbs, params, num_parts, paf_upsample)
    if paf_upsample > 1:  # the oracle reads the grid's PAF itself (block replication)
        pafs = np.ascontiguousarray(pafs.repeat(paf_upsample, axis=0).repeat(paf_upsample, axis=1))
    return _paf_numpy.group_people_numpy(
        peaks, heatmaps, pafs, limbs, params, num_parts=num_parts, start_limbs=int(start_limbs)
    )


def _cpp_args(peaks, heatmaps, pafs, params: PostprocessParams, limbs, num_parts: int, start_limbs) -> tuple:
    """The positional arguments of the extension's ``group`` before ``paf_upsample``."""
    return (
        peaks,
        heatmaps,
        pafs,
        limbs,
        num_parts,
        int(start_limbs),
        float(params.heat_threshold),
        float(params.vector_score_threshold),
        int(params.vector_count_threshold),
        int(params.part_count_threshold),
        float(params.human_score_threshold),
        int(params.paf_steps),
        min(int(params.max_peaks_per_part), _INT32_MAX),
    )


def find_peak_list(
    peaks: np.ndarray,
    heatmaps: np.ndarray,
    heat_threshold: float = TFPOSE_DEFAULTS.heat_threshold,
    *,
    max_peaks_per_part: int = TFPOSE_DEFAULTS.max_peaks_per_part,
    num_parts: int = NUM_PARTS,
) -> list[np.ndarray]:
    """The peaks the grouping sees, per part, with the ids it gives them.

    Args:
        peaks: float32 (H, W, C>=num_parts), C-contiguous: smoothed heatmaps kept only at
            local maxima (``InferenceResult.peaks``).
        heatmaps: float32 (H, W, C>=num_parts), C-contiguous: unsmoothed heatmaps (the scores).
            Pass ``peaks`` again to get the smoothed values as scores.
        heat_threshold: a pixel is a peak of a part if its ``peaks`` value is above this
            (``PostprocessParams.heat_threshold``).
        max_peaks_per_part: keep at most this many peaks per part, those with the highest
            ``peaks`` value (``PostprocessParams.max_peaks_per_part``).
        num_parts: channels 0..num_parts-1 are parts (``posekit.skeleton.NUM_PARTS``).

    Returns:
        ``num_parts`` float64 arrays (N_part, 4): global peak id, x (column), y (row), score, in
        the fields' pixel grid and in the grouping's scan order (part, then row, then column).

    Raises:
        TypeError, ValueError: as ``group_people`` for ``peaks`` and ``heatmaps``; ValueError for
            a non-positive ``max_peaks_per_part`` or ``num_parts``.
    """
    params = dataclasses.replace(
        TFPOSE_DEFAULTS, heat_threshold=heat_threshold, max_peaks_per_part=max_peaks_per_part
    )
    num_parts = _check_num_parts(num_parts)
    peaks = _check_array(peaks, "peaks", 3, np.float32)
    heatmaps = _check_array(heatmaps, "heatmaps", 3, np.float32)
    _check_peak_shapes(peaks, heatmaps, num_parts)
    return _paf_numpy.peak_lists(
        peaks, heatmaps, params.heat_threshold, int(params.max_peaks_per_part), num_parts
    )
