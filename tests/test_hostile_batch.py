"""``posekit batch`` under hostile input (issue 22, items 2-6 and 8-10): names that nest, two runs into one
folder, hidden part names, sources changed in place, symlink loops, FIFOs, refused options, a full disk.

Runs that need the network use ``workers=0`` (in this process, the model loaded once) and are marked
``slow``; the others stop before any model loads. Where the fault was a hang, the test runs the command
in a subprocess with a timeout.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("pyarrow")
pd = pytest.importorskip("pandas")
pq = pytest.importorskip("pyarrow.parquet")

from posekit import batch  # noqa: E402
from posekit.batch.store import METADATA_KEY, Store, part_name  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
KITE = ROOT / "images" / "kite.jpg"
PERSON = ROOT / "images" / "person.jpg"
QUICK = dict(workers=0, progress=False)
TIMEOUT = 120  # seconds for a CLI subprocess that used to hang


def posekit(*argv: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    """``posekit ARGV`` in a subprocess (killed after ``timeout``: a hang fails the test)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, "-m", "posekit", *argv], capture_output=True, text=True, timeout=timeout, env=env
    )


def error_lines(proc: subprocess.CompletedProcess) -> list[str]:
    return [line for line in proc.stderr.splitlines() if line.strip()]


def manifest_file(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def check_manifest_true_to_parts(out: Path) -> None:
    """Every source listed complete has its keypoints file, and every keypoints file a complete entry."""
    listed = {e["key"] for e in manifest_file(out)["sources"] if e["status"] in ("done", "skipped")}
    parts = {n for n in os.listdir(out / "keypoints") if n.endswith(".parquet") and not n.startswith(".")}
    assert {part_name(k) for k in listed} == parts


# --------------------------------------------------------------------------- 2. names never nest


def test_output_keys_never_nest_or_collide(tmp_path):
    (tmp_path / "a" / "x_jpg").mkdir(parents=True)
    (tmp_path / "a" / "x_jpg_").mkdir()
    (tmp_path / "b" / "x_jpg").mkdir(parents=True)
    for rel in ("a/x.jpg", "a/x_jpg/y.jpg", "a/x_jpg_/z.png", "b/x_jpg/w.jpg"):
        shutil.copy(KITE, tmp_path / rel)
    found = batch.find_sources([tmp_path / "a"])
    assert [s.key for s in found] == ["x_jpg", "x_jpg_/y_jpg", "x_jpg__/z_png"]
    # across inputs (each named relative to its own folder): x.jpg of a, x_jpg/w.jpg of b
    keys = [s.key for s in batch.find_sources([tmp_path / "a", tmp_path / "b"])]
    assert keys == ["x_jpg", "x_jpg_/y_jpg", "x_jpg__/z_png", "x_jpg_/w_jpg"]
    for k in keys:
        assert not any(other.startswith(k + "/") for other in keys), k


@pytest.mark.slow
def test_nested_names_keep_every_sources_outputs(tmp_path):
    (tmp_path / "a" / "x_jpg").mkdir(parents=True)
    shutil.copy(KITE, tmp_path / "a" / "x.jpg")
    shutil.copy(PERSON, tmp_path / "a" / "x_jpg" / "y.jpg")
    out = tmp_path / "out"
    first = batch.run([tmp_path / "a"], out, **QUICK)
    assert [e["status"] for e in first.sources] == ["done", "done"]
    again = batch.run([tmp_path / "a"], out, **QUICK)
    assert [e["status"] for e in again.sources] == ["skipped", "skipped"]
    for e in again.sources:  # both JSON files are there after both runs (y's was deleted by x's commit)
        stem = Path(e["source"]).stem
        data = json.loads((out / e["outputs"] / f"{stem}_keypoints.json").read_text(encoding="utf-8"))
        assert len(data["people"]) == e["people"] > 0
    check_manifest_true_to_parts(out)
    shutil.rmtree(out / "sources" / "x_jpg_")  # y's JSON is gone: y is not complete any more
    third = batch.run([tmp_path / "a"], out, **QUICK)
    assert [e["status"] for e in third.sources] == ["skipped", "done"]
    assert (out / "sources" / "x_jpg_" / "y_jpg" / "y_keypoints.json").is_file()


# --------------------------------------------------------------------------- 3. one run per --out

HOLDER = """
import sys, time
from posekit.batch.store import Store
Store(sys.argv[1]).lock()
print("locked", flush=True)
time.sleep(120)
"""


def hold_lock(out: Path) -> subprocess.Popen:
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_run_into_one_out_is_refused_naming_the_pid(tmp_path, capsys):
    from posekit.cli import main

    out = tmp_path / "out"
    (out / ".partial" / "tmp123").mkdir(parents=True)  # the first run's staging folder
    holder = hold_lock(out)
    try:
        with pytest.raises(
            batch.OutputBusy, match=rf"another posekit batch \(pid {holder.pid} on .*\) is writing"
        ):
            batch.run([KITE], out, **QUICK)
        code = main(["batch", str(KITE), "--out", str(out), "--no-progress"])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and f"(pid {holder.pid} on " in err[0], err
        assert (out / ".partial" / "tmp123").is_dir()  # the other run's staging folder is untouched
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    # the holder died (kill -9): its lock file is still there, with its pid, and is taken over
    assert f"pid {holder.pid}" in (out / ".lock").read_text(encoding="utf-8")
    store = Store(out)
    store.lock()
    assert (out / ".lock").read_text(encoding="utf-8").startswith(f"pid {os.getpid()} ")
    store.unlock()
    assert not (out / ".lock").exists()


@pytest.mark.slow
def test_manifest_is_merged_across_runs(tmp_path):
    out = tmp_path / "out"
    batch.run([KITE], out, **QUICK)
    batch.run([PERSON], out, **QUICK)
    listed = {e["source"]: e["status"] for e in manifest_file(out)["sources"]}
    assert listed == {str(KITE): "done", str(PERSON): "done"}  # the second run did not drop the first's
    assert manifest_file(out)["counts"]["done"] == 2
    assert set(batch.read_keypoints(out).source) == {str(KITE), str(PERSON)}
    check_manifest_true_to_parts(out)


# --------------------------------------------------------------------------- 4. part names every reader reads


def test_part_names_never_start_with_dot_or_underscore():
    for key in (".hidden_jpg", "_under_jpg", "__x_jpg", "._x_jpg", "sub/.h_jpg", "plain_jpg"):
        name = part_name(key)
        assert name[0] not in "._" and name.endswith(".parquet"), name
    assert len({part_name(k) for k in ("_x_jpg", "x_jpg", ".x_jpg", "__x_jpg")}) == 4  # still unique


@pytest.mark.slow
def test_every_reader_reads_every_source(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    names = [".hidden.jpg", "_under.jpg", "__double.jpg", "plain.jpg"]
    for name in names:
        shutil.copy(KITE, src / name)
    out = tmp_path / "out"
    manifest = batch.run([src], out, **QUICK)
    assert manifest.counts["done"] == len(names)
    people = manifest.sources[0]["people"]
    expected = {str(src / n) for n in names}
    for table in (pd.read_parquet(out / "keypoints"), pq.read_table(out / "keypoints").to_pandas(),
                  batch.read_keypoints(out)):  # fmt: skip
        assert set(table.source) == expected
        assert table.groupby("source").person_id.nunique().tolist() == [people] * len(names)


# --------------------------------------------------------------------------- 5. changed sources are redone


@pytest.mark.slow
def test_source_replaced_in_place_is_redone(tmp_path):
    a = cv2.imread(str(KITE))[:300, :400]
    b = cv2.imread(str(PERSON))[:300, :400]
    src = tmp_path / "x.bmp"  # uncompressed: both images have the same size in bytes
    cv2.imwrite(str(src), a)
    out = tmp_path / "out"
    first = batch.run([src], out, **QUICK).sources[0]
    stat = src.stat()
    cv2.imwrite(str(src), b)
    os.utime(src, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size, same mtime: only the content differs
    assert src.stat().st_size == stat.st_size and src.stat().st_mtime_ns == stat.st_mtime_ns
    second = batch.run([src], out, **QUICK).sources[0]
    assert first["status"] == "done" and second["status"] == "done"  # redone, not "already complete"
    fresh = batch.run([src], tmp_path / "fresh", **QUICK).sources[0]
    assert second["people"] == fresh["people"] != first["people"]
    assert batch.read_keypoints(out).equals(batch.read_keypoints(tmp_path / "fresh"))
    record = json.loads(pq.read_schema(out / second["keypoints"]).metadata[METADATA_KEY])
    assert record["fingerprint"]["size"] == stat.st_size and len(record["fingerprint"]["sha256"]) == 64
    assert batch.run([src], out, **QUICK).sources[0]["status"] == "skipped"  # unchanged: not redone


# --------------------------------------------------------------------------- 6. duplicates


def test_symlink_loop_and_links_give_each_file_once(tmp_path):
    a = tmp_path / "a"
    a.mkdir()
    shutil.copy(KITE, a / "x.jpg")
    (a / "loop").symlink_to("..")  # a/loop/a/loop/... under **
    (a / "alias.jpg").symlink_to("x.jpg")
    for pattern in (f"{a}/**/*.jpg", f"{tmp_path}/**/*.jpg"):
        found = batch.find_sources([pattern])
        assert [s.key for s in found] in (["alias_jpg"], ["x_jpg"], ["a/alias_jpg"], ["a/x_jpg"]), found
    assert len(batch.find_sources([a, a / "x.jpg", f"{a}/*.jpg"])) == 1


def test_output_folder_inside_an_input_is_not_searched(tmp_path):
    src = tmp_path / "in"
    (src / "out" / "sources" / "x_jpg").mkdir(parents=True)
    shutil.copy(KITE, src / "x.jpg")
    shutil.copy(KITE, src / "out" / "sources" / "x_jpg" / "x_pose.jpg")  # a drawn output of a run
    assert len(batch.find_sources([src])) == 2
    for inputs in ([src], [f"{src}/**/*.jpg"]):
        found = batch.find_sources(inputs, exclude=[src / "out"])
        assert [s.name for s in found] == [str(src / "x.jpg")]
    fsspec = pytest.importorskip("fsspec")
    memory = fsspec.filesystem("memory")
    memory.pipe_file("/posekit-exclude-test/in/x.jpg", KITE.read_bytes())
    memory.pipe_file("/posekit-exclude-test/in/out/sources/x_jpg/x_pose.jpg", KITE.read_bytes())
    url = "memory://posekit-exclude-test/in"
    assert len(batch.find_sources([url])) == 2
    found = batch.find_sources([url], exclude=[f"{url}/out"])
    assert [s.name for s in found] == ["memory:///posekit-exclude-test/in/x.jpg"]


@pytest.mark.slow
def test_rerun_with_out_inside_the_input_does_not_grow(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(KITE, src / "x.jpg")
    for _ in range(2):
        manifest = batch.run([src], src / "out", draw=True, **QUICK)
        assert [e["source"] for e in manifest.sources] == [str(src / "x.jpg")]
    assert manifest.sources[0]["status"] == "skipped"


# --------------------------------------------------------------------------- 8. FIFOs and other special files


FIFO = "it is a FIFO (named pipe), not a regular file"


@pytest.fixture
def fifo_folder(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    folder = tmp_path / "in"
    folder.mkdir()
    os.mkfifo(folder / "pipe.jpg")
    os.mkfifo(folder / "pipe.mp4")
    return folder


def test_batch_reports_a_fifo_failed_without_opening_it(fifo_folder, tmp_path):
    proc = posekit(
        "batch", str(fifo_folder), "--out", str(tmp_path / "out"), "--no-progress", "--workers", "1"
    )
    assert proc.returncode == 1, proc.stderr
    assert error_lines(proc) == [
        f"posekit: failed: {fifo_folder / n}: OSError: cannot read {fifo_folder / n}: {FIFO}"
        for n in ("pipe.jpg", "pipe.mp4")
    ]
    assert "0 sources done (0 frames), 0 already complete, 2 failed" in proc.stdout
    # named explicitly, the same
    proc = posekit("batch", str(fifo_folder / "pipe.jpg"), "--out", str(tmp_path / "o2"), "--no-progress")
    assert proc.returncode == 1 and len(error_lines(proc)) == 1 and "FIFO" in proc.stderr


def test_image_and_video_refuse_a_fifo_in_one_line(fifo_folder):
    proc = posekit("image", str(fifo_folder / "pipe.jpg"))
    assert proc.returncode == 2
    assert error_lines(proc) == [f"posekit: error: cannot read {fifo_folder / 'pipe.jpg'}: {FIFO}"]
    proc = posekit("video", str(fifo_folder / "pipe.mp4"), "--csv", str(fifo_folder / "o.csv"))
    assert proc.returncode == 2
    assert error_lines(proc) == [f"posekit: error: cannot read {fifo_folder / 'pipe.mp4'}: {FIFO}"]


def test_one_refusal_of_special_files(fifo_folder, tmp_path):
    # posekit.video.sources.special_file_error words it for image, video, batch's reader and its fingerprint
    from posekit.batch.sources import Source
    from posekit.batch.store import fingerprint
    from posekit.batch.worker import Options, Worker
    from posekit.video.sources import special_file_error

    pipe = fifo_folder / "pipe.jpg"
    assert special_file_error(pipe) == f"cannot read {pipe}: {FIFO}"
    assert special_file_error(pipe, "p") == f"cannot read p: {FIFO}"
    assert special_file_error(KITE) is None and special_file_error(tmp_path) is None
    assert special_file_error(tmp_path / "missing.jpg") is None  # its reader says it is missing
    source = Source(name="p", location=str(pipe), key="p", kind="image")
    with pytest.raises(OSError, match=f"^cannot read p: {re.escape(FIFO)}$"):
        fingerprint(source)
    with pytest.raises(OSError, match=f"^cannot read p: {re.escape(FIFO)}$"):
        Worker(Options(), str(tmp_path / "out"))._read_image(source)
    folder = dataclasses.replace(source, location=str(tmp_path))
    with pytest.raises(OSError, match="^cannot read p: it is a folder, not a file$"):
        fingerprint(folder)


# --------------------------------------------------------------------------- 9. options checked as image does


@pytest.mark.parametrize(
    "options",
    [
        ("--precision", "int8", "--engine", "tflite"),
        ("--precision", "bf16", "--engine", "tf"),
        ("--resize", "4096x4096", "--upsample", "25"),
    ],
    ids=["int8-tflite", "bf16-tf", "huge-grid"],
)
def test_batch_refuses_what_image_refuses_before_any_worker(options, tmp_path):
    image = posekit("image", str(KITE), *options)
    out = tmp_path / "out"
    started = time.perf_counter()
    proc = posekit("batch", str(KITE), "--out", str(out), "--workers", "2", *options)
    assert image.returncode == proc.returncode == 2
    assert len(error_lines(image)) == 1 and error_lines(proc) == error_lines(image)
    assert not out.exists()  # refused before the output folder, the pool or a conversion
    assert time.perf_counter() - started < TIMEOUT


def test_run_refuses_bad_frame_options_as_process_video_does():
    from posekit.video.sources import check_every, check_max_frames

    for options, check in (
        ({"every": 0}, lambda: check_every(0)),
        ({"max_frames": True}, lambda: check_max_frames(True)),
    ):
        with pytest.raises(ValueError) as video_error:
            check()
        with pytest.raises(batch.BatchError, match=f"^{re.escape(str(video_error.value))}$"):
            batch.run([KITE], "unused", **options, **QUICK)
    with pytest.raises(batch.BatchError, match=r"^every must be an integer >= 1, got 2\.0$"):
        batch.run([KITE], "unused", every=2.0, **QUICK)
    with pytest.raises(batch.BatchError, match="^chunk_frames must be an integer >= 1, got 0$"):
        batch.run([KITE], "unused", chunk_frames=0, **QUICK)
    assert not Path("unused").exists()


def test_run_refuses_bad_model_options():
    with pytest.raises(batch.BatchError, match="int8"):
        batch.run([KITE], "unused", precision="int8", engine="tflite", **QUICK)
    with pytest.raises(batch.BatchError, match="openvino"):
        batch.run([KITE], "unused", precision="bf16", engine="tf", **QUICK)
    with pytest.raises(batch.BatchError, match="upsample|grid"):
        batch.run([KITE], "unused", input_size=(4096, 4096), upsample=25, **QUICK)
    with pytest.raises(batch.BatchError, match="unknown network engine 'cuda': valid engines are auto, "):
        batch.run([KITE], "unused", engine="cuda", **QUICK)
    # engine= is the network engine, as in PoseEstimator; where the work runs is executor=
    with pytest.raises(
        batch.BatchError, match=r"unknown network engine 'ray'.*\(where the work runs is executor='ray'\)$"
    ):
        batch.run([KITE], "unused", engine="ray", **QUICK)
    with pytest.raises(batch.BatchError, match="^executor must be one of local, ray, got 'dask'$"):
        batch.run([KITE], "unused", executor="dask", **QUICK)
    with pytest.raises(TypeError, match="network_engine"):
        batch.run([KITE], "unused", network_engine="tf", **QUICK)  # no second name for the engine
    assert not Path("unused").exists()


# --------------------------------------------------------------------------- 10. full disk and the rest


@pytest.mark.slow
def test_full_disk_stops_at_the_first_failed_write(tmp_path, monkeypatch):
    import posekit.export as export

    src = tmp_path / "in"
    src.mkdir()
    for name in ("a.jpg", "b.jpg", "c.jpg", "d.jpg"):
        shutil.copy(KITE, src / name)
    real = export.write_openpose_json
    calls = []

    def write(path, people):  # the second source's JSON hits a full disk (simulated; no root needed)
        calls.append(path)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, people)

    monkeypatch.setattr(export, "write_openpose_json", write)
    out = tmp_path / "out"
    with pytest.raises(
        batch.OutputError, match=r"^disk full \(ENOSPC\) while writing .*b_keypoints\.json"
    ) as info:
        batch.run([src], out, **QUICK)
    assert "1 sources complete and 2 not reached" in str(info.value)
    assert [e["status"] for e in info.value.manifest.sources] == ["done", "failed", "pending", "pending"]
    assert len(calls) == 2  # nothing was tried after the failed write
    check_manifest_true_to_parts(out)
    assert not (out / ".partial").exists() or not any((out / ".partial").iterdir())
    monkeypatch.setattr(export, "write_openpose_json", real)
    resumed = batch.run([src], out, **QUICK)
    assert [e["status"] for e in resumed.sources] == ["skipped", "done", "done", "done"]
    check_manifest_true_to_parts(out)


def test_full_disk_on_the_manifest_stops_the_run(tmp_path, monkeypatch):
    import posekit.batch.store as store

    real = store.write_bytes_atomic

    def full(path, data):  # the disk fills up after the start-up probe
        if Path(path).name == "manifest.json":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, data)

    monkeypatch.setattr(store, "write_bytes_atomic", full)
    with pytest.raises(batch.OutputError, match=r"disk full \(ENOSPC\) while writing .*manifest\.json"):
        batch.run([KITE], tmp_path / "out", **QUICK)


@pytest.mark.slow
def test_cli_on_a_real_full_disk_names_enospc_in_one_line(small_disk, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(6):
        cv2.imwrite(str(src / f"k{i}.png"), cv2.imread(str(KITE)))  # drawn as PNG: libpng wrote the errors
    out = small_disk("2m") / "out"
    proc = posekit(
        "batch", str(src), "--out", str(out), "--draw", "--workers", "1", "--no-progress", timeout=600
    )
    lines = error_lines(proc)
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("posekit: error: disk full (ENOSPC) while writing"), lines
    assert "libpng" not in proc.stderr and "Traceback" not in proc.stderr
    check_manifest_true_to_parts(out)


def test_workers_capped_at_what_the_machine_holds(monkeypatch):
    monkeypatch.setattr(batch, "_usable_cpus", lambda: 16)
    monkeypatch.setattr(batch, "_available_memory", lambda: int(2.5 * 2**30))
    workers, reason = batch.cap_workers(1000)
    assert workers == 2
    assert reason == (
        "workers=1000 capped to 2: this machine has 16 usable CPUs and 2.5 GiB of memory available "
        "(1 GiB per worker)"
    )
    assert batch.cap_workers(2) == (2, None) and batch.cap_workers(None) == (2, None)
    monkeypatch.setattr(batch, "_available_memory", lambda: None)
    assert batch.cap_workers(1000) == (16, "workers=1000 capped to 16: this machine has 16 usable CPUs")


def test_cli_workers_1000_is_capped_and_says_so(fifo_folder, tmp_path):
    # the FIFO fails before any worker is needed: the cap is reported without starting 1000 processes
    proc = posekit("batch", str(fifo_folder / "pipe.jpg"), "--out", str(tmp_path / "o"), "--workers", "1000")
    warnings = [line for line in error_lines(proc) if line.startswith("posekit: warning:")]
    assert len(warnings) == 1 and warnings[0].startswith("posekit: warning: workers=1000 capped to "), (
        proc.stderr
    )
    assert manifest_file(tmp_path / "o")["workers"] <= os.cpu_count()


def test_cli_refuses_bad_locations_in_one_line(tmp_path, capsys, monkeypatch):
    from posekit.cli import main

    def cli(*argv):
        code = main(["batch", *argv, "--no-progress"])
        return code, capsys.readouterr().err.strip().splitlines()

    out = str(tmp_path / "o")
    assert cli("s3://bucket/images", "--out", out) == (
        2, ["posekit: error: s3:// URLs need an fsspec package that is not installed: pip install s3fs"]
    )  # fmt: skip
    assert cli(str(KITE), "--out", "gs://bucket/run") == (
        2, ["posekit: error: gs:// URLs need an fsspec package that is not installed: pip install gcsfs"]
    )  # fmt: skip
    code, err = cli(str(KITE), "--out", "memory://x")
    assert (
        code == 2
        and len(err) == 1
        and err[0].startswith("posekit: error: --out memory://x: a memory:// folder")
    )
    code, err = cli("", "--out", out)
    assert code == 2 and err == [
        "posekit: error: empty input name '': give a file, folder or pattern (\".\" for this folder)"
    ]
    code, err = cli(str(KITE), "--out", "")
    assert code == 2 and err == ["posekit: error: empty output folder name ''"]
    assert not (tmp_path / "o").exists()


def test_literal_path_with_glob_characters(tmp_path):
    shutil.copy(KITE, tmp_path / "a[1].jpg")
    shutil.copy(KITE, tmp_path / "a1.jpg")  # what a[1].jpg means as a pattern
    assert [s.name for s in batch.find_sources([tmp_path / "a[1].jpg"])] == [str(tmp_path / "a[1].jpg")]
    assert [s.name for s in batch.find_sources([f"{tmp_path}/a[0-9].jpg"])] == [str(tmp_path / "a1.jpg")]


@pytest.mark.slow
def test_part_without_a_record_key_is_redone_with_one_line(tmp_path, capsys):
    from posekit.cli import main

    out = tmp_path / "out"
    entry = batch.run([KITE], out, **QUICK).sources[0]
    path = out / entry["keypoints"]
    table = pq.read_table(path)
    record = json.loads(table.schema.metadata[METADATA_KEY])
    del record["frames"]
    pq.write_table(table.replace_schema_metadata({METADATA_KEY: json.dumps(record).encode()}), path)
    code = main(["batch", str(KITE), "--out", str(out), "--workers", "1", "--no-progress"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.err.strip().splitlines() == [
        f"posekit: warning: 1 keypoints file(s) lack keys of the posekit record, their sources are redone: "
        f"{entry['keypoints']} (frames)"
    ]
    assert "1 sources done (1 frames), 0 already complete" in captured.out
    assert "frames" in json.loads(pq.read_schema(path).metadata[METADATA_KEY])


def test_object_store_lock(tmp_path):
    import socket

    fsspec = pytest.importorskip("fsspec")
    held = Store("memory://posekit-lock-test/busy")
    held.lock()
    try:
        with pytest.raises(batch.OutputBusy, match=rf"another posekit batch \(pid {os.getpid()} on "):
            batch.run([KITE], "memory://posekit-lock-test/busy", **QUICK)
    finally:
        held.unlock()
    assert not fsspec.filesystem("memory").exists("/posekit-lock-test/busy/.lock")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid of this host that no longer runs
    memory = fsspec.filesystem("memory")
    memory.pipe_file("/posekit-lock-test/stale/.lock", f"pid {gone.pid} on {socket.gethostname()}".encode())
    stale = Store("memory://posekit-lock-test/stale")
    stale.lock()  # taken over
    assert memory.cat_file("/posekit-lock-test/stale/.lock").decode().startswith(f"pid {os.getpid()} ")
    stale.unlock()
    memory.pipe_file("/posekit-lock-test/other/.lock", b"pid 1 on another-host")
    with pytest.raises(batch.OutputBusy, match=r"\(pid 1 on another-host\).*remove memory://.*/other/\.lock"):
        Store("memory://posekit-lock-test/other").lock()


def test_stored_record_must_match_settings_content_and_model_file(tmp_path):
    # a keypoints file counts as complete only for the same settings, the same source content and the
    # same graph file content (a model file replaced in place has its sources redone)
    from posekit.batch import _stored
    from posekit.batch.store import fingerprint, keypoint_table
    from posekit.batch.worker import Options

    shutil.copy(KITE, tmp_path / "x.jpg")
    source = batch.find_sources([tmp_path / "x.jpg"])[0]
    source = type(source)(**{**source.__dict__, "fingerprint": fingerprint(source)})
    store = Store(tmp_path / "out")
    store.makedirs(f"sources/{source.key}")
    options = Options(model="graph.pb", model_sha256="a" * 64)
    record = {**options.record(), "frames": 1, "people": 0, "seconds": 0.1, "fingerprint": source.fingerprint}
    store.write_table(f"keypoints/{part_name(source.key)}", keypoint_table(source.name, [(0, [])], record))
    parts = set(store.listdir("keypoints"))
    assert _stored(store, source, options.record(), parts)["frames"] == 1
    changed = Options(model="graph.pb", model_sha256="b" * 64)
    assert _stored(store, source, changed.record(), parts) is None
    # a record from before the checksums: settings that are None now may be absent, the rest may not
    published = Options()
    older = {k: v for k, v in record.items() if k not in ("weights_sha256", "model_sha256")}
    older.update(model=published.model)
    store.write_table(f"keypoints/{part_name(source.key)}", keypoint_table(source.name, [(0, [])], older))
    assert _stored(store, source, published.record(), parts)["frames"] == 1
    assert _stored(store, source, options.record(), parts) is None
    # a record of posekit 0.1, which named the network engine "network_engine": complete if it matches
    old = {("network_engine" if k == "engine" else k): v for k, v in record.items()}
    store.write_table(f"keypoints/{part_name(source.key)}", keypoint_table(source.name, [(0, [])], old))
    assert "engine" not in old and _stored(store, source, options.record(), parts)["frames"] == 1
    tf = dataclasses.replace(options, engine="tf")
    assert _stored(store, source, tf.record(), parts) is None


def test_cli_engine_is_the_network_engine_and_ray_the_executor(tmp_path, monkeypatch, capsys):
    from posekit.cli import main

    calls = []

    def run(inputs, out, **options):
        calls.append(options)
        raise batch.BatchError("stopped by the test")

    monkeypatch.setattr(batch, "run", run)
    for argv, want in (([], ("auto", "local")), (["--engine", "tf", "--ray"], ("tf", "ray"))):
        assert main(["batch", str(KITE), "--out", str(tmp_path / "out"), *argv]) == 2
        assert (calls[-1]["engine"], calls[-1]["executor"]) == want
        assert "network_engine" not in calls[-1]
    assert capsys.readouterr().err.strip().splitlines()[-1] == "posekit: error: stopped by the test"


def test_images_at_urls_are_decoded_as_local_files_are(tmp_path):
    # one decoder (posekit.preprocess.decode_image) behind read_image and the batch's URL sources
    fsspec = pytest.importorskip("fsspec")
    from posekit.batch.sources import Source
    from posekit.batch.worker import Options, Worker
    from posekit.preprocess import ImageError, read_image

    memory = fsspec.filesystem("memory")
    memory.pipe_file("/posekit-decode/kite.jpg", KITE.read_bytes())
    memory.pipe_file("/posekit-decode/bad.jpg", b"not an image")
    worker = Worker(Options(), str(tmp_path / "out"))
    good = Source(name="memory://posekit-decode/kite.jpg", location="memory://posekit-decode/kite.jpg",
                  key="kite_jpg", kind="image")  # fmt: skip
    np.testing.assert_array_equal(worker._read_image(good), read_image(KITE))
    bad = dataclasses.replace(
        good, name="memory://posekit-decode/bad.jpg", location="memory://posekit-decode/bad.jpg"
    )
    with pytest.raises(
        ImageError, match=r"^cannot read memory://posekit-decode/bad\.jpg as an image \(unknown"
    ):
        worker._read_image(bad)
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    with pytest.raises(
        ImageError, match=r"^cannot read .*bad\.jpg as an image \(unknown or corrupt format\)$"
    ):
        read_image(tmp_path / "bad.jpg")


def test_manifest_of_posekit_0_1_is_read(tmp_path):
    # 0.1 wrote where the work ran as "engine" and the network engine as options["network_engine"]
    out = tmp_path / "out"
    out.mkdir()
    old = {
        "posekit": "0.1.0", "out": str(out), "engine": "local", "workers": 2, "seconds": 1.5,
        "options": {"model": "mobilenet_thin", "network_engine": "tflite", "every": 1},
        "sources": [{"source": "a.jpg", "key": "a_jpg", "kind": "image", "status": "done"}],
    }  # fmt: skip
    (out / batch.MANIFEST_NAME).write_text(json.dumps(old), encoding="utf-8")
    manifest = batch.Manifest.read(out)
    assert (manifest.executor, manifest.workers, manifest.seconds) == ("local", 2, 1.5)
    assert manifest.options == {"model": "mobilenet_thin", "engine": "tflite", "every": 1}
    assert manifest.counts["done"] == 1 and "engine" not in manifest.to_dict()


def test_a_wrapped_worker_error_is_reported_by_its_cause_without_colour_codes():
    """Ray hands back a RayTaskError in colour, with the worker's own exception as ``cause``."""
    from posekit.batch.sources import Source
    from posekit.batch.worker import failed

    class TaskError(Exception):
        def __init__(self, cause):
            super().__init__("\x1b[36mray::PoseActor.process()\x1b[39m (pid=1, ip=127.0.0.1)\n  traceback...")
            self.cause = cause

    source = Source(name="x.jpg", location="/data/x.jpg", key="x_jpg", kind="image")
    result = failed(source, TaskError(ValueError("\x1b[31mprecision 'int8' is not offered\x1b[0m: use bf16")))
    assert result["status"] == "failed"
    assert result["error"] == "ValueError: precision 'int8' is not offered: use bf16"
    plain = failed(source, TaskError(None))
    assert "\x1b" not in plain["error"] and plain["error"].startswith("TaskError: ray::PoseActor.process()")
