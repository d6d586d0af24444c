"""The one greedy matcher: pair items of two lists by a score, best pair first.

Used to follow people across frames (``posekit.track``), to compare two models' people
(``posekit.plot``) and in the benchmarks. Callers compute the candidate pairs with their own
similarity (keypoint similarity, mean keypoint distance, ...); this module decides the pairing.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = ["greedy_match", "mean_keypoint_distance"]


def greedy_match(
    pairs: Iterable[tuple[float, int, int]], *, largest_first: bool = True
) -> list[tuple[int, int]]:
    """Greedy one-to-one matching of candidate pairs.

    Args:
        pairs: (score, i, j) candidates: item ``i`` of the first list with item ``j`` of the second.
            Pairs that must never match should simply be left out.
        largest_first: take the highest score first (a similarity); False takes the lowest
            first (a distance). Ties go to the smaller (i, j).

    Returns:
        The kept (i, j) pairs, in the order they were taken; each i and each j appears at most once.
    """
    sign = -1.0 if largest_first else 1.0
    ordered = sorted(pairs, key=lambda s: (sign * float(s[0]), s[1], s[2]))
    used_i: set[int] = set()
    used_j: set[int] = set()
    out = []
    for _, i, j in ordered:
        if i in used_i or j in used_j:
            continue
        used_i.add(i)
        used_j.add(j)
        out.append((i, j))
    return out


def mean_keypoint_distance(
    a: np.ndarray, b: np.ndarray, *, min_shared: int = 1, reduce=np.mean
) -> float | None:
    """Distance between two people's keypoints (18, 3) over the parts both have.

    Args:
        a, b: float (18, 3) keypoints x, y, score (missing: score 0).
        min_shared: fewest parts in common; with fewer the result is None.
        reduce: how per-part distances become one number (np.mean, np.median, ...).

    Returns:
        The reduced Euclidean distance in the keypoints' units, or None.
    """
    both = (a[:, 2] > 0) & (b[:, 2] > 0)
    if int(both.sum()) < max(1, int(min_shared)):
        return None
    d = np.hypot(*(a[both, :2] - b[both, :2]).T)
    return float(reduce(d))
