"""The video pipeline: ``process_video`` with its decode, network and draw/write threads.

Every frame here is **BGR uint8 (H, W, 3)**, as OpenCV decodes it, and keypoints are (x, y) in
that frame's pixels. Frame indices are 0-based positions of frames in the source.

By default decoding and drawing/writing run in their own threads, joined to the network (in the
calling thread) by bounded queues, so the frame rate is set by the network alone.

How a run ends is ``VideoSummary.stop_reason`` (``STOP_REASONS``):

* ``"end"``: a file ended; ``"max_frames"``: the frame budget was reached;
* ``"stream_lost"``: a camera or stream stopped delivering frames (closed, or no frame within
  its ``read_timeout_s``);
* ``"window_closed"``: q, Esc or closing the window (``show=True``);
* ``"interrupted"``: ``KeyboardInterrupt`` (Ctrl-C, the CLI's SIGTERM handler, or raised by
  ``on_frame``);
* ``"output_error"`` and ``"error"``: set on the summary carried by the exception raised.

The interrupt contract: on ``KeyboardInterrupt`` ``process_video`` stops reading, writes the
frames already through the network, closes the video (a playable file), the CSV and the COCO
file, then **returns** the summary with ``stop_reason == "interrupted"`` (``summary.interrupted``
is True); it does not re-raise. A caller that must stop too (a command exiting 130 / 143, a loop
over files) checks it. A second interrupt while finishing drops the frames still queued; the
files are closed all the same. Any other exception closes every output the same way and is
re-raised; a write that fails (disk full) raises ``OutputError`` once the files are finalised.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import cv2
import numpy as np

from ..draw import VIDEO_SPEC, DrawingSpec
from ..preprocess import DEFAULT_UPSAMPLE
from ._sink import OnFrame, PathLike, _Sink, _WriteFailed
from .sources import (
    FrameSource,
    VideoError,
    check_every,
    check_max_frames,
    check_video_path,
    has_gui,
    open_source,
    output_fps,
    selected_frames,
)
from .summary import STOP_REASONS, OutputError, VideoSummary

__all__ = ["STOP_REASONS", "OutputError", "VideoSummary", "process_video"]

log = logging.getLogger(__name__)


class _State:
    """What the threads of one run share: the interrupts seen (a second one drops queued frames)."""

    def __init__(self) -> None:
        self.interrupts = 0
        self.abort = threading.Event()  # writer: drop what is queued and quit

    def interrupted(self) -> None:
        self.interrupts += 1
        if self.interrupts > 1:
            self.abort.set()


def _wait(done: threading.Event, state: _State) -> None:
    """Wait until ``done`` is set, counting the interrupts meanwhile.

    An Event, not ``Thread.join``: on Python 3.11 a join cut short by Ctrl-C marks the thread
    as stopped although it still runs (bpo-45274's fix releases its lock).
    """
    while not done.is_set():
        try:
            done.wait(_POLL_S)
        except KeyboardInterrupt:
            state.interrupted()


def _shielded(fn: Callable[[], Any], state: _State) -> Any:
    """Run ``fn`` in a helper thread so that Ctrl-C cannot cut it short; interrupts are counted."""
    box: dict[str, Any] = {}
    done = threading.Event()

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=target, name="posekit-finish", daemon=True).start()
    _wait(done, state)
    if "error" in box:
        raise box["error"]
    return box.get("value")


def process_video(
    source: int | PathLike | FrameSource,
    estimator: Any,
    *,
    out: PathLike | None = None,
    json_dir: PathLike | None = None,
    coco: PathLike | None = None,
    csv: PathLike | None = None,
    tracker: Any = True,
    drawing: DrawingSpec = VIDEO_SPEC,
    background: bool | None = None,
    side_by_side: bool = False,
    fps_overlay: bool = True,
    max_frames: int | None = None,
    every: int = 1,
    upsample: float = DEFAULT_UPSAMPLE,
    out_fps: float | None = None,
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
    ``<stem>_<frame:012d>_keypoints.json`` OpenPose file, CSV rows and COCO results. Every
    file is complete whatever ends the run (see the module docstring for the interrupt
    contract and ``STOP_REASONS``).

    With ``pipelined=True`` (default) a decode thread, the network (in the calling
    thread) and a draw/write thread run concurrently, linked by queues of
    ``queue_size`` frames, so the loop runs as fast as the network alone. For live
    sources (camera, stream) the decode thread keeps only the newest frame, so the
    output follows the scene in real time and skipped frames are dropped.

    Args:
        source: camera index, stream URL, video path, or an open ``FrameSource`` (left open).
        estimator: a ``PoseEstimator`` (anything with ``inference(bgr, upsample=...)``).
        out: annotated video to write (``.mp4``; see ``VideoWriter`` for the fallback).
        json_dir: folder for per-frame OpenPose JSON files (with ``person_id``).
        coco: COCO keypoint results file for the whole video; ``image_id`` is the frame
            index, ``category_id`` 1, 17 keypoints in COCO order (see ``posekit.export``).
            Written frame by frame to ``<coco>.partial.jsonl`` and assembled at the end.
        csv: CSV file with columns frame, person_id, part, x, y, score.
        tracker: a ``posekit.video.track.Tracker`` giving people persistent ids (and One-Euro
            filtering if it has ``one_euro``); True: ``Tracker()``; None or False: no
            tracking (person_id -1). A tracker without ``fps`` uses the source's.
        drawing: how people are drawn (``posekit.draw.DrawingSpec``; ``VIDEO_SPEC``).
        background: ``drawing.background``: skeletons on the frame (True) or on black (False).
        side_by_side: write original | skeleton-on-black frames, twice as wide.
        fps_overlay: write the measured FPS on each output frame from the second on (a rate needs two).
        max_frames: stop after processing this many frames (None: the whole source).
        every: process only frames 0, every, 2 * every, ... of the source.
        upsample: passed to ``estimator.inference``.
        out_fps: frame rate of the written video; None: ``posekit.video.sources.output_fps`` (source
            fps / every for files, ``LIVE_OUT_FPS`` for live sources).
        show_progress: a tqdm progress bar on stderr; None: only when stderr is a terminal.
        show: show the annotated frames in an OpenCV window (needs an OpenCV build with
            GUI support; q or Esc stops).
        window_name: title of that window.
        pipelined: overlap decoding, the network and writing in threads (False: one thread).
        queue_size: frames held by each queue between threads.
        workers: frames in the network at once (pipelined only). With more than 1, each worker is a
            single-threaded replica of the estimator (``PoseEstimator.replica``) and frames stay in
            order; it pays off only with cores to spare (``benchmarks/bench_video.py`` measures it).
        on_frame: ``on_frame(frame_index, frame_bgr, result, drawn_bgr)`` after each frame is
            written (from the writer thread when pipelined); ``result.people`` carry the
            tracked ids. Raising ``KeyboardInterrupt`` there stops the run like Ctrl-C.

    Returns:
        A ``VideoSummary``; ``stop_reason`` says why the run ended (``"interrupted"`` on Ctrl-C).

    Raises:
        OutputError: an output could not be written (disk full: the outputs are finalised
            with the frames written so far; ``.summary`` holds the run's summary).
        VideoError: the source cannot be opened, or the video cannot be written.
        ValueError: bad ``every``, ``max_frames``, ``out`` suffix, ``out_fps`` or ``queue_size``.
    """
    every = check_every(every)
    max_frames = check_max_frames(max_frames)
    if queue_size < 1:
        raise ValueError(f"queue_size must be >= 1, got {queue_size}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    if out is not None:
        check_video_path(out)
    if show and not has_gui():
        raise VideoError(
            "cannot show a window: this OpenCV build has no GUI support (opencv-python-headless)"
        )
    if tracker is True:
        from .track import Tracker

        tracker = Tracker()
    elif tracker is False:
        tracker = None
    if background is not None:
        drawing = dataclasses.replace(drawing, background=background)

    own = not isinstance(source, FrameSource)
    src: FrameSource = open_source(source) if own else source  # type: ignore[arg-type]
    summary = VideoSummary(source=src.name)
    state = _State()
    try:
        if out_fps is None:
            out_fps = output_fps(src.fps, every, live=src.is_live)
        total = selected_frames(src.frame_count, every, max_frames, start=src.frames_read)
        sink = _Sink(
            summary, stem=src.stem, total=total, out=out, out_fps=out_fps, json_dir=json_dir, coco=coco,
            csv=csv, tracker=tracker, source_fps=src.fps or 30.0, spec=drawing, side_by_side=side_by_side,
            fps_overlay=fps_overlay, show_progress=show_progress, on_frame=on_frame,
        )  # fmt: skip
        window = _Window(window_name) if show else None
        start = time.perf_counter()
        failure: BaseException | None = None
        try:
            run = _run_pipelined if pipelined else _run_sequential
            summary.stop_reason = run(
                src, estimator, sink, state, every=every, max_frames=max_frames, upsample=upsample,
                queue_size=queue_size, window=window, workers=workers,
            )  # fmt: skip
        except KeyboardInterrupt:
            state.interrupted()
        except _WriteFailed as exc:
            failure = exc
            summary.stop_reason = "output_error"
        except BaseException as exc:
            failure = exc
            summary.stop_reason = "error"
        finally:
            summary.elapsed_s = time.perf_counter() - start
            summary.frames_read = src.frames_read
            if window is not None:
                window.close()
            errors = _shielded(sink.close, state)
        if state.interrupts and failure is None:
            summary.stop_reason = "interrupted"
        if summary.elapsed_s > 0:
            summary.fps = summary.frames_processed / summary.elapsed_s
        if failure is None and errors:
            failure = errors[0]
            summary.stop_reason = "output_error" if isinstance(failure, _WriteFailed) else "error"
        if isinstance(failure, _WriteFailed):
            raise OutputError(_failure_message(failure, summary), summary) from failure.cause
        if failure is not None:
            raise failure
    finally:
        if own:
            src.close()
    return summary


def _failure_message(failure: _WriteFailed, summary: VideoSummary) -> str:
    """One line: what failed, at which frame, and what was kept."""
    what = "disk full" if failure.disk_full else f"cannot write ({failure.cause})"
    where = f"frame {failure.index} of {failure.what}" if failure.index >= 0 else str(failure.what)
    detail = f" ({failure.detail})" if failure.detail else ""
    kept = summary.frames_processed
    return f"{what} while writing {where}{detail}: {kept} frame{'s' * (kept != 1)} kept"


def _run_sequential(
    src: FrameSource, estimator: Any, sink: _Sink, state: _State, *, every: int, max_frames: int | None,
    upsample: float, queue_size: int, window: _Window | None, workers: int = 1,
) -> str:  # fmt: skip
    """Decode, infer, draw and write one frame after the other in this thread; returns the stop reason."""
    processed = 0
    while max_frames is None or processed < max_frames:
        frame = src.read()
        if frame is None:
            return "stream_lost" if src.is_live else "end"
        index = src.frames_read - 1
        if index % every:
            continue
        sink.handle(index, frame, estimator.inference(frame, upsample=upsample))
        processed += 1
        if window is not None and not window.show(sink.latest):
            return "window_closed"
    return "max_frames"


def _run_pipelined(
    src: FrameSource, estimator: Any, sink: _Sink, state: _State, *, every: int, max_frames: int | None,
    upsample: float, queue_size: int, window: _Window | None, workers: int = 1,
) -> str:  # fmt: skip
    """Decode thread -> queue -> network (this thread, or ``workers`` threads) -> queue -> draw/write thread.

    Returns the stop reason.
    """
    live = src.is_live
    frames: queue.Queue = queue.Queue(maxsize=1 if live else queue_size)
    results: queue.Queue = queue.Queue(maxsize=queue_size)
    stop = threading.Event()  # stop decoding
    writer_error: list[BaseException] = []
    writer_done = threading.Event()

    def decode() -> None:
        try:
            selected = 0
            while not stop.is_set():
                frame = src.read()
                if frame is None:
                    _put(frames, _LOST if live else _END, stop.is_set)
                    return
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
                if item is _END or state.abort.is_set():
                    return
                sink.handle(*item)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            writer_error.append(exc)
        finally:
            writer_done.set()

    infer = _Inference(estimator, workers, upsample)  # before any thread starts: replicas may fail
    decoder = threading.Thread(target=decode, name="posekit-decode", daemon=True)
    writer = threading.Thread(target=write, name="posekit-write", daemon=True)
    decoder.start()
    writer.start()
    writer_gone = lambda: bool(writer_error) or writer_done.is_set()  # noqa: E731
    stall_s = src.read_timeout_s if live else None
    reason = "end"
    try:
        processed = 0
        reason = "max_frames"
        while max_frames is None or processed < max_frames:
            item = _get(frames, decoder, writer_gone, stall_s)
            if item is _END or item is _LOST or writer_gone():
                reason = "stream_lost" if item is _LOST else "end"
                break
            if isinstance(item, _Failure):
                raise item.exc
            index, frame = item
            done = infer.submit(index, frame)
            if done is not None and not _put(results, done, writer_gone):
                break
            processed += 1
            if window is not None and not window.show(sink.latest):
                reason = "window_closed"
                break
        stop.set()
        for done in infer.drain():
            if not _put(results, done, writer_gone):
                break
    except KeyboardInterrupt:
        state.interrupted()
        stop.set()
        reason = "interrupted"
        try:
            for done in infer.drain():  # frames already in the network are written
                if not _put(results, done, writer_gone):
                    break
        except KeyboardInterrupt:
            state.interrupted()  # a second Ctrl-C: what is still queued is dropped
    finally:  # on any end, error included, the frames already through the network are written
        stop.set()
        _shielded(infer.close, state)
        _finish(writer_done, results, state)
        # A decoder blocked in a live source's read (a stalled stream, a browser camera waiting for its
        # next frame) is a daemon that ends with that read; waiting for it would only delay the stop.
        # FrameSource.close() never releases a capture under a read in progress.
        decoder.join(timeout=0.25)
    if writer_error:
        raise writer_error[0]
    return reason


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


class _Failure:
    """An exception raised in a worker thread, passed to the main thread."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


_END = object()  # the source ended (or the frame budget was read)
_LOST = object()  # a live source stopped delivering
_POLL_S = 0.05


def _get(
    q: queue.Queue, producer: threading.Thread, give_up: Callable[[], bool], stall_s: float | None = None
) -> object:
    """Get with a bounded wait: _END if the producer died or ``give_up()``; _LOST after ``stall_s`` s."""
    start = time.monotonic()
    while True:
        try:
            return q.get(timeout=_POLL_S)
        except queue.Empty:
            if give_up() or not producer.is_alive() and q.empty():
                return _END
            if stall_s is not None and time.monotonic() - start > stall_s:
                log.warning("no frame for %.1f s: the stream stalled", stall_s)
                return _LOST


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


def _finish(writer_done: threading.Event, results: queue.Queue, state: _State) -> None:
    """Tell the writer thread to end and wait for it, whatever Ctrl-C does meanwhile.

    An interrupt here is counted (the run ends as interrupted); the frames already queued are
    still written unless it is the second one, which makes the writer drop them.
    """
    gone = lambda: writer_done.is_set() or state.abort.is_set()  # noqa: E731
    sent = False
    while not writer_done.is_set():
        try:
            sent = sent or _put(results, _END, gone)
            writer_done.wait(_POLL_S)
        except KeyboardInterrupt:
            state.interrupted()


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
        return not (self.opened and cv2.getWindowProperty(self.name, cv2.WND_PROP_VISIBLE) < 1)

    def close(self) -> None:
        if self.opened:
            with contextlib.suppress(cv2.error):
                cv2.destroyWindow(self.name)
                cv2.waitKey(1)
