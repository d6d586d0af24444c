"""The video wing: frames in, people per frame out, files written as the run goes.

* ``sources.py``: ``open_source`` / ``iter_frames`` (files, cameras, stream URLs), ``VideoWriter``
  and its default rate ``output_fps``, ``FpsMeter``, ``VideoError``.
* ``pipeline.py``: ``process_video``, its decode | network | draw+write threads and their queues.
* ``_sink.py``: one run's outputs (tracking, drawing, the video, per-frame JSON, COCO, CSV), the
  disk-space guard.
* ``summary.py``: ``VideoSummary``, ``STOP_REASONS``, ``OutputError`` (shared by the two above).
* ``track.py``: ``Tracker`` (ids across frames by the one greedy matcher) and the One-Euro filter.

Every frame is **BGR uint8 (H, W, 3)** and keypoints are (x, y) in that frame's pixels.
The names below are this wing's public addresses (``posekit.video.process_video``).
"""

from __future__ import annotations

from .pipeline import process_video
from .sources import (
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    FpsMeter,
    FrameSource,
    VideoError,
    VideoWriter,
    check_video_path,
    has_gui,
    iter_frames,
    open_source,
    output_fps,
    special_file_error,
    special_file_kind,
)
from .summary import STOP_REASONS, OutputError, VideoSummary
from .track import OneEuroFilter, OneEuroParams, Tracker, TrackerParams, keypoint_similarity

__all__ = [
    "process_video",
    "VideoSummary",
    "STOP_REASONS",
    "OutputError",
    "VideoError",
    "FrameSource",
    "open_source",
    "iter_frames",
    "VideoWriter",
    "output_fps",
    "FpsMeter",
    "check_video_path",
    "special_file_kind",
    "special_file_error",
    "has_gui",
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "Tracker",
    "TrackerParams",
    "OneEuroParams",
    "OneEuroFilter",
    "keypoint_similarity",
]
