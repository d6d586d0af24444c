"""NumPy PAF grouping: the fallback of ``posekit.paf`` and the oracle the C++ twin is tested against.

A faithful implementation of tf-pose-estimation's pafprocess (reference summary, section 4),
quirks included, written to agree with ``pafprocess_cpp`` bit for bit where it can:

- sample coordinates ``(int)(a + i * d / steps + 0.5)`` are computed exactly in integers;
- dot products, their sums (added in sample order, as the C++ loop does) and all scores are float64;
- candidates are sorted by score with a stable sort;
- thresholds are compared in float64 (the float32 fields are promoted, never the thresholds demoted).

Inputs are assumed validated (``posekit.paf`` does that); use ``posekit.paf.group_people``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["find_peak_list", "group_people_numpy", "START_LIMBS"]

NUM_PARTS = 18
#: Only limbs with a row index below this may start a new person (tf-pose: the two
#: shoulder-ear limbs 17 and 18 never do).
START_LIMBS = 17


def find_peak_list(peaks: np.ndarray, heatmaps: np.ndarray, heat_threshold: float) -> list[np.ndarray]:
    """Peaks of parts 0..17 in scan order.

    Args:
        peaks: float32 (H, W, C>=18), smoothed heatmaps kept only at local maxima.
        heatmaps: float32 (H, W, C>=18), unsmoothed heatmaps (the peak scores).
        heat_threshold: a pixel is a peak if its ``peaks`` value is above this.

    Returns:
        18 arrays, one per part, float64 (N, 4): global id, x (column), y (row), score.
        Ids count part 0 first, then rows, then columns.
    """
    mask = peaks[:, :, :NUM_PARTS].astype(np.float64) > np.float64(heat_threshold)
    out = []
    next_id = 0
    for part in range(NUM_PARTS):
        ys, xs = np.nonzero(mask[:, :, part])
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
    pa: np.ndarray, pb: np.ndarray, pafs: np.ndarray, chx: int, chy: int, height: int, params
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Accepted candidates of one limb: (index in A list, index in B list, criterion2), in A-major order."""
    steps = int(params.paf_steps)
    ax = pa[:, 1].astype(np.int64)
    ay = pa[:, 2].astype(np.int64)
    bx = pb[:, 1].astype(np.int64)
    by = pb[:, 2].astype(np.int64)
    ia, ib = np.meshgrid(np.arange(len(pa)), np.arange(len(pb)), indexing="ij")
    ia = ia.ravel()
    ib = ib.ravel()
    dx = bx[ib] - ax[ia]
    dy = by[ib] - ay[ia]
    norm = np.sqrt(dx.astype(np.float64) * dx + dy.astype(np.float64) * dy)
    ok = ~(norm < 1e-12)
    ia, ib, dx, dy, norm = ia[ok], ib[ok], dx[ok], dy[ok], norm[ok]
    if len(ia) == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(0, np.float64)
    ux = dx / norm
    uy = dy / norm
    i = np.arange(steps, dtype=np.int64)
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
    with np.errstate(all="ignore"):
        criterion2 = total / steps + np.minimum(0.0, (0.5 * height) / norm - 1.0)
    keep = (count > int(params.vector_count_threshold)) & (criterion2 > 0.0)
    return ia[keep], ib[keep], criterion2[keep]


def _match(
    ia: np.ndarray, ib: np.ndarray, score: np.ndarray, na: int, nb: int
) -> list[tuple[int, int, float]]:
    """Greedy matching, best score first (stable): (A list index, B list index, score) per kept connection."""
    order = np.argsort(-score, kind="stable")
    used_a = [False] * na
    used_b = [False] * nb
    conns = []
    limit = min(na, nb)
    for a, b, s in zip(ia[order].tolist(), ib[order].tolist(), score[order].tolist()):
        if used_a[a] or used_b[b]:
            continue
        used_a[a] = used_b[b] = True
        conns.append((a, b, s))
        if len(conns) == limit:
            break
    return conns


def group_people_numpy(
    peaks: np.ndarray,
    heatmaps: np.ndarray,
    pafs: np.ndarray,
    limbs: np.ndarray,
    params,
    start_limbs: int = START_LIMBS,
) -> tuple[np.ndarray, np.ndarray]:
    """Group peaks into people; the NumPy twin of ``pafprocess::group_people``.

    Args:
        peaks: float32 (H, W, C>=18), smoothed heatmaps kept only at local maxima.
        heatmaps: float32 (H, W, C>=18), unsmoothed heatmaps; part scores are read here.
        pafs: float32 (H, W, C) Part Affinity Fields; C covers every channel in ``limbs``.
        limbs: int32 (L, 4) rows (part_a, part_b, paf_x_channel, paf_y_channel), in assembly order.
        params: ``posekit.params.PostprocessParams``.
        start_limbs: only limbs with a row index below this may start a person.

    Returns:
        keypoints float32 (P, 18, 3): x = column, y = row in the field grid, score; missing parts
        NaN, NaN, 0. Scores float32 (P,): total score / part count. People in assembly order.
    """
    height = int(peaks.shape[0])
    by_part = find_peak_list(peaks, heatmaps, params.heat_threshold)
    line = np.concatenate(by_part, axis=0) if by_part else np.zeros((0, 4))
    heat_of = line[:, 3].tolist()
    total_peaks = len(line)

    cap = 16
    ids = np.full((cap, NUM_PARTS), -1, np.int64)
    rscore: list[float] = []  # float64 totals, parallel to the rows of ids
    rcount: list[int] = []
    n = 0

    for k, (part_a, part_b, chx, chy) in enumerate(np.asarray(limbs).tolist()):
        pa, pb = by_part[part_a], by_part[part_b]
        if len(pa) == 0 or len(pb) == 0:
            continue
        ia, ib, sc = _score_candidates(pa, pb, pafs, chx, chy, height, params)
        conns = _match(ia, ib, sc, len(pa), len(pb))
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
                else:  # as the original: no check that part B already holds cid_b
                    ids[r1, B] = cid_b
                    rcount[r1] += 1
                    rscore[r1] += heat_of[cid_b] + s
            elif found == 0 and k < start_limbs:
                if n == cap:
                    cap *= 2
                    grown = np.full((cap, NUM_PARTS), -1, np.int64)
                    grown[:n] = ids[:n]
                    ids = grown
                ids[n] = -1
                ids[n, A] = cid_a
                ids[n, B] = cid_b
                rcount.append(2)
                rscore.append((heat_of[cid_a] + heat_of[cid_b]) + s)
                n += 1
            # found >= 3: the connection is ignored

    kept = []
    scores = []
    for r in range(n):
        mean = rscore[r] / rcount[r]
        if rcount[r] < int(params.part_count_threshold) or mean < float(params.human_score_threshold):
            continue
        kept.append(r)
        scores.append(mean)

    keypoints = np.full((len(kept), NUM_PARTS, 3), np.nan, np.float32)
    keypoints[:, :, 2] = 0.0
    if kept:
        sel = ids[kept]  # (P, 18)
        valid = (sel >= 0) & (sel < total_peaks)  # a merge can produce an id past the end: missing
        src = line[np.where(valid, sel, 0)] if total_peaks else np.zeros(sel.shape + (4,))
        keypoints[valid] = src[valid][:, 1:4].astype(np.float32)
    return keypoints, np.asarray(scores, np.float32)
