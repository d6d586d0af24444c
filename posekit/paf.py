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

``find_peak_list`` lists the peaks the grouping sees; ``trace`` runs the NumPy grouping and
returns every decision it made (a ``GroupingTrace``), for teaching and inspection.

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
from ._paf_numpy import ACTIONS, MATCH_STATUSES, ROW_STATUSES
from .params import TFPOSE_DEFAULTS, PostprocessParams
from .skeleton import LIMBS, NUM_PARTS, START_LIMBS

__all__ = [
    "ACTIONS",
    "BACKEND",
    "MATCH_STATUSES",
    "ROW_STATUSES",
    "AssemblyStep",
    "GroupingTrace",
    "LimbStep",
    "PeopleSnapshot",
    "available_backends",
    "find_peak_list",
    "group_people",
    "trace",
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


# ---------------------------------------------------------------------------------------------
# Trace: what the grouping decided, as data
# ---------------------------------------------------------------------------------------------


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


@dataclasses.dataclass(frozen=True, eq=False)
class PeopleSnapshot:
    """Partial people (tf-pose's "subset" rows) at one moment of the assembly; R rows.

    Attributes:
        peak_ids: int64 (R, num_parts): global peak id per part (index into the concatenated
            peak lists), -1 when absent. A merge adds ``id + 1`` (tf-pose's quirk), so an id can
            name another part's peak or lie past the last peak (then the part is missing).
        totals: float64 (R,): sum of the part heat values and limb scores.
        counts: int64 (R,): number of parts as the grouping counts them.
    """

    peak_ids: np.ndarray
    totals: np.ndarray
    counts: np.ndarray

    def __len__(self) -> int:
        return len(self.counts)


@dataclasses.dataclass(frozen=True, eq=False)
class AssemblyStep:
    """One kept connection applied to the partial people.

    Attributes:
        peak_a: global id of its part-A peak.
        peak_b: global id of its part-B peak.
        score: its limb score (the candidate's ``score``).
        action: what happened, one of ``ACTIONS``: "new person", "not started" (the limb may
            not start a person), "added part B", "part B already there", "merged" (the second
            row is added into the first and removed), "added part B to the first" (two rows
            sharing a part), "ignored" (three or more rows).
        rows: indices, in the partial people just before this step, of the rows holding
            ``peak_a`` in part A or ``peak_b`` in part B.
    """

    peak_a: int
    peak_b: int
    score: float
    action: str
    rows: tuple[int, ...]


@dataclasses.dataclass(frozen=True, eq=False)
class LimbStep:
    """Everything the grouping did for one limb; C candidates, S = ``params.paf_steps``.

    Candidates are every pair (A peak, B peak) of the limb's two parts, A-major (A peak in list
    order, then B peak), except pairs at the same pixel; C = 0 when a part has no peaks.

    Attributes:
        index: the limb's row in the limb table (also its place in the assembly order).
        part_a, part_b: the limb's parts; paf_x, paf_y: its PAF channels.
        peak_a, peak_b: int64 (C,): global peak ids of the candidate's ends.
        xy_a, xy_b: int64 (C, 2): (x, y) of the ends in the fields' grid.
        sample_xy: int64 (C, S, 2): the (x, y) grid points where the PAF was read,
            ``a + i * (b - a) / S`` rounded half up, i = 0..S-1 (b itself is not sampled).
        sample_dot: float64 (C, S): PAF vector at each sample dotted with the unit vector a->b.
        mean_dot: float64 (C,): mean of ``sample_dot``.
        distance_penalty: float64 (C,): ``min(0, 0.5 * H / |b - a| - 1)`` (H = field height).
        count_above: int64 (C,): samples with a dot above ``params.vector_score_threshold``.
        score: float64 (C,): ``mean_dot + distance_penalty`` (tf-pose's criterion2).
        passed: bool (C,): ``count_above > params.vector_count_threshold and score > 0``.
        match_rank: int64 (C,): position in the greedy matching's order (score descending,
            stable), -1 for candidates that did not pass.
        match_status: (C,) strings, one of ``MATCH_STATUSES``: "kept", "part A already used",
            "part B already used" (by a kept candidate ranked earlier; A is checked first),
            "failed criterion".
        kept: bool (C,): ``match_status == "kept"``.
        assembly: the kept connections, in matching order, as applied to the people.
        people_after: the partial people after this limb.
    """

    index: int
    part_a: int
    part_b: int
    paf_x: int
    paf_y: int
    peak_a: np.ndarray
    peak_b: np.ndarray
    xy_a: np.ndarray
    xy_b: np.ndarray
    sample_xy: np.ndarray
    sample_dot: np.ndarray
    mean_dot: np.ndarray
    distance_penalty: np.ndarray
    count_above: np.ndarray
    score: np.ndarray
    passed: np.ndarray
    match_rank: np.ndarray
    match_status: tuple[str, ...]
    kept: np.ndarray
    assembly: tuple[AssemblyStep, ...]
    people_after: PeopleSnapshot


@dataclasses.dataclass(frozen=True, eq=False)
class GroupingTrace:
    """What the PAF grouping decided on one frame (``trace``); all coordinates in the fields' grid.

    Attributes:
        params: the thresholds used.
        limb_table: int32 (L, 4): (part_a, part_b, paf_x, paf_y) per limb, assembly order.
        num_parts: keypoints per person.
        start_limbs: only limb rows below this may start a person.
        grid_size: (width, height) of the fields.
        peaks: ``num_parts`` float64 arrays (N_part, 4): global id, x, y, heat score (as
            ``find_peak_list``); ids index the concatenation of the lists.
        limbs: one ``LimbStep`` per limb-table row, in assembly order.
        people_before_filter: the partial people after the last limb.
        row_status: one of ``ROW_STATUSES`` per row of ``people_before_filter``: "kept",
            "too few parts" (count < ``part_count_threshold``, checked first) or "low score"
            (total / count < ``human_score_threshold``).
        keypoints: float32 (P, num_parts, 3): the people as ``group_people`` returns them
            (x, y, score; missing parts NaN, NaN, 0), from the "kept" rows in order.
        scores: float32 (P,): total / count of the kept rows.
    """

    params: PostprocessParams
    limb_table: np.ndarray
    num_parts: int
    start_limbs: int
    grid_size: tuple[int, int]
    peaks: tuple[np.ndarray, ...]
    limbs: tuple[LimbStep, ...]
    people_before_filter: PeopleSnapshot
    row_status: tuple[str, ...]
    keypoints: np.ndarray
    scores: np.ndarray

    @property
    def kept_rows(self) -> np.ndarray:
        """int64 (P,): rows of ``people_before_filter`` that became the people, in order."""
        return np.flatnonzero(np.array(self.row_status, dtype=object) == ROW_STATUSES[0]).astype(np.int64)


class _Recorder:
    """Collects the NumPy grouping's decisions (see ``_paf_numpy.group_people_numpy``)."""

    def __init__(self, limbs: np.ndarray, paf_steps: int, num_parts: int) -> None:
        self.limb_rows = np.asarray(limbs).tolist()
        self.steps = paf_steps
        self.num_parts = num_parts
        self.by_part: list[np.ndarray] = []
        self.chunks: dict[int, list[tuple]] = {}
        self.match: dict[int, tuple] = {}
        self.assembly: dict[int, list[AssemblyStep]] = {}
        self.limb_steps: list[LimbStep] = []
        self.last = self._snapshot(np.zeros((0, num_parts), np.int64), [], [])
        self.row_status: tuple[str, ...] = ()

    @staticmethod
    def _snapshot(ids: np.ndarray, totals: list[float], counts: list[int]) -> PeopleSnapshot:
        return PeopleSnapshot(
            _frozen(np.array(ids, np.int64)),
            _frozen(np.array(totals, np.float64)),
            _frozen(np.array(counts, np.int64)),
        )

    def peaks(self, by_part: list[np.ndarray]) -> None:
        self.by_part = [_frozen(p.copy()) for p in by_part]

    def candidates(self, k: int, *parts) -> None:
        self.chunks.setdefault(k, []).append(tuple(np.array(p) for p in parts))

    def matching(self, k: int, rank: np.ndarray, status: list[str]) -> None:
        self.match[k] = (rank, status)

    def connection(
        self, k: int, cid_a: int, cid_b: int, score: float, action: str, rows: tuple[int, ...]
    ) -> None:
        self.assembly.setdefault(k, []).append(AssemblyStep(cid_a, cid_b, float(score), action, rows))

    def limb_done(self, k: int, ids: np.ndarray, totals: list[float], counts: list[int]) -> None:
        part_a, part_b, chx, chy = self.limb_rows[k]
        s = self.steps
        chunks = self.chunks.pop(k, [])
        if chunks:
            ia, ib, sx, sy, dot, mean, penalty, count, score, passed = (
                np.concatenate(c) for c in zip(*chunks)
            )
        else:
            ia = ib = count = np.zeros(0, np.int64)
            sx = sy = np.zeros((0, s), np.int64)
            dot = np.zeros((0, s), np.float64)
            mean = penalty = score = np.zeros(0, np.float64)
            passed = np.zeros(0, bool)
        pa, pb = self.by_part[part_a], self.by_part[part_b]
        rank = np.full(len(ia), -1, np.int64)
        status = [MATCH_STATUSES[3]] * len(ia)
        if k in self.match:
            m_rank, m_status = self.match.pop(k)
            where = np.flatnonzero(passed)
            rank[where] = m_rank
            for j, c in enumerate(where.tolist()):
                status[c] = m_status[j]
        kept = np.array([st == MATCH_STATUSES[0] for st in status], bool)
        self.last = self._snapshot(ids, totals, counts)
        self.limb_steps.append(
            LimbStep(
                index=k,
                part_a=part_a,
                part_b=part_b,
                paf_x=chx,
                paf_y=chy,
                peak_a=_frozen(pa[ia, 0].astype(np.int64)),
                peak_b=_frozen(pb[ib, 0].astype(np.int64)),
                xy_a=_frozen(pa[ia, 1:3].astype(np.int64).reshape(-1, 2)),
                xy_b=_frozen(pb[ib, 1:3].astype(np.int64).reshape(-1, 2)),
                sample_xy=_frozen(np.stack([sx, sy], axis=-1).astype(np.int64).reshape(-1, s, 2)),
                sample_dot=_frozen(dot.reshape(-1, s)),
                mean_dot=_frozen(mean),
                distance_penalty=_frozen(penalty),
                count_above=_frozen(count.astype(np.int64)),
                score=_frozen(score),
                passed=_frozen(passed),
                match_rank=_frozen(rank),
                match_status=tuple(status),
                kept=_frozen(kept),
                assembly=tuple(self.assembly.pop(k, [])),
                people_after=self.last,
            )
        )

    def filtered(self, status: list[str]) -> None:
        self.row_status = tuple(status)


def trace(
    peaks: np.ndarray,
    heatmaps: np.ndarray,
    pafs: np.ndarray,
    *,
    params: PostprocessParams = TFPOSE_DEFAULTS,
    limbs: np.ndarray = LIMBS,
    num_parts: int = NUM_PARTS,
    start_limbs: int = START_LIMBS,
) -> GroupingTrace:
    """Run the grouping (NumPy backend) and return every decision it made, as data.

    The trace is recorded by the same code that ``group_people(..., backend="numpy")`` runs,
    so its people equal ``group_people``'s on both backends. It is meant for teaching and
    inspection: its size grows with the candidates (pairs of peaks) of every limb.

    Args:
        peaks, heatmaps, pafs, params, limbs, num_parts, start_limbs: as ``group_people``
            (e.g. ``InferenceResult.peaks``, ``.heatmaps``, ``.pafs``).

    Returns:
        A ``GroupingTrace``: the peak lists, per limb the candidates with their PAF samples,
        criterion parts and matching outcome, the partial people after each limb, why rows
        were dropped, and the final people.

    Raises:
        TypeError, ValueError: as ``group_people``.
    """
    num_parts = _check_num_parts(num_parts)
    _validate(peaks, heatmaps, pafs, limbs, params, num_parts)
    rec = _Recorder(limbs, int(params.paf_steps), num_parts)
    keypoints, scores = _paf_numpy.group_people_numpy(
        peaks, heatmaps, pafs, limbs, params, num_parts=num_parts, start_limbs=int(start_limbs), recorder=rec
    )
    return GroupingTrace(
        params=params,
        limb_table=_frozen(np.array(limbs, np.int32)),
        num_parts=num_parts,
        start_limbs=int(start_limbs),
        grid_size=(int(peaks.shape[1]), int(peaks.shape[0])),
        peaks=tuple(rec.by_part),
        limbs=tuple(rec.limb_steps),
        people_before_filter=rec.last,
        row_status=rec.row_status,
        keypoints=_frozen(keypoints),
        scores=_frozen(scores),
    )
