"""``BrowserCamera``: the webcam next to the browser as a frame source for the kernel, wherever it runs.

``cv2.VideoCapture(0)`` opens the camera of the machine running the kernel. On JupyterHub, a
cloud VM or a container that machine has no camera; the learner's webcam sits next to the
browser. ``BrowserCamera`` is an anywidget: when displayed, its JavaScript asks the browser for
the camera (``getUserMedia``), draws each frame into a canvas, encodes it as JPEG and sends the
bytes to the kernel as a binary widget message. In Python it is a ``posekit.video.FrameSource``
(``kind="browser"``, live), so ``process_video``, ``LiveView.run_video`` and every output
(video, CSV, OpenPose JSON) take it as they take a file or a cv2 camera.

Back-pressure: the browser keeps at most one frame in flight. The kernel acknowledges a frame
when ``read`` takes it, and only then does the browser capture and send the next one, so a
slow network or a slow consumer never builds a queue: the kernel holds at most one frame.

The kernel receives the frames on its main thread (ipykernel handles widget messages there).
Read from another thread (``LiveView.run_video`` does) while the main thread waits in
``LiveView.join`` (which keeps handling widget messages), or read on the main thread: then
``read`` itself handles the widget messages while it waits (with ``jupyter_ui_poll``).
Under Run All only the first cell that waits this way hears the browser (see ``LiveView.join``),
so wait for the first frame, run and join in one cell, as notebook 30 does.

Privacy: the frames go from the browser to the learner's own kernel only and are kept in memory
one at a time; nothing is stored unless the caller writes it (e.g. ``process_video(out=...)``).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque

import numpy as np

from ..video.sources import FrameSource, VideoError
from ._still import still_bundle

log = logging.getLogger(__name__)

#: Undecodable frames in a row that end a live run (``end_reason="undecodable"``); fewer are dropped.
MAX_UNDECODABLE_IN_ROW = 25
_MAX_HEIGHT_PER_WIDTH = 4

_INSTALL_HINT = "BrowserCamera needs anywidget: pip install anywidget (or pip install 'posekit[notebooks]')"

# Why the camera ended, in one line each (``BrowserCamera.message``); keys are ``end_reason``.
_BROWSER_ERRORS = {
    "NotAllowedError": (
        "denied",
        "browser camera: permission denied; allow the camera for this page (icon in the address bar) "
        "and re-run the cell",
    ),
    "SecurityError": (
        "denied",
        "browser camera: the browser blocks the camera on this page (security policy)",
    ),
    "NotFoundError": ("no_camera", "browser camera: the browser found no camera"),
    "OverconstrainedError": ("no_camera", "browser camera: no camera of the browser fits the asked size"),
    "NotReadableError": (
        "no_camera",
        "browser camera: the camera is in use by another program or cannot be read",
    ),
    "insecure": (
        "insecure",
        "browser camera: this page is neither https nor localhost, so the browser offers no camera",
    ),
}

_ESM = r"""
function render({ model, el }) {
  const box = document.createElement("div");
  box.className = "posekit-camera";
  box.style.cssText = "display:flex;flex-direction:column;gap:4px;font:12px monospace";
  const video = document.createElement("video");
  video.muted = true; video.playsInline = true; video.autoplay = true;
  video.className = "posekit-camera-preview";
  video.style.cssText = "width:200px;background:#222;border-radius:3px";
  const line = document.createElement("div");
  line.className = "posekit-camera-status";
  line.textContent = "browser camera: asking for the camera...";
  box.append(video, line);
  el.append(box);

  const canvas = document.createElement("canvas");
  let stream = null, stopped = false, inFlight = false, timer = null, lastCapture = 0, sentAt = 0;
  const acks = [];  // times of the last acknowledgements, for the delivered frame rate
  let waitMs = 0, sent = 0;
  const say = (text) => { line.textContent = text; };
  const stopTracks = () => { if (stream) stream.getTracks().forEach((t) => t.stop()); stream = null; };
  const stop = (text) => {
    stopped = true; inFlight = false;
    if (timer) clearTimeout(timer);
    stopTracks(); video.srcObject = null;
    video.style.display = "none";  // no empty black box after a denied, missing or closed camera
    if (text) say(text);
  };
  const tell = (msg) => { try { model.send(msg); } catch (e) { /* the kernel is gone */ } };

  async function start() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      tell({ type: "error", name: "insecure", text: "navigator.mediaDevices is undefined" });
      stop("browser camera: not available on this page (needs https or localhost)");
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        video: { width: { ideal: model.get("width") }, frameRate: { ideal: model.get("fps") } },
        audio: false,
      });
    } catch (e) {
      tell({ type: "error", name: e.name || "Error", text: String(e.message || e) });
      stop("browser camera: " + (e.name || "error") + " " + (e.message || ""));
      return;
    }
    if (stopped) { stopTracks(); return; }
    const track = stream.getVideoTracks()[0];
    track.addEventListener("ended", () => {
      if (stopped) return;
      tell({ type: "ended", text: "the camera track ended" });
      stop("browser camera: ended");
    });
    video.srcObject = stream;
    try { await video.play(); } catch (e) { /* muted autoplay is allowed; frames still decode */ }
    tell({ type: "started", label: track.label || "camera" });
    say("browser camera: " + (track.label || "camera") + " on, waiting for the kernel");
    schedule();
  }

  function schedule() {
    if (stopped || inFlight || timer) return;
    const wait = Math.max(0, lastCapture + 1000 / Math.max(0.1, model.get("fps")) - performance.now());
    timer = setTimeout(capture, wait);
  }

  function capture() {
    timer = null;
    if (stopped || inFlight) return;
    if (!video.videoWidth) { timer = setTimeout(capture, 30); return; }
    const w = Math.min(model.get("width"), video.videoWidth);
    const h = Math.round((video.videoHeight * w) / video.videoWidth);
    canvas.width = w; canvas.height = h;
    canvas.getContext("2d").drawImage(video, 0, 0, w, h);
    lastCapture = performance.now();
    inFlight = true;  // at most one frame between the browser and the kernel
    canvas.toBlob(async (blob) => {
      if (stopped) return;
      if (!blob) { inFlight = false; schedule(); return; }
      const buf = await blob.arrayBuffer();
      if (stopped) return;
      sent += 1; sentAt = performance.now();
      try { model.send({ type: "frame", seq: sent, width: w, height: h }, undefined, [buf]); }
      catch (e) { stop("browser camera: the kernel is gone"); }
    }, "image/jpeg", model.get("quality"));
  }

  model.on("msg:custom", (msg) => {
    if (msg.type === "ack") {
      const now = performance.now();
      acks.push(now);
      while (acks.length > 1 && now - acks[0] > 2000) acks.shift();
      waitMs = now - sentAt;
      inFlight = false;
      const rate = acks.length > 1 ? (1000 * (acks.length - 1)) / (now - acks[0]) : 0;
      say(`browser camera ${canvas.width}x${canvas.height}: ${rate.toFixed(1)} fps delivered, ` +
          `${msg.frames} frames, ${waitMs.toFixed(0)} ms send to take`);
      schedule();
    } else if (msg.type === "stop" && !stopped) {  // already stopped: keep the line saying why
      stop("browser camera: off (" + (msg.text || "closed by the kernel") + ")");
    }
  });

  const bye = () => { if (!stopped) tell({ type: "ended", text: "the tab was closed" }); stop(); };
  window.addEventListener("pagehide", bye);
  start();
  return () => {
    window.removeEventListener("pagehide", bye);
    if (!stopped) tell({ type: "ended", text: "the camera view was removed" });
    stop();
  };
}
export default { render };
"""

_widget_cls = None


def _widget_class():
    """The anywidget class of the camera's front end (anywidget imported on first use)."""
    global _widget_cls
    if _widget_cls is None:
        try:
            import anywidget
            import traitlets
        except ImportError as exc:
            raise ImportError(_INSTALL_HINT) from exc

        class _CameraWidget(anywidget.AnyWidget):
            _esm = _ESM
            width = traitlets.Int(640).tag(sync=True)
            fps = traitlets.Float(15.0).tag(sync=True)
            quality = traitlets.Float(0.8).tag(sync=True)

        _widget_cls = _CameraWidget
    return _widget_cls


def declared_size(data: bytes | bytearray | memoryview) -> tuple[int, int] | None:
    """(width, height) declared by a JPEG's frame header (SOF) or a PNG's IHDR, not decoded; None if none.

    The header says how large an image the decoder will allocate: a 629-byte JPEG may declare
    30000x30000 pixels (2.7 GB as BGR), so its size is checked before ``cv2.imdecode`` sees it.
    """
    b = bytes(data[:65536]) if not isinstance(data, bytes) else data
    if b[:8] == b"\x89PNG\r\n\x1a\n" and len(b) >= 24 and b[12:16] == b"IHDR":
        return int.from_bytes(b[16:20], "big"), int.from_bytes(b[20:24], "big")
    if b[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 4 <= len(b):
        if b[i] != 0xFF:
            return None
        marker = b[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            i += 2
            continue
        length = int.from_bytes(b[i + 2 : i + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            if i + 9 > len(b):
                return None
            height = int.from_bytes(b[i + 5 : i + 7], "big")
            width = int.from_bytes(b[i + 7 : i + 9], "big")
            return width, height
        if marker in (0xDA, 0xD9) or length < 2:  # scan data or the end before any frame header
            return None
        i += 2 + length
    return None


def decode_jpeg(
    data: bytes | bytearray | memoryview, *, max_size: tuple[int, int] | None = None
) -> np.ndarray:
    """JPEG (or PNG) bytes from the browser as a BGR uint8 (H, W, 3) frame.

    Args:
        data: the encoded frame.
        max_size: (width, height) the frame may declare at most, checked in its header before
            anything is decoded; None checks nothing.

    Raises:
        ValueError: the bytes are not an image OpenCV can decode (says how many bytes and how they
            start), or their header declares a size over ``max_size`` (says both sizes).
    """
    import cv2

    buf = np.frombuffer(bytes(data), np.uint8)
    if max_size is not None and buf.size:
        size = declared_size(buf.tobytes())
        if size is None:
            raise ValueError(
                f"could not decode {buf.size} bytes from the browser as a JPEG image "
                f"(no frame header; they start with {bytes(buf[:8])!r})"
            )
        if size[0] > max_size[0] or size[1] > max_size[1] or 0 in size:
            raise ValueError(
                f"a browser frame of {buf.size} bytes declares {size[0]}x{size[1]} pixels, over the "
                f"{max_size[0]}x{max_size[1]} this camera sends at most: not decoded"
            )
    frame = cv2.imdecode(buf, cv2.IMREAD_COLOR) if buf.size else None
    if frame is None:
        raise ValueError(
            f"could not decode {buf.size} bytes from the browser as a JPEG image "
            f"(they start with {bytes(buf[:8])!r}; a JPEG starts with b'\\xff\\xd8')"
        )
    return frame


class FrameMailbox:
    """One slot between the widget's message handler (producer) and ``read`` (consumer), thread-safe.

    The producer ``put``s a frame's bytes; the consumer ``take``s it. Taking is what lets the
    browser send the next frame (the ack), so with a well-behaved browser the slot never holds
    more than one frame; a frame put while one is still waiting replaces it and counts as dropped.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._data: bytes | None = None
        self.ended: tuple[str, str] | None = None  # (end_reason, message) once the stream ended
        self.received = 0
        self.taken = 0
        self.dropped = 0

    @property
    def waiting(self) -> int:
        """Frames received and not yet taken: 0 or 1."""
        with self._cond:
            return int(self._data is not None)

    def put(self, data: bytes) -> None:
        """A frame's bytes arrived (replacing, and dropping, one not taken yet)."""
        with self._cond:
            if self.ended is not None:
                return
            if self._data is not None:
                self.dropped += 1
            self._data = bytes(data)
            self.received += 1
            self._cond.notify_all()

    def end(self, reason: str, message: str) -> None:
        """The stream ended (first call wins); wakes any waiting ``take``."""
        with self._cond:
            if self.ended is None:
                self.ended = (reason, message)
            self._cond.notify_all()

    def ready(self) -> bool:
        """True when ``take`` would return at once (a frame waits, or the stream ended)."""
        with self._cond:
            return self._data is not None or self.ended is not None

    def wait(self, timeout: float | None) -> bool:
        """Wait up to ``timeout`` s until ``ready()``; returns it."""
        with self._cond:
            return self._cond.wait_for(lambda: self._data is not None or self.ended is not None, timeout)

    def take(self, timeout: float | None) -> bytes | None:
        """The waiting frame's bytes (waiting up to ``timeout`` s); None when ended or timed out."""
        with self._cond:
            self._cond.wait_for(lambda: self._data is not None or self.ended is not None, timeout)
            if self._data is None:
                return None
            data, self._data = self._data, None
            self.taken += 1
            return data


class BrowserCamera(FrameSource):
    """The browser's webcam as a live ``FrameSource``: display it, then read BGR frames in the kernel.

    Example:
        >>> cam = BrowserCamera(width=640, fps=15)
        >>> display(cam)                        # the browser asks for the camera
        >>> cam.wait_for_frame(timeout=5)       # VideoError with one line if none comes
        >>> live.run_video(cam, estimator); live.join()
        >>> cam.close()                         # the camera light goes off

    Args:
        width: width of the frames sent (the camera's frames are scaled down to it, aspect kept).
        fps: most frames per second the browser sends (fewer when the kernel takes them slower).
        quality: JPEG quality in (0, 1].
        read_timeout_s: how long ``read`` waits for a frame before the stream counts as lost
            (``process_video`` ends with ``stop_reason="stream_lost"``).

    Attributes:
        widget: the anywidget shown (``_repr_mimebundle_`` shows it); name "browser camera";
        kind "browser"; stem "browser"; fps (the asked rate); size: (width, height) of the
        last frame read, (0, 0) before the first; frames_read.
        end_reason: None while streaming, then "denied", "no_camera", "insecure", "ended",
            "timeout", "no_frontend", "undecodable" (``MAX_UNDECODABLE_IN_ROW`` bad frames in a row)
            or "closed"; message: the one line saying why.
        undecodable: frames dropped because they could not be decoded or declared a size over
            ``max_frame_size`` (the run goes on; a warning is logged at the 1st, 10th, 100th ...);
            last_error: the last such frame's one line.
        device: the camera's label from the browser, once started.
    """

    def __init__(
        self, *, width: int = 640, fps: float = 15.0, quality: float = 0.8, read_timeout_s: float = 5.0
    ) -> None:
        if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or not 16 <= width <= 4096:
            raise ValueError(f"width must be an integer in 16..4096, got {width!r}")
        if not 0.1 <= float(fps) <= 120:
            raise ValueError(f"fps must be in 0.1..120, got {fps!r}")
        if not 0 < float(quality) <= 1:
            raise ValueError(f"quality must be in (0, 1], got {quality!r}")
        if not float(read_timeout_s) > 0:
            raise ValueError(f"read_timeout_s must be > 0, got {read_timeout_s!r}")
        # FrameSource.__init__ wraps a cv2 capture; this source sets the same attributes itself.
        self.name, self.kind, self.stem = "browser camera", "browser", "browser"
        self.fps: float | None = float(fps)
        self.frame_count: int | None = None
        self.size: tuple[int, int] = (0, 0)
        self.frames_read = 0
        self.read_timeout_s: float | None = float(read_timeout_s)
        self.device: str | None = None
        self.end_reason: str | None = None
        self.message: str | None = None
        self._pending: np.ndarray | None = None
        self._box = FrameMailbox()
        self._started_at: float | None = None
        self._answered = False  # any message from a browser view
        self._take_times: deque[float] = deque(maxlen=32)
        self.undecodable = 0  # frames dropped because they could not be decoded (or declared too large)
        self.last_error: str | None = None
        self._bad_in_row = 0
        self.widget = _widget_class()(width=int(width), fps=float(fps), quality=float(quality))
        self.widget.add_class("posekit-camera-widget")
        self.widget.on_msg(self._on_msg)

    # -- messages from the browser (the kernel's main thread) --
    def _on_msg(self, _widget, content, buffers) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        self._answered = True
        if kind == "frame":
            if buffers:
                self._box.put(bytes(buffers[0]))
        elif kind == "started":
            self.device = str(content.get("label") or "camera")
            self._started_at = time.monotonic()
        elif kind == "error":
            name = str(content.get("name") or "Error")
            reason, line = _BROWSER_ERRORS.get(
                name, ("error", f"browser camera: {name}: {content.get('text') or 'no detail'}")
            )
            self._end(reason, line)
        elif kind == "ended":
            why = str(content.get("text") or "the browser stopped the camera")
            self._end("ended", f"browser camera: {why} after {self.frames_read} frames")

    def _end(self, reason: str, message: str) -> None:
        self._box.end(reason, message)

    # -- the FrameSource interface --
    @property
    def delivered_fps(self) -> float:
        """Frames per second taken by ``read`` over the last (up to 32) frames: the end-to-end rate."""
        t = self._take_times
        return (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else 0.0

    @property
    def stats(self) -> dict[str, float | int]:
        """Counters: received, taken, dropped (replaced), undecodable; waiting (0 or 1); delivered fps."""
        b = self._box
        return {
            "received": b.received,
            "taken": b.taken,
            "dropped": b.dropped,
            "undecodable": self.undecodable,
            "waiting": b.waiting,
            "delivered_fps": round(self.delivered_fps, 2),
        }

    def read(self) -> np.ndarray | None:
        """The next frame, BGR uint8 (H, W, 3), or None when the stream ended or timed out (see ``message``).

        Waits up to ``read_timeout_s`` for a frame. Taking a frame lets the browser send the next.
        """
        if self._pending is not None:
            frame, self._pending = self._pending, None
        else:
            frame = self._next(self.read_timeout_s)
            if frame is None:
                return None
        self.frames_read += 1
        return frame

    def wait_for_frame(self, timeout: float = 5.0) -> BrowserCamera:
        """Wait until the first frame arrives (kept for the first ``read``); returns self.

        Under Run All, call it in the same cell as ``LiveView.join``: only the first cell that
        waits on widget messages hears them (see ``LiveView.join``).

        Raises:
            VideoError: one line saying why no frame came: permission denied, no camera, a page
                that is not https, or no browser answering within ``timeout`` s (no front end runs
                the widget, e.g. nbclient, or the camera was not displayed).
        """
        if self._pending is None and self.frames_read == 0:
            self._pending = self._next(float(timeout), first=True)
        if self._pending is None and self.frames_read == 0:
            raise VideoError(self.message or "browser camera: no frame")
        return self

    @property
    def max_frame_size(self) -> tuple[int, int]:
        """(width, height) a frame may declare at most: the widget's width, and 4x it in height.

        The browser scales the camera's frames down to the widget's width with their aspect kept; no
        camera is 4 times taller than wide (a phone held upright is 16:9), so anything larger is not
        a frame of this camera and is dropped before it is decoded.
        """
        w = int(self.widget.width)
        return w, _MAX_HEIGHT_PER_WIDTH * w

    def _next(self, timeout: float | None, *, first: bool = False) -> np.ndarray | None:
        """The next decodable frame within ``timeout`` s; undecodable ones are dropped and counted."""
        if self.end_reason is not None:
            return None
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            data = self._take(left)
            if data is None:
                self._lost(timeout, first=first)
                return None
            self._take_times.append(time.monotonic())
            self._send({"type": "ack", "frames": self._box.taken})  # the browser may send the next frame now
            try:
                frame = decode_jpeg(data, max_size=self.max_frame_size)
            except ValueError as exc:
                self._drop(exc)
                if self.end_reason is not None:
                    return None
                continue
            self._bad_in_row = 0
            self.size = (frame.shape[1], frame.shape[0])
            return frame

    def _drop(self, exc: ValueError) -> None:
        """Count one undecodable frame; say so at the 1st, 10th, 100th ...; end after too many in a row."""
        self.undecodable += 1
        self._bad_in_row += 1
        self.last_error = str(exc)
        n = self.undecodable
        if n == 10 ** int(np.log10(n)):
            log.warning("browser camera: %d undecodable frame%s dropped (last: %s)", n, "s" * (n > 1), exc)
        if self._bad_in_row >= MAX_UNDECODABLE_IN_ROW:
            self.end_reason = "undecodable"
            self.message = (
                f"browser camera: {self._bad_in_row} frames in a row could not be decoded after "
                f"{self.frames_read} good ones ({self.undecodable} dropped in all; last: {exc})"
            )
            self._box.end(self.end_reason, self.message)

    def _lost(self, timeout: float | None, *, first: bool) -> None:
        """No frame came: record why (the browser's reason, no front end, or a timeout)."""
        if self._box.ended is not None:
            self.end_reason, self.message = self._box.ended
        elif first and not self._answered:
            self.end_reason = "no_frontend"
            self.message = (
                f"browser camera: no browser answered within {timeout:g} s (no front end shows the "
                "widget here, e.g. nbclient or a console, or the camera was not displayed)"
            )
        elif first:
            self.end_reason = "timeout"
            self.message = (
                f"browser camera: no frame within {timeout:g} s (is the permission prompt still open?)"
            )
        else:
            self.end_reason = "timeout"
            self.message = (
                f"browser camera: no frame for {timeout:.1f} s after {self.frames_read} frames "
                "(the tab was closed, the browser slept or the connection dropped)"
            )
        self._box.end(self.end_reason, self.message)

    def _take(self, timeout: float | None) -> bytes | None:
        """The mailbox's next frame; on the kernel's main thread, handling widget messages meanwhile."""
        from ._common import _ui_event_poller

        poller = _ui_event_poller() if threading.current_thread() is threading.main_thread() else None
        if poller is None:
            return self._box.take(timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        with poller() as poll:
            while not self._box.ready() and (deadline is None or time.monotonic() < deadline):
                poll(10)  # deliver the browser's messages waiting in the kernel's queue
                self._box.wait(0.02)
        return self._box.take(0)

    def _send(self, content: dict) -> None:
        with contextlib.suppress(Exception):  # a closed widget: the browser is gone, reads time out
            self.widget.send(content)

    def close(self) -> None:
        """Stop the browser's camera (its light goes off) and end the stream; safe to call twice."""
        if self.end_reason is None:
            self.end_reason = "closed"
            self.message = f"browser camera: closed after {self.frames_read} frames"
            self._box.end(self.end_reason, self.message)
        self._pending = None
        self._send({"type": "stop", "text": self.message})

    def _repr_mimebundle_(self, **kwargs):
        return still_bundle(
            self.widget._repr_mimebundle_(**kwargs),
            None,
            "Browser camera: asks the browser for the camera and streams its frames to the kernel",
        )

    def __repr__(self) -> str:
        state = self.end_reason or ("streaming" if self.frames_read else "waiting")
        return f"BrowserCamera(size={self.size}, fps={self.fps}, frames_read={self.frames_read}, {state})"
