"""Tracking on the bundled clip: ids per person on the first 30 frames of videos/vtest_pair.mp4.

Who is in those frames (read off the frames, 768x576): a woman in red walking left at the
top left, a tall man in a dark jacket walking up-left, a man in jeans walking right who
leaves at the right edge around frame 19, a man in a black coat standing near x 640 (the
network finds only a piece of him before frame 11), a person in purple walking left at the
top right from frame 6, and a pair walking left together at the bottom from frame 5 (the
network mostly finds them as one body). That is 7 people; ``MAX_IDS`` allows 2 more for
people the network loses for longer than ``max_age_frames``. Before the tracker left
neck-less pieces out, the same frames gave 15 ids: every head or pair of legs the network
split off a body became a new person for a frame or two.

``WAYPOINTS`` hold each person's neck (x, y) in image pixels at a few frames, read off the
frames; between them people walk in straight lines, so the neck is interpolated.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import VIDEOS

from posekit.draw import VIDEO_SPEC, label_ids
from posekit.person import Person
from posekit.skeleton import CocoPart
from posekit.video import iter_frames
from posekit.video.track import Tracker, TrackerParams

FRAMES = 30
PEOPLE_IN_VIEW = 7
MAX_IDS = PEOPLE_IN_VIEW + 2
RADIUS = 30.0  # px: a neck this close to the waypoint line is that person's

# person: {frame: (neck x, neck y)}; the person is followed from the first to the last frame.
WAYPOINTS = {
    "red woman": {0: (320, 200), 29: (205, 188)},
    "tall man": {3: (576, 250), 29: (470, 207)},
    "man in jeans": {3: (622, 297), 9: (640, 301), 12: (683, 332), 18: (740, 347)},
    "black coat": {11: (633, 294), 29: (651, 288)},
    "purple": {6: (747, 257), 29: (640, 215)},
    "pair at the bottom": {8: (729, 482), 29: (402, 438)},
}


def neck_at(waypoints: dict[int, tuple[int, int]], frame: int) -> np.ndarray:
    """The person's neck at ``frame``, linear between the waypoints."""
    keys = sorted(waypoints)
    xs = np.interp(frame, keys, [waypoints[k][0] for k in keys])
    ys = np.interp(frame, keys, [waypoints[k][1] for k in keys])
    return np.array([xs, ys])


@pytest.fixture(scope="module")
def clip_people(estimator):
    """The estimator's people (untracked) on each of the first FRAMES frames."""
    return [
        estimator.inference(frame, upsample=4.0).people
        for _, frame in iter_frames(VIDEOS / "vtest_pair.mp4", max_frames=FRAMES)
    ]


def track(clip_people, params: TrackerParams | None = None):
    tracker = Tracker(params or TrackerParams())
    return [tracker.update(people, frame_index=i) for i, people in enumerate(clip_people)]


def test_few_ids_per_person_on_the_clip(clip_people):
    tracked = track(clip_people)
    ids = {p.person_id for people in tracked for p in people}
    assert len(ids) <= MAX_IDS, sorted(ids)
    # Every neck-less detection left out continued no track; everything with a neck is kept.
    for raw, out in zip(clip_people, tracked):
        with_neck = sum(p.keypoints[CocoPart.Neck, 2] > 0 for p in raw)
        assert with_neck <= len(out) <= len(raw)
    # The rule is what keeps the count down: starting tracks from neck-less pieces gives more.
    loose = track(clip_people, TrackerParams(new_track_needs_neck=False))
    loose_ids = {p.person_id for people in loose for p in people}
    assert len(loose_ids) > MAX_IDS, sorted(loose_ids)


@pytest.mark.parametrize("name", sorted(WAYPOINTS))
def test_people_in_view_keep_one_id(clip_people, name):
    waypoints = WAYPOINTS[name]
    tracked = track(clip_people)
    first, last = min(waypoints), max(waypoints)
    seen = {}
    for frame in range(first, last + 1):
        expected = neck_at(waypoints, frame)
        near = [
            (float(np.hypot(*(p.keypoints[CocoPart.Neck, :2] - expected))), p.person_id)
            for p in tracked[frame]
            if p.keypoints[CocoPart.Neck, 2] > 0
        ]
        near = [d_id for d_id in near if d_id[0] <= RADIUS]
        if near:
            seen[frame] = min(near)[1]
    frames = last - first + 1
    assert len(seen) >= 0.7 * frames, f"{name}: found in {len(seen)} of {frames} frames"
    assert len(set(seen.values())) == 1, f"{name}: ids by frame {seen}"


def test_id_labels_of_people_side_by_side_do_not_overlap():
    """Three people whose boxes start at the same corner: three labels in three separate bands."""
    kp = np.zeros((18, 3), np.float32)
    kp[:, :2] = (100, 100) + np.arange(18)[:, None] * (3, 5)
    kp[:, 2] = 0.8
    people = [Person(kp, 1.0, pid) for pid in (3, 14, 5)]
    canvas = label_ids(np.zeros((200, 200, 3), np.uint8), people)
    bands = []
    for index, p in enumerate(people):
        color = np.array(VIDEO_SPEC.person_color(p, index), np.uint8)
        rows = np.flatnonzero((canvas == color).all(axis=2).any(axis=1))
        assert len(rows), p.person_id
        bands.append((rows.min(), rows.max()))
    bands.sort()
    assert all(a[1] < b[0] for a, b in zip(bands, bands[1:])), bands
    # A lone label still sits just above its person's box.
    alone = label_ids(np.zeros((200, 200, 3), np.uint8), people[:1])
    rows = np.flatnonzero(alone.any(axis=(1, 2)))
    assert rows.min() >= 80 and rows.max() < 100
