"""BrowserCamera without a browser: JPEG decoding, the one-frame mailbox, acks, timeouts, errors, close.

A fake browser plays the JavaScript's part: it sends a frame, then the next one only after the
kernel's ack (as the widget's ``_esm`` does), or misbehaves (sends without waiting) to show the
kernel still never holds more than one frame.
"""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest

pytest.importorskip("anywidget")

from posekit.video import FrameSource, VideoError  # noqa: E402
from posekit.video.pipeline import process_video  # noqa: E402
from posekit.widgets import BrowserCamera  # noqa: E402
from posekit.widgets.camera import (  # noqa: E402
    MAX_UNDECODABLE_IN_ROW,
    FrameMailbox,
    declared_size,
    decode_jpeg,
)


def _jpeg(frame: np.ndarray, quality: int = 95) -> bytes:
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


def _frame(value: int, size=(64, 48)) -> np.ndarray:
    """A BGR frame of one flat colour whose blue channel encodes ``value`` (survives JPEG)."""
    f = np.zeros((size[1], size[0], 3), np.uint8)
    f[..., 0] = value
    f[..., 1] = 40
    f[..., 2] = 200
    return f


class FakeBrowser:
    """Records what the kernel sends to the widget, and sends frames like the widget's JavaScript."""

    def __init__(self, cam: BrowserCamera) -> None:
        self.cam = cam
        self.sent_to_browser: list[dict] = []
        self.acked = threading.Event()
        self.acked.set()  # nothing in flight at the start
        cam.widget.send = self._receive  # the kernel -> browser direction

    def _receive(self, content, buffers=None):
        self.sent_to_browser.append(content)
        if content.get("type") == "ack":
            self.acked.set()

    def send_frame(self, frame: np.ndarray) -> None:
        self.acked.clear()
        self.cam._on_msg(
            self.cam.widget, {"type": "frame", "width": frame.shape[1]}, [memoryview(_jpeg(frame))]
        )

    def message(self, **content) -> None:
        self.cam._on_msg(self.cam.widget, content, [])

    @property
    def acks(self) -> int:
        return sum(m.get("type") == "ack" for m in self.sent_to_browser)


# -- decoding --


def test_decode_jpeg_gives_bgr_uint8_of_the_sent_colours():
    frame = _frame(90, size=(40, 30))
    out = decode_jpeg(_jpeg(frame))
    assert out.dtype == np.uint8 and out.shape == (30, 40, 3)
    assert np.abs(out.astype(int) - frame.astype(int)).max() <= 3  # BGR order kept: red stays in channel 2
    assert out[..., 2].mean() > 190 and out[..., 0].mean() < 100


@pytest.mark.parametrize("data", [b"", b"not a jpeg at all", b"\xff\xd8\xff\xe0 truncated"])
def test_decode_jpeg_refuses_bad_bytes_with_a_clear_error(data):
    with pytest.raises(ValueError, match=rf"could not decode {len(data)} bytes from the browser as a JPEG"):
        decode_jpeg(data)


def _huge_header_jpeg(width: int = 30000, height: int = 30000) -> bytes:
    """A 16x16 JPEG whose frame header (SOF0) says ``width`` x ``height``: a decompression bomb."""
    data = bytearray(_jpeg(_frame(50, size=(16, 16))))
    i = data.index(b"\xff\xc0")  # baseline frame header: FF C0, length, precision, height, width
    data[i + 5 : i + 7] = height.to_bytes(2, "big")
    data[i + 7 : i + 9] = width.to_bytes(2, "big")
    return bytes(data)


def test_declared_size_reads_the_jpeg_and_png_headers_without_decoding():
    assert declared_size(_jpeg(_frame(1, size=(40, 30)))) == (40, 30)
    ok, png = cv2.imencode(".png", _frame(1, size=(24, 12)))
    assert declared_size(png.tobytes()) == (24, 12)
    bomb = _huge_header_jpeg()
    assert len(bomb) < 1000 and declared_size(bomb) == (30000, 30000)
    assert declared_size(b"not a jpeg") is None and declared_size(b"\xff\xd8\xff\xda\x00\x02") is None


def test_a_jpeg_declaring_a_huge_size_is_refused_before_it_is_decoded():
    """629 bytes that would decode to 30000x30000x3 (2.7 GB) are refused from their header, at once."""
    bomb = _huge_header_jpeg()
    t0 = time.monotonic()
    with pytest.raises(ValueError, match=r"declares 30000x30000 pixels, over the 640x2560 .*not decoded"):
        decode_jpeg(bomb, max_size=(640, 2560))
    assert time.monotonic() - t0 < 0.5
    small = decode_jpeg(_jpeg(_frame(7, size=(32, 24))), max_size=(640, 2560))
    assert small.shape == (24, 32, 3)


def test_one_undecodable_frame_is_dropped_and_counted_and_the_run_goes_on():
    cam = BrowserCamera(width=640, read_timeout_s=1.0)
    browser = FakeBrowser(cam)
    got = []
    for data in (_jpeg(_frame(30)), _huge_header_jpeg(), b"garbage", _jpeg(_frame(200))):
        browser.acked.clear()
        cam._on_msg(cam.widget, {"type": "frame"}, [memoryview(data)])
        if data[:2] == b"\xff\xd8" and len(data) > 700:
            got.append(cam.read())
        else:  # the bad frame is taken, acked (so the browser sends on) and dropped; read waits on
            t = threading.Timer(0.1, browser.send_frame, args=(_frame(120),))
            t.start()
            got.append(cam.read())
            t.join()
    assert [int(round(f[..., 0].mean())) // 10 for f in got] == [3, 12, 12, 20]
    assert cam.undecodable == 2 and cam.stats["undecodable"] == 2 and cam.end_reason is None
    assert "could not decode 7 bytes" in cam.last_error
    assert cam.frames_read == 4 and browser.acks == 6  # every frame taken was acked, good or bad


def test_many_undecodable_frames_in_a_row_end_the_stream_with_one_line():
    cam = BrowserCamera(read_timeout_s=1.0)
    browser = FakeBrowser(cam)
    browser.send_frame(_frame(60))
    assert cam.read() is not None

    def bad_browser():
        for _ in range(MAX_UNDECODABLE_IN_ROW):
            if not browser.acked.wait(2):
                return
            browser.acked.clear()
            cam._on_msg(cam.widget, {"type": "frame"}, [memoryview(b"\xff\xd8 junk")])

    browser.acked.set()
    threading.Thread(target=bad_browser, daemon=True).start()
    assert cam.read() is None
    assert cam.end_reason == "undecodable" and cam.undecodable == MAX_UNDECODABLE_IN_ROW
    assert cam.message.startswith(
        f"browser camera: {MAX_UNDECODABLE_IN_ROW} frames in a row could not be decoded after 1 good ones"
    )


# -- the mailbox --


def test_mailbox_holds_at_most_one_frame_and_counts_the_dropped():
    box = FrameMailbox()
    for i in range(5):
        box.put(bytes([i]))
        assert box.waiting == 1
    assert (box.received, box.dropped) == (5, 4)
    assert box.take(0) == bytes([4])  # the newest
    assert box.waiting == 0 and box.take(0.05) is None


def test_mailbox_take_waits_for_a_frame_and_wakes_on_end():
    box = FrameMailbox()
    threading.Timer(0.1, box.put, args=(b"x",)).start()
    t0 = time.monotonic()
    assert box.take(2.0) == b"x"
    assert 0.05 < time.monotonic() - t0 < 1.5
    threading.Timer(0.1, box.end, args=("ended", "bye")).start()
    t0 = time.monotonic()
    assert box.take(5.0) is None
    assert time.monotonic() - t0 < 1.5 and box.ended == ("ended", "bye")
    box.put(b"late")
    assert box.received == 1  # nothing is taken in after the end


# -- the camera as a frame source --


def test_browser_camera_is_a_live_frame_source():
    cam = BrowserCamera(width=320, fps=12, read_timeout_s=0.5)
    assert isinstance(cam, FrameSource)
    assert (cam.kind, cam.is_live, cam.fps, cam.frame_count, cam.size) == (
        "browser",
        True,
        12.0,
        None,
        (0, 0),
    )
    assert cam.widget.width == 320 and cam.widget.fps == 12.0
    assert "render" in cam.widget._esm and "getUserMedia" in cam.widget._esm


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"width": 8}, "width must be an integer in 16..4096"),
        ({"width": 640.0}, "width must be an integer"),
        ({"fps": 0}, "fps must be in 0.1..120"),
        ({"quality": 0}, r"quality must be in \(0, 1\]"),
        ({"read_timeout_s": 0}, "read_timeout_s must be > 0"),
    ],
)
def test_browser_camera_refuses_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BrowserCamera(**kwargs)


def test_read_returns_the_frames_in_order_and_acks_each_one():
    cam = BrowserCamera(read_timeout_s=1.0)
    browser = FakeBrowser(cam)
    for value in (10, 120, 240):
        assert browser.acked.is_set(), "the browser would send before the last frame was taken"
        browser.send_frame(_frame(value))
        assert cam.stats["waiting"] == 1
        out = cam.read()
        assert abs(int(out[..., 0].mean()) - value) <= 3
    assert cam.frames_read == 3 and browser.acks == 3 and cam.size == (64, 48)
    assert [m["frames"] for m in browser.sent_to_browser] == [1, 2, 3]
    assert cam.stats["dropped"] == 0


def test_a_slow_consumer_never_has_more_than_one_frame_queued():
    """The browser sends as soon as it is acked; the kernel takes a frame every 50 ms."""
    cam = BrowserCamera(read_timeout_s=2.0)
    browser = FakeBrowser(cam)
    stop = threading.Event()
    most_waiting = []

    def browser_loop():
        n = 0
        while not stop.is_set() and n < 200:
            if browser.acked.wait(0.01):  # at most one frame in flight
                n += 1
                browser.send_frame(_frame(n % 250))
                most_waiting.append(cam.stats["waiting"])

    t = threading.Thread(target=browser_loop, daemon=True)
    t.start()
    for _ in range(8):
        assert cam.read() is not None
        time.sleep(0.05)  # a slow network
    stop.set()
    t.join(2)
    assert max(most_waiting) == 1
    s = cam.stats
    assert s["dropped"] == 0 and s["received"] - s["taken"] <= 1
    assert s["received"] <= 9  # the browser sent one frame per take, not a backlog


def test_a_browser_that_ignores_acks_still_leaves_one_frame_and_reads_the_newest():
    cam = BrowserCamera(read_timeout_s=1.0)
    browser = FakeBrowser(cam)
    for value in (20, 60, 100, 140):
        browser.send_frame(_frame(value))
    assert cam.stats == {
        "received": 4,
        "taken": 0,
        "dropped": 3,
        "undecodable": 0,
        "waiting": 1,
        "delivered_fps": 0.0,
    }
    assert abs(int(cam.read()[..., 0].mean()) - 140) <= 3


def test_read_times_out_with_one_line_when_no_frame_comes():
    cam = BrowserCamera(read_timeout_s=0.3)
    browser = FakeBrowser(cam)
    browser.send_frame(_frame(50))
    assert cam.read() is not None
    t0 = time.monotonic()
    assert cam.read() is None
    assert 0.25 < time.monotonic() - t0 < 1.5
    assert cam.end_reason == "timeout"
    assert cam.message == (
        "browser camera: no frame for 0.3 s after 1 frames "
        "(the tab was closed, the browser slept or the connection dropped)"
    )
    assert cam.read() is None  # ended for good, at once
    browser.send_frame(_frame(60))
    assert cam.read() is None


def test_wait_for_frame_without_a_browser_says_no_front_end():
    cam = BrowserCamera()
    t0 = time.monotonic()
    with pytest.raises(VideoError, match=r"^browser camera: no browser answered within 0.5 s \(no front end"):
        cam.wait_for_frame(timeout=0.5)
    assert time.monotonic() - t0 < 2
    assert cam.end_reason == "no_frontend" and cam.read() is None


def test_wait_for_frame_keeps_the_first_frame_for_the_first_read():
    cam = BrowserCamera()
    browser = FakeBrowser(cam)
    threading.Timer(0.1, browser.send_frame, args=(_frame(77, size=(80, 60)),)).start()
    assert cam.wait_for_frame(timeout=2) is cam
    assert cam.size == (80, 60) and cam.frames_read == 0
    assert abs(int(cam.read()[..., 0].mean()) - 77) <= 3 and cam.frames_read == 1


@pytest.mark.parametrize(
    "name, reason, line",
    [
        ("NotAllowedError", "denied", "browser camera: permission denied; allow the camera for this page"),
        ("NotFoundError", "no_camera", "browser camera: the browser found no camera"),
        ("insecure", "insecure", "browser camera: this page is neither https nor localhost"),
        ("AbortError", "error", "browser camera: AbortError: it broke"),
    ],
)
def test_browser_errors_end_the_stream_with_one_line(name, reason, line):
    cam = BrowserCamera(read_timeout_s=30)
    browser = FakeBrowser(cam)
    threading.Timer(0.1, browser.message, kwargs={"type": "error", "name": name, "text": "it broke"}).start()
    t0 = time.monotonic()
    with pytest.raises(VideoError) as info:
        cam.wait_for_frame(timeout=30)
    assert time.monotonic() - t0 < 2, "an error from the browser must not wait for the timeout"
    assert str(info.value).startswith(line) and "\n" not in str(info.value)
    assert cam.end_reason == reason and cam.message == str(info.value)


def test_the_tab_closed_mid_stream_ends_the_read_at_once():
    cam = BrowserCamera(read_timeout_s=30)
    browser = FakeBrowser(cam)
    browser.send_frame(_frame(1))
    assert cam.read() is not None
    threading.Timer(0.1, browser.message, kwargs={"type": "ended", "text": "the tab was closed"}).start()
    t0 = time.monotonic()
    assert cam.read() is None
    assert time.monotonic() - t0 < 2
    assert cam.message == "browser camera: the tab was closed after 1 frames"


def test_close_wakes_a_blocked_read_tells_the_browser_and_is_idempotent():
    cam = BrowserCamera(read_timeout_s=30)
    browser = FakeBrowser(cam)
    got = []
    reader = threading.Thread(target=lambda: got.append(cam.read()))
    reader.start()
    time.sleep(0.1)
    cam.close()
    reader.join(2)
    assert not reader.is_alive() and got == [None]
    assert cam.end_reason == "closed" and cam.message == "browser camera: closed after 0 frames"
    cam.close()
    stops = [m for m in browser.sent_to_browser if m["type"] == "stop"]
    assert len(stops) == 2 and stops[0]["text"] == "browser camera: closed after 0 frames"


class _CountingEstimator:
    """Stands in for a PoseEstimator: no people, a fixed network time."""

    def __init__(self, delay: float) -> None:
        self.delay, self.calls = delay, 0

    def inference(self, image, upsample=4.0):
        from posekit.person import InferenceResult

        self.calls += 1
        time.sleep(self.delay)
        h, w = image.shape[:2]
        return InferenceResult(
            people=[], heatmaps=None, pafs=None, peaks=None, image_size=(w, h),
            timings={"network": self.delay * 1e3},
        )  # fmt: skip


def test_process_video_runs_on_the_browser_camera_and_ends_when_the_stream_stops(tmp_path):
    cam = BrowserCamera(read_timeout_s=1.0)
    browser = FakeBrowser(cam)
    stop = threading.Event()

    def browser_loop():
        n = 0
        while not stop.is_set():
            if browser.acked.wait(0.01):
                n += 1
                browser.send_frame(_frame(n % 250, size=(96, 64)))
                if n == 12:
                    time.sleep(0.1)
                    browser.message(type="ended", text="the tab was closed")
                    return

    threading.Thread(target=browser_loop, daemon=True).start()
    est = _CountingEstimator(0.02)
    summary = process_video(cam, est, csv=tmp_path / "cam.csv", show_progress=False)
    stop.set()
    assert summary.stop_reason == "stream_lost"
    assert summary.frames_read == 12 and 1 <= summary.frames_processed <= 12
    assert (tmp_path / "cam.csv").is_file()
    assert cam.message == "browser camera: the tab was closed after 12 frames"


def test_live_view_keeps_the_last_source_frames_of_the_browser_camera():
    from posekit.widgets import LiveView

    cam = BrowserCamera(read_timeout_s=1.0)
    browser = FakeBrowser(cam)

    def browser_loop():
        for n in range(1, 11):
            if not browser.acked.wait(2):
                return
            browser.send_frame(_frame(20 * n, size=(96, 64)))
        time.sleep(0.1)
        browser.message(type="ended", text="the tab was closed")

    threading.Thread(target=browser_loop, daemon=True).start()
    view = LiveView()
    view.run_video(cam, _CountingEstimator(0.0), thread=False, keep_frames=4, pipelined=False)
    assert view.summary.frames_processed == 10, view.status.value
    # the tab closed: the stream was lost, not "the end of the frames", in the view as in the summary
    assert view.summary.stop_reason == "stream_lost" and view.stop_reason == "stream_lost"
    assert view.status.value.endswith(
        "the stream was lost (browser camera: the tab was closed after 10 frames)"
    ), view.status.value
    assert [i for i, _ in view.source_frames] == [6, 7, 8, 9]
    blues = [int(np.median(f[..., 0])) for _, f in view.source_frames]
    assert all(abs(b - 20 * (i + 1)) <= 3 for (i, _), b in zip(view.source_frames, blues)), blues
    assert all(f.shape == (64, 96, 3) and f.dtype == np.uint8 for _, f in view.source_frames)
    # not drawn on: the kept frames are the decoded ones, the view shows the drawn ones
    assert view.source_frames[-1][1] is view.last_source_frame


def test_live_view_goes_on_past_an_undecodable_frame_and_says_it_dropped_it():
    from posekit.widgets import LiveView

    cam = BrowserCamera(read_timeout_s=1.0)
    browser = FakeBrowser(cam)

    def browser_loop():
        for n in range(1, 7):
            if not browser.acked.wait(2):
                return
            if n == 3:  # a frame that cannot be decoded, then the stream goes on
                browser.acked.clear()
                cam._on_msg(cam.widget, {"type": "frame"}, [memoryview(b"\xff\xd8 broken")])
            else:
                browser.send_frame(_frame(20 * n, size=(96, 64)))
        time.sleep(0.1)
        browser.message(type="ended", text="the tab was closed")

    threading.Thread(target=browser_loop, daemon=True).start()
    view = LiveView()
    view.run_video(cam, _CountingEstimator(0.0), thread=False, pipelined=False)
    assert view.summary.frames_processed == 5 and cam.undecodable == 1, view.status.value
    assert view.stop_reason == "stream_lost" and view.error is None
    assert view.status.value.endswith("; 1 undecodable frame dropped"), view.status.value


@pytest.mark.parametrize("keep", [-1, 1.5, True, "3"])
def test_keep_frames_refuses_bad_values(keep):
    from posekit.widgets import LiveView

    with pytest.raises(ValueError, match="keep_frames must be an integer >= 0"):
        LiveView().run_video("x.mp4", _CountingEstimator(0.0), keep_frames=keep)
