"""What one video run did and how it ended: ``VideoSummary``, ``STOP_REASONS``, ``OutputError``.

Apart from ``posekit.video.pipeline`` so that the sink (``_sink.py``) and the pipeline share these
types without importing each other.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from .sources import VideoError

__all__ = ["STOP_REASONS", "OutputError", "VideoSummary"]

#: The values of ``VideoSummary.stop_reason``.
STOP_REASONS = ("end", "max_frames", "stream_lost", "window_closed", "interrupted", "output_error", "error")


class OutputError(VideoError):
    """An output could not be written (disk full, I/O error); every output was finalised first.

    Attributes:
        summary: the ``VideoSummary`` of the run, ``stop_reason == "output_error"``.
    """

    def __init__(self, message: str, summary: VideoSummary | None = None) -> None:
        super().__init__(message)
        self.summary = summary


@dataclasses.dataclass
class VideoSummary:
    """What ``process_video`` did.

    Attributes:
        source: the source's name (path, ``camera N`` or URL).
        stop_reason: why the run ended, one of ``STOP_REASONS`` (see the module docstring).
        frames_read: frames decoded from the source (including skipped and dropped ones).
        frames_processed: frames that went through the network and were written.
        frame_indices: source index of each processed frame.
        people_per_frame: number of people in each processed frame.
        person_ids: every person_id seen (empty when not tracking).
        elapsed_s: wall time of the frame loop in seconds.
        fps: processed frames per second of wall time.
        network_ms: mean network time per frame in milliseconds.
        out: the annotated video actually written (may be ``.avi`` after a fallback), or None.
        json_dir: folder of the per-frame OpenPose JSON files, or None.
        json_files: number of per-frame JSON files written.
        coco: the COCO results file, or None.
        csv: the CSV file, or None.
    """

    source: str
    stop_reason: str = "end"
    frames_read: int = 0
    frames_processed: int = 0
    frame_indices: list[int] = dataclasses.field(default_factory=list)
    people_per_frame: list[int] = dataclasses.field(default_factory=list)
    person_ids: list[int] = dataclasses.field(default_factory=list)
    elapsed_s: float = 0.0
    fps: float = 0.0
    network_ms: float = 0.0
    out: Path | None = None
    json_dir: Path | None = None
    json_files: int = 0
    coco: Path | None = None
    csv: Path | None = None

    @property
    def interrupted(self) -> bool:
        """Stopped by ``KeyboardInterrupt``; every output is still complete."""
        return self.stop_reason == "interrupted"
