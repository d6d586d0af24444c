"""The outputs of one ``process_video`` run: tracking, drawing, and writing each frame (``_Sink``).

Every output (the annotated video, per-frame OpenPose JSON, the COCO results, the CSV) is written frame by
frame; a frame goes to every output or to none, free disk space is checked before each frame so that the
files can always be finished, and ``close`` finalises each file even when another fails. A write that
fails raises ``_WriteFailed``, which ``posekit.video.pipeline`` turns into ``OutputError`` after closing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import cv2
import numpy as np

from ..draw import DrawingSpec, compose_frame
from ..person import InferenceResult
from .sources import FpsMeter, VideoWriter
from .summary import VideoSummary

if TYPE_CHECKING:
    import os

PathLike = Union[str, "os.PathLike[str]"]
OnFrame = Callable[[int, np.ndarray, InferenceResult, np.ndarray], Any]

#: OpenCV's FFmpeg writer flushes an mp4 in blocks of this size (measured); that much, plus the
#: index written on closing, must stay free for the video to be finalised.
_VIDEO_WRITE_BLOCK = 256 * 1024
_SPACE_MARGIN = 64 * 1024
_BLOCK = 4096  # a small file takes at least one filesystem block


class _WriteFailed(Exception):
    """A frame's outputs could not be written (raised by the sink, turned into ``OutputError``)."""

    def __init__(self, index: int, what: Path, cause: OSError | None, detail: str = "") -> None:
        super().__init__(index, what, cause, detail)
        self.index, self.what, self.cause, self.detail = index, what, cause, detail

    @property
    def disk_full(self) -> bool:
        return self.cause is None or self.cause.errno in (errno.ENOSPC, errno.EDQUOT)


class _Sink:
    """Everything after the network for one frame: tracking, drawing, writing, callbacks."""

    def __init__(
        self,
        summary: VideoSummary,
        *,
        stem: str,
        total: int | None,
        out: PathLike | None,
        out_fps: float,
        json_dir: PathLike | None,
        coco: PathLike | None,
        csv: PathLike | None,
        tracker: Any,
        source_fps: float,
        spec: DrawingSpec,
        side_by_side: bool,
        fps_overlay: bool,
        show_progress: bool | None,
        on_frame: OnFrame | None,
    ) -> None:
        from tqdm.auto import tqdm

        from ..export import CocoWriter, CsvWriter

        self.summary = summary
        self.stem = stem
        self.tracker = tracker
        self.source_fps = source_fps
        self.spec = spec
        self.side_by_side = side_by_side
        self.fps_overlay = fps_overlay
        self.on_frame = on_frame
        self.meter = FpsMeter()
        self.latest: np.ndarray | None = None
        self.ids: set[int] = set()
        self.network_ms: list[float] = []
        self.writer: VideoWriter | None = None
        self.csv: CsvWriter | None = None
        self.coco: CocoWriter | None = None
        self.json_dir = Path(json_dir) if json_dir is not None else None
        self.frame_bytes = 0  # the most any one frame added to the outputs (JSON, CSV, COCO)
        self.folders: dict[Path, Path] = {}  # folder -> the first output in it (for messages)
        self.bar = tqdm(
            total=total, desc=stem, unit="frame", file=sys.stderr, dynamic_ncols=True,
            disable=None if show_progress is None else not show_progress,
        )  # fmt: skip
        try:
            if out is not None:
                self.writer = VideoWriter(out, out_fps)
                self._folder(self.writer.path)
            if self.json_dir is not None:
                self.json_dir.mkdir(parents=True, exist_ok=True)
                self.folders.setdefault(self.json_dir, self.json_dir)
            if coco is not None:
                self.coco = CocoWriter(self._folder(Path(coco)))  # fails early if unwritable
            if csv is not None:
                self.csv = CsvWriter(self._folder(Path(csv)))
        except BaseException:
            self.close()
            raise

    def _folder(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.folders.setdefault(path.parent, path)
        return path

    def _reserve(self) -> int:
        """Bytes that must stay free to write one more frame and still close every file."""
        need = _SPACE_MARGIN + 2 * self.frame_bytes
        if self.writer is not None and self.writer.frames_written:
            size = self.writer.path.stat().st_size if self.writer.path.exists() else 0
            need += (
                _VIDEO_WRITE_BLOCK + 2 * size // self.writer.frames_written + 64 * self.writer.frames_written
            )
        elif self.writer is not None:
            need += _VIDEO_WRITE_BLOCK
        if self.coco is not None:
            need += self.coco.size  # the COCO file is assembled from the lines at the end
        return need

    def _check_space(self, index: int) -> None:
        need = self._reserve()
        for folder, first in self.folders.items():
            free = shutil.disk_usage(folder).free
            if free < need:
                detail = f"{free // 1024} KiB free, {need // 1024} KiB needed to finish the files"
                raise _WriteFailed(index, first, None, detail)

    def handle(self, index: int, frame: np.ndarray, result: InferenceResult) -> None:
        """Track, draw and write one frame that went through the network."""
        self._check_space(index)
        people = result.people
        if self.tracker is not None:
            people = self.tracker.update(people, frame_index=index, time_s=index / self.source_fps)
            result = dataclasses.replace(result, people=people)
            self.ids.update(p.person_id for p in people)
        fps = self.meter.tick()
        drawn = compose_frame(
            frame, people, spec=self.spec, side_by_side=self.side_by_side,
            fps=fps if self.fps_overlay and self.meter.count > 1 else None,  # no rate before the second frame
        )  # fmt: skip
        self._write(index, people, drawn)
        s = self.summary
        s.frames_processed += 1
        s.frame_indices.append(index)
        s.people_per_frame.append(len(people))
        self.network_ms.append(float(result.timings.get("network", 0.0)))
        self.bar.set_postfix_str(f"{fps:.1f} fps", refresh=False)
        self.bar.update(1)
        self.latest = drawn
        if self.on_frame is not None:
            self.on_frame(index, frame, result, drawn)

    def _write(self, index: int, people: list, drawn: np.ndarray) -> None:
        """Write one frame to every output, or to none: a failed write undoes the frame's other writes.

        The video goes last: OpenCV reports no write error, and a frame in it cannot be taken back.
        """
        from ..export import openpose_json_name, write_openpose_json

        json_path = (
            self.json_dir / openpose_json_name(self.stem, index) if self.json_dir is not None else None
        )
        csv_size = self.csv.size if self.csv is not None else 0
        coco_size = self.coco.size if self.coco is not None else 0
        target = json_path
        try:
            added = 0
            if json_path is not None:
                write_openpose_json(json_path, people)
                added += -(-json_path.stat().st_size // _BLOCK) * _BLOCK
            if self.csv is not None:
                target = self.csv.path
                self.csv.write(index, people)
                added += self.csv.size - csv_size
            if self.coco is not None:
                target = self.coco.path
                self.coco.write(index, people)
                added += self.coco.size - coco_size
        except OSError as exc:
            with contextlib.suppress(OSError, ValueError):
                if json_path is not None and target != json_path:
                    json_path.unlink(missing_ok=True)
                if self.csv is not None:
                    self.csv.rollback(csv_size)
                if self.coco is not None:
                    self.coco.rollback(coco_size)
            raise _WriteFailed(index, target or Path(self.stem), exc) from exc
        if json_path is not None:
            self.summary.json_files += 1
        if self.writer is not None:
            self.writer.write(drawn)
        self.frame_bytes = max(self.frame_bytes, added)

    def close(self) -> list[BaseException]:
        """Finish every output file; each step runs even if an earlier one fails. Returns the errors."""
        s = self.summary
        errors: list[BaseException] = []
        for step in (self.bar.close, self._close_writer, self._close_csv, self._close_coco):
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - collected, reported after all ran
                errors.append(exc)
        s.person_ids = sorted(self.ids)
        s.network_ms = float(np.mean(self.network_ms)) if self.network_ms else 0.0
        s.json_dir = self.json_dir
        return errors

    def _close_writer(self) -> None:
        if self.writer is None:
            return
        self.writer.close()
        if not self.writer.frames_written:
            return
        path = self.writer.path
        if not _playable(path):
            path.unlink(missing_ok=True)
            raise _WriteFailed(-1, path, None, f"{path.name} could not be finalised and was removed")
        self.summary.out = path

    def _close_csv(self) -> None:
        if self.csv is not None:
            self.csv.close()
            self.summary.csv = self.csv.path

    def _close_coco(self) -> None:
        if self.coco is not None:
            try:
                self.summary.coco = self.coco.close()
            except OSError as exc:
                detail = f"{self.coco.path.name} not written; its results are in {self.coco.partial}"
                raise _WriteFailed(-1, self.coco.path, exc, detail) from exc


def _playable(path: Path) -> bool:
    """Whether a written video opens and its first frame decodes."""
    cap = cv2.VideoCapture(str(path))
    try:
        return bool(cap.isOpened() and cap.read()[0])
    finally:
        cap.release()
