"""Tests for posekit.video.pipeline's interface: the summary, the moved names, the drawing spec, argument
errors.

Behaviour under Ctrl-C, full disks and dying streams is in test_hostile_video.py; runs of the real
network over the bundled clip are in test_video.py.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_hostile_video import CLIP, WalkingEstimator

import posekit.video
from posekit.draw import DrawingSpec
from posekit.video import VideoError, pipeline
from posekit.video.pipeline import STOP_REASONS, OutputError, VideoSummary, process_video


def test_the_video_wing_is_the_real_address():
    """``posekit.video.X`` is the object itself (no redirect), and the types are defined once."""
    assert posekit.video.process_video is pipeline.process_video
    assert posekit.video.VideoSummary is VideoSummary and posekit.video.STOP_REASONS is STOP_REASONS
    assert posekit.video.process_video.__module__ == "posekit.video.pipeline"
    assert VideoSummary.__module__ == "posekit.video.summary"
    assert not hasattr(posekit.video, "compose_frame")  # drawing lives in posekit.draw only
    assert not hasattr(posekit.video.sources, "__getattr__")


def test_summary_and_errors():
    s = VideoSummary(source="x")
    assert s.stop_reason == "end" and not s.interrupted
    assert dataclasses.replace(s, stop_reason="interrupted").interrupted
    assert STOP_REASONS == (
        "end", "max_frames", "stream_lost", "window_closed", "interrupted", "output_error", "error"
    )  # fmt: skip
    err = OutputError("disk full while writing frame 3 of o.mp4: 3 frames kept", s)
    assert isinstance(err, VideoError) and isinstance(err, OSError) and err.summary is s
    assert str(err) == "disk full while writing frame 3 of o.mp4: 3 frames kept"


def test_drawing_spec_reaches_the_video(tmp_path):
    red = DrawingSpec(color_by_person=True, person_colors=((0, 0, 255),), background=False, label_ids=False)
    process_video(
        CLIP, WalkingEstimator(), out=tmp_path / "o.mp4", drawing=red, fps_overlay=False, max_frames=2
    )
    cap = cv2.VideoCapture(str(tmp_path / "o.mp4"))
    ok, frame = cap.read()
    cap.release()
    assert ok
    lit = frame.max(axis=2) > 60
    assert 200 < lit.sum() < 20000  # a skeleton on black
    b, g, r = (frame[lit][:, c].astype(int) for c in range(3))
    assert np.median(r) > 180 and np.median(b) < 80 and np.median(g) < 80  # drawn in the spec's red
    # background= overrides the spec: the scene comes back.
    process_video(
        CLIP, WalkingEstimator(), out=tmp_path / "b.mp4", drawing=red, background=True, max_frames=1
    )
    cap = cv2.VideoCapture(str(tmp_path / "b.mp4"))
    assert np.median(cap.read()[1]) > 40
    cap.release()


def test_no_fps_overlay_before_there_is_a_rate(tmp_path):
    """The FPS text needs two frames' times: frame 0 carries none (not "FPS: 0.0"), later frames do."""

    def drawn_frames(overlay: bool) -> list:
        frames = []
        process_video(
            CLIP, WalkingEstimator(), fps_overlay=overlay, max_frames=3, pipelined=False,
            on_frame=lambda i, frame, result, drawn: frames.append(drawn.copy()),
        )  # fmt: skip
        return frames

    with_text, without = drawn_frames(True), drawn_frames(False)
    assert len(with_text) == len(without) == 3
    np.testing.assert_array_equal(with_text[0], without[0])
    for a, b in zip(with_text[1:], without[1:]):
        changed = np.argwhere((a != b).any(axis=2))
        assert (
            len(changed) > 50 and changed[:, 0].max() < 60 and changed[:, 1].max() < 200
        )  # text at top left


def test_output_fps_is_one_rule():
    """The written video's rate: the file's over ``every``, else ``LIVE_OUT_FPS`` (process_video, batch)."""
    from posekit.video.sources import LIVE_OUT_FPS, output_fps

    assert output_fps(30.0, 3) == 10.0 and output_fps(25.0) == 25.0
    assert output_fps(30.0, 3, live=True) == output_fps(None, 2) == output_fps(0.0) == LIVE_OUT_FPS == 10.0


def test_selected_frames_counts_what_iter_frames_yields():
    from posekit.video.sources import iter_frames, open_source, selected_frames

    with open_source(CLIP) as src:
        count = src.frame_count
    assert count is not None and count > 10
    for every, max_frames in ((1, None), (3, None), (4, 5), (7, 1000), (count + 1, None)):
        got = sum(1 for _ in iter_frames(CLIP, every=every, max_frames=max_frames))
        assert selected_frames(count, every, max_frames) == got, (every, max_frames)
    with open_source(CLIP) as src:  # frames already read from an open source are not counted
        for _ in range(4):
            src.read()
        left = sum(1 for _ in iter_frames(src, every=3))
        assert selected_frames(count, 3, start=4) == left == -(-count // 3) - 2
    assert selected_frames(None, 2) is None and selected_frames(None, 2, 9) == 9


def test_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="queue_size must be >= 1, got 0"):
        process_video(CLIP, WalkingEstimator(), queue_size=0)
    with pytest.raises(ValueError, match="workers must be an integer >= 1, got True"):
        process_video(CLIP, WalkingEstimator(), workers=True)
    with pytest.raises(VideoError, match="video file not found"):
        process_video(tmp_path / "none.mp4", WalkingEstimator(), coco=tmp_path / "c.json")
    assert list(Path(tmp_path).iterdir()) == []  # nothing created for a source that does not open
