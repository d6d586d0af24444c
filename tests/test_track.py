"""Tests for posekit.video.track: id assignment on synthetic tracks and One-Euro smoothing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from posekit.person import Person
from posekit.video.track import OneEuroFilter, OneEuroParams, Tracker, TrackerParams, keypoint_similarity

# A standing person about 100 px tall, keypoints relative to the neck (x, y).
TEMPLATE = np.array(
    [
        [0, -15],  # Nose
        [0, 0],  # Neck
        [-12, 0],  # RShoulder
        [-16, 20],  # RElbow
        [-18, 38],  # RWrist
        [12, 0],  # LShoulder
        [16, 20],  # LElbow
        [18, 38],  # LWrist
        [-8, 40],  # RHip
        [-9, 62],  # RKnee
        [-10, 85],  # RAnkle
        [8, 40],  # LHip
        [9, 62],  # LKnee
        [10, 85],  # LAnkle
        [-4, -18],  # REye
        [4, -18],  # LEye
        [-7, -16],  # REar
        [7, -16],  # LEar
    ],
    dtype=np.float32,
)


def person_at(
    x: float, y: float, rng: np.random.Generator | None = None, drop: tuple[int, ...] = ()
) -> Person:
    """A synthetic Person with its neck at (x, y), optional 1-px noise and missing parts."""
    kp = np.zeros((18, 3), np.float32)
    kp[:, :2] = TEMPLATE + (x, y)
    if rng is not None:
        kp[:, :2] += rng.normal(0, 1.0, (18, 2)).astype(np.float32)
    kp[:, 2] = 0.8
    for i in drop:
        kp[i] = (np.nan, np.nan, 0)
    return Person(kp, 0.8)


def ids_by_x(people: list[Person]) -> list[int]:
    """person_ids ordered by neck x."""
    return [p.person_id for p in sorted(people, key=lambda p: p.keypoints[1, 0])]


def test_new_ids_count_up_from_zero_and_inputs_untouched():
    tracker = Tracker()
    people = [person_at(100, 100), person_at(300, 100), person_at(500, 100)]
    out = tracker.update(people)
    assert [p.person_id for p in out] == [0, 1, 2]
    assert all(p.person_id == -1 for p in people)
    np.testing.assert_array_equal(out[1].keypoints, people[1].keypoints)
    assert tracker.active_ids == [0, 1, 2]


def test_ids_persist_for_moving_people_in_any_order():
    rng = np.random.default_rng(0)
    tracker = Tracker()
    first = tracker.update([person_at(100, 100, rng), person_at(400, 120, rng)])
    assert ids_by_x(first) == [0, 1]
    for t in range(1, 30):
        people = [person_at(400 - 3 * t, 120, rng), person_at(100 + 5 * t, 100, rng)]  # reversed order
        out = tracker.update(people)
        assert [p.person_id for p in out] == [1, 0], t


def test_two_people_crossing_keep_their_ids():
    # A walks right, B walks left, 20 px apart vertically: they overlap mid-way
    # (keypoint sets interleave), then separate. Ids must not swap.
    rng = np.random.default_rng(1)
    tracker = Tracker()
    ids_a, ids_b = set(), set()
    for t in range(41):
        a = person_at(100 + 10 * t, 200, rng)
        b = person_at(500 - 10 * t, 220, rng)
        out = tracker.update([b, a] if t % 2 else [a, b])
        by_y = sorted(out, key=lambda p: p.keypoints[1, 1])
        ids_a.add(by_y[0].person_id)
        ids_b.add(by_y[1].person_id)
    assert ids_a == {0} and ids_b == {1}


def test_person_lost_briefly_keeps_id_and_long_gets_new_one():
    tracker = Tracker(TrackerParams(max_age_frames=5))
    other = person_at(600, 100)
    assert [p.person_id for p in tracker.update([person_at(100, 100), other])] == [0, 1]
    for _ in range(5):  # person 0 missing for 5 frames (= max_age): kept
        tracker.update([other])
    out = tracker.update([person_at(102, 100), other])
    assert [p.person_id for p in out] == [0, 1]
    for _ in range(6):  # missing for 6 frames (> max_age): dropped
        tracker.update([other])
    assert tracker.active_ids == [1]
    out = tracker.update([person_at(102, 100), other])
    assert [p.person_id for p in out] == [2, 1]


def test_frame_index_gaps_count_as_age():
    tracker = Tracker(TrackerParams(max_age_frames=10))
    assert tracker.update([person_at(100, 100)], frame_index=0)[0].person_id == 0
    assert tracker.update([person_at(130, 100)], frame_index=10)[0].person_id == 0  # 3 px/frame, gap 10
    # Velocity extrapolation: 3 px/frame over another 10 frames.
    assert tracker.update([person_at(160, 100)], frame_index=20)[0].person_id == 0
    assert tracker.update([person_at(160, 100)], frame_index=31)[0].person_id == 0  # 10 missed: kept
    assert tracker.update([person_at(160, 100)], frame_index=43)[0].person_id == 1  # 11 missed > 10


def test_frame_index_must_increase():
    tracker = Tracker()
    tracker.update([], frame_index=3)
    with pytest.raises(ValueError, match="frame_index must increase, got 3 after 3"):
        tracker.update([], frame_index=3)


def test_far_jump_is_a_new_person():
    tracker = Tracker()
    tracker.update([person_at(100, 100)])
    assert tracker.update([person_at(300, 100)])[0].person_id == 1


def test_partial_people_match_on_shared_parts():
    tracker = Tracker()
    tracker.update([person_at(100, 100, drop=tuple(range(8, 14)))])  # no legs
    out = tracker.update([person_at(104, 100, drop=tuple(range(0, 8)))])  # legs and face only
    assert out[0].person_id == 0


def test_no_shared_parts_is_zero_similarity():
    a = person_at(0, 0, drop=tuple(range(9))).keypoints
    b = person_at(0, 0, drop=tuple(range(9, 18))).keypoints
    assert keypoint_similarity(a, b, 100.0) == 0.0
    assert keypoint_similarity(a, a, 100.0) == pytest.approx(1.0)
    shifted = a.copy()
    shifted[:, 0] += 25.0  # one sigma at kappa 0.25, scale 100
    assert keypoint_similarity(a, shifted, 100.0) == pytest.approx(math.exp(-0.5))


def test_tracker_params_validation():
    with pytest.raises(ValueError, match="min_similarity must be in"):
        TrackerParams(min_similarity=1.5)
    with pytest.raises(ValueError, match="max_age_frames must be >= 0"):
        TrackerParams(max_age_frames=-1)
    with pytest.raises(TypeError, match="params must be a TrackerParams"):
        Tracker({"max_age_frames": 3})  # type: ignore[arg-type]


# ---------------------------------------------------------------- One-Euro


def test_one_euro_constant_signal_is_unchanged():
    f = OneEuroFilter()
    x = np.array([[10.0, 20.0], [30.0, 40.0]])
    for t in range(10):
        np.testing.assert_allclose(f(x, t / 30), x)


def test_one_euro_reduces_jitter_and_follows_motion():
    rng = np.random.default_rng(2)
    f = OneEuroFilter(OneEuroParams(min_cutoff=1.0, beta=0.0))
    truth = np.full(200, 100.0)
    noisy = truth + rng.normal(0, 2.0, 200)
    out = np.array([f(np.array([v]), t / 30)[0] for t, v in enumerate(noisy)])
    assert np.std(out[50:] - truth[50:]) < 0.5 * np.std(noisy[50:] - truth[50:])
    # A fast ramp with beta > 0 lags less than with beta = 0.
    ramp = np.arange(100) * 10.0
    lag = {}
    for beta in (0.0, 0.05):
        g = OneEuroFilter(OneEuroParams(beta=beta))
        last = [g(np.array([v]), t / 30)[0] for t, v in enumerate(ramp)][-1]
        lag[beta] = ramp[-1] - last
    assert 0 <= lag[0.05] < 0.5 * lag[0.0]


def test_one_euro_nan_passes_through_and_restarts():
    f = OneEuroFilter()
    f(np.array([0.0, 0.0]), 0.0)
    f(np.array([0.0, 1.0]), 0.1)
    out = f(np.array([np.nan, 1.0]), 0.2)
    assert np.isnan(out[0]) and np.isfinite(out[1])
    out = f(np.array([50.0, 1.0]), 0.3)
    assert out[0] == 50.0  # restarted from the observation, not dragged from 0


def test_one_euro_params_validation():
    with pytest.raises(ValueError, match="One-Euro parameters"):
        OneEuroParams(min_cutoff=0)


def test_tracker_one_euro_off_by_default_and_on_when_asked():
    rng = np.random.default_rng(3)
    raw, smooth = Tracker(), Tracker(one_euro=OneEuroParams(beta=0.0), fps=10)
    jitter_raw, jitter_smooth = [], []
    for t in range(40):
        p = person_at(200, 200, rng)
        r = raw.update([p])[0]
        s = smooth.update([p])[0]
        np.testing.assert_array_equal(r.keypoints, p.keypoints)  # off: untouched
        assert s.person_id == r.person_id == 0
        if t >= 10:
            jitter_raw.append(r.keypoints[:, :2] - TEMPLATE - 200)
            jitter_smooth.append(s.keypoints[:, :2] - TEMPLATE - 200)
    assert np.std(jitter_smooth) < 0.7 * np.std(jitter_raw)


def test_tracker_one_euro_keeps_missing_parts_missing():
    tracker = Tracker(one_euro=OneEuroParams())
    tracker.update([person_at(100, 100)])
    out = tracker.update([person_at(101, 100, drop=(4,))])[0]
    assert out.keypoints[4, 2] == 0 and np.isnan(out.keypoints[4, 0])
    assert np.isfinite(out.keypoints[np.arange(18) != 4, :2]).all()


def test_tracker_arguments():
    with pytest.raises(TypeError, match="unexpected keyword argument 'smoothing'"):
        Tracker(smoothing=OneEuroParams())  # removed in 0.2.0 (CHANGELOG.md): one_euro=
    assert not hasattr(Tracker(), "smoothing")
    with pytest.raises(TypeError, match="one_euro must be a OneEuroParams or None, got bool"):
        Tracker(one_euro=True)
    with pytest.raises(ValueError, match="fps must be positive, got inf"):
        Tracker(fps=float("inf"))


def test_one_euro_time_from_fps_or_from_update():
    """Without fps the filter runs on the times given to update; with fps on frame / fps."""
    rng = np.random.default_rng(7)
    frames = [person_at(200 + 3 * t, 200, rng) for t in range(15)]
    by_fps = Tracker(one_euro=OneEuroParams(beta=0.0), fps=10)
    by_time = Tracker(one_euro=OneEuroParams(beta=0.0))
    default = Tracker(one_euro=OneEuroParams(beta=0.0))  # frame / 30: 3x shorter steps, more lag
    for i, p in enumerate(frames):
        a = by_fps.update([p], frame_index=i)[0].keypoints
        b = by_time.update([p], frame_index=i, time_s=i / 10)[0].keypoints
        c = default.update([p], frame_index=i)[0].keypoints
        np.testing.assert_allclose(a, b)
    lag = lambda kp: float(np.nanmean(p.keypoints[:, 0] - kp[:, 0]))  # noqa: E731
    assert lag(c) > 1.5 * lag(a) > 0


def test_neckless_piece_continues_a_track_but_never_starts_one():
    no_neck = tuple(range(1, 14))  # a head: nose, eyes, ears
    tracker = Tracker()
    out = tracker.update([person_at(100, 100), person_at(103, 100, drop=no_neck)])
    assert [p.person_id for p in out] == [0]  # the piece beside the body is left out
    np.testing.assert_array_equal(out[0].keypoints[1], person_at(100, 100).keypoints[1])
    out = tracker.update([person_at(104, 100, drop=no_neck)])  # only the head: continues #0
    assert [p.person_id for p in out] == [0]
    assert tracker.update([person_at(500, 100, drop=no_neck)]) == []  # far away, no neck: nobody
    assert tracker.active_ids == [0]
    loose = Tracker(TrackerParams(new_track_needs_neck=False))
    out = loose.update([person_at(100, 100), person_at(103, 100, drop=no_neck)])
    assert [p.person_id for p in out] == [0, 1]
