"""Video: frame sources, the video writer and FPS metering.

Every frame here is **BGR uint8 (H, W, 3)**, as OpenCV decodes it, and keypoints are
(x, y) in that frame's pixels.

* ``open_source(src)`` opens a video file, a camera index (``0`` or ``"0"``) or a stream
  URL (``rtsp://``, ``http://``, ...) and fails fast with a ``VideoError`` (an
  ``OSError``) whose message says what is wrong: missing file, not a video, no camera.
* ``iter_frames(src, max_frames, every)`` yields ``(frame_index, frame)`` pairs.
* ``VideoWriter`` writes mp4 (``mp4v``) and falls back to MJPG ``.avi`` when the mp4
  writer cannot be opened; ``output_fps`` is the frame rate it is given by default.
* ``FpsMeter`` measures the frame rate over the last frames.

The video pipeline, ``process_video`` (decoding, the network, tracking, drawing and writing
in threads), is in ``posekit.video.pipeline``; drawing a frame is ``posekit.draw.compose_frame``.

Frame indices are 0-based positions of frames in the source; with ``every=N`` only
frames 0, N, 2N, ... are processed and written.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import stat
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Union

import cv2
import numpy as np

from ..preprocess import as_bgr

__all__ = [
    "VideoError",
    "FrameSource",
    "open_source",
    "iter_frames",
    "selected_frames",
    "check_every",
    "check_max_frames",
    "VideoWriter",
    "output_fps",
    "LIVE_OUT_FPS",
    "VIDEO_SUFFIXES",
    "IMAGE_SUFFIXES",
    "check_video_path",
    "special_file_kind",
    "special_file_error",
    "FpsMeter",
    "has_gui",
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
#: File suffixes of still images (refused as video sources; read as images by ``posekit batch``).
IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm"}
)
_URL_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://", "srt://")


_CAMERA_TIMEOUT_S = 5.0  #: a camera that delivers no frame for this long counts as lost
_MAX_WRITER_FPS = 1000.0  #: cv2.VideoWriter hangs on absurd frame rates (inf, nan, 1e9)
#: Frame rate of a video written from a live source, or from a file that does not say its rate (about
#: what the network reaches on a CPU).
LIVE_OUT_FPS = 10.0


class VideoError(OSError):
    """A video source that cannot be opened or read, or an output that cannot be written."""


def special_file_kind(path: PathLike) -> str | None:
    """What ``path`` is when it exists but is neither a regular file nor a folder ("a FIFO", ...), else None.

    Opening a FIFO blocks until a writer appears and a device reads forever, so only regular files
    are read as images or videos (``posekit image``/``video``/``batch``); symlinks are followed.
    """
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None  # missing or unreadable: the reader says so
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    kinds = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))  # fmt: skip
    return next((name for test, name in kinds if test(mode)), "a special file")


def special_file_error(path: PathLike, name: str | None = None) -> str | None:
    """The one-line refusal of ``path`` when ``special_file_kind`` finds it special, else None.

    E.g. ``cannot read in.mp4: it is a FIFO (named pipe), not a regular file``; ``name`` (default: the
    path) is how the message names it.
    """
    kind = special_file_kind(path)
    return None if kind is None else f"cannot read {name or path}: it is {kind}, not a regular file"


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
        read_timeout_s: for live sources, how long a frame may take before the source counts as
            lost (``process_video`` ends with ``stop_reason="stream_lost"``); None for files.
    """

    def __init__(
        self,
        capture: Any,
        *,
        name: str,
        kind: str,
        stem: str,
        first_frame: np.ndarray,
        read_timeout_s: float | None = None,
    ) -> None:
        self._cap = capture
        self._reading = False
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
        self.read_timeout_s = read_timeout_s if kind != "file" else None

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
            self._reading = True
            try:
                ok, frame = self._cap.read()
            finally:
                self._reading = False
            if not ok or frame is None:
                return None
            frame = _as_bgr(frame)
        self.frames_read += 1
        return frame

    def __iter__(self) -> Iterator[np.ndarray]:
        while (frame := self.read()) is not None:
            yield frame

    def close(self) -> None:
        """Release the capture (safe to call twice).

        A capture still blocked in ``read`` in another thread (a stalled stream) is not released
        under it, which could crash OpenCV; it is dropped and freed when that read returns.
        """
        if self._cap is not None:
            if self._reading:
                log.warning("%s: a read is still blocked; the capture is left to be freed later", self.name)
            else:
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
    if isinstance(frame, np.ndarray) and frame.dtype.kind in "ui" and frame.dtype != np.uint8:
        frame = cv2.convertScaleAbs(frame, alpha=255.0 / max(1.0, float(np.iinfo(frame.dtype).max)))
    return as_bgr(frame, "frame")


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
        timeout_s: how long a stream may take to open and to deliver a frame, then to deliver
            each next frame (FFmpeg's read timeout; ``FrameSource.read_timeout_s``).

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
    return FrameSource(
        cap, name=name, kind="camera", stem=f"camera{index}", first_frame=_as_bgr(frame),
        read_timeout_s=_CAMERA_TIMEOUT_S,
    )  # fmt: skip


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
    return FrameSource(
        cap, name=url, kind="stream", stem="stream", first_frame=_as_bgr(frame), read_timeout_s=timeout_s
    )


def _open_file(path: Path) -> FrameSource:
    if not path.exists():
        raise VideoError(f"video file not found: {path}")
    if path.is_dir():
        raise VideoError(f"{path} is a directory, not a video file")
    problem = special_file_error(path)
    if problem is not None:
        raise VideoError(problem)
    if path.suffix.lower() in IMAGE_SUFFIXES:
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
    every = check_every(every)
    max_frames = check_max_frames(max_frames)
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


def selected_frames(
    frame_count: int | None, every: int = 1, max_frames: int | None = None, *, start: int = 0
) -> int | None:
    """How many frames ``iter_frames(every=every, max_frames=max_frames)`` yields from a video.

    Args:
        frame_count: the frames the video says it has (``FrameSource.frame_count``; None: unknown).
        every: one frame in ``every`` is yielded (indices 0, every, ...).
        max_frames: the budget (None: none).
        start: frames already read from the source (``FrameSource.frames_read``).

    Returns:
        The number, or None when neither the count nor a budget is known.
    """
    total = None if frame_count is None else max(0, -(-frame_count // every) - -(-start // every))
    if max_frames is not None:
        total = max_frames if total is None else min(total, max_frames)
    return total


def check_every(every: int) -> int:
    """``every`` as an int, or ValueError naming it (an integer >= 1)."""
    if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
        raise ValueError(f"every must be an integer >= 1, got {every!r}")
    return int(every)


def check_max_frames(max_frames: int | None) -> int | None:
    """``max_frames`` as an int or None, or ValueError naming it (an integer >= 1 or None)."""
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


def output_fps(source_fps: float | None, every: int = 1, *, live: bool = False) -> float:
    """The frame rate of a video written from every ``every``-th frame of a source.

    Args:
        source_fps: the source's frame rate (``FrameSource.fps``; None or 0: unknown).
        every: one frame in ``every`` is written.
        live: a camera or stream, whose frames are written as fast as they come.

    Returns:
        ``source_fps / every`` for a file that says its rate, else ``LIVE_OUT_FPS``.
    """
    return source_fps / every if source_fps and not live else LIVE_OUT_FPS


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
        ValueError: unknown suffix, or fps not a finite number in (0, 1000].
    """

    def __init__(self, path: PathLike, fps: float, *, fourcc: str | None = None) -> None:
        self.requested_path = check_video_path(path)
        ok = isinstance(fps, (int, float, np.integer, np.floating)) and not isinstance(fps, bool)
        if not ok or not math.isfinite(fps) or not 0 < fps <= _MAX_WRITER_FPS:
            raise ValueError(f"fps must be a finite number in (0, {_MAX_WRITER_FPS:g}], got {fps!r}")
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
        """Append one BGR uint8 (H, W, 3) frame (gray or BGRA is converted); all of the first frame's size."""
        if self._closed:
            raise ValueError(f"VideoWriter for {self.path} is closed")
        frame = as_bgr(frame, "frame")
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


# --------------------------------------------------------------------------- metering and windows


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


def has_gui() -> bool:
    """Whether this OpenCV build can open windows (``opencv-python-headless`` cannot)."""
    for line in cv2.getBuildInformation().splitlines():
        key, _, value = line.strip().partition(":")
        if key.strip() == "GUI":
            return value.strip().upper() not in ("", "NONE", "NO")
    return False
