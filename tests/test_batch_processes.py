"""The processes ``posekit batch`` starts die with it, also when it is killed with ``kill -9``.

A local pool worker holds a model (about 1 GB); orphaned, it used to finish its unit, write a Parquet
part after its parent had died and live on, re-parented to init. Here the parent is killed mid-run
and the workers must be gone within seconds, with no output written after the kill. The watchdog
that backs the kernel's parent-death signal (and stands alone where there is none) is tested alone.
The Ray executor's processes are tested in ``test_batch_ray.py``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GONE_WITHIN_S = 10.0  # a worker that dies with its parent is gone at once; an orphan works on for minutes

posix_only = pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads processes from /proc (Linux)")


def _state(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, start time) of a live process, or None when it is gone (or a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
    if fields[0] == "Z":
        return None
    return fields[0], int(fields[1]), int(fields[19])


def _children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (state := _state(int(entry.name))) is not None and state[1] == pid:
            kids.append(int(entry.name))
    return kids


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _wait_gone(procs: dict[int, int], seconds: float) -> dict[int, int]:
    """Wait until none of ``procs`` ({pid: start time}) runs; returns those still running."""
    deadline = time.monotonic() + seconds
    while True:
        alive = {p: t for p, t in procs.items() if (s := _state(p)) is not None and s[2] == t}
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


# --------------------------------------------------------------------------- the watchdog alone

_CHILD = """
    import sys, time
    from posekit.batch.executors import _die_with_parent

    def main(parent_pid, kernel):
        _die_with_parent(parent_pid, kernel=kernel)
        time.sleep(600)
"""
_PARENT = """
    import multiprocessing, os, sys, time
    import dies_with_parent

    if __name__ == "__main__":
        ctx = multiprocessing.get_context("spawn")
        p = ctx.Process(target=dies_with_parent.main, args=(os.getpid(), sys.argv[1] == "kernel"))
        p.start()
        print(p.pid, flush=True)
        time.sleep(600)
"""


@posix_only
@pytest.mark.parametrize("kernel", ["kernel", "watchdog"])
def test_a_spawned_process_dies_with_its_killed_parent(tmp_path, kernel):
    """``kernel``: PR_SET_PDEATHSIG and the watchdog; ``watchdog``: the portable watchdog alone."""
    (tmp_path / "dies_with_parent.py").write_text(textwrap.dedent(_CHILD))
    (tmp_path / "parent.py").write_text(textwrap.dedent(_PARENT))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    parent = subprocess.Popen(
        [sys.executable, str(tmp_path / "parent.py"), kernel], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        child = int(parent.stdout.readline())
        started = _state(child)
        assert started is not None and started[1] == parent.pid
        time.sleep(1.0)  # the child is past _die_with_parent (its import takes a fraction of this)
        assert _state(child) is not None, "the child died with its parent alive"
        parent.kill()
        parent.wait(timeout=10)
        alive = _wait_gone({child: started[2]}, GONE_WITHIN_S)
    finally:
        if parent.poll() is None:
            parent.kill()
        parent.communicate(timeout=10)
    if alive:
        os.kill(child, signal.SIGKILL)
    assert not alive, f"the child outlived its killed parent by {GONE_WITHIN_S} s ({kernel})"


# --------------------------------------------------------------------------- the local pool


@posix_only
@pytest.mark.slow
def test_pool_workers_die_with_a_killed_batch_and_write_nothing_after(tmp_path):
    """``kill -9`` of ``posekit batch --workers 2`` mid-run: both workers gone at once, no part after."""
    media = tmp_path / "media"
    media.mkdir()
    for i in range(12):  # enough image units that both workers are busy when the parent dies
        shutil.copy(ROOT / "images" / ("person.jpg" if i % 2 else "kite.jpg"), media / f"img{i:02d}.jpg")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "posekit", "batch", str(media), "--out", str(out), "--workers", "2",
           "--no-progress"]  # fmt: skip
    log = tmp_path / "batch.log"  # a file, not a pipe: orphaned workers would hold a pipe open
    with open(log, "wb") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT)
    workers: dict[int, int] = {}
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            for pid in _children(proc.pid):
                if "spawn_main" in _cmdline(pid) and (state := _state(pid)) is not None:
                    workers[pid] = state[2]
            # both workers started and loaded (a first part is written): the run is in full swing
            if len(workers) >= 2 and any((out / "keypoints").glob("*.parquet")):
                break
            time.sleep(0.05)
        assert proc.poll() is None, f"the batch ended before it could be killed: {log.read_text()[-2000:]}"
        assert len(workers) == 2, f"expected 2 pool workers, saw {workers}"
        parts_before = {p.name for p in (out / "keypoints").glob("*.parquet")}
        assert len(parts_before) < 12, "the batch was nearly done when killed"
        killed_at = time.time()
        proc.kill()
        proc.wait(timeout=10)
        alive = _wait_gone(workers, GONE_WITHIN_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    for pid in alive:
        os.kill(pid, signal.SIGKILL)
    assert not alive, f"pool workers {sorted(alive)} outlived their killed parent by {GONE_WITHIN_S} s"
    time.sleep(1.0)
    late = [p.name for p in (out / "keypoints").glob("*.parquet") if p.stat().st_mtime > killed_at + 0.5]
    assert not late, f"Parquet parts written after the parent died: {late}"
    new = {p.name for p in (out / "keypoints").glob("*.parquet")} - parts_before
    assert len(new) <= 2, f"more parts than the two units in flight at the kill: {new}"


# --------------------------------------------------------------------------- the reaper of a local Ray

_DRIVER = """
    import json, os, subprocess, sys, time
    from posekit.batch import executors

    executors._start_reaper("t0k3n")
    marked_env = {**os.environ, executors.RUN_MARK: "t0k3n"}
    # a marked process (as Ray's are) starting an unmarked one (as a process hiding its environment)
    marked = subprocess.Popen([sys.executable, "-c", sys.argv[1]], env=marked_env, stdout=subprocess.PIPE)
    grandchild = int(marked.stdout.readline())
    bystander = subprocess.Popen(  # not the run's
        [sys.executable, "-c", "import time; time.sleep(600)"], stdout=subprocess.DEVNULL
    )
    print(json.dumps([marked.pid, grandchild, bystander.pid]), flush=True)
    time.sleep(600)
"""
_MARKED = (
    "import os, subprocess, sys, time; env = dict(os.environ); env.pop('POSEKIT_RAY_RUN'); "
    "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'], env=env, stdout=-3); "
    "print(p.pid, flush=True); time.sleep(600)"
)


@posix_only
def test_the_reaper_ends_the_runs_processes_when_its_driver_is_killed(tmp_path):
    """What the Ray executor relies on: marked processes and all below them end, the driver's others stay."""
    import json

    (tmp_path / "driver.py").write_text(textwrap.dedent(_DRIVER))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    driver = subprocess.Popen(
        [sys.executable, str(tmp_path / "driver.py"), _MARKED], env=env, stdout=subprocess.PIPE, text=True
    )
    procs: dict[int, int] = {}
    try:
        marked, grandchild, bystander = json.loads(driver.stdout.readline())
        procs = {pid: _state(pid)[2] for pid in (marked, grandchild, bystander)}
        time.sleep(2.0)  # the reaper notes the run's processes once a second
        driver.kill()
        driver.wait(timeout=10)
        alive = _wait_gone({marked: procs[marked], grandchild: procs[grandchild]}, GONE_WITHIN_S)
        bystander_alive = _state(bystander) is not None
    finally:
        if driver.poll() is None:
            driver.kill()
        for pid, start in procs.items():
            if (state := _state(pid)) is not None and state[2] == start:
                os.kill(pid, signal.SIGKILL)
        driver.communicate(timeout=10)
    assert not alive, f"the run's processes {sorted(alive)} outlived its killed driver by {GONE_WITHIN_S} s"
    assert bystander_alive, "the reaper killed a process that was not the run's"
