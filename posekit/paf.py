"""Peaks + Part Affinity Fields -> people: the PAF grouping of OpenPose / tf-pose-estimation.

Two backends compute the same people (keypoints and scores equal to 1e-5):

- ``"cpp"``: the compiled extension ``posekit._pafprocess`` (built from ``pafprocess_cpp/`` by
  ``pip install .`` or ``pip install -e .``). This module is its only importer.
- ``"numpy"``: ``posekit._paf_numpy``, the pure-NumPy twin (fallback and test oracle).

``BACKEND`` is ``"cpp"`` when the extension imported and ``"numpy"`` otherwise. Setting the
environment variable ``POSEKIT_PURE_PYTHON=1`` before import forces ``"numpy"``. A missing
extension falls back to NumPy with one ``RuntimeWarning``.

Coordinates: keypoints come out as (x = column, y = row) in the pixel grid of the fields
(e.g. 216 x 184 for a 432 x 368 input upsampled 4x), integers stored as float32.
"""

from __future__ import annotations

import os
import warnings
from types import ModuleType

import numpy as np

from . import _paf_numpy
from .params import TFPOSE_DEFAULTS, PostprocessParams
from .skeleton import LIMBS, NUM_PARTS

__all__ = ["BACKEND", "group_people", "find_peak_list", "available_backends"]

_BUILD_HINT = (
    "posekit's C++ PAF grouping (posekit._pafprocess) is not built; using the slower NumPy "
    "backend. Build it with `pip install -e .` (or `pip install .`) from the posekit source "
    "folder; set POSEKIT_PURE_PYTHON=1 to silence this warning."
)


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


def _validate(peaks: object, heatmaps: object, pafs: object, limbs: object, paf_steps: int) -> None:
    peaks = _check_array(peaks, "peaks", 3, np.float32)
    heatmaps = _check_array(heatmaps, "heatmaps", 3, np.float32)
    pafs = _check_array(pafs, "pafs", 3, np.float32)
    limbs = _check_array(limbs, "limbs", 2, np.int32)
    h, w = peaks.shape[:2]
    if peaks.shape[2] < NUM_PARTS:
        raise ValueError(f"peaks must have at least 18 channels, got shape {peaks.shape}")
    if heatmaps.shape[:2] != (h, w):
        raise ValueError(
            f"heatmaps must have the same height and width as peaks {peaks.shape}, got shape {heatmaps.shape}"
        )
    if heatmaps.shape[2] < NUM_PARTS:
        raise ValueError(f"heatmaps must have at least 18 channels, got shape {heatmaps.shape}")
    if pafs.shape[:2] != (h, w):
        raise ValueError(
            f"pafs must have the same height and width as peaks {peaks.shape}, got shape {pafs.shape}"
        )
    if max(h, w, peaks.shape[2], heatmaps.shape[2], pafs.shape[2]) > (1 << 20):
        raise ValueError("peaks, heatmaps and pafs must have fewer than 2**20 rows, columns and channels")
    if limbs.shape[1] != 4:
        raise ValueError(
            f"limbs must have shape (L, 4) (part_a, part_b, paf_x, paf_y), got shape {limbs.shape}"
        )
    if paf_steps < 1:
        raise ValueError(f"paf_steps must be >= 1, got {paf_steps}")
    for k, row in enumerate(limbs.tolist()):
        for v in row[:2]:
            if not 0 <= v < NUM_PARTS:
                raise ValueError(f"limbs[{k}] has part index {v} outside 0..17")
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
    backend: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Assemble people from heatmap peaks and Part Affinity Fields (tf-pose's pafprocess).

    Args:
        peaks: float32 (H, W, C>=18), C-contiguous: the smoothed heatmap kept only at local
            maxima, 0 elsewhere. Channels 0..17 are used; a pixel is a peak if its value is
            above ``params.heat_threshold``.
        heatmaps: float32 (H, W, C>=18), C-contiguous: the unsmoothed upsampled heatmaps; the
            part scores are read here.
        pafs: float32 (H, W, 38), C-contiguous: upsampled Part Affinity Fields (any channel
            count covering the channels named in ``limbs``).
        params: thresholds and ``paf_steps`` (see ``posekit.params.PostprocessParams``).
        limbs: int32 (L, 4), C-contiguous rows (part_a, part_b, paf_x_channel, paf_y_channel),
            in assembly order; rows 17 and later never start a person (tf-pose's rule for the
            shoulder-ear limbs).
        backend: ``None`` (use ``BACKEND``), ``"cpp"`` or ``"numpy"``.

    Returns:
        ``(keypoints, scores)``: keypoints float32 (P, 18, 3) with x = peak column and y = peak
        row in the fields' pixel grid and score = heatmap value at the peak; a missing part is
        x = y = NaN, score 0. Scores float32 (P,): (sum of part and limb scores) / part count.
        People come in the reference's assembly order.

    Raises:
        TypeError: an array argument is not a numpy array or has the wrong dtype.
        ValueError: wrong ndim or shape, non-contiguous array, or out-of-range limb values.
        RuntimeError: ``backend="cpp"`` while the extension is not built.
    """
    which = BACKEND if backend is None else backend
    if which not in ("cpp", "numpy"):
        raise ValueError(f"backend must be None, 'cpp' or 'numpy', got {backend!r}")
    if which == "cpp":
        ext = _extension()
        return ext.group(
            peaks,
            heatmaps,
            pafs,
            limbs,
            float(params.heat_threshold),
            float(params.vector_score_threshold),
            int(params.vector_count_threshold),
            int(params.part_count_threshold),
            float(params.human_score_threshold),
            int(params.paf_steps),
            _paf_numpy.START_LIMBS,
        )
    _validate(peaks, heatmaps, pafs, limbs, int(params.paf_steps))
    return _paf_numpy.group_people_numpy(peaks, heatmaps, pafs, limbs, params)


def find_peak_list(
    peaks: np.ndarray, heatmaps: np.ndarray, params: PostprocessParams = TFPOSE_DEFAULTS
) -> list[np.ndarray]:
    """The peaks the grouping sees, per part (NumPy; for inspection and plots).

    Args:
        peaks: float32 (H, W, C>=18), smoothed heatmaps kept only at local maxima.
        heatmaps: float32 (H, W, C>=18), unsmoothed heatmaps.
        params: ``heat_threshold`` is used.

    Returns:
        18 float32 arrays (N_part, 4): global peak id, x (column), y (row), score, in the
        grouping's scan order (part, then row, then column).
    """
    _check_array(peaks, "peaks", 3, np.float32)
    _check_array(heatmaps, "heatmaps", 3, np.float32)
    if peaks.shape[2] < NUM_PARTS or heatmaps.shape[2] < NUM_PARTS or heatmaps.shape[:2] != peaks.shape[:2]:
        raise ValueError(
            f"peaks and heatmaps must share height and width and have >= 18 channels, "
            f"got {peaks.shape} and {heatmaps.shape}"
        )
    return [p.astype(np.float32) for p in _paf_numpy.find_peak_list(peaks, heatmaps, params.heat_threshold)]
