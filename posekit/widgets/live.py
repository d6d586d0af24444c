"""Live views: ``LiveView`` (frames as they are processed, with Stop), ``VideoPlayer``, ``open_camera``."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from ..person import Person
from ._common import _count, _ipywidgets, _ui_event_poller, encode_image
from ._still import still_bundle


class LiveView:
    """Frames shown live in an ``ipywidgets.Image``, with a Stop button and a frame budget.

    Example:
        >>> view = LiveView(max_frames=100)
        >>> display(view)
        >>> view.run(iter_frames("clip.mp4"), lambda i, frame: annotate(frame))   # returns at once
        >>> view.join()                                                             # wait for the end

    ``run`` works through the frames in a background thread by default, so the notebook
    stays responsive and the Stop button is heard (a loop running inside a cell blocks the
    kernel from receiving button clicks until the cell ends).

    Args:
        max_frames: frame budget: stop after this many frames (None: no budget).
        width: display width in pixels.
        quality: JPEG quality of the displayed frames.

    Attributes:
        image: the ``ipywidgets.Image``; stop_button: the Stop ``ToggleButton`` (a click is
        final for the run: the button is disabled at once and a second click changes nothing);
        status: ``ipywidgets.HTML`` line under the image; ui: the whole ``VBox``.
        frames_shown: frames displayed so far; last_frame: the last BGR frame shown.
        stop_reason: None while running, then "button", "budget", "end" (a file or the frames
            ended), "stream_lost" (a camera or the browser's stream stopped delivering; the
            source's ``message`` says why, when it has one) or "error".
        error: the exception that ended the loop, if any.
        fps: frames per second achieved by the last ``run`` (display included).
        frames_skipped: frames of a live source that arrived while the network was busy with
            another, up to the last frame shown (frames read ahead after the end are not counted).
        frames: (frame_index, people) of every frame shown by ``run_video`` (tracked ids).
        last_source_frame: the last frame ``run_video`` processed, as decoded (not drawn on).
        source_frames: (frame_index, frame) of the last ``keep_frames`` frames ``run_video``
            processed, as decoded (BGR uint8, not drawn on); empty unless ``keep_frames`` was set.
        summary: the ``posekit.video.VideoSummary`` of the last ``run_video``.
    """

    def __init__(self, *, max_frames: int | None = None, width: int = 640, quality: int = 80) -> None:
        w = _ipywidgets()
        if max_frames is not None and int(max_frames) < 1:
            raise ValueError(f"max_frames must be >= 1 or None, got {max_frames}")
        self.max_frames = None if max_frames is None else int(max_frames)
        self.quality = int(quality)
        self.image = w.Image(format="jpeg", layout=w.Layout(width=f"{int(width)}px"))
        self.stop_button = w.ToggleButton(
            value=False,
            description="Stop",
            icon="stop",
            button_style="danger",
            tooltip="Stop the loop after the current frame",
        )
        self.status = w.HTML("ready")
        self.ui = w.VBox([w.HBox([self.stop_button, self.status]), self.image])
        self.ui.add_class("posekit-liveview")
        self.stop_button.add_class("posekit-stop")
        self.status.add_class("posekit-status")
        self.image.add_class("posekit-liveview-image")
        self.frames_shown = 0
        self.last_frame: np.ndarray | None = None
        self.stop_reason: str | None = None
        self.error: BaseException | None = None
        self.fps = 0.0
        self.frames: list[tuple[int, list[Person]]] = []
        self.last_source_frame: np.ndarray | None = None
        self.source_frames: deque[tuple[int, np.ndarray]] = deque(maxlen=0)
        self.summary = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._source = None
        self._every = 1
        self.stop_button.observe(self._on_stop_click, names="value")

    def _on_stop_click(self, change) -> None:
        """A click on Stop is final for this run: a second click (which un-toggles it) changes nothing."""
        if change["new"] and not self.stop_button.disabled:
            self._stop.set()
            self.stop_button.disabled = True
            self.stop_button.description = "Stopping"

    @property
    def stop_requested(self) -> bool:
        """True once the Stop button was pressed or ``stop()`` called (for the rest of the run)."""
        return self._stop.is_set()

    @property
    def frames_skipped(self) -> int:
        """Frames the source delivered before the last one shown that the network did not take (live)."""
        s = self.summary
        if s is None or not s.frame_indices:
            return 0
        return s.frame_indices[-1] // self._every + 1 - s.frames_processed

    @property
    def running(self) -> bool:
        """True while a background ``run`` is working."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        """Ask the loop to stop after the current frame (as the Stop button does)."""
        self._stop.set()
        self.stop_button.disabled = True

    def show(self, frame: np.ndarray, status: str | None = None) -> None:
        """Display one BGR uint8 frame (and optionally a status line)."""
        self.image.value = encode_image(frame, "jpeg", quality=self.quality)
        self.last_frame = frame
        self.frames_shown += 1
        if status is not None:
            self.status.value = status

    def run(
        self,
        frames: Iterable[np.ndarray],
        process: Callable[[int, np.ndarray], Any] | None = None,
        *,
        background: bool = True,
    ) -> None:
        """Show ``process(i, frame)`` for each frame until Stop, the budget or the end of the frames.

        Args:
            frames: BGR uint8 frames (e.g. ``posekit.video.iter_frames(...)``), or
                (index, frame) pairs.
            process: called with (frame index, frame); returns the BGR frame to show, or
                (frame, status text). None shows the frames as they are.
            background: work in a daemon thread and return at once (``join`` waits);
                False runs in the caller (the Stop button cannot be heard then).
        """
        if self.running:
            raise RuntimeError("this LiveView is already running; call stop() and join() first")
        self._reset()
        if background:
            self._thread = threading.Thread(target=self._loop, args=(frames, process), daemon=True)
            self._thread.start()
        else:
            self._loop(frames, process)

    def run_video(self, source, estimator, *, thread: bool = True, keep_frames: int = 0, **options) -> None:
        """Run ``posekit.video.process_video`` on a source and show every annotated frame live.

        Tracking, the FPS overlay and any outputs (``out=``, ``csv=``, ``json_dir=`` ...) are
        process_video's; this view adds the display, the Stop button (which ends the run
        like Ctrl-C, with every output file complete) and the frame budget (``max_frames``).

        Args:
            source: a video path, camera index, URL or open ``FrameSource`` (left open).
            estimator: a ``PoseEstimator``.
            thread: work in a daemon thread and return at once (``join`` waits); False
                runs in the caller (then the Stop button cannot be heard).
            keep_frames: keep the last this many source frames, as decoded, in
                ``source_frames`` (e.g. to run something else on a camera's frames after the live
                run, without waiting on the camera again); 0 keeps none. Each 640x480 frame
                holds 0.9 MB.
            **options: more ``process_video`` keyword arguments: ``out``, ``csv``,
                ``background=False`` (skeletons on black), ``side_by_side``, ``every`` ...
        """
        from ..video import FrameSource, open_source, process_video

        if self.running:
            raise RuntimeError("this LiveView is already running; call stop() and join() first")
        reopened = None
        if isinstance(source, FrameSource) and source.kind == "file" and source.frames_read > 0:
            # a file already played (e.g. the cell is run a second time): play it again from the start
            source = reopened = open_source(source.name)
        if "max_frames" in options:
            raise TypeError("set the frame budget with LiveView(max_frames=...)")
        if isinstance(keep_frames, bool) or not isinstance(keep_frames, (int, np.integer)) or keep_frames < 0:
            raise ValueError(f"keep_frames must be an integer >= 0, got {keep_frames!r}")
        self.frames = []
        self.source_frames = deque(maxlen=int(keep_frames))
        self.summary = None

        def on_frame(index, frame, result, drawn):
            if self.stop_requested:
                raise KeyboardInterrupt  # process_video stops as on Ctrl-C, outputs complete
            self.frames.append((index, list(result.people)))
            self.last_source_frame = frame
            self.source_frames.append((index, frame))
            n = len(result.people)
            self.show(
                drawn,
                f"frame {len(self.frames)}{budget}: {n} {'person' if n == 1 else 'people'}, "
                f"network {result.timings['network']:.0f} ms",
            )

        self._reset()
        self._source = source
        self._every = int(options.get("every", 1) or 1)
        budget = f"/{self.max_frames}" if self.max_frames is not None else ""

        def target():
            t0 = time.perf_counter()
            reason = "end"
            try:
                options.setdefault("show_progress", False)  # the view's status line says the progress
                self.summary = process_video(
                    source, estimator, max_frames=self.max_frames, on_frame=on_frame, **options
                )
                if self.summary.interrupted and self.stop_requested:
                    reason = "button"
                elif self.max_frames is not None and self.summary.frames_processed >= self.max_frames:
                    reason = "budget"
                elif self.summary.stop_reason == "stream_lost":
                    reason = "stream_lost"
            except Exception as exc:  # noqa: BLE001 - shown in the status line and kept in .error
                reason, self.error = "error", exc
            finally:
                if reopened is not None:
                    reopened.close()
            self._finish(reason, len(self.frames), time.perf_counter() - t0)

        if thread:
            self._thread = threading.Thread(target=target, daemon=True)
            self._thread.start()
        else:
            target()

    def _reset(self) -> None:
        """A new run: Stop enabled and un-pressed, no reason yet."""
        self.stop_button.disabled = True  # no click is taken as this run's while the button resets
        self.stop_button.value = False
        self._stop.clear()
        self.stop_button.description = "Stop"
        self.stop_button.disabled = False
        self.stop_reason = None
        self.error = None
        self._source = None

    def _finish(self, reason: str, shown: int, elapsed: float) -> None:
        self.fps = shown / elapsed if elapsed > 0 and shown else 0.0
        self.stop_reason = reason
        message = getattr(self._source, "message", None)
        why = {
            "button": "stopped by the Stop button",
            "budget": f"frame budget of {self.max_frames} reached",
            "end": "end of the frames",
            "stream_lost": f"the stream was lost ({message})" if message else "the stream was lost",
            "error": f"error: {self.error!r}",
        }[reason]
        if reason in ("end", "stream_lost") and shown == 0:
            why = (
                f"the source gave no frames{f' ({message})' if message else ''} (a camera closed "
                "with source.close()? re-run the cell that opens it)"
            )
        extra = ""
        if self._source is not None and getattr(self._source, "is_live", False) and self.frames_skipped:
            extra += f"; {_count(self.frames_skipped, 'frame')} skipped while the network was busy"
        bad = getattr(self._source, "undecodable", 0)
        if bad:
            extra += f"; {_count(bad, 'undecodable frame')} dropped"
        self.status.value = (
            f"done: {_count(shown, 'frame')} in {elapsed:.1f} s ({self.fps:.1f} FPS), {why}{extra}"
        )
        self.stop_button.disabled = True
        self.stop_button.description = "Stopped" if reason == "button" else "Stop"

    def _loop(self, frames, process) -> None:
        t0 = time.perf_counter()
        shown = 0
        reason = "end"
        try:
            for n, item in enumerate(frames):
                if self.stop_requested:
                    reason = "button"
                    break
                if self.max_frames is not None and shown >= self.max_frames:
                    reason = "budget"
                    break
                index, frame = item if isinstance(item, tuple) else (n, item)
                out = process(index, frame) if process is not None else frame
                status = None
                if isinstance(out, tuple):
                    out, status = out
                self.show(out, status)
                shown += 1
            else:
                if self.max_frames is not None and shown >= self.max_frames:
                    reason = "budget"
        except Exception as exc:  # noqa: BLE001 - reported in the status line and kept in .error
            reason = "error"
            self.error = exc
        self._finish(reason, shown, time.perf_counter() - t0)

    def join(self, timeout: float | None = None) -> str | None:
        """Wait for a background run to end; return ``stop_reason`` (None if still running).

        Inside a Jupyter kernel the wait keeps handling widget events (with ``jupyter_ui_poll``),
        so a click on Stop while a cell waits here ends the loop within a frame, and a
        ``BrowserCamera``'s frames keep arriving; a plain ``thread.join`` would keep the kernel
        busy and both unheard.

        Limitation: under Run All, only the first cell that waits this way hears widget
        messages. ``jupyter_ui_poll`` holds back the execute requests of the cells queued behind
        it and replays them when that cell ends; while a replayed cell waits, no widget message
        (a Stop click, a browser frame) reaches the kernel until it ends. So wait in one cell:
        open the source, ``run_video`` and ``join`` in the same cell (several waits one after
        another inside that cell are fine), and keep later cells from waiting on widgets;
        posekit's notebooks wait in one cell. Run cell by cell, every cell hears them.
        """
        if self._thread is None:
            return self.stop_reason
        deadline = None if timeout is None else time.monotonic() + float(timeout)
        poll_events = _ui_event_poller()
        if poll_events is None:
            self._thread.join(timeout)
            return self.stop_reason
        with poll_events() as poll:
            while self._thread.is_alive() and (deadline is None or time.monotonic() < deadline):
                poll(20)  # deliver pending comm messages (button clicks) to the widgets
                self._thread.join(0.02)
        return self.stop_reason

    def _repr_mimebundle_(self, **kwargs):
        return still_bundle(
            self.ui._repr_mimebundle_(**kwargs),
            self.image.value,
            "Live view: runs pose estimation on the camera or clip frame by frame and shows each frame with "
            "the people drawn, the frame rate and a Stop button",
        )


class VideoPlayer:
    """Play and scrub through frames already processed (e.g. annotated video frames).

    Args:
        frames: BGR uint8 frames, all the same size.
        fps: playback speed in frames per second.
        width: display width in pixels.
        captions: optional text per frame shown under the image.

    Attributes:
        slider: ``IntSlider`` of the frame index (set ``.value`` to jump); play: the
        ``Play`` widget linked to it; image: the ``Image`` shown; caption: ``HTML``;
        ui: the whole ``VBox``; current_index: the frame shown.
    """

    def __init__(
        self,
        frames: Sequence[np.ndarray],
        *,
        fps: float = 10.0,
        width: int = 640,
        captions: Sequence[str] | None = None,
        quality: int = 80,
    ) -> None:
        w = _ipywidgets()
        frames = list(frames)
        if not frames:
            raise ValueError("frames must hold at least one frame")
        if captions is not None and len(captions) != len(frames):
            raise ValueError(f"captions must have one entry per frame: {len(captions)} != {len(frames)}")
        self._jpegs = [encode_image(f, "jpeg", quality=quality) for f in frames]
        self._captions = list(captions) if captions is not None else None
        n = len(frames)
        self.play = w.Play(
            value=0, min=0, max=n - 1, step=1, interval=max(1, int(1000 / float(fps))), description="Play"
        )
        self.slider = w.IntSlider(
            value=0, min=0, max=n - 1, description="Frame", layout=w.Layout(width="500px")
        )
        w.jslink((self.play, "value"), (self.slider, "value"))
        self.image = w.Image(value=self._jpegs[0], format="jpeg", layout=w.Layout(width=f"{int(width)}px"))
        self.caption = w.HTML()
        self.ui = w.VBox([w.HBox([self.play, self.slider]), self.image, self.caption])
        self.current_index = -1
        self._show(0)
        self.slider.observe(lambda change: self._show(change["new"]), names="value")

    def __len__(self) -> int:
        return len(self._jpegs)

    def _show(self, i: int) -> None:
        i = int(i)
        self.image.value = self._jpegs[i]
        self.caption.value = self._captions[i] if self._captions else f"frame {i + 1} / {len(self._jpegs)}"
        self.current_index = i

    def _repr_mimebundle_(self, **kwargs):
        return still_bundle(
            self.ui._repr_mimebundle_(**kwargs),
            self.image.value,
            "Video player: a slider and play button to step through the processed frames",
        )


def open_camera(index: int = 0, *, size: tuple[int, int] | None = None, fallback=None):
    """Open a camera at a capture size, or a video file when no camera opens.

    Args:
        index: camera index (0 is the default webcam).
        size: (width, height) to ask the camera for (it may pick the nearest size it
            supports; the source's ``size`` says what it delivers), or None for its default.
        fallback: a video file to open instead when the camera cannot be opened, or None
            to raise.

    Returns:
        (source, message): an open ``posekit.video.FrameSource`` (``source.kind`` is
        "camera" or "file"), and None, or the message saying that the fallback is used.

    Raises:
        posekit.video.VideoError: no camera (and no fallback), or the fallback cannot be opened.
    """
    import sys
    from pathlib import Path

    import cv2

    from ..video.sources import FrameSource, VideoError, open_source

    index = int(index)
    try:
        if size is None:
            return open_source(index), None
        if sys.platform.startswith("linux") and not Path(f"/dev/video{index}").exists():
            raise VideoError(f"cannot open camera {index}: /dev/video{index} does not exist")
        cap = cv2.VideoCapture(index)
        if not cap.isOpened():
            cap.release()
            raise VideoError(f"cannot open camera {index}: no camera at this index, or it is in use")
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, int(size[0]))
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, int(size[1]))
        ok, frame = cap.read()
        if not ok or frame is None:
            cap.release()
            raise VideoError(f"cannot read from camera {index}: it opened but delivered no frame")
        return FrameSource(
            cap, name=f"camera {index}", kind="camera", stem=f"camera{index}", first_frame=frame
        ), None
    except VideoError:
        if fallback is None:
            raise
        p = Path(fallback)
        label = f"{p.parent.name}/{p.name}" if p.parent.name else p.name
        message = f"No camera could be opened (index {index}): running the same loop on {label} instead"
        return open_source(p), message
