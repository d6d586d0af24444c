"""Video: frame sources, annotated-video writing, FPS metering and the video pipeline.

Every frame here is **BGR uint8 (H, W, 3)**, as OpenCV decodes it, and keypoints are
(x, y) in that frame's pixels.

* ``open_source(src)`` opens a video file, a camera index (``0`` or ``"0"``) or a stream
  URL (``rtsp://``, ``http://``, ...) and fails fast with a ``VideoError`` (an
  ``OSError``) whose message says what is wrong: missing file, not a video, no camera.
* ``iter_frames(src, max_frames, every)`` yields ``(frame_index, frame)`` pairs.
* ``VideoWriter`` writes mp4 (``mp4v``) and falls back to MJPG ``.avi`` when the mp4
  writer cannot be opened.
* ``FpsMeter`` and ``ProgressBar`` measure and show progress.
* ``process_video(source, estimator, ...)`` runs the whole thing: decoding, the network,
  tracking, drawing and writing (video, per-frame OpenPose JSON, COCO results, CSV).
  By default decoding and drawing/writing run in their own threads, joined to the
  network by bounded queues, so the frame rate is set by the network alone. Ctrl-C
  (``KeyboardInterrupt``) stops reading, writes the frames already through the
  network, and closes every output file properly.

Frame indices are 0-based positions of frames in the source; with ``every=N`` only
frames 0, N, 2N, ... are processed and written.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import json
import logging
import os
import queue
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Union

import cv2
import numpy as np

from .draw import draw_fps, draw_people, draw_text_lines, person_color
from .person import InferenceResult, Person

__all__ = [
    "VideoError",
    "FrameSource",
    "open_source",
    "iter_frames",
    "VideoWriter",
    "VIDEO_SUFFIXES",
    "check_video_path",
    "FpsMeter",
    "ProgressBar",
    "compose_frame",
    "has_gui",
    "VideoSummary",
    "process_video",
]

log = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]

#: Suffixes ``VideoWriter`` accepts, with the FourCC tried first for each.
VIDEO_SUFFIXES: dict[str, str] = {
    ".mp4": "mp4v",
    ".m4v": "mp4v",
    ".mov": "mp4v",
    ".mkv": "mp4v",
    ".avi": "MJPG",
}
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
_URL_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://", "srt://")


class VideoError(OSError):
    """A video source that cannot be opened or read, or an output that cannot be written."""


@contextlib.contextmanager
def _quiet_opencv() -> Iterator[None]:
    """Silence OpenCV's own log while probing a source (we raise a clear error instead)."""
    logging_mod = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging_mod is None:
        yield
        return
    level = logging_mod.getLogLevel()
    logging_mod.setLogLevel(logging_mod.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        logging_mod.setLogLevel(level)


# --------------------------------------------------------------------------- sources


class FrameSource:
    """An opened video file, camera or stream; use ``open_source`` to make one.

    Attributes:
        name: what was opened (path, ``camera 0`` or the URL).
        kind: ``"file"``, ``"camera"`` or ``"stream"``.
        stem: base name for per-frame output files (file stem, ``camera0``, ``stream``).
        fps: frames per second reported by the source, or None if unknown.
        frame_count: number of frames of a file, or None (live sources, unknown length).
        size: (width, height) of the frames.
        frames_read: frames returned by ``read`` so far; the next frame's index.
    """

    def __init__(self, capture: Any, *, name: str, kind: str, stem: str, first_frame: np.ndarray) -> None:
        self._cap = capture
        self._pending: np.ndarray | None = first_frame
        self.name = name
        self.kind = kind
        self.stem = stem
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps: float | None = fps if 0 < fps < 1000 else None
        count = capture.get(cv2.CAP_PROP_FRAME_COUNT) if kind == "file" else 0
        self.frame_count: int | None = int(count) if count and 0 < count < 1e9 else None
        self.size: tuple[int, int] = (first_frame.shape[1], first_frame.shape[0])
        self.frames_read = 0

    @property
    def is_live(self) -> bool:
        """True for cameras and streams: frames come in real time and may be dropped."""
        return self.kind != "file"

    def read(self) -> np.ndarray | None:
        """The next frame, BGR uint8 (H, W, 3), or None at the end of the source."""
        if self._cap is None:
            return None
        if self._pending is not None:
            frame, self._pending = self._pending, None
        else:
            ok, frame = self._cap.read()
            if not ok or frame is None:
                return None
            frame = _as_bgr(frame)
        self.frames_read += 1
        return frame

    def __iter__(self) -> Iterator[np.ndarray]:
        while (frame := self.read()) is not None:
            yield frame

    def close(self) -> None:
        """Release the capture (safe to call twice)."""
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"FrameSource({self.name!r}, kind={self.kind!r}, size={self.size}, fps={self.fps})"


def _as_bgr(frame: np.ndarray) -> np.ndarray:
    """Frames from odd sources (gray, BGRA, 16-bit) as BGR uint8 (H, W, 3)."""
    if frame.dtype != np.uint8:
        frame = cv2.convertScaleAbs(frame, alpha=255.0 / max(1.0, float(np.iinfo(frame.dtype).max)))
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    return frame


def _camera_index(src: object) -> int | None:
    """The camera index if ``src`` is an int or a string of digits (not an existing file), else None."""
    if isinstance(src, bool):
        return None
    if isinstance(src, int):
        return src
    if isinstance(src, str) and src.strip().lstrip("-").isdigit() and not Path(src).exists():
        return int(src.strip())
    return None


def open_source(src: int | PathLike, *, timeout_s: float = 5.0) -> FrameSource:
    """Open a video file, camera or stream and check that it delivers a frame.

    Args:
        src: a camera index (int or digit string such as ``"0"``), a stream URL
            (``rtsp://``, ``http(s)://``, ``rtmp://``, ``udp://``, ``file://`` ...) or a
            video file path.
        timeout_s: how long a stream may take to open and to deliver a frame.

    Returns:
        An open ``FrameSource`` whose first frame has already been decoded (and is
        returned by its first ``read``).

    Raises:
        VideoError: missing file, a directory, an image or non-video file, a file with no
            decodable frame, a camera index with no camera, or a stream that does not open.
        ValueError: a negative camera index.
    """
    index = _camera_index(src)
    if index is not None:
        return _open_camera(index)
    text = os.fspath(src)  # type: ignore[arg-type]
    if text.lower().startswith("file://"):
        text = text[len("file://") :]
    elif text.lower().startswith(_URL_SCHEMES):
        return _open_stream(text, timeout_s)
    return _open_file(Path(text))


def _open_camera(index: int) -> FrameSource:
    if index < 0:
        raise ValueError(f"camera index must be >= 0, got {index}")
    name = f"camera {index}"
    if sys.platform.startswith("linux") and not Path(f"/dev/video{index}").exists():
        # Checked first so a missing camera fails at once, whatever the OpenCV backend does.
        raise VideoError(f"cannot open {name}: /dev/video{index} does not exist (no camera at this index)")
    with _quiet_opencv():
        cap = cv2.VideoCapture(index)
        if not cap.isOpened():
            cap.release()
            raise VideoError(f"cannot open {name}: no camera at this index, or it is in use")
        ok, frame = cap.read()
    if not ok or frame is None:
        cap.release()
        raise VideoError(f"cannot read from {name}: it opened but delivered no frame")
    return FrameSource(cap, name=name, kind="camera", stem=f"camera{index}", first_frame=_as_bgr(frame))


def _open_stream(url: str, timeout_s: float) -> FrameSource:
    ms = max(1, int(timeout_s * 1000))
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
    with _quiet_opencv():
        cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
        if not cap.isOpened():
            cap.release()
            raise VideoError(
                f"cannot open stream {url}: not reachable within {timeout_s:g} s or not a video stream"
            )
        ok, frame = cap.read()
    if not ok or frame is None:
        cap.release()
        raise VideoError(f"cannot read from stream {url}: it opened but delivered no frame")
    return FrameSource(cap, name=url, kind="stream", stem="stream", first_frame=_as_bgr(frame))


def _open_file(path: Path) -> FrameSource:
    if not path.exists():
        raise VideoError(f"video file not found: {path}")
    if path.is_dir():
        raise VideoError(f"{path} is a directory, not a video file")
    if path.suffix.lower() in _IMAGE_SUFFIXES:
        raise VideoError(f"{path} is an image, not a video (use `posekit image` for images)")
    if not os.access(path, os.R_OK):
        raise VideoError(f"cannot read {path}: permission denied")
    with _quiet_opencv():
        cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
        if not cap.isOpened():
            cap.release()
            raise VideoError(f"cannot read {path}: not a video file OpenCV can decode")
        ok, frame = cap.read()
    if not ok or frame is None:
        cap.release()
        raise VideoError(f"cannot read {path}: the video has no decodable frame")
    return FrameSource(cap, name=str(path), kind="file", stem=path.stem, first_frame=_as_bgr(frame))


def iter_frames(
    source: int | PathLike | FrameSource, max_frames: int | None = None, every: int = 1
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(frame_index, frame)`` from a video, e.g. ``for i, frame in iter_frames("clip.mp4"):``.

    Args:
        source: anything ``open_source`` accepts, or an open ``FrameSource`` (left open).
        max_frames: stop after yielding this many frames (None: until the source ends).
        every: yield only every ``every``-th frame (indices 0, every, 2 * every, ...).

    Yields:
        The 0-based index of the frame in the source and the frame, BGR uint8 (H, W, 3).
    """
    every = _check_every(every)
    max_frames = _check_max_frames(max_frames)
    own = not isinstance(source, FrameSource)
    src = open_source(source) if own else source  # type: ignore[arg-type]
    try:
        yielded = 0
        while max_frames is None or yielded < max_frames:
            frame = src.read()
            if frame is None:
                return
            index = src.frames_read - 1
            if index % every == 0:
                yielded += 1
                yield index, frame
    finally:
        if own:
            src.close()


def _check_every(every: int) -> int:
    if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
        raise ValueError(f"every must be an integer >= 1, got {every!r}")
    return int(every)


def _check_max_frames(max_frames: int | None) -> int | None:
    if max_frames is None:
        return None
    if isinstance(max_frames, bool) or not isinstance(max_frames, (int, np.integer)) or max_frames < 1:
        raise ValueError(f"max_frames must be an integer >= 1 or None, got {max_frames!r}")
    return int(max_frames)


# --------------------------------------------------------------------------- writing


def check_video_path(path: PathLike) -> Path:
    """Check that ``path`` ends in a suffix ``VideoWriter`` writes (``VIDEO_SUFFIXES``); return it."""
    path = Path(path)
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        known = ", ".join(VIDEO_SUFFIXES)
        raise ValueError(f"cannot write video {path}: unknown suffix {path.suffix!r} (use one of {known})")
    return path


class VideoWriter:
    """Write BGR uint8 frames to a video file, opened at the first frame (which sets the size).

    ``.mp4`` / ``.m4v`` / ``.mov`` / ``.mkv`` use FourCC ``mp4v`` and ``.avi`` uses MJPG. If the
    writer cannot be opened with ``mp4v`` (an OpenCV build without that encoder), it
    falls back to MJPG in ``<path>.avi`` and logs a warning saying so; ``path`` then
    holds the file actually written.

    Example::

        with VideoWriter("out.mp4", fps=10) as out:
            for frame in frames:
                out.write(frame)

    Args:
        path: output file; its suffix must be one of ``VIDEO_SUFFIXES``.
        fps: frame rate stored in the file.
        fourcc: FourCC to try first instead of the one for the suffix.

    Raises:
        ValueError: unknown suffix or fps <= 0.
    """

    def __init__(self, path: PathLike, fps: float, *, fourcc: str | None = None) -> None:
        self.requested_path = check_video_path(path)
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.path = self.requested_path
        self.fps = float(fps)
        self.fourcc = fourcc or VIDEO_SUFFIXES[self.path.suffix.lower()]
        self.size: tuple[int, int] | None = None
        self.frames_written = 0
        self.fallback = False
        self._writer: Any = None
        self._closed = False

    def _open(self, size: tuple[int, int]) -> None:
        attempts = [(self.requested_path, self.fourcc)]
        if self.fourcc != "MJPG":
            attempts.append((self.requested_path.with_suffix(".avi"), "MJPG"))
        for n, (path, fourcc) in enumerate(attempts):
            with _quiet_opencv():
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), self.fps, size)
            if writer.isOpened():
                if n:
                    log.warning(
                        "cannot open a %s (%s) video writer for %s; writing MJPG to %s instead",
                        self.requested_path.suffix, self.fourcc, self.requested_path, path,
                    )  # fmt: skip
                    self.fallback = True
                self._writer, self.path, self.fourcc, self.size = writer, path, fourcc, size
                return
            writer.release()
        tried = " or ".join(f"{p.name} ({f})" for p, f in attempts)
        raise VideoError(f"cannot write video {self.requested_path}: no writer opens for {tried}")

    def write(self, frame: np.ndarray) -> None:
        """Append one BGR uint8 (H, W, 3) frame; every frame must have the first frame's size."""
        if self._closed:
            raise ValueError(f"VideoWriter for {self.path} is closed")
        is_bgr = isinstance(frame, np.ndarray) and frame.ndim == 3 and frame.shape[2] == 3
        if not is_bgr or frame.dtype != np.uint8:
            what = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
            raise ValueError(f"frames must be BGR uint8 (H, W, 3), got {what}")
        size = (frame.shape[1], frame.shape[0])
        if self._writer is None:
            self._open(size)
        elif size != self.size:
            raise ValueError(f"frame size {size} differs from the video's {self.size}")
        self._writer.write(np.ascontiguousarray(frame))
        self.frames_written += 1

    def close(self) -> None:
        """Finish the file (safe to call twice)."""
        self._closed = True
        if self._writer is not None:
            self._writer.release()
            self._writer = None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------- metering


class FpsMeter:
    """Frames per second over a sliding window of the last ``window`` ticks.

    Args:
        window: number of most recent frame times averaged over (>= 2).
        clock: time source in seconds (for tests).
    """

    def __init__(self, window: int = 30, clock: Callable[[], float] = time.perf_counter) -> None:
        if window < 2:
            raise ValueError(f"window must be >= 2, got {window}")
        self._times: deque[float] = deque(maxlen=int(window))
        self._clock = clock
        self.count = 0

    def tick(self) -> float:
        """Record one frame now; returns the current ``fps``."""
        self._times.append(self._clock())
        self.count += 1
        return self.fps

    @property
    def fps(self) -> float:
        """Frames per second over the window; 0.0 before the second tick."""
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0


class ProgressBar:
    """A one-line progress bar on stderr, redrawn in place with ``\\r``.

    Args:
        total: expected number of frames, or None when unknown (a counter is shown).
        stream: where to write (default ``sys.stderr``).
        enabled: True / False to force; None shows it only when ``stream`` is a terminal.
        label: text in front of the bar.
        min_interval: seconds between redraws.
    """

    def __init__(
        self,
        total: int | None = None,
        *,
        stream: Any = None,
        enabled: bool | None = None,
        label: str = "",
        min_interval: float = 0.1,
    ) -> None:
        self.stream = sys.stderr if stream is None else stream
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty())
        self.enabled = enabled
        self.total = total
        self.label = label
        self.min_interval = min_interval
        self._last = -float("inf")
        self._width = 0
        self._start = time.perf_counter()

    def line(self, done: int, fps: float = 0.0) -> str:
        """The text of the bar after ``done`` frames at ``fps``."""
        head = f"{self.label} " if self.label else ""
        rate = f"{fps:5.1f} fps" if fps > 0 else "  ... fps"
        if not self.total:
            return f"{head}{done} frames {rate}"
        frac = min(1.0, done / self.total)
        filled = int(round(frac * 24))
        eta = ""
        if fps > 0 and done < self.total:
            left = int(round((self.total - done) / fps))
            eta = f" ETA {left // 60}:{left % 60:02d}"
        return f"{head}[{'#' * filled}{'.' * (24 - filled)}] {done}/{self.total} {frac:4.0%} {rate}{eta}"

    def update(self, done: int, fps: float = 0.0, *, force: bool = False) -> None:
        """Redraw the bar (at most every ``min_interval`` seconds unless ``force``)."""
        if not self.enabled:
            return
        now = time.perf_counter()
        if not force and now - self._last < self.min_interval:
            return
        self._last = now
        text = self.line(done, fps)
        pad = max(0, self._width - len(text))
        self._width = len(text)
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()

    def close(self, done: int | None = None, fps: float = 0.0) -> None:
        """Draw the final state (if ``done`` is given) and end the line."""
        if not self.enabled:
            return
        if done is not None:
            self.update(done, fps, force=True)
        if self._width:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0


# --------------------------------------------------------------------------- drawing


def compose_frame(
    frame: np.ndarray,
    people: list[Person],
    *,
    background: bool = True,
    side_by_side: bool = False,
    fps: float | None = None,
    color_by_person: bool | None = None,
    show_ids: bool = True,
) -> np.ndarray:
    """Draw one output frame of an annotated video.

    Args:
        frame: BGR uint8 (H, W, 3), not modified.
        people: the people of the frame, keypoints in ``frame`` pixels.
        background: draw on the frame (True) or on black (False).
        side_by_side: the original frame on the left and the skeletons on black on the
            right: BGR uint8 (H, 2 W, 3). ``background`` is ignored.
        fps: write ``FPS: ...`` at the top left, or None for no FPS text.
        color_by_person: one colour per person (``person_color(person_id)``); None:
            when the people are tracked (person_id >= 0), else OpenPose's part colours.
        show_ids: write ``#id`` above each tracked person.

    Returns:
        BGR uint8 (H, W, 3), or (H, 2 W, 3) when ``side_by_side``.
    """
    tracked = any(p.person_id >= 0 for p in people)
    by_person = tracked if color_by_person is None else color_by_person
    if side_by_side:
        skeleton = draw_people(frame, people, skeleton_only=True, color_by_person=by_person)
        _label_ids(skeleton, people, show_ids)
        canvas = np.concatenate([frame, skeleton], axis=1)
    else:
        canvas = draw_people(frame, people, skeleton_only=not background, color_by_person=by_person)
        _label_ids(canvas, people, show_ids)
    if fps is not None:
        draw_fps(canvas, fps)
    return canvas


def _label_ids(canvas: np.ndarray, people: list[Person], show: bool) -> None:
    """Write ``#id`` above each tracked person's bounding box, in the person's colour."""
    if not show:
        return
    for p in people:
        box = p.bbox()
        if p.person_id < 0 or box is None:
            continue
        origin = (int(box[0]), max(12, int(box[1]) - 8))
        color = person_color(p.person_id)
        draw_text_lines(canvas, [f"#{p.person_id}"], origin, color=color, font_scale=0.5, thickness=1)


def has_gui() -> bool:
    """Whether this OpenCV build can open windows (``opencv-python-headless`` cannot)."""
    for line in cv2.getBuildInformation().splitlines():
        key, _, value = line.strip().partition(":")
        if key.strip() == "GUI":
            return value.strip().upper() not in ("", "NONE", "NO")
    return False


# --------------------------------------------------------------------------- pipeline


@dataclasses.dataclass
class VideoSummary:
    """What ``process_video`` did.

    Attributes:
        source: the source's name (path, ``camera N`` or URL).
        frames_read: frames decoded from the source (including skipped and dropped ones).
        frames_processed: frames that went through the network and were written.
        frame_indices: source index of each processed frame.
        people_per_frame: number of people in each processed frame.
        person_ids: every person_id seen (empty when not tracking).
        elapsed_s: wall time of the frame loop in seconds.
        fps: processed frames per second of wall time.
        network_ms: mean network time per frame in milliseconds.
        interrupted: stopped by Ctrl-C (KeyboardInterrupt); every output is still complete.
        out: the annotated video actually written (may be ``.avi`` after a fallback), or None.
        json_dir: folder of the per-frame OpenPose JSON files, or None.
        json_files: number of per-frame JSON files written.
        coco: the COCO results file, or None.
        csv: the CSV file, or None.
    """

    source: str
    frames_read: int = 0
    frames_processed: int = 0
    frame_indices: list[int] = dataclasses.field(default_factory=list)
    people_per_frame: list[int] = dataclasses.field(default_factory=list)
    person_ids: list[int] = dataclasses.field(default_factory=list)
    elapsed_s: float = 0.0
    fps: float = 0.0
    network_ms: float = 0.0
    interrupted: bool = False
    out: Path | None = None
    json_dir: Path | None = None
    json_files: int = 0
    coco: Path | None = None
    csv: Path | None = None


OnFrame = Callable[[int, np.ndarray, InferenceResult, np.ndarray], Any]


def _write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON to ``path`` through a temporary file, so the file is never half written."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


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
        background: bool,
        side_by_side: bool,
        fps_overlay: bool,
        show_progress: bool | None,
        on_frame: OnFrame | None,
    ) -> None:
        from .export import CsvWriter

        self.summary = summary
        self.stem = stem
        self.tracker = tracker
        self.background = background
        self.side_by_side = side_by_side
        self.fps_overlay = fps_overlay
        self.on_frame = on_frame
        self.meter = FpsMeter()
        self.latest: np.ndarray | None = None
        self.ids: set[int] = set()
        self.network_ms: list[float] = []
        self.writer: VideoWriter | None = None
        self.csv: CsvWriter | None = None
        self.coco_path = Path(coco) if coco is not None else None
        self.coco_results: list[dict[str, Any]] = []
        self.json_dir = Path(json_dir) if json_dir is not None else None
        self.progress = ProgressBar(total, enabled=show_progress, label=stem)
        try:
            if out is not None:
                self.writer = VideoWriter(out, out_fps)
                self.writer.path.parent.mkdir(parents=True, exist_ok=True)
            if self.json_dir is not None:
                self.json_dir.mkdir(parents=True, exist_ok=True)
            if self.coco_path is not None:
                self.coco_path.parent.mkdir(parents=True, exist_ok=True)
                _write_json_atomic(self.coco_path, [])  # fail early if unwritable
            if csv is not None:
                Path(csv).parent.mkdir(parents=True, exist_ok=True)
                self.csv = CsvWriter(csv)
        except BaseException:
            self.close()
            raise

    def handle(self, index: int, frame: np.ndarray, result: InferenceResult) -> None:
        """Track, draw and write one frame that went through the network."""
        from .export import coco_results, openpose_json_name, to_openpose_dict

        people = result.people
        if self.tracker is not None:
            people = self.tracker.update(people, frame_index=index)
            result = dataclasses.replace(result, people=people)
            self.ids.update(p.person_id for p in people)
        fps = self.meter.tick()
        drawn = compose_frame(
            frame,
            people,
            background=self.background,
            side_by_side=self.side_by_side,
            fps=fps if self.fps_overlay else None,
        )
        if self.writer is not None:
            self.writer.write(drawn)
        if self.json_dir is not None:
            _write_json_atomic(self.json_dir / openpose_json_name(self.stem, index), to_openpose_dict(people))
            self.summary.json_files += 1
        if self.csv is not None:
            self.csv.write(index, people)
        if self.coco_path is not None:
            self.coco_results.extend(coco_results([(index, people)]))
        s = self.summary
        s.frames_processed += 1
        s.frame_indices.append(index)
        s.people_per_frame.append(len(people))
        self.network_ms.append(float(result.timings.get("network", 0.0)))
        self.progress.update(s.frames_processed, fps)
        self.latest = drawn
        if self.on_frame is not None:
            self.on_frame(index, frame, result, drawn)

    def close(self) -> None:
        """Finish every output file; each step runs even if an earlier one fails."""
        s = self.summary
        self.progress.close(s.frames_processed, self.meter.fps)
        errors: list[BaseException] = []
        for step in (self._close_writer, self._close_csv, self._close_coco):
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - collect, raise the first after all ran
                errors.append(exc)
        s.person_ids = sorted(self.ids)
        s.network_ms = float(np.mean(self.network_ms)) if self.network_ms else 0.0
        s.json_dir = self.json_dir
        if errors:
            raise errors[0]

    def _close_writer(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.summary.out = self.writer.path if self.writer.frames_written else None

    def _close_csv(self) -> None:
        if self.csv is not None:
            self.csv.close()
            self.summary.csv = self.csv.path

    def _close_coco(self) -> None:
        if self.coco_path is not None:
            _write_json_atomic(self.coco_path, self.coco_results)
            self.summary.coco = self.coco_path


class _Failure:
    """An exception raised in a worker thread, passed to the main thread."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


_END = object()
_POLL_S = 0.05


def _put(q: queue.Queue, item: object, give_up: Callable[[], bool]) -> bool:
    """Put with a bounded wait, retrying until done (True) or ``give_up()`` (False)."""
    while True:
        try:
            q.put(item, timeout=_POLL_S)
            return True
        except queue.Full:
            if give_up():
                return False


def _put_latest(q: queue.Queue, item: object) -> None:
    """Put without waiting, dropping the oldest queued item if full (live sources)."""
    try:
        q.put_nowait(item)
    except queue.Full:
        with contextlib.suppress(queue.Empty):
            q.get_nowait()
        with contextlib.suppress(queue.Full):
            q.put_nowait(item)


class _Window:
    """An OpenCV window showing the latest drawn frame; q or Esc (or closing it) asks to stop."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.opened = False

    def show(self, image: np.ndarray | None) -> bool:
        """Show ``image``; returns False when the user asked to stop."""
        if image is not None:
            cv2.imshow(self.name, image)
            self.opened = True
        key = cv2.waitKey(1) & 0xFF
        if key in (27, ord("q")):
            return False
        if self.opened and cv2.getWindowProperty(self.name, cv2.WND_PROP_VISIBLE) < 1:
            return False
        return True

    def close(self) -> None:
        if self.opened:
            with contextlib.suppress(cv2.error):
                cv2.destroyWindow(self.name)
                cv2.waitKey(1)


def process_video(
    source: int | PathLike | FrameSource,
    estimator: Any,
    *,
    out: PathLike | None = None,
    json_dir: PathLike | None = None,
    coco: PathLike | None = None,
    csv: PathLike | None = None,
    background: bool = True,
    side_by_side: bool = False,
    max_frames: int | None = None,
    every: int = 1,
    track: bool = True,
    smooth: bool = False,
    tracker_params: Any = None,
    smoothing_params: Any = None,
    upsample: float = 4.0,
    out_fps: float | None = None,
    fps_overlay: bool = True,
    show_progress: bool | None = None,
    show: bool = False,
    window_name: str = "posekit",
    pipelined: bool = True,
    queue_size: int = 4,
    workers: int = 1,
    on_frame: OnFrame | None = None,
) -> VideoSummary:
    """Run pose estimation on every (or every N-th) frame of a video, camera or stream.

    For each processed frame: the network and post-processing (``estimator.inference``),
    tracking (persistent ``person_id``), drawing, then writing the annotated frame, a
    ``<stem>_<frame:012d>_keypoints.json`` OpenPose file, CSV rows and COCO results.

    With ``pipelined=True`` (default) a decode thread, the network (in the calling
    thread) and a draw/write thread run concurrently, linked by queues of
    ``queue_size`` frames, so the loop runs as fast as the network alone. For live
    sources (camera, stream) the decode thread keeps only the newest frame, so the
    output follows the scene in real time and skipped frames are dropped.

    Ctrl-C (``KeyboardInterrupt`` in the calling thread, or raised by ``on_frame``) stops
    reading; frames already through the network are written (none after an
    ``on_frame`` interrupt), then the video is finalised, the CSV closed and the COCO
    file written, and the summary is returned with ``interrupted=True``. Any other
    exception (in any thread) closes the outputs the same way and is re-raised.

    Args:
        source: camera index, stream URL, video path, or an open ``FrameSource`` (left open).
        estimator: a ``PoseEstimator`` (anything with ``inference(bgr, upsample=...)``).
        out: annotated video to write (``.mp4``; see ``VideoWriter`` for the fallback).
        json_dir: folder for per-frame OpenPose JSON files (with ``person_id``).
        coco: COCO keypoint results file for the whole video; ``image_id`` is the frame
            index, ``category_id`` 1, 17 keypoints in COCO order (see ``posekit.export``).
        csv: CSV file with columns frame, person_id, part, x, y, score.
        background: draw skeletons on the frame (True) or on black (False).
        side_by_side: write original | skeleton-on-black frames, twice as wide.
        max_frames: stop after processing this many frames (None: the whole source).
        every: process only frames 0, every, 2 * every, ... of the source.
        track: give people persistent ids (``posekit.track.Tracker``); False leaves -1.
        smooth: One-Euro-smooth the tracked keypoints (needs ``track``).
        tracker_params: a ``TrackerParams`` (None: defaults).
        smoothing_params: a ``OneEuroParams`` used when ``smooth`` (None: defaults).
        upsample: passed to ``estimator.inference``.
        out_fps: frame rate of the written video; None: source fps / every for files,
            10 for live sources (about what the network reaches on a CPU).
        fps_overlay: write the measured FPS on each output frame.
        show_progress: progress bar on stderr; None: only when stderr is a terminal.
        show: show the annotated frames in an OpenCV window (needs an OpenCV build with
            GUI support; q or Esc stops).
        window_name: title of that window.
        pipelined: overlap decoding, the network and writing in threads (False: one thread).
        queue_size: frames held by each queue between threads.
        workers: frames in the network at once (pipelined only). With more than 1, each worker is a
            single-threaded replica of the estimator (``PoseEstimator.replica``) and frames stay in
            order. Frame-level parallelism can beat one multi-threaded interpreter on machines with
            more cores; on the 2-core benchmark machine it did not (``benchmarks/bench_video.py``).
        on_frame: ``on_frame(frame_index, frame_bgr, result, drawn_bgr)`` after each frame is
            written (from the writer thread when pipelined); ``result.people`` carry the
            tracked ids. Raising ``KeyboardInterrupt`` there stops the run like Ctrl-C.

    Returns:
        A ``VideoSummary``.

    Raises:
        VideoError: the source cannot be opened, or the video cannot be written.
        ValueError: bad ``every``, ``max_frames``, ``out`` suffix or ``queue_size``.
    """
    every = _check_every(every)
    max_frames = _check_max_frames(max_frames)
    if queue_size < 1:
        raise ValueError(f"queue_size must be >= 1, got {queue_size}")
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    if smooth and not track:
        raise ValueError("smooth=True needs track=True (smoothing follows tracked people)")
    if out is not None:
        check_video_path(out)
    if show and not has_gui():
        raise VideoError(
            "cannot show a window: this OpenCV build has no GUI support (opencv-python-headless)"
        )

    own = not isinstance(source, FrameSource)
    src: FrameSource = open_source(source) if own else source  # type: ignore[arg-type]
    summary = VideoSummary(source=src.name)
    try:
        tracker = None
        if track:
            from .track import OneEuroParams, Tracker, TrackerParams

            smoothing = (smoothing_params or OneEuroParams()) if smooth else None
            tracker = Tracker(tracker_params or TrackerParams(), smoothing=smoothing, fps=src.fps or 30.0)
        if out_fps is None:
            out_fps = src.fps / every if (src.fps and not src.is_live) else 10.0
        total = None
        if src.frame_count is not None:  # frames left whose index is a multiple of every
            total = max(0, -(-src.frame_count // every) - -(-src.frames_read // every))
        if max_frames is not None:
            total = max_frames if total is None else min(total, max_frames)
        sink = _Sink(
            summary, stem=src.stem, total=total, out=out, out_fps=out_fps, json_dir=json_dir, coco=coco,
            csv=csv, tracker=tracker, background=background, side_by_side=side_by_side,
            fps_overlay=fps_overlay, show_progress=show_progress, on_frame=on_frame,
        )  # fmt: skip
        window = _Window(window_name) if show else None
        start = time.perf_counter()
        try:
            run = _run_pipelined if pipelined else _run_sequential
            run(src, estimator, sink, every=every, max_frames=max_frames, upsample=upsample,
                queue_size=queue_size, window=window, workers=workers)  # fmt: skip
        except KeyboardInterrupt:
            summary.interrupted = True
        finally:
            summary.elapsed_s = time.perf_counter() - start
            summary.frames_read = src.frames_read
            if window is not None:
                window.close()
            sink.close()
        if summary.elapsed_s > 0:
            summary.fps = summary.frames_processed / summary.elapsed_s
    finally:
        if own:
            src.close()
    return summary


def _run_sequential(
    src: FrameSource, estimator: Any, sink: _Sink, *, every: int, max_frames: int | None, upsample: float,
    queue_size: int, window: _Window | None, workers: int = 1,
) -> None:  # fmt: skip
    """Decode, infer, draw and write one frame after the other in the calling thread."""
    for index, frame in iter_frames(src, max_frames=max_frames, every=every):
        sink.handle(index, frame, estimator.inference(frame, upsample=upsample))
        if window is not None and not window.show(sink.latest):
            return


def _run_pipelined(
    src: FrameSource, estimator: Any, sink: _Sink, *, every: int, max_frames: int | None, upsample: float,
    queue_size: int, window: _Window | None, workers: int = 1,
) -> None:  # fmt: skip
    """Decode thread -> queue -> network (calling thread, or ``workers`` threads) -> queue -> draw/write thread."""
    live = src.is_live
    frames: queue.Queue = queue.Queue(maxsize=1 if live else queue_size)
    results: queue.Queue = queue.Queue(maxsize=queue_size)
    stop = threading.Event()  # stop decoding
    abort = threading.Event()  # writer: drop what is queued and quit
    writer_error: list[BaseException] = []

    def decode() -> None:
        try:
            selected = 0
            while not stop.is_set():
                frame = src.read()
                if frame is None:
                    break
                index = src.frames_read - 1
                if index % every:
                    continue
                if live:
                    _put_latest(frames, (index, frame))
                else:
                    if not _put(frames, (index, frame), stop.is_set):
                        return
                    selected += 1
                    if max_frames is not None and selected >= max_frames:
                        break
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            _put(frames, _Failure(exc), stop.is_set)
            return
        _put(frames, _END, stop.is_set)

    def write() -> None:
        try:
            while True:
                item = results.get()
                if item is _END or abort.is_set():
                    return
                sink.handle(*item)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            writer_error.append(exc)

    infer = _Inference(estimator, workers, upsample)  # before any thread starts: replicas may fail
    decoder = threading.Thread(target=decode, name="posekit-decode", daemon=True)
    writer = threading.Thread(target=write, name="posekit-write", daemon=True)
    decoder.start()
    writer.start()
    writer_gone = lambda: bool(writer_error) or not writer.is_alive()  # noqa: E731
    drain = True  # on a normal end or Ctrl-C in this thread, write what is queued
    try:
        processed = 0
        while max_frames is None or processed < max_frames:
            item = _get(frames, decoder, writer_gone)
            if item is _END or writer_gone():
                break
            if isinstance(item, _Failure):
                raise item.exc
            index, frame = item
            done = infer.submit(index, frame)
            if done is not None and not _put(results, done, writer_gone):
                break
            processed += 1
            if window is not None and not window.show(sink.latest):
                break
        for done in infer.drain():
            if not _put(results, done, writer_gone):
                break
    except KeyboardInterrupt:
        for done in infer.drain():  # frames already in the network are written
            if not _put(results, done, writer_gone):
                break
        raise
    except BaseException:
        drain = False
        raise
    finally:
        infer.close()
        stop.set()
        if not drain:
            abort.set()
        _finish(writer, results, abort)
        decoder.join(timeout=5.0)
    if writer_error:
        raise writer_error[0]


class _Inference:
    """Runs ``estimator.inference`` on frames in order, on the calling thread or on ``workers`` replicas.

    ``submit`` returns the oldest finished (index, frame, result) once ``workers`` frames are in flight
    (None before); ``drain`` yields the rest in order.
    """

    def __init__(self, estimator: Any, workers: int, upsample: float) -> None:
        self.upsample = upsample
        self.workers = workers
        self.pending: collections.deque = collections.deque()
        self.pool = None
        if workers > 1:
            from concurrent.futures import ThreadPoolExecutor

            self.free: queue.Queue = queue.Queue()
            for _ in range(workers):
                self.free.put(estimator.replica(1))
            self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="posekit-infer")
        else:
            self.estimator = estimator

    def _run(self, frame: np.ndarray) -> Any:
        est = self.free.get()
        try:
            return est.inference(frame, upsample=self.upsample)
        finally:
            self.free.put(est)

    def submit(self, index: int, frame: np.ndarray) -> tuple | None:
        if self.pool is None:
            return index, frame, self.estimator.inference(frame, upsample=self.upsample)
        self.pending.append((index, frame, self.pool.submit(self._run, frame)))
        return self._pop() if len(self.pending) >= self.workers else None

    def _pop(self) -> tuple:
        index, frame, future = self.pending.popleft()
        return index, frame, future.result()

    def drain(self) -> Iterator[tuple]:
        while self.pending:
            yield self._pop()

    def close(self) -> None:
        if self.pool is not None:
            for _, _, future in self.pending:
                future.cancel()
            self.pending.clear()
            self.pool.shutdown(wait=True)


def _get(q: queue.Queue, producer: threading.Thread, give_up: Callable[[], bool]) -> object:
    """Get with a bounded wait; _END if the producer died without saying so or ``give_up()``."""
    while True:
        try:
            return q.get(timeout=_POLL_S)
        except queue.Empty:
            if give_up() or not producer.is_alive() and q.empty():
                return _END


def _finish(writer: threading.Thread, results: queue.Queue, abort: threading.Event) -> None:
    """Tell the writer thread to end and wait for it; a second Ctrl-C makes it drop its queue."""
    while writer.is_alive():
        try:
            if _put(results, _END, lambda: not writer.is_alive()):
                writer.join()
            return
        except KeyboardInterrupt:
            abort.set()
