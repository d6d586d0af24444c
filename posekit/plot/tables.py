"""Tables of people: keypoints, and distances between two sets of people (``posekit.table.Table``)."""

from __future__ import annotations

import math

import numpy as np

from ..match import greedy_match, mean_keypoint_distance
from ..person import Person
from ..skeleton import NUM_PARTS, PART_NAMES
from ..table import Table
from ._base import _people, _people_list


def keypoints_table(people, *, missing: bool = True, max_rows: int | None = None) -> Table:
    """A person's keypoints (or several people's) as a table of part, x, y, score.

    Args:
        people: one Person (18 rows, one per part), or a list of Person / an
            InferenceResult / an (N, 18, 3) array (one row per person and part, with a
            ``person`` column: the person_id when tracked, else the list index).
        missing: include missing parts (shown as "-"); False keeps only the found ones.
        max_rows: show only the first rows (``Table.max_rows``); ``.rows`` still holds all.

    Returns:
        A ``Table``; ``.rows`` holds tuples (part index, part name, x, y, score) with a
        leading person index for several people.
    """
    if isinstance(people, Person):
        rows = [
            (i, PART_NAMES[i], float(x), float(y), float(s))
            for i, (x, y, s) in enumerate(people.keypoints.tolist())
            if missing or s > 0
        ]
        cap = f"{people.num_parts}/18 parts found, person score {people.score:.2f}"
        return Table(["part", "name", "x", "y", "score"], rows, cap, max_rows=max_rows)
    plist = _people_list(people)
    rows = []
    for n, p in enumerate(plist):
        who = p.person_id if p.person_id >= 0 else n
        for i, (x, y, s) in enumerate(p.keypoints.tolist()):
            if missing or s > 0:
                rows.append((who, i, PART_NAMES[i], float(x), float(y), float(s)))
    return Table(["person", "part", "name", "x", "y", "score"], rows, _people(len(plist)), max_rows=max_rows)


def people_distance_table(
    reference, other, *, min_shared: int = 3, names: tuple[str, str] = ("a", "b")
) -> Table:
    """Match two detections of one image person to person and measure how far apart their keypoints lie.

    People are paired greedily, closest first, by their mean keypoint distance over the parts both
    found; a pair needs ``min_shared`` such parts.

    Args:
        reference: the people of one model (list of Person, InferenceResult or (N, 18, 3) keypoints).
        other: the people of the other model on the same image, same coordinates (image pixels).
        min_shared: fewest common parts for two people to be matched.
        names: short names of the two models for the column headings.

    Returns:
        A ``Table`` with a row per matched pair: (person in ``reference``, person in ``other``,
        parts found by both, only by the first, only by the second, median and maximum distance in
        image pixels, the part at the maximum); then a row per unmatched person, with "-" for the
        other side and NaN distances.
    """
    a, b = _people_list(reference), _people_list(other)
    pairs = []
    for i, pa in enumerate(a):
        for j, pb in enumerate(b):
            d = mean_keypoint_distance(pa.keypoints, pb.keypoints, min_shared=min_shared)
            if d is not None:
                pairs.append((d, i, j))
    matched = greedy_match(pairs, largest_first=False)  # closest first
    used_a, used_b, rows = {i for i, _ in matched}, {j for _, j in matched}, []
    for i, j in matched:
        pa, pb = a[i], b[j]
        both = pa.present & pb.present
        d = np.full(NUM_PARTS, np.nan)
        d[both] = np.hypot(*(pa.keypoints[both, :2] - pb.keypoints[both, :2]).T)
        worst = int(np.nanargmax(d))
        only_a, only_b = int((pa.present & ~pb.present).sum()), int((pb.present & ~pa.present).sum())
        median, worst_d = float(np.nanmedian(d)), float(d[worst])
        rows.append((i, j, int(both.sum()), only_a, only_b, median, worst_d, PART_NAMES[worst]))
    nan = math.nan
    rows += [(i, "-", 0, a[i].num_parts, 0, nan, nan, "-") for i in range(len(a)) if i not in used_a]
    rows += [("-", j, 0, 0, b[j].num_parts, nan, nan, "-") for j in range(len(b)) if j not in used_b]
    na, nb = names
    columns = [
        f"person ({na})", f"person ({nb})", "parts in both", f"only {na}", f"only {nb}",
        "median dist (px)", "max dist (px)", "part at max",
    ]  # fmt: skip
    unmatched_a, unmatched_b = len(a) - len(used_a), len(b) - len(used_b)
    caption = f"{len(used_a)} matched, {unmatched_a} only in {na}, {unmatched_b} only in {nb}"
    return Table(columns, rows, caption)
