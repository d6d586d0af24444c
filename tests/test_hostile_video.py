"""process_video and the writers under hostile conditions: Ctrl-C at bad moments, absurd frame rates,
a full disk, concurrent writers, a hard kill, streams that die or stall.

The network is replaced by ``WalkingEstimator`` (one person walking right, no TensorFlow) where the
timing must be under control; the decoding, tracking, drawing and writing are the real ones.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from posekit.export import coco_partial_path, read_coco_partial, recover_coco_results, write_openpose_json
from posekit.person import InferenceResult, Person
from posekit.video import FrameSource, VideoWriter
from posekit.video.pipeline import OutputError, process_video
from posekit.video.track import OneEuroParams, Tracker

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "videos" / "vtest_pair.mp4"

# A standing person (x, y) around (0, 0), 18 parts; shifted per frame by WalkingEstimator.
BODY = np.array(
    [(0, -60), (0, -40), (-15, -40), (-20, -15), (-22, 8), (15, -40), (20, -15), (22, 8), (-10, 10),
     (-12, 45), (-12, 80), (10, 10), (12, 45), (12, 80), (-4, -64), (4, -64), (-9, -62), (9, -62)],
    np.float32,
)  # fmt: skip


class WalkingEstimator:
    """Stands in for a PoseEstimator: call n finds one person at (200 + 3 n, 300).

    ``fail_at``: raise ``exc`` on that call (0-based), e.g. KeyboardInterrupt inside the network.
    """

    def __init__(self, fail_at: int | None = None, exc: type[BaseException] = KeyboardInterrupt) -> None:
        self.calls = 0
        self.fail_at, self.exc = fail_at, exc

    def inference(self, frame: np.ndarray, upsample: float = 4.0) -> InferenceResult:
        n = self.calls
        self.calls += 1
        if n == self.fail_at:
            raise self.exc()
        kp = np.ones((18, 3), np.float32)
        kp[:, :2] = BODY + (200 + 3 * n, 300)
        empty = np.zeros((1, 1, 19), np.float32)
        return InferenceResult(
            people=[Person(kp, 0.8)], heatmaps=empty, pafs=np.zeros((1, 1, 38), np.float32), peaks=empty,
            image_size=(frame.shape[1], frame.shape[0]), timings={"network": 1.0},
        )  # fmt: skip


def decoded(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


def leftovers(folder: Path) -> list[str]:
    """Temporary or partial files under ``folder``."""
    return sorted(p.name for p in folder.rglob("*") if ".tmp" in p.name or p.name.endswith(".partial.jsonl"))


def outputs(d: Path) -> dict:
    return {"out": d / "o.mp4", "json_dir": d / "j", "coco": d / "c.json", "csv": d / "p.csv"}


def check_outputs(d: Path, frames: list[int]) -> None:
    """Every output holds exactly ``frames``, and nothing temporary is left."""
    assert decoded(d / "o.mp4") == len(frames)
    assert sorted(int(p.name.split("_")[-2]) for p in (d / "j").glob("*_keypoints.json")) == frames
    with open(d / "c.json", encoding="utf-8") as f:
        assert [r["image_id"] for r in json.load(f)] == frames  # one person per frame
    with open(d / "p.csv", newline="", encoding="utf-8") as f:
        assert sorted({int(r["frame"]) for r in csv.DictReader(f)}) == frames
    assert leftovers(d) == []


# ----------------------------------------------------------------- a. Ctrl-C


class SignalAfterLast(WalkingEstimator):
    """Sends this process SIGINT 0.1 s after the network returned the last of ``frames`` frames."""

    def __init__(self, frames: int) -> None:
        super().__init__()
        self.frames = frames
        self.timer: threading.Timer | None = None

    def inference(self, frame: np.ndarray, upsample: float = 4.0) -> InferenceResult:
        result = super().inference(frame, upsample)
        if self.calls == self.frames:
            self.timer = threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGINT))
            self.timer.start()
        return result


def test_ctrl_c_while_joining_the_writer_keeps_every_inferred_frame(tmp_path):
    # The network is instant and drawing/writing slow: the main thread has inferred all 6 frames and
    # waits for the writer when Ctrl-C (a real SIGINT) comes. Those frames must all be written and
    # the run reported as interrupted (it used to return normally with the queued frames dropped).
    est = SignalAfterLast(6)
    try:
        summary = process_video(
            CLIP, est, **outputs(tmp_path), max_frames=6, queue_size=8, on_frame=lambda *_: time.sleep(0.15)
        )
    finally:
        est.timer.join()
    assert summary.stop_reason == "interrupted" and summary.interrupted
    assert summary.frames_processed == 6
    check_outputs(tmp_path, list(range(6)))


@pytest.mark.parametrize("pipelined", [True, False], ids=["pipelined", "sequential"])
def test_ctrl_c_in_the_network_keeps_earlier_frames(tmp_path, pipelined):
    summary = process_video(
        CLIP, WalkingEstimator(fail_at=3), **outputs(tmp_path), max_frames=8, pipelined=pipelined
    )
    assert summary.stop_reason == "interrupted"
    assert summary.frame_indices == [0, 1, 2]
    check_outputs(tmp_path, [0, 1, 2])


def test_other_errors_are_raised_after_closing_the_files(tmp_path):
    with pytest.raises(ZeroDivisionError):
        process_video(
            CLIP, WalkingEstimator(fail_at=2, exc=ZeroDivisionError), **outputs(tmp_path), max_frames=5
        )
    check_outputs(tmp_path, [0, 1])


# ----------------------------------------------------------------- b. frame rates


@pytest.mark.parametrize("fps", [float("inf"), float("nan"), 0, -5, 1e9, 1000.5, "10", True])
def test_writer_rejects_absurd_fps_at_once(tmp_path, fps):
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=r"fps must be a finite number in \(0, 1000\], got "):
        VideoWriter(tmp_path / "a.mp4", fps=fps)
    with pytest.raises(ValueError, match=r"fps must be a finite number in \(0, 1000\]"):
        process_video(CLIP, WalkingEstimator(), out=tmp_path / "b.mp4", out_fps=fps, max_frames=1)
    assert time.perf_counter() - t0 < 5
    assert not (tmp_path / "a.mp4").exists() and not (tmp_path / "b.mp4").exists()


def test_writer_accepts_the_limits(tmp_path):
    for fps in (0.5, 1000):
        with VideoWriter(tmp_path / f"{fps}.mp4", fps=fps) as out:
            out.write(np.zeros((32, 48, 3), np.uint8))
        assert decoded(out.path) == 1


# ----------------------------------------------------------------- c. full disk


def test_full_disk_stops_cleanly_with_playable_video(small_disk):
    disk = small_disk("1536k")
    with pytest.raises(
        OutputError, match=r"^disk full while writing frame (\d+) of .*: (\d+) frames kept$"
    ) as info:
        process_video(CLIP, WalkingEstimator(), **outputs(disk), max_frames=100)
    assert isinstance(info.value, OSError)
    summary = info.value.summary
    assert summary.stop_reason == "output_error" and summary.frames_processed >= 3
    kept = summary.frame_indices
    assert f"frame {len(kept)} of" in str(info.value) and f": {len(kept)} frames kept" in str(info.value)
    assert summary.out == disk / "o.mp4" and summary.coco == disk / "c.json"
    check_outputs(disk, kept)


def test_write_error_undoes_the_frame_and_finalises(tmp_path, monkeypatch):
    # ENOSPC from the CSV at frame 4 (simulated; works without root): the frame's JSON goes again,
    # every output holds frames 0-3, the video included.
    import posekit.export as export

    real = export.CsvWriter.write

    def write(self, index, people):
        if index == 4:
            raise OSError(28, "No space left on device")
        return real(self, index, people)

    monkeypatch.setattr(export.CsvWriter, "write", write)
    with pytest.raises(OutputError, match=r"disk full while writing frame 4 of .*p\.csv: 4 frames kept"):
        process_video(CLIP, WalkingEstimator(), **outputs(tmp_path), max_frames=8, pipelined=False)
    check_outputs(tmp_path, [0, 1, 2, 3])


# ----------------------------------------------------------------- d. atomic writes


WRITER = """
import sys
import numpy as np
from posekit.export import write_openpose_json
from posekit.person import Person
path, tag = sys.argv[1], float(sys.argv[2])
kp = np.full((18, 3), tag, np.float32)
people = [Person(kp, 0.5) for _ in range(40)]  # ~ 10 kB: a write takes more than one syscall
for _ in range(200):
    write_openpose_json(path, people)
"""


def test_two_processes_writing_the_same_json(tmp_path):
    path = tmp_path / "same.json"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), str(tag)], stderr=subprocess.PIPE, text=True
        )
        for tag in (1, 2)
    ]
    reads = 0
    while any(p.poll() is None for p in procs):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))  # never half written
        except FileNotFoundError:
            continue
        assert (
            len(data["people"]) == 40
            and len({v for p in data["people"] for v in p["pose_keypoints_2d"]}) == 1
        )
        reads += 1
    errors = [p.communicate()[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    assert reads > 0 and os.listdir(tmp_path) == ["same.json"]  # no temporary file left


def test_image_json_is_atomic(tmp_path, monkeypatch):
    # A failure in the middle of writing leaves neither a half file nor a temporary one.
    write_openpose_json(tmp_path / "a.json", [])
    monkeypatch.setattr(json, "dumps", lambda *a, **k: (_ for _ in ()).throw(OSError(28, "full")))
    with pytest.raises(OSError):
        write_openpose_json(tmp_path / "a.json", [])
    assert json.loads((tmp_path / "a.json").read_text()) == {"version": 1.3, "people": []}
    assert os.listdir(tmp_path) == ["a.json"]


# ----------------------------------------------------------------- e. COCO results survive a hard kill


RUN = """
import sys, time
sys.path.insert(0, sys.argv[1])
from test_hostile_video import CLIP, WalkingEstimator
from posekit.video.pipeline import process_video
process_video(CLIP, WalkingEstimator(), json_dir=sys.argv[2], coco=sys.argv[3], max_frames=80,
              on_frame=lambda *_: time.sleep(0.05))
"""


def test_coco_results_survive_sigkill(tmp_path):
    coco = tmp_path / "c.json"
    proc = subprocess.Popen(
        [sys.executable, "-c", RUN, str(Path(__file__).parent), str(tmp_path / "j"), str(coco)]
    )
    try:
        deadline = time.monotonic() + 60
        while len(list((tmp_path / "j").glob("*.json"))) < 6 and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    written = len(list((tmp_path / "j").glob("*.json")))
    assert 6 <= written < 80
    assert not coco.exists()  # the final file is written only when a run ends: never partial
    ids = [r["image_id"] for r in read_coco_partial(coco_partial_path(coco))]
    assert ids == list(range(len(ids))) and len(ids) >= written - 1  # at most the last frame lost
    recover_coco_results(coco)
    assert [r["image_id"] for r in json.loads(coco.read_text())] == ids
    assert not coco_partial_path(coco).exists()


# ----------------------------------------------------------------- f. streams


class FakeStream:
    """An OpenCV capture standing in for a network stream: ``frames`` frames, then it ends or stalls."""

    def __init__(self, frames: int, *, stall: bool = False) -> None:
        self.left, self.stall = frames, stall
        self.unblock = threading.Event()
        self.frame = cv2.imread(str(ROOT / "images" / "person.jpg"))

    def get(self, prop: int) -> float:
        return 0.0

    def read(self):
        if self.left > 0:
            self.left -= 1
            time.sleep(0.01)
            return True, self.frame.copy()
        if self.stall:  # the server stopped sending but kept the connection: read never returns
            self.unblock.wait(30)
        return False, None

    def release(self) -> None:
        pass


def stream_source(cap: FakeStream, timeout_s: float = 0.5) -> FrameSource:
    first = cap.read()[1]
    return FrameSource(
        cap, name="rtsp://x/live", kind="stream", stem="live", first_frame=first, read_timeout_s=timeout_s
    )


@pytest.mark.parametrize("pipelined", [True, False], ids=["pipelined", "sequential"])
def test_stream_that_ends_is_reported_lost(tmp_path, pipelined):
    cap = FakeStream(5)
    summary = process_video(stream_source(cap), WalkingEstimator(), json_dir=tmp_path, pipelined=pipelined)
    assert summary.stop_reason == "stream_lost"
    assert summary.frames_read == 5 and 1 <= summary.frames_processed <= 5
    assert len(list(tmp_path.glob("*.json"))) == summary.frames_processed


def test_stalled_stream_does_not_hang(tmp_path):
    cap = FakeStream(3, stall=True)
    t0 = time.perf_counter()
    try:
        summary = process_video(stream_source(cap, 0.5), WalkingEstimator(), out=tmp_path / "o.mp4")
    finally:
        cap.unblock.set()
    assert time.perf_counter() - t0 < 5
    assert summary.stop_reason == "stream_lost" and summary.frames_processed >= 1
    assert decoded(tmp_path / "o.mp4") == summary.frames_processed


def test_stop_reasons_of_a_file(tmp_path):
    est = WalkingEstimator()
    assert process_video(CLIP, est, json_dir=tmp_path, every=50).stop_reason == "end"
    assert process_video(CLIP, est, json_dir=tmp_path, max_frames=2).stop_reason == "max_frames"
    assert (
        process_video(CLIP, est, json_dir=tmp_path, max_frames=2, pipelined=False).stop_reason == "max_frames"
    )


# ----------------------------------------------------------------- the tracker argument


def test_tracker_object_and_removed_keywords(tmp_path):
    runs = {}

    def collect(name):
        runs[name] = []
        return lambda i, f, result, d: runs[name].append(result.people[0].keypoints.copy())

    process_video(CLIP, WalkingEstimator(), max_frames=6, tracker=Tracker(one_euro=OneEuroParams()),
                  on_frame=collect("new"))  # fmt: skip
    process_video(CLIP, WalkingEstimator(), max_frames=6, tracker=Tracker(one_euro=OneEuroParams(), fps=10),
                  on_frame=collect("old"))  # fmt: skip
    for a, b in zip(runs["new"], runs["old"]):
        np.testing.assert_array_equal(a, b)  # same filter: the source's 10 fps for both
    raw = [200 + 3 * n + BODY[:, 0] for n in range(6)]
    assert np.abs(runs["new"][5][:, 0] - raw[5]).max() > 0.5  # the One-Euro filter lags a walker

    assert process_video(CLIP, WalkingEstimator(), max_frames=2, tracker=None).person_ids == []
    for removed in ("smooth", "track", "tracker_params", "smoothing_params"):  # 0.2.0: tracker= only
        with pytest.raises(TypeError, match=f"unexpected keyword argument '{removed}'"):
            process_video(CLIP, WalkingEstimator(), max_frames=1, **{removed: True})
    with pytest.raises(TypeError, match="unexpected keyword argument 'smoth'"):
        process_video(CLIP, WalkingEstimator(), max_frames=1, smoth=True)
