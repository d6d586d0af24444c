"""``posekit batch --ray`` on a real two-node Ray cluster (two raylets on this machine, one CPU each).

An actor process is killed mid-run: Ray restarts it, retries its units, and the table is still
complete with no duplicate rows and the same keypoints as an in-process run. Without ``RAY_ADDRESS``
the batch starts a Ray instance of its own: every listening socket of its processes is on loopback
(read from /proc, as ``ss -ltnp`` does), and its processes are gone when the run ends, also when the
batch process is killed with ``kill -9``. Skipped when Ray is not installed, unless
``POSEKIT_REQUIRE_RAY=1``.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
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
from posekit.batch import executors  # noqa: E402

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
    """A head and a second worker node started with ``ray start``, ended at the end.

    Every process of the cluster carries a mark in its environment that posekit's reaper of a local
    Ray instance ends (``executors._start_reaper``), also if pytest is killed: ``ray stop --force``
    would end every Ray process of the user on the machine, other runs' too.
    """
    temp = tmp_path_factory.mktemp("ray")
    token = uuid.uuid4().hex
    reaper = executors._start_reaper(token)
    # A test cluster as a user would start one (`ray start` puts its nodes on the machine's address,
    # whatever --node-ip-address says: a cluster joined through RAY_ADDRESS is its owner's to secure),
    # without token authentication (a head started where ~/.ray/auth_token exists asks for the token,
    # which a joining `ray start` does not send).
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(ROOT),
           executors.RUN_MARK: token}  # fmt: skip
    common = ["--num-cpus", "1", "--object-store-memory", str(100 * 1024**2), "--disable-usage-stats"]

    def stop():
        if reaper is not None:
            executors._stop_reaper(reaper)
        else:  # no /proc to find them by their mark
            subprocess.run([RAY, "stop", "--force"], env=env, capture_output=True, timeout=120)

    def start(make_args) -> list[str]:
        # On a loaded machine the raylet can give up waiting for its agents (slow Python starts):
        # "timed out during startup". Another start (a fresh port: the first GCS may hold the old one)
        # usually succeeds; the processes of a failed start end with `ray stop` below.
        for _ in range(3):
            args = make_args()
            proc = subprocess.run([RAY, "start", *args, *common], env=env, capture_output=True, text=True,
                                  timeout=180)  # fmt: skip
            if proc.returncode == 0:
                return args
            if "timed out during startup" not in proc.stdout + proc.stderr:
                break
        pytest.fail(f"ray start {args[0]} failed:\n{proc.stdout[-1500:]}\n{proc.stderr[-1500:]}")

    try:
        head = start(lambda: ["--head", "--node-ip-address", "127.0.0.1", "--port", str(_free_port()),
                              "--include-dashboard", "false", "--temp-dir", str(temp)])  # fmt: skip
        address = f"127.0.0.1:{head[head.index('--port') + 1]}"
        start(lambda: ["--address", address, "--node-ip-address", "127.0.0.1"])
    except BaseException:
        stop()
        raise
    yield address, env
    stop()


def test_ray_batch_survives_a_killed_actor(cluster, tmp_path):
    address, env = cluster
    media = tmp_path / "media"
    # the five photos (the counts below depend on them), as test_batch
    shutil.copytree(
        ROOT / "images", media / "images", ignore=shutil.ignore_patterns("*.md", "coco_val2017", "distill")
    )
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
    assert manifest["executor"] == "ray" and manifest["workers"] == 2
    assert manifest["counts"] == {"done": 6, "skipped": 0, "failed": 0, "pending": 0}, manifest["sources"]

    table = batch.read_keypoints(out)
    assert not table.duplicated(["source", "frame", "person_id", "part"]).any()
    video = str(media / "videos" / "vtest_pair.mp4")
    assert sorted(table[table.source == video].frame.unique()) == list(range(MAX_FRAMES))

    # The same rows as an in-process run of the same batch.
    local = batch.run(inputs, tmp_path / "local-out", workers=0, max_frames=MAX_FRAMES, progress=False)
    assert local.counts["done"] == 6
    pd.testing.assert_frame_equal(table, batch.read_keypoints(tmp_path / "local-out"))


# --------------------------------------------------------------------------- a Ray instance of its own


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time) of a live process, or None when it is gone (or a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return None if fields[0] == "Z" else (int(fields[1]), int(fields[19]))


def _descendants(root: int) -> dict[int, int]:
    """{pid: start time} of every live process below ``root`` (Ray's processes are all below the driver)."""
    parents: dict[int, list[int]] = {}
    starts = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (st := _stat(int(entry.name))) is not None:
            parents.setdefault(st[0], []).append(int(entry.name))
            starts[int(entry.name)] = st[1]
    found, todo = {}, [root]
    while todo:
        for kid in parents.get(todo.pop(), []):
            found[kid] = starts[kid]
            todo.append(kid)
    return found


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def _listening_sockets() -> dict[int, str]:
    """{socket inode: local address} of every listening TCP socket (/proc/net/tcp and tcp6)."""
    found = {}
    for name, width in (("tcp", 4), ("tcp6", 16)):
        try:
            lines = Path(f"/proc/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] != "0A":  # TCP_LISTEN
                continue
            hex_ip, hex_port = fields[1].split(":")
            raw = bytes.fromhex(hex_ip)  # the kernel writes each 32-bit word in host (little-endian) order
            ip = b"".join(raw[i : i + 4][::-1] for i in range(0, width, 4))
            found[int(fields[9])] = f"{ipaddress.ip_address(ip)}:{int(hex_port, 16)}"
    return found


def _listeners(pids) -> list[tuple[int, str, str]]:
    """(pid, process name, local address) of every listening TCP socket the processes hold."""
    sockets = _listening_sockets()
    found = []
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and (inode := int(target[8:-1])) in sockets:
                found.append((pid, _comm(pid), sockets[inode]))
    return sorted(set(found))


def _is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address.rsplit(":", 1)[0])
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


def _own_ray_batch(tmp_path: Path, images: int) -> tuple[subprocess.Popen, Path]:
    """``posekit batch --ray`` without RAY_ADDRESS (so a Ray instance of its own) over copies of a photo."""
    media = tmp_path / "media"
    media.mkdir()
    for i in range(images):
        shutil.copy(ROOT / "images" / "person.jpg", media / f"p{i:02d}.jpg")
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(RAY_USAGE_STATS_ENABLED="0", PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "posekit", "batch", str(media), "--out", str(out), "--ray", "--workers", "1",
           "--num-cpus-per-worker", "1", "--no-progress"]  # fmt: skip
    with open(tmp_path / "batch.log", "wb") as log:  # a file: a full pipe would stall the driver
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    return proc, out


def _log(tmp_path: Path) -> str:
    return (tmp_path / "batch.log").read_text(errors="replace")[-3000:]


def _wait_for_actor(proc: subprocess.Popen, tmp_path: Path) -> dict[int, int]:
    """The driver's descendants once its actor process runs (Ray titles it ``ray::Worker``)."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        below = _descendants(proc.pid)
        if any(_comm(pid).startswith("ray::Worker") for pid in below):
            return below
        time.sleep(0.2)
    pytest.fail(f"the Ray actor never started (exit {proc.poll()}):\n{_log(tmp_path)}")


def _still_running(procs: dict[int, int], seconds: float) -> list[str]:
    """Wait up to ``seconds`` for ``procs`` ({pid: start time}) to end; the ones still running."""
    deadline = time.monotonic() + seconds
    while True:
        alive = [f"{pid} {_comm(pid)}" for pid, t in procs.items() if (st := _stat(pid)) and st[1] == t]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)


def _kill_all(procs: dict[int, int]) -> None:
    for pid, t in procs.items():
        if (st := _stat(pid)) and st[1] == t:
            os.kill(pid, signal.SIGKILL)


def test_own_ray_instance_listens_on_loopback_only_and_ends_with_the_run(tmp_path):
    proc, out = _own_ray_batch(tmp_path, images=2)
    seen: dict[int, int] = {}
    try:
        seen |= _wait_for_actor(proc, tmp_path)
        listeners = _listeners([proc.pid, *seen])
        while proc.poll() is None:
            seen |= _descendants(proc.pid)
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=60)
    assert proc.returncode == 0, _log(tmp_path)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["executor"] == "ray" and manifest["counts"]["done"] == 2, manifest
    # Ray's servers all listened while the actor ran: the GCS, the raylet, the actor and the driver
    kinds = {"driver" if pid == proc.pid else name.split(".")[0] for pid, name, _ in listeners}
    assert {"gcs_server", "raylet", "ray::Worker", "driver"} <= kinds, listeners
    exposed = [entry for entry in listeners if not _is_loopback(entry[2])]
    assert not exposed, f"Ray listens beyond loopback: {exposed}"
    left = _still_running(seen, 5.0)  # the run waited for them before it exited
    _kill_all(seen)
    assert not left, f"processes of the run's Ray instance outlived it: {left}"


def test_own_ray_instance_dies_with_its_killed_driver(tmp_path):
    proc, _ = _own_ray_batch(tmp_path, images=40)
    below: dict[int, int] = {}
    try:
        below = _wait_for_actor(proc, tmp_path)
        time.sleep(1.0)
        below |= _descendants(proc.pid)  # the agents and idle workers the raylet started meanwhile
        assert len(below) >= 5, [f"{pid} {_comm(pid)}" for pid in below]  # gcs, raylet, agents, actor
        assert proc.poll() is None, _log(tmp_path)
        proc.kill()
        proc.wait(timeout=60)
        left = _still_running(below, 20.0)  # Ray alone: its agents live on for a minute or more
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=60)
        _kill_all(below)
    assert not left, f"processes of the killed batch's Ray instance still run 20 s later: {left}"
