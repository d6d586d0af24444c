"""posekit.batch and ``posekit batch``: same keypoints as ``posekit image``/``video``, resumable, bad inputs.

Most runs use ``workers=0`` (in this process, the estimator loaded once) to stay quick; one run uses
the local process pool, and one interrupts the CLI with SIGINT and resumes it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pyarrow")
pd = pytest.importorskip("pandas")

from posekit import batch  # noqa: E402
from posekit.batch.store import part_name  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "images"
VIDEO = ROOT / "videos" / "vtest_pair.mp4"
MAX_FRAMES = 6  # frame budget of the video in these tests
CHUNK = 4  # so the video is cut into two chunks (frames 0-3 and 4-5)
SETTINGS = dict(max_frames=MAX_FRAMES, chunk_frames=CHUNK, progress=False)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    """images/, the video, a corrupt image and a truncated video, in one folder."""
    root = tmp_path_factory.mktemp("media")
    # the five photos (counts below depend on them); the COCO sample is tested by test_evaluate, the
    # distillation images by test_distill
    shutil.copytree(IMAGES, root / "images", ignore=shutil.ignore_patterns("*.md", "coco_val2017", "distill"))
    (root / "videos").mkdir()
    shutil.copy(VIDEO, root / "videos" / VIDEO.name)
    (root / "bad").mkdir()
    (root / "bad" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG" * 10)
    data = VIDEO.read_bytes()
    (root / "bad" / "truncated.mp4").write_bytes(data[: len(data) // 2])
    return root


@pytest.fixture(scope="module")
def reference(media, tmp_path_factory):
    """An uninterrupted in-process run over everything: (out folder, manifest, table)."""
    out = tmp_path_factory.mktemp("reference")
    manifest = batch.run([media / "images", media / "videos", media / "bad"], out, workers=0, **SETTINGS)
    return out, manifest, batch.read_keypoints(out)


@pytest.fixture(scope="module")
def estimator():
    from posekit.batch.worker import Options, Worker

    return Worker(Options(), "unused").estimator  # the batch's own cached estimator: no second load


def rows_of(table, source: str):
    return table[table.source == source].reset_index(drop=True)


def expected_rows(frame: int, people) -> list[tuple]:
    """(frame, person_id, part, x, y, score) of the found parts, exact float32 values."""
    from posekit.skeleton import PART_NAMES

    rows = []
    for i, p in enumerate(people):
        pid = p.person_id if p.person_id >= 0 else i
        for part in range(18):
            x, y, s = p.keypoints[part]
            if s > 0:
                rows.append((frame, pid, PART_NAMES[part], np.float32(x), np.float32(y), np.float32(s)))
    return sorted(rows, key=lambda r: r[1])  # read_keypoints orders people by id, parts as stored


def table_rows(df) -> list[tuple]:
    return [
        (int(r.frame), int(r.person_id), r.part, np.float32(r.x), np.float32(r.y), np.float32(r.score))
        for r in df.itertuples()
    ]


# --------------------------------------------------------------------------- same keypoints


def test_every_good_source_done_and_bad_ones_failed(reference, media):
    _, manifest, _ = reference
    status = {e["key"]: e["status"] for e in manifest.sources}
    assert status == {
        "astronaut_png": "done", "basketball1_png": "done", "camera_png": "done", "kite_jpg": "done",
        "person_jpg": "done", "vtest_pair_mp4": "done", "corrupt_jpg": "failed", "truncated_mp4": "failed",
    }  # fmt: skip
    errors = {e["key"]: e["error"] for e in manifest.failed}
    assert "cannot read" in errors["corrupt_jpg"] and "corrupt" in errors["corrupt_jpg"], errors
    assert "truncated.mp4" in errors["truncated_mp4"] and "not a video file" in errors["truncated_mp4"], (
        errors
    )
    assert manifest.counts == {"done": 6, "skipped": 0, "failed": 2, "pending": 0}
    video = next(e for e in manifest.sources if e["key"] == "vtest_pair_mp4")
    assert video["frames"] == MAX_FRAMES


def test_failed_sources_leave_no_outputs(reference):
    out, manifest, table = reference
    for key in ("corrupt_jpg", "truncated_mp4"):
        assert not (out / "sources" / key).exists()
        assert not (out / "keypoints" / part_name(key)).exists()
    assert not any("bad/" in s for s in table.source.unique())
    assert not (out / ".partial").exists() or not any((out / ".partial").iterdir())


def test_image_keypoints_equal_posekit_image(reference, media, estimator, tmp_path):
    from posekit.cli import main
    from posekit.preprocess import read_image

    out, _, table = reference
    for path in sorted((media / "images").iterdir()):
        people = estimator.inference(read_image(path), upsample=4.0).people
        got = table_rows(rows_of(table, str(path)))
        assert got == expected_rows(0, people), path.name
        assert len(got) == sum(p.num_parts for p in people) > 0
    # The JSON file is byte for byte what `posekit image --json` writes.
    kite = media / "images" / "kite.jpg"
    assert main(["image", str(kite), "--json", str(tmp_path / "kite.json")]) == 0
    assert (out / "sources" / "kite_jpg" / "kite_keypoints.json").read_bytes() == (
        tmp_path / "kite.json"
    ).read_bytes()


def test_video_keypoints_and_ids_equal_posekit_video(reference, media, estimator, tmp_path):
    """The video ran as two chunks; tracking over the joined chunks gives posekit video's ids exactly."""
    from posekit.video import process_video

    out, _, table = reference
    seen = []
    process_video(
        media / "videos" / VIDEO.name, estimator, json_dir=tmp_path, max_frames=MAX_FRAMES,
        show_progress=False, on_frame=lambda i, frame, result, drawn: seen.append((i, result.people)),
    )  # fmt: skip
    expected = [row for i, people in seen for row in expected_rows(i, people)]
    got = table_rows(rows_of(table, str(media / "videos" / VIDEO.name)))
    assert got == expected
    assert {r[1] for r in got} == {p.person_id for _, people in seen for p in people} != {-1}
    ours = sorted((out / "sources" / "vtest_pair_mp4").glob("*.json"))
    theirs = sorted(tmp_path.glob("*.json"))
    assert [p.name for p in ours] == [p.name for p in theirs] and len(ours) == MAX_FRAMES
    for a, b in zip(ours, theirs):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_table_schema_metadata_and_no_duplicates(reference):
    import pyarrow.parquet as pq

    out, manifest, table = reference
    assert tuple(table.columns) == batch.TABLE_COLUMNS
    assert str(table.frame.dtype) == "int64" and str(table.person_id.dtype) == "int32"
    assert all(str(table[c].dtype) == "float32" for c in ("x", "y", "score"))
    assert not table.duplicated(["source", "frame", "person_id", "part"]).any()
    assert (table.score > 0).all() and table[["x", "y"]].notna().all().all()
    schema = pq.read_schema(next((out / "keypoints").glob("kite_jpg-*.parquet")))
    assert json.loads(schema.metadata[b"posekit.model"]) == "mobilenet_thin"
    assert json.loads(schema.metadata[b"posekit.input_size"]) == [432, 368]
    # pandas reads the folder as it is (one Parquet dataset).
    direct = pd.read_parquet(out / "keypoints")
    assert (
        len(direct)
        == len(table)
        == sum(len(rows_of(table, e["source"])) for e in manifest.sources if e["status"] == "done")
    )
    saved = json.loads((out / "manifest.json").read_text())
    assert saved["complete"] is True and saved["counts"] == manifest.counts


# --------------------------------------------------------------------------- resume, force, stores


def test_rerun_skips_complete_sources_and_force_redoes_them(reference, media, tmp_path):
    out = tmp_path / "out"
    inputs = [media / "images" / "kite.jpg", media / "images" / "person.jpg"]
    first = batch.run(inputs, out, workers=0, **SETTINGS)
    assert first.counts["done"] == 2
    stat = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (out / "keypoints").iterdir()}
    again = batch.run(inputs, out, workers=0, **SETTINGS)
    assert again.counts == {"done": 0, "skipped": 2, "failed": 0, "pending": 0}
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (out / "keypoints").iterdir()} == stat
    assert [e["people"] for e in again.sources] == [e["people"] for e in first.sources]
    other = batch.run(inputs, out, workers=0, **{**SETTINGS, "max_frames": 3})  # settings changed: redone
    assert other.counts["done"] == 2
    time.sleep(0.05)  # file times come from a coarse clock: leave a gap before the forced run
    t_forced = time.time_ns() - 10_000_000
    forced = batch.run(inputs, out, workers=0, force=True, **SETTINGS)
    assert forced.counts["done"] == 2
    # rewritten: a fresh modification time (inode numbers may be reused, so they prove nothing)
    assert all((out / "keypoints" / name).stat().st_mtime_ns >= t_forced for name in stat)
    pd.testing.assert_frame_equal(
        batch.read_keypoints(out),
        batch.read_keypoints(reference[0]).pipe(
            lambda t: t[t.source.isin([str(p) for p in inputs])].reset_index(drop=True)
        ),
    )


def test_file_url_and_memory_store_give_the_same_table(reference, media, tmp_path):
    fsspec = pytest.importorskip("fsspec")
    _, _, table = reference
    kite = media / "images" / "kite.jpg"
    m = batch.run([kite], f"file://{tmp_path}/out", workers=0, **SETTINGS)
    assert m.counts["done"] == 1
    local = batch.read_keypoints(tmp_path / "out")
    pd.testing.assert_frame_equal(local, rows_of(table, str(kite)))

    mem = fsspec.filesystem("memory")
    mem.pipe("/posekit-test/in/kite.jpg", kite.read_bytes())
    m = batch.run(["memory://posekit-test/in"], "memory://posekit-test/out", workers=0, **SETTINGS)
    assert m.counts["done"] == 1, m.sources
    remote = batch.read_keypoints("memory://posekit-test/out")
    assert table_rows(remote) == table_rows(local)
    assert mem.exists("/posekit-test/out/sources/kite_jpg/kite_keypoints.json")
    assert json.loads(mem.cat("/posekit-test/out/manifest.json"))["complete"] is True
    mem.rm("/posekit-test", recursive=True)


def test_local_pool_gives_the_same_table(reference, media, tmp_path):
    """Two spawned worker processes, the video in chunks of 2 frames: same rows as the in-process run."""
    _, _, table = reference
    inputs = [media / "videos", media / "images" / "kite.jpg"]
    m = batch.run(inputs, tmp_path, workers=2, max_frames=MAX_FRAMES, chunk_frames=2, progress=False)
    assert m.counts == {"done": 2, "skipped": 0, "failed": 0, "pending": 0} and m.workers == 2
    got = batch.read_keypoints(tmp_path)
    want = table[table.source.isin([str(media / "videos" / VIDEO.name), str(inputs[1])])].reset_index(
        drop=True
    )
    pd.testing.assert_frame_equal(got, want)


def test_sigint_then_resume_equals_an_uninterrupted_run(reference, media, tmp_path):
    """Ctrl-C after some sources: exit 130, the manifest valid; the re-run computes only the rest."""
    out = tmp_path / "out"
    inputs = [str(media / "images"), str(media / "videos")]
    cmd = [sys.executable, "-m", "posekit", "batch", *inputs, "--out", str(out), "--workers", "1",
           "--max-frames", str(MAX_FRAMES), "--chunk-frames", str(CHUNK), "--no-progress"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        # complete parts only: a part being written is a hidden ".<name>.XXXX.tmp.parquet" beside them
        if len([p for p in (out / "keypoints").glob("*.parquet") if not p.name.startswith(".")]) >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, (stdout, stderr)
    assert "posekit: interrupted after" in stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["interrupted"] is True and manifest["complete"] is False
    done = {e["key"] for e in manifest["sources"] if e["status"] == "done"}
    assert 2 <= len(done) < 6, manifest["counts"]
    parts = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (out / "keypoints").glob("*.parquet")}
    assert set(parts) == {part_name(k) for k in done}  # complete sources only, nothing half written

    resumed = batch.run(inputs, out, workers=0, **SETTINGS)
    assert {e["key"] for e in resumed.sources if e["status"] == "skipped"} == done
    assert resumed.counts["done"] == 6 - len(done) and resumed.complete
    for name, stat in parts.items():  # not recomputed
        p = out / "keypoints" / name
        assert (p.stat().st_ino, p.stat().st_mtime_ns) == stat
    want = reference[2][~reference[2].source.str.contains("/bad/")].reset_index(drop=True)
    pd.testing.assert_frame_equal(batch.read_keypoints(out), want)


# --------------------------------------------------------------------------- inputs and errors


def test_find_sources_keys_globs_and_clashes(media, tmp_path):
    found = batch.find_sources([media / "images", str(media / "videos" / "*.mp4")])
    assert [s.key for s in found] == [
        "astronaut_png", "basketball1_png", "camera_png", "kite_jpg", "person_jpg", "vtest_pair_mp4",
    ]  # fmt: skip
    assert {s.kind for s in found} == {"image", "video"} and all(os.path.isabs(s.location) for s in found)
    (tmp_path / "a" / "sub").mkdir(parents=True)
    shutil.copy(media / "images" / "kite.jpg", tmp_path / "a" / "sub" / "x.jpg")
    shutil.copy(media / "images" / "kite.jpg", tmp_path / "a" / "x.jpg")
    (tmp_path / "a" / "notes.txt").write_text("not media")
    assert [s.key for s in batch.find_sources([tmp_path / "a"])] == ["sub/x_jpg", "x_jpg"]
    recursive = batch.find_sources([f"{tmp_path}/a/**/*.jpg"])
    assert [s.key for s in recursive] == ["sub/x_jpg", "x_jpg"]
    with pytest.raises(batch.BatchError, match="would both write to 'x_jpg'"):
        batch.find_sources([tmp_path / "a" / "x.jpg", tmp_path / "a" / "sub" / "x.jpg"])
    with pytest.raises(batch.BatchError, match="neither an image nor a video"):
        batch.find_sources([tmp_path / "a" / "notes.txt"])


def _cli(capsys, *argv):
    from posekit.cli import main

    code = main(list(argv))
    return code, capsys.readouterr().err.strip().splitlines()


def test_cli_errors_are_one_line(media, tmp_path, capsys, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, err = _cli(capsys, "batch", str(empty), "--out", str(tmp_path / "o"))
    assert code == 2 and err == [f"posekit: error: no images or videos found in {empty}"]
    code, err = _cli(capsys, "batch", str(tmp_path / "missing.jpg"), "--out", str(tmp_path / "o"))
    assert code == 2 and err == [f"posekit: error: input not found: {tmp_path / 'missing.jpg'}"]
    blocker = tmp_path / "file"
    blocker.write_text("a file where the output folder should be")
    code, err = _cli(capsys, "batch", str(media / "images" / "kite.jpg"), "--out", str(blocker))
    assert (
        code == 2
        and len(err) == 1
        and err[0].startswith(f"posekit: error: output folder {blocker} is not writable")
    )
    code, err = _cli(
        capsys, "batch", str(media / "images"), "--out", str(tmp_path / "o"), "--model", "no_such_model"
    )
    assert code == 2 and len(err) == 1 and "no_such_model" in err[0] and err[0].startswith("posekit: error:")
    code, err = _cli(capsys, "batch", str(media / "images"), "--out", str(tmp_path / "o"), "--workers", "0")
    assert code == 2 and err == ["posekit: error: argument --workers: expected a positive integer, got '0'"]
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    code, err = _cli(capsys, "batch", str(media / "images"), "--out", str(tmp_path / "o"), "--ray")
    assert code == 2 and err == ["posekit: error: --ray needs Ray: pip install posekit[ray]"]
    assert not (tmp_path / "o" / "keypoints").exists() or not any((tmp_path / "o" / "keypoints").iterdir())


def test_cli_reports_failed_sources_and_exits_1(media, tmp_path, capsys):
    from posekit.cli import main

    code = main(["batch", str(media / "bad" / "corrupt.jpg"), str(media / "images" / "kite.jpg"),
                 "--out", str(tmp_path), "--workers", "1", "--no-progress"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 1
    assert "1 sources done (1 frames), 0 already complete, 1 failed" in captured.out
    assert f"posekit: failed: {media / 'bad' / 'corrupt.jpg'}: ImageError: cannot read" in captured.err
