"""Tests for posekit.video, posekit.video.pipeline, the video command and the video exports, on the
bundled clip."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from posekit.draw import VIDEO_SPEC, compose_frame
from posekit.export import COCO_KEYPOINT_NAMES, CSV_HEADER
from posekit.person import Person
from posekit.video import (
    FpsMeter,
    VideoError,
    VideoWriter,
    check_video_path,
    has_gui,
    iter_frames,
    open_source,
    process_video,
)

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "videos" / "vtest_pair.mp4"
STEM = "vtest_pair"


def decoded_frames(path: Path) -> list[np.ndarray]:
    """Every frame of a video file, decoded."""
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


def json_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*_keypoints.json"))


def load_json(path: Path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def centroid(flat: list[float]) -> tuple[np.ndarray, int]:
    """Mean (x, y) of the found parts of a 54-float OpenPose keypoint list, and their count."""
    kp = np.asarray(flat, np.float64).reshape(18, 3)
    found = kp[:, 2] > 0
    return kp[found, :2].mean(axis=0), int(found.sum())


# ----------------------------------------------------------------- sources


def test_open_clip():
    with open_source(CLIP) as src:
        assert (src.kind, src.stem, src.size, src.frame_count) == ("file", STEM, (768, 576), 100)
        assert src.fps == pytest.approx(10.0)
        assert not src.is_live
        frame = src.read()
        assert frame.dtype == np.uint8 and frame.shape == (576, 768, 3)
        assert src.frames_read == 1


def test_iter_frames_every_and_max_frames():
    got = [(i, f.shape) for i, f in iter_frames(CLIP, max_frames=4, every=3)]
    assert got == [(i, (576, 768, 3)) for i in (0, 3, 6, 9)]
    assert len(list(iter_frames(str(CLIP)))) == 100


@pytest.mark.parametrize("bad", [0, -2, 1.5, True])
def test_iter_frames_rejects_bad_every(bad):
    with pytest.raises(ValueError, match="every must be an integer >= 1"):
        next(iter_frames(CLIP, every=bad))


def test_missing_file(tmp_path):
    with pytest.raises(VideoError, match=r"video file not found: .*nothere\.mp4"):
        open_source(tmp_path / "nothere.mp4")


def test_text_file_named_mp4_is_not_a_video(tmp_path):
    path = tmp_path / "x.mp4"
    path.write_text("this is not a video\n")
    t0 = time.perf_counter()
    with pytest.raises(VideoError, match=r"cannot read .*x\.mp4: not a video file OpenCV can decode"):
        open_source(path)
    assert time.perf_counter() - t0 < 2.0


def test_truncated_video_is_refused(tmp_path):
    path = tmp_path / "half.mp4"
    path.write_bytes(CLIP.read_bytes()[: CLIP.stat().st_size // 2])  # no moov atom: undecodable
    with pytest.raises(VideoError, match="cannot read"):
        open_source(path)


def test_directory_and_image_are_refused(tmp_path):
    with pytest.raises(VideoError, match="is a directory, not a video file"):
        open_source(tmp_path)
    with pytest.raises(VideoError, match=r"is an image, not a video \(use `posekit image`"):
        open_source(ROOT / "images" / "person.jpg")


def test_missing_camera_fails_fast():
    t0 = time.perf_counter()
    with pytest.raises(VideoError, match="cannot open camera 7"):
        open_source(7)
    with pytest.raises(VideoError, match="cannot open camera 7"):
        open_source("7")
    assert time.perf_counter() - t0 < 3.0
    with pytest.raises(ValueError, match="camera index must be >= 0, got -1"):
        open_source(-1)


def test_unreachable_stream_fails_fast():
    t0 = time.perf_counter()
    with pytest.raises(VideoError, match=r"cannot open stream rtsp://127\.0\.0\.1:9/none"):
        open_source("rtsp://127.0.0.1:9/none", timeout_s=2.0)
    assert time.perf_counter() - t0 < 5.0


# ----------------------------------------------------------------- writer


def synthetic_frames(n: int, size=(96, 64)) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8) for _ in range(n)]


def test_writer_mp4_round_trip(tmp_path):
    with VideoWriter(tmp_path / "a.mp4", fps=10) as out:
        for f in synthetic_frames(7):
            out.write(f)
    assert out.path == tmp_path / "a.mp4" and out.fourcc == "mp4v" and not out.fallback
    assert out.frames_written == 7
    frames = decoded_frames(out.path)
    assert len(frames) == 7 and frames[0].shape == (64, 96, 3)


def test_writer_falls_back_to_mjpg_avi(tmp_path, caplog):
    # An unknown FourCC stands in for an OpenCV build without the mp4v encoder.
    with VideoWriter(tmp_path / "b.mp4", fps=10, fourcc="ZZZZ") as out:
        for f in synthetic_frames(3):
            out.write(f)
    assert out.fallback and out.path == tmp_path / "b.avi" and out.fourcc == "MJPG"
    assert "writing MJPG to" in caplog.text
    assert len(decoded_frames(out.path)) == 3


def test_writer_errors(tmp_path):
    with pytest.raises(ValueError, match=r"unknown suffix '\.png'"):
        VideoWriter(tmp_path / "a.png", fps=10)
    with pytest.raises(ValueError, match=r"unknown suffix ''"):
        check_video_path(tmp_path / "noext")
    with VideoWriter(tmp_path / "c.mp4", fps=10) as out:
        out.write(synthetic_frames(1)[0])
        with pytest.raises(ValueError, match=r"frame size \(32, 32\) differs from the video's \(96, 64\)"):
            out.write(np.zeros((32, 32, 3), np.uint8))
        with pytest.raises(ValueError, match=r"frame must have dtype uint8 \(BGR 0..255\), got float32"):
            out.write(np.zeros((64, 96, 3), np.float32))
        out.write(np.zeros((64, 96), np.uint8))  # gray is converted (preprocess.as_bgr)
    assert out.frames_written == 2
    with pytest.raises(ValueError, match="is closed"):
        out.write(synthetic_frames(1)[0])
    with pytest.raises(VideoError, match="cannot write video"):
        VideoWriter(tmp_path / "no" / "such" / "dir.mp4", fps=10).write(synthetic_frames(1)[0])


# ----------------------------------------------------------------- meters and drawing


def test_fps_meter_window():
    now = [0.0]
    meter = FpsMeter(window=5, clock=lambda: now[0])
    assert meter.tick() == 0.0
    for _ in range(10):
        now[0] += 0.1
        meter.tick()
    assert meter.fps == pytest.approx(10.0)
    now[0] += 1.0  # one slow frame: 4 intervals of 0.1 s would be 10 fps, now (0.3 + 1.0) s
    assert meter.tick() == pytest.approx(4 / 1.3)
    with pytest.raises(ValueError, match="window must be >= 2"):
        FpsMeter(window=1)


@pytest.mark.slow
def test_progress_bar_is_tqdm(estimator, tmp_path, capsys):
    process_video(CLIP, estimator, json_dir=tmp_path, max_frames=2, show_progress=True)
    err = capsys.readouterr().err
    assert "vtest_pair: 100%" in err and "2/2" in err  # tqdm's bar, on stderr
    process_video(CLIP, estimator, json_dir=tmp_path, max_frames=1)  # stderr is no terminal: off
    assert capsys.readouterr().err == ""


def test_compose_frame_modes():
    frame = np.full((60, 80, 3), 100, np.uint8)
    kp = np.full((18, 3), np.nan, np.float32)
    kp[:, 2] = 0
    kp[1] = (40, 20, 0.9)  # neck
    kp[2] = (30, 20, 0.9)  # right shoulder
    people = [Person(kp, 0.9, person_id=3)]
    on_frame = compose_frame(frame, people)
    assert on_frame.shape == frame.shape and (on_frame != frame).any()
    assert np.array_equal(frame, np.full((60, 80, 3), 100, np.uint8))  # input untouched
    black = compose_frame(frame, people, spec=dataclasses.replace(VIDEO_SPEC, background=False))
    assert black[59, 79].tolist() == [0, 0, 0] and black.max() > 0
    sbs = compose_frame(frame, people, side_by_side=True, fps=12.0)
    assert sbs.shape == (60, 160, 3)
    assert np.array_equal(sbs[40:, :80], frame[40:])  # left: the original (below the FPS text)
    assert sbs[59, 159].tolist() == [0, 0, 0]  # right: skeleton on black


def test_has_gui_is_a_bool():
    assert isinstance(has_gui(), bool)


# ----------------------------------------------------------------- the pipeline (runs the network)


@pytest.fixture(scope="module")
def full_run(estimator, tmp_path_factory):
    """One pipelined run over the first 10 frames with every output."""
    d = tmp_path_factory.mktemp("full")
    summary = process_video(
        CLIP, estimator, out=d / "out.mp4", json_dir=d / "json", coco=d / "coco.json", csv=d / "poses.csv",
        max_frames=10,
    )  # fmt: skip
    return summary, d


@pytest.mark.slow
def test_full_run_counts(full_run):
    summary, d = full_run
    assert summary.frames_processed == 10 and summary.frame_indices == list(range(10))
    assert not summary.interrupted
    assert summary.out == d / "out.mp4" and summary.json_files == 10
    frames = decoded_frames(d / "out.mp4")
    assert len(frames) == 10 and frames[0].shape == (576, 768, 3)
    names = [p.name for p in json_files(d / "json")]
    assert names == [f"{STEM}_{i:012d}_keypoints.json" for i in range(10)]
    assert summary.people_per_frame == [len(load_json(d / "json" / n)["people"]) for n in names]
    assert min(summary.people_per_frame) >= 2


@pytest.mark.slow
def test_full_run_json_schema(full_run):
    summary, d = full_run
    for path in json_files(d / "json"):
        data = load_json(path)
        assert data["version"] == 1.3
        ids = []
        for person in data["people"]:
            assert set(person) == {"person_id", "pose_keypoints_2d"}
            assert len(person["pose_keypoints_2d"]) == 54
            assert all(isinstance(v, float) and np.isfinite(v) for v in person["pose_keypoints_2d"])
            (pid,) = person["person_id"]
            ids.append(pid)
        assert len(set(ids)) == len(ids) and min(ids, default=0) >= 0  # tracked: unique, >= 0
    assert summary.person_ids == sorted(
        {p["person_id"][0] for f in json_files(d / "json") for p in load_json(f)["people"]}
    )


@pytest.mark.slow
def test_full_run_coco_and_csv(full_run):
    summary, d = full_run
    results = load_json(d / "coco.json")
    assert len(results) == sum(summary.people_per_frame)
    assert {r["image_id"] for r in results} <= set(range(10))
    for r in results:
        assert r["category_id"] == 1 and len(r["keypoints"]) == 3 * len(COCO_KEYPOINT_NAMES)
        assert r["score"] > 0
    with open(d / "poses.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == CSV_HEADER == ("frame", "person_id", "part", "x", "y", "score")
    per_frame_ids = {}
    for frame, pid, *_ in rows[1:]:
        per_frame_ids.setdefault(int(frame), set()).add(int(pid))
    for path in json_files(d / "json"):
        frame = int(path.name[len(STEM) + 1 : len(STEM) + 13])
        json_ids = {p["person_id"][0] for p in load_json(path)["people"]}
        assert per_frame_ids.get(frame, set()) <= json_ids


@pytest.mark.slow
@pytest.mark.parametrize("start", [(589.0, 296.0), (318.0, 215.0)], ids=["pair-near-camera", "left"])
def test_ids_stay_with_the_same_person(full_run, start):
    # Follow a person by position (nearest well-found body to where it was the frame before):
    # its person_id must be the same in every frame.
    _, d = full_run
    where, ids = np.array(start), []
    for path in json_files(d / "json"):
        bodies = [(centroid(p["pose_keypoints_2d"]), p["person_id"][0]) for p in load_json(path)["people"]]
        bodies = [(c, pid) for (c, n), pid in bodies if n >= 5]  # skip fragments
        (c, pid) = min(bodies, key=lambda b: np.hypot(*(b[0] - where)))
        if np.hypot(*(c - where)) > 30:  # it moves a few pixels per frame: not found this frame
            continue
        where = c
        ids.append(pid)
    assert len(ids) >= 8 and len(set(ids)) == 1, ids


@pytest.mark.slow
def test_sequential_matches_pipelined(full_run, estimator, tmp_path):
    _, d = full_run
    summary = process_video(CLIP, estimator, json_dir=tmp_path, max_frames=6, pipelined=False)
    assert summary.frame_indices == list(range(6))
    for path in json_files(tmp_path):
        assert load_json(path) == load_json(d / "json" / path.name)


@pytest.mark.slow
def test_parallel_workers_keep_order_and_results(full_run, estimator, tmp_path):
    """Two single-threaded replicas on alternate frames: same frames, same order, same people."""
    _, d = full_run
    summary = process_video(CLIP, estimator, json_dir=tmp_path, max_frames=6, workers=2)
    assert summary.frame_indices == list(range(6))
    for path in json_files(tmp_path):
        got, want = load_json(path), load_json(d / "json" / path.name)
        assert [p["person_id"] for p in got["people"]] == [p["person_id"] for p in want["people"]]
        for a, b in zip(got["people"], want["people"]):
            np.testing.assert_allclose(a["pose_keypoints_2d"], b["pose_keypoints_2d"], atol=1e-3)


@pytest.mark.parametrize("bad", [0, -1, 1.5])
def test_bad_workers(estimator, bad):
    with pytest.raises(ValueError, match="workers must be an integer >= 1"):
        process_video(CLIP, estimator, max_frames=1, workers=bad)


@pytest.mark.slow
def test_every_n_frames(estimator, tmp_path):
    summary = process_video(
        CLIP, estimator, json_dir=tmp_path / "j", out=tmp_path / "o.mp4", every=3, max_frames=4
    )
    assert summary.frame_indices == [0, 3, 6, 9] and summary.frames_read == 10
    names = [f"{STEM}_{i:012d}_keypoints.json" for i in (0, 3, 6, 9)]
    assert [p.name for p in json_files(tmp_path / "j")] == names
    cap = cv2.VideoCapture(str(tmp_path / "o.mp4"))
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(10 / 3, abs=0.01)  # plays at real speed
    cap.release()
    assert len(decoded_frames(tmp_path / "o.mp4")) == 4


@pytest.mark.slow
def test_side_by_side_and_no_background(estimator, tmp_path):
    process_video(CLIP, estimator, out=tmp_path / "sbs.mp4", side_by_side=True, max_frames=2)
    process_video(CLIP, estimator, out=tmp_path / "black.mp4", background=False, max_frames=2)
    sbs = decoded_frames(tmp_path / "sbs.mp4")
    assert len(sbs) == 2 and sbs[0].shape == (576, 1536, 3)
    black = decoded_frames(tmp_path / "black.mp4")
    assert black[0].shape == (576, 768, 3)
    assert np.median(black[0]) < 10 and black[0].max() > 100  # black, with skeletons
    assert np.median(sbs[0][:, :768]) > 50  # the original on the left


@pytest.mark.slow
@pytest.mark.parametrize("pipelined", [True, False], ids=["pipelined", "sequential"])
def test_interrupt_leaves_valid_files(estimator, tmp_path, pipelined):
    seen = []

    def on_frame(index, frame, result, drawn):
        seen.append(index)
        assert drawn.shape == frame.shape and all(p.person_id >= 0 for p in result.people)
        if index == 4:
            raise KeyboardInterrupt  # Ctrl-C at the fifth frame

    summary = process_video(
        CLIP, estimator, out=tmp_path / "o.mp4", json_dir=tmp_path / "j", coco=tmp_path / "c.json",
        csv=tmp_path / "p.csv", max_frames=40, pipelined=pipelined, on_frame=on_frame,
    )  # fmt: skip
    assert summary.interrupted and summary.frames_processed == 5 and seen == [0, 1, 2, 3, 4]
    assert len(decoded_frames(tmp_path / "o.mp4")) == 5
    assert len(json_files(tmp_path / "j")) == 5
    assert not list((tmp_path / "j").glob("*.tmp"))
    results = load_json(tmp_path / "c.json")
    assert {r["image_id"] for r in results} <= {0, 1, 2, 3, 4}
    assert len(results) == sum(summary.people_per_frame)
    with open(tmp_path / "p.csv", newline="", encoding="utf-8") as f:
        assert {int(r["frame"]) for r in csv.DictReader(f)} == {0, 1, 2, 3, 4}


@pytest.mark.slow
def test_error_in_callback_propagates_and_closes_files(estimator, tmp_path):
    def on_frame(index, *_):
        if index == 2:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        process_video(CLIP, estimator, out=tmp_path / "o.mp4", coco=tmp_path / "c.json", on_frame=on_frame)
    assert len(decoded_frames(tmp_path / "o.mp4")) == 3
    assert {r["image_id"] for r in load_json(tmp_path / "c.json")} <= {0, 1, 2}


def test_process_video_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown suffix"):
        process_video(CLIP, None, out=tmp_path / "o.gif")
    with pytest.raises(ValueError, match="max_frames must be an integer >= 1"):
        process_video(CLIP, None, max_frames=0)
    with pytest.raises(VideoError, match="video file not found"):
        process_video(tmp_path / "missing.mp4", None, out=tmp_path / "o.mp4")
    assert not (tmp_path / "o.mp4").exists()


# ----------------------------------------------------------------- command line


def run_cli(*args: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [sys.executable, "-m", "posekit", *args],
        capture_output=True, text=True, timeout=timeout, env=env, **kw,
    )  # fmt: skip


def test_cli_not_a_video(tmp_path):
    bad = tmp_path / "x.mp4"
    bad.write_text("hello\n")
    proc = run_cli("video", str(bad), "--out", str(tmp_path / "o.mp4"), timeout=60)
    assert proc.returncode == 2
    expected = f"posekit: error: cannot read {bad}: not a video file OpenCV can decode"
    assert proc.stderr.strip().splitlines() == [expected]
    assert "Traceback" not in proc.stderr and not (tmp_path / "o.mp4").exists()


def test_cli_video_needs_an_output(tmp_path):
    proc = run_cli("video", str(CLIP), timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "posekit: error: nothing to write: give --out FILE, --json-dir DIR, --coco FILE and/or --csv FILE"
    ]


def test_cli_camera_missing_exits_fast_with_one_line():
    t0 = time.perf_counter()
    proc = run_cli("camera", "7", "--no-window", timeout=30)
    elapsed = time.perf_counter() - t0
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("posekit: error: cannot open camera 7"), proc.stderr
    assert "Traceback" not in proc.stderr
    assert elapsed < 10, elapsed  # seconds, not a hang (most of it is Python start-up)


@pytest.mark.skipif(has_gui(), reason="this OpenCV build can open windows")
def test_cli_camera_window_on_headless_opencv():
    proc = run_cli("camera", "7", timeout=30)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "posekit: error: no window available: this OpenCV build has no GUI support "
        "(opencv-python-headless); use --no-window --out FILE"
    ]


@pytest.mark.slow
def test_cli_video_writes_everything(tmp_path):
    proc = run_cli(
        "video", str(CLIP), "--out", str(tmp_path / "o.mp4"), "--json-dir", str(tmp_path / "j"),
        "--coco", str(tmp_path / "c.json"), "--csv", str(tmp_path / "p.csv"), "--max-frames", "8",
        "--no-background",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert f"wrote 8 JSON files to {tmp_path / 'j'}" in proc.stdout
    assert len(decoded_frames(tmp_path / "o.mp4")) == 8 and len(json_files(tmp_path / "j")) == 8
    assert isinstance(load_json(tmp_path / "c.json"), list)


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
def test_cli_ctrl_c_finishes_files(tmp_path):
    # A real SIGINT in the middle of a run: exit 130 and every file complete.
    json_dir = tmp_path / "j"
    args = [
        "video", str(CLIP), "--out", str(tmp_path / "o.mp4"), "--json-dir", str(json_dir),
        "--coco", str(tmp_path / "c.json"), "--no-progress",
    ]  # fmt: skip
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.Popen(
        [sys.executable, "-m", "posekit", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while len(json_files(json_dir)) < 3 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert "interrupted after" in err and "Traceback" not in err
    n = len(json_files(json_dir))
    assert 3 <= n < 100
    assert len(decoded_frames(tmp_path / "o.mp4")) == n
    assert {r["image_id"] for r in load_json(tmp_path / "c.json")} <= set(range(n))
