"""The one greedy matcher: pair items of two lists by a score, best pair first.

Used to follow people across frames (``posekit.video.track``), to compare two models' people
(``posekit.plot``), to measure how many of the exact mode's keypoints another mode keeps
(``keypoints_kept``) and in the benchmarks. Callers compute the candidate pairs with their own
similarity (keypoint similarity, mean keypoint distance, ...); this module decides the pairing.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .preprocess import STRIDE

__all__ = ["greedy_match", "mean_keypoint_distance", "keypoints_kept", "KEPT_GRID_CELLS"]

#: the fast mode's fidelity tolerance: a keypoint is kept when within this many network-grid cells
KEPT_GRID_CELLS = 1.5


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


def keypoints_kept(
    reference: np.ndarray,
    other: np.ndarray,
    image_size: tuple[int, int],
    input_size: tuple[int, int],
    grid_cells: float = KEPT_GRID_CELLS,
    stride: int = STRIDE,
) -> tuple[int, int]:
    """(kept, total): ``reference``'s keypoints that ``other`` finds within ``grid_cells`` grid cells.

    The fidelity measure of the fast mode against the exact mode (``benchmarks/bench_precision.py``).

    Args:
        reference, other: float (P, 18, 3) keypoints x, y in image pixels, score (missing: score 0).
        image_size: (width, height) of the image; input_size: (width, height) of the network input.
        grid_cells: the tolerance in network-grid cells (``stride`` input pixels each).

    People are paired greedily by the number of shared keypoints within the tolerance; a keypoint of an
    unpaired reference person, or missing in its twin, is not kept. The tolerance is an ellipse:
    ``grid_cells * stride`` input pixels scaled to image pixels on each axis.
    """
    tx = grid_cells * stride * image_size[0] / input_size[0]
    ty = grid_cells * stride * image_size[1] / input_size[1]

    def close(a: np.ndarray, b: np.ndarray) -> int:
        both = (a[:, 2] > 0) & (b[:, 2] > 0)
        return int((np.hypot((a[both, 0] - b[both, 0]) / tx, (a[both, 1] - b[both, 1]) / ty) <= 1).sum())

    pairs = [(close(a, b), i, j) for i, a in enumerate(reference) for j, b in enumerate(other)]
    kept = sum(close(reference[i], other[j]) for i, j in greedy_match(p for p in pairs if p[0] > 0))
    return kept, int((reference[:, :, 2] > 0).sum()) if len(reference) else 0
