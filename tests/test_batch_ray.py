"""``posekit batch --ray`` on a real two-node Ray cluster (two raylets on 127.0.0.1, one CPU each).

An actor process is killed mid-run: Ray restarts it, retries its units, and the table is still
complete with no duplicate rows and the same keypoints as an in-process run. Skipped when Ray is
not installed, unless ``POSEKIT_REQUIRE_RAY=1``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("pyarrow")
pd = pytest.importorskip("pandas")

if os.environ.get("POSEKIT_REQUIRE_RAY") != "1":
    pytest.importorskip(
        "ray", reason="Ray is not installed (pip install posekit[ray]); POSEKIT_REQUIRE_RAY=1 makes this fail"
    )
import ray  # noqa: E402,F401 - fails here under POSEKIT_REQUIRE_RAY=1 when missing

from posekit import batch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RAY = str(Path(sys.executable).with_name("ray"))
MAX_FRAMES = 12
CHUNK = 2  # 6 chunks of the video + 1 finish + 5 images: plenty of units for a kill to land in
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _actor_pids() -> set[int]:
    """Processes of posekit's Ray actors (Ray titles them ``ray::Worker...``)."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if cmdline.startswith("ray::Worker"):
            pids.add(int(entry.name))
    return pids


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A head and a second worker node started with ``ray start``; ``ray stop --force`` at the end."""
    temp = tmp_path_factory.mktemp("ray")
    port = _free_port()
    # A loopback test cluster: no token authentication (a head started where ~/.ray/auth_token exists
    # asks for the token, which a joining `ray start` does not send).
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(ROOT)}
    common = ["--num-cpus", "1", "--object-store-memory", str(100 * 1024**2), "--disable-usage-stats"]
    address = f"127.0.0.1:{port}"

    def stop():
        subprocess.run([RAY, "stop", "--force"], env=env, capture_output=True, timeout=120)

    def start(args: list[str]) -> None:
        cmd = [RAY, "start", *args, *common]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
        if proc.returncode != 0:
            pytest.fail(f"ray start {args[0]} failed:\n{proc.stdout[-1500:]}\n{proc.stderr[-1500:]}")

    try:
        start(["--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
               "--include-dashboard", "false", "--temp-dir", str(temp)])  # fmt: skip
        start(["--address", address, "--node-ip-address", "127.0.0.1"])
    except BaseException:
        stop()
        raise
    yield address, env
    stop()


def test_ray_batch_survives_a_killed_actor(cluster, tmp_path):
    address, env = cluster
    media = tmp_path / "media"
    shutil.copytree(ROOT / "images", media / "images", ignore=shutil.ignore_patterns("*.md"))
    shutil.copytree(ROOT / "videos", media / "videos", ignore=shutil.ignore_patterns("*.md"))
    inputs = [str(media / "images"), str(media / "videos")]
    out = tmp_path / "ray-out"
    cmd = [sys.executable, "-m", "posekit", "batch", *inputs, "--out", f"file://{out}", "--ray",
           "--num-cpus-per-worker", "1", "--max-frames", str(MAX_FRAMES), "--chunk-frames", str(CHUNK),
           "--no-progress"]  # fmt: skip
    before = _actor_pids()
    proc = subprocess.Popen(cmd, env={**env, "RAY_ADDRESS": address}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        # Wait until both actors run (each has its model) and some work is done, then kill one.
        deadline = time.monotonic() + 300
        victim = None
        while time.monotonic() < deadline and proc.poll() is None:
            actors = _actor_pids() - before
            if len(actors) >= 2 and (out / "manifest.json").exists():
                manifest = json.loads((out / "manifest.json").read_text())
                if manifest["counts"]["done"] >= 1 or any((out / "keypoints").glob("*.parquet")):
                    victim, at_kill = min(actors), actors
                    os.kill(victim, signal.SIGKILL)
                    break
            time.sleep(0.1)
        assert victim is not None, "the actors never started"
        seen = set()
        while proc.poll() is None:
            seen |= _actor_pids() - before
            time.sleep(0.2)
        stdout, stderr = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, (stdout, stderr)
    assert seen - at_kill, "the killed actor was not restarted (no new actor process)"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["engine"] == "ray" and manifest["workers"] == 2
    assert manifest["counts"] == {"done": 6, "skipped": 0, "failed": 0, "pending": 0}, manifest["sources"]

    table = batch.read_keypoints(out)
    assert not table.duplicated(["source", "frame", "person_id", "part"]).any()
    video = str(media / "videos" / "vtest_pair.mp4")
    assert sorted(table[table.source == video].frame.unique()) == list(range(MAX_FRAMES))

    # The same rows as an in-process run of the same batch.
    local = batch.run(inputs, tmp_path / "local-out", workers=0, max_frames=MAX_FRAMES, progress=False)
    assert local.counts["done"] == 6
    pd.testing.assert_frame_equal(table, batch.read_keypoints(tmp_path / "local-out"))
