"""The PAF grouping's decisions in words and tables, from a ``posekit.paf_trace.GroupingTrace``.

Per limb the candidates with their outcome (``candidate_kinds``: "kept", "lost the matching",
"failed the criterion"), tables of the candidates, of the greedy matching, of the assembly and of
the partial people (``posekit.table.Table``), a one-line summary, the greedy matching beside the
optimal one, and the final people in image pixels. No matplotlib: ``posekit.plot`` draws the same
decisions over the image (and re-exports these names).
"""

from __future__ import annotations

import numpy as np

from .person import Person
from .postprocess import grid_people
from .preprocess import FieldTransform
from .skeleton import LIMB_NAMES, PART_NAMES
from .table import Table

__all__ = [
    "assembly_table",
    "candidate_kinds",
    "candidates_table",
    "limb_summary",
    "matching_comparison",
    "matching_table",
    "optimal_matching",
    "partial_people_table",
    "person_connections",
    "rows_table",
    "trace_people",
]

_KEPT, _LOST, _FAILED = "kept", "lost the matching", "failed the criterion"


def _limb(trace, limb: int | str):
    """The ``LimbStep`` of a limb given as a row of the trace's limb table or a limb name."""
    if isinstance(limb, str):
        if limb not in LIMB_NAMES:
            raise ValueError(f"limb must be 0..{len(trace.limbs) - 1} or one of {', '.join(LIMB_NAMES)}")
        limb = LIMB_NAMES.index(limb)
    k = int(limb)
    if not 0 <= k < len(trace.limbs):
        raise ValueError(f"limb must be in [0, {len(trace.limbs)}), got {limb}")
    return trace.limbs[k]


def _limb_name(step) -> str:
    return f"{PART_NAMES[step.part_a]}-{PART_NAMES[step.part_b]}"


def _count(n: int, noun: str, plural: str | None = None) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {plural or noun + 's'}"


def candidate_kinds(step) -> np.ndarray:
    """Per candidate of a ``LimbStep``: "kept", "lost the matching" or "failed the criterion".

    Returns:
        object (C,) array of those three strings.
    """
    kinds = np.full(len(step.score), _FAILED, dtype=object)
    kinds[np.asarray(step.passed, bool)] = _LOST
    kinds[np.asarray(step.kept, bool)] = _KEPT
    return kinds


def limb_summary(trace, limb: int | str) -> str:
    """One line in words on a limb, e.g. "limb 3 RElbow-RWrist: 4 candidates, 2 kept, 1 failed
    the criterion, 1 lost the matching; 3 partial people"."""
    step = _limb(trace, limb)
    kinds = candidate_kinds(step)
    rows = len(step.people_after)
    return (
        f"limb {step.index} {_limb_name(step)}: {_count(len(kinds), 'candidate')}, "
        f"{int((kinds == _KEPT).sum())} kept, {int((kinds == _FAILED).sum())} failed the criterion, "
        f"{int((kinds == _LOST).sum())} lost the matching; "
        f"{_count(rows, 'partial person', 'partial people')}"
    )


def trace_people(trace, image_size: tuple[int, int] | None = None) -> list[Person]:
    """The trace's final people as ``Person`` objects, keypoints mapped to image pixels.

    Args:
        trace: a ``GroupingTrace``.
        image_size: (width, height) of the original image; None keeps grid coordinates.

    Returns:
        One Person per kept row, in order, as ``PoseEstimator.inference`` builds them (without
        sub-pixel refinement).
    """
    tf = None if image_size is None else FieldTransform(tuple(trace.grid_size), tuple(image_size))
    return grid_people(trace.keypoints, trace.scores, tf)


# ---------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------


def _candidate_order(step) -> list[int]:
    """Kept (by rank), then lost (by rank), then failed (by score, best first)."""
    kinds = candidate_kinds(step)
    rank = np.asarray(step.match_rank)
    passed = [int(c) for c in np.argsort(rank, kind="stable") if rank[c] >= 0]
    kept = [c for c in passed if kinds[c] == _KEPT]
    lost = [c for c in passed if kinds[c] == _LOST]
    failed = [int(c) for c in np.argsort(-np.asarray(step.score), kind="stable") if kinds[c] == _FAILED]
    return kept + lost + failed


def candidates_table(trace, limb: int | str, *, max_rows: int = 8) -> Table:
    """A limb's candidates with the parts of their score and the matching's outcome.

    Rows: the kept candidates (in matching order), then those that lost the matching, then those
    that failed the criterion (best score first), cut after ``max_rows`` rows (never before the
    last kept one).

    Args:
        trace: a ``GroupingTrace``.
        limb: limb index (row of the limb table) or name, e.g. "RElbow-RWrist".
        max_rows: most rows to show.

    Returns:
        A ``Table`` with columns cand (index into the limb's candidate arrays), A peak, B peak
        (global peak ids), mean dot, dist. penalty, samples > threshold, score, passed,
        matching (``LimbStep.match_status``), rank (matching order, "-" when it did not pass).
    """
    step = _limb(trace, limb)
    order = _candidate_order(step)
    n_kept = int(np.asarray(step.kept).sum())
    shown = order[: max(int(max_rows), n_kept)]
    params = trace.params
    rows = [
        (
            c,
            int(step.peak_a[c]),
            int(step.peak_b[c]),
            float(step.mean_dot[c]),
            float(step.distance_penalty[c]),
            int(step.count_above[c]),
            float(step.score[c]),
            "yes" if step.passed[c] else "no",
            step.match_status[c],
            int(step.match_rank[c]) if step.match_rank[c] >= 0 else "-",
        )
        for c in shown
    ]
    columns = [
        "cand",
        "A peak",
        "B peak",
        "mean dot",
        "dist. penalty",
        f"samples > {params.vector_score_threshold:g}",
        "score",
        "passed",
        "matching",
        "rank",
    ]
    caption = limb_summary(trace, limb)
    if len(shown) < len(order):
        caption += f" (showing {len(shown)} of {len(order)})"
    caption += f"; passed = more than {params.vector_count_threshold} samples above and score > 0"
    return Table(columns, rows, caption)


def matching_table(trace, limb: int | str) -> Table:
    """The greedy matching of one limb: the candidates that passed, in the order they were tried.

    Candidates are tried by score, best first; one is kept unless its A peak (checked first) or
    its B peak was already taken by a kept candidate tried earlier.

    Returns:
        A ``Table`` with columns rank, cand, A peak, B peak, score, outcome, lost to (the kept
        candidate that took the peak, "-" for kept ones), lost to score.
    """
    step = _limb(trace, limb)
    rank = np.asarray(step.match_rank)
    rows = []
    for c in np.argsort(rank, kind="stable"):
        c = int(c)
        if rank[c] < 0:
            continue
        status = step.match_status[c]
        winner: int | str = "-"
        win_score = float("nan")
        if not step.kept[c]:
            side = step.peak_a if status == "part A already used" else step.peak_b
            for w in np.flatnonzero(np.asarray(step.kept) & (rank < rank[c]) & (side == side[c])):
                winner, win_score = int(w), float(step.score[w])
        rows.append(
            (
                int(rank[c]),
                c,
                int(step.peak_a[c]),
                int(step.peak_b[c]),
                float(step.score[c]),
                status,
                winner,
                win_score,
            )
        )
    caption = (
        f"greedy matching of limb {step.index} {_limb_name(step)}: best score first, each peak used once"
    )
    return Table(
        ["rank", "cand", "A peak", "B peak", "score", "outcome", "lost to", "its score"], rows, caption
    )


def optimal_matching(step) -> np.ndarray:
    """The candidates a maximum-weight bipartite matching keeps, for comparison with the greedy one.

    Per limb, the grouping must pick connections between the A peaks and the B peaks, each peak
    used at most once, so that the summed score is high: a maximum-weight bipartite matching. This
    solves it exactly with ``scipy.optimize.linear_sum_assignment`` (the Hungarian method, as the
    paper states it) over the candidates that passed the criterion; the grouping itself takes them
    greedily, best score first (``LimbStep.kept``).

    Args:
        step: a ``LimbStep`` (``GroupingTrace.limbs[k]``).

    Returns:
        bool (C,): True for the candidates of the optimal matching.
    """
    try:
        from scipy.optimize import linear_sum_assignment
    except ImportError as exc:  # pragma: no cover - scipy comes with the notebooks extra
        raise ImportError("optimal_matching needs scipy: pip install 'posekit[notebooks]'") from exc

    chosen = np.zeros(len(step.score), bool)
    ok = np.flatnonzero(np.asarray(step.passed, bool))
    if not len(ok):
        return chosen
    ids_a, row = np.unique(np.asarray(step.peak_a)[ok], return_inverse=True)
    ids_b, col = np.unique(np.asarray(step.peak_b)[ok], return_inverse=True)
    weight = np.zeros((len(ids_a), len(ids_b)))  # 0 = no connection (every passed score is > 0)
    cand = np.full(weight.shape, -1)
    weight[row, col] = np.asarray(step.score)[ok]
    cand[row, col] = ok
    rr, cc = linear_sum_assignment(weight, maximize=True)
    picked = cand[rr, cc]
    chosen[picked[picked >= 0]] = True
    return chosen


def _pairs(step, selected: np.ndarray) -> str:
    """Selected candidates as "#A-#B" peak-id pairs."""
    return " ".join(f"#{int(step.peak_a[c])}-#{int(step.peak_b[c])}" for c in np.flatnonzero(selected)) or "-"


def matching_comparison(trace) -> Table:
    """The greedy matching beside the optimal one (``optimal_matching``), limb by limb.

    Returns:
        A ``Table`` with columns limb, passed (candidates that passed the criterion), greedy
        (kept connections as "#A-#B"), greedy total (their summed score), optimal, optimal total,
        same (whether both keep the same connections). Its ``differ`` attribute lists the limbs
        where they do not.
    """
    rows, differ = [], []
    for step in trace.limbs:
        greedy = np.asarray(step.kept, bool)
        best = optimal_matching(step)
        score = np.asarray(step.score)
        same = bool(np.array_equal(greedy, best))
        if not same:
            differ.append(step.index)
        rows.append(
            (
                f"{step.index} {_limb_name(step)}",
                int(np.sum(step.passed)),
                _pairs(step, greedy),
                float(score[greedy].sum()),
                _pairs(step, best),
                float(score[best].sum()),
                "yes" if same else "NO",
            )
        )
    caption = (
        f"greedy vs maximum-weight matching: the same on {len(rows) - len(differ)} of {len(rows)} limbs"
        + (f"; they differ on limbs {differ}" if differ else "")
    )
    table = Table(
        ["limb", "passed", "greedy", "greedy total", "optimal", "optimal total", "same"], rows, caption
    )
    table.differ = differ
    return table


def assembly_table(trace, actions=None) -> Table:
    """The kept connections as applied to the partial people (``LimbStep.assembly``), in order.

    Args:
        trace: a ``GroupingTrace``.
        actions: only these actions (e.g. ``{"merged", "part B already there"}``); None for all.

    Returns:
        A ``Table`` with columns limb, A peak, B peak, score, action, rows (the partial people,
        numbered as before the step, that held the A or the B peak).
    """
    rows = []
    for step in trace.limbs:
        for a in step.assembly:
            if actions is None or a.action in actions:
                rows.append(
                    (
                        f"{step.index} {_limb_name(step)}",
                        a.peak_a,
                        a.peak_b,
                        float(a.score),
                        a.action,
                        " ".join(str(r) for r in a.rows) or "-",
                    )
                )
    caption = f"{_count(len(rows), 'connection')}" + (f" ({', '.join(sorted(actions))})" if actions else "")
    return Table(["limb", "A peak", "B peak", "score", "action", "rows"], rows, caption)


def partial_people_table(trace, limb: int | str, rows=None) -> Table:
    """The partial people after a limb (``LimbStep.people_after``): their parts by name.

    Args:
        trace: a ``GroupingTrace``.
        limb: limb index or name.
        rows: the row numbers to list (default: all).

    Returns:
        A ``Table`` with columns row, parts (count), score total, part names.
    """
    step = _limb(trace, limb)
    snap = step.people_after
    kp = trace.keypoints_of(snap)
    chosen = range(len(snap)) if rows is None else [int(r) for r in rows]
    out = []
    for r in chosen:
        present = np.flatnonzero(kp[r, :, 2] > 0)
        out.append((r, int(snap.counts[r]), float(snap.totals[r]), " ".join(PART_NAMES[j] for j in present)))
    caption = (
        f"after limb {step.index} {_limb_name(step)}: {_count(len(snap), 'partial person', 'partial people')}"
    )
    return Table(["row", "parts", "total", "part names"], out, caption)


def person_connections(trace, person: int, image_size: tuple[int, int] | None = None) -> Table:
    """The kept connections that built one of the trace's final people, in assembly order.

    Args:
        trace: a ``GroupingTrace``.
        person: index among the final people (``trace.keypoints``).
        image_size: (width, height) of the image, to give the ends in image pixels (None: grid).

    Returns:
        A ``Table`` with columns limb, A peak, B peak, A (x, y), B (x, y), length, score, action: each
        connection whose two peaks are the person's parts of that limb. Its ``limbs`` attribute lists
        the limb rows, its ``scores`` the scores (float (n,)).
    """
    kept = [r for r, status in enumerate(trace.row_status) if status == "kept"]
    if not 0 <= int(person) < len(kept):
        raise ValueError(f"person must be in [0, {len(kept)}), got {person}")
    ids = np.asarray(trace.people_before_filter.peak_ids[kept[int(person)]])
    line = trace.peak_table
    size = tuple(trace.grid_size) if image_size is None else (int(image_size[0]), int(image_size[1]))
    tf = FieldTransform(tuple(trace.grid_size), size)
    rows, limbs, scores = [], [], []
    for step in trace.limbs:
        for a in step.assembly:
            if ids[step.part_a] == a.peak_a and ids[step.part_b] == a.peak_b:
                xa, ya = tf.to_image(line[a.peak_a, 1], line[a.peak_a, 2])
                xb, yb = tf.to_image(line[a.peak_b, 1], line[a.peak_b, 2])
                rows.append(
                    (
                        f"{step.index} {_limb_name(step)}",
                        a.peak_a,
                        a.peak_b,
                        f"({float(xa):.0f}, {float(ya):.0f})",
                        f"({float(xb):.0f}, {float(yb):.0f})",
                        float(np.hypot(xb - xa, yb - ya)),
                        float(a.score),
                        a.action,
                    )
                )
                limbs.append(step.index)
                scores.append(float(a.score))
    caption = f"person {person}: {_count(int((ids >= 0).sum()), 'part')}, {_count(len(rows), 'connection')}"
    table = Table(
        ["limb", "A peak", "B peak", "A (x, y)", "B (x, y)", "length", "score", "action"], rows, caption
    )
    table.limbs, table.scores = limbs, np.asarray(scores)
    return table


def rows_table(trace) -> Table:
    """The partial people after the last limb and what became of them (``GroupingTrace.row_status``).

    Returns:
        A ``Table`` with columns row, parts, total (sum of part and limb scores), score
        (total / parts), status ("kept", "too few parts", "low score"), why (the comparison that
        decided, with the threshold), person (index among the final people, "-" when dropped).
    """
    snap = trace.people_before_filter
    params = trace.params
    rows, person = [], 0
    for r, status in enumerate(trace.row_status):
        count, total = int(snap.counts[r]), float(snap.totals[r])
        mean = total / count if count else float("nan")
        if status == "too few parts":
            why = f"{count} parts < {params.part_count_threshold}"
        elif status == "low score":
            why = f"score {mean:.3f} < {params.human_score_threshold:g}"
        else:
            why = f"{count} >= {params.part_count_threshold} parts, score >= {params.human_score_threshold:g}"
        rows.append((r, count, total, mean, status, why, person if status == "kept" else "-"))
        person += status == "kept"
    kept = sum(s == "kept" for s in trace.row_status)
    caption = f"{_count(len(rows), 'row')} after the last limb, {kept} kept as people"
    return Table(["row", "parts", "total", "score", "status", "why", "person"], rows, caption)
