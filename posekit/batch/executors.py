"""Where the work units of a batch run (``run(executor=...)``): in this process, on a pool of local
processes (``"local"``), or on Ray actors (``"ray"``).

``Plan`` holds the units still to run and turns results into per-source results; each executor only
moves units to workers and results back. Every worker owns one ``Worker`` (one estimator), so the
model is loaded once per process or actor.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import gc
import math
import os
import signal
import subprocess
import sys
import threading
import uuid
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from ..video.sources import selected_frames
from .sources import BatchError, Source
from .worker import Detections, Options, Worker, failed

__all__ = ["Unit", "Plan", "run_inline", "run_pool", "run_ray", "import_ray"]


@dataclasses.dataclass
class Unit:
    """One call of a ``Worker`` method: ``image``, ``video``, ``chunk`` or ``finish``."""

    method: str
    source: Source
    args: tuple = ()
    attempt: int = 0


def frame_count(source: Source) -> int | None:
    """The number of frames a local video says it has (no decoding past the first frame), or None."""
    if "://" in source.location:
        return None
    from ..video.sources import open_source

    try:
        with open_source(source.location) as src:
            return src.frame_count
    except (OSError, ValueError):
        return None  # its worker reports the error


class Plan:
    """The units of a batch and the bookkeeping that joins a video's chunks.

    Args:
        sources: the sources to compute.
        options: the run's options (``every`` and ``max_frames`` decide the chunks).
        chunk_frames: a video with more selected frames than this is cut into chunks of this many.
        on_result: called with (source, result dict, frames newly processed) when a source ends.
        on_frames: called with the number of frames a unit processed (for the progress bar).
    """

    def __init__(
        self, sources: list[Source], options: Options, chunk_frames: int,
        on_result: Callable[[Source, dict], None], on_frames: Callable[[int], None],
    ) -> None:  # fmt: skip
        self.queue: collections.deque[Unit] = collections.deque()
        self.parts: dict[str, list] = {}
        self.on_result = on_result
        self.on_frames = on_frames
        self.estimated_frames = 0
        images = []
        for s in sources:
            if s.kind == "image":
                images.append(Unit("image", s))
                self.estimated_frames += 1
                continue
            selected = selected_frames(frame_count(s), options.every, options.max_frames)
            self.estimated_frames += selected or 0
            if selected is None or selected <= chunk_frames:
                self.queue.append(Unit("video", s))
                continue
            n = math.ceil(selected / chunk_frames)
            self.parts[s.key] = [None] * n
            for i in range(n):
                stop = (
                    (i + 1) * chunk_frames if i < n - 1 else options.max_frames
                )  # the last one runs to the end
                self.queue.append(Unit("chunk", s, (i * chunk_frames, stop, i)))
        self.queue.extend(images)  # videos first: the long units start early

    def next(self) -> Unit | None:
        return self.queue.popleft() if self.queue else None

    def call_args(self, unit: Unit) -> tuple:
        """The arguments of the ``Worker`` method (a chunk's own index stays here)."""
        return (unit.source, *unit.args[:2]) if unit.method == "chunk" else (unit.source, *unit.args)

    def done(self, unit: Unit, result: Any) -> None:
        """Take a unit's result: record a finished source, or keep a chunk and queue the video's finish."""
        if unit.method != "chunk":
            if unit.method != "finish":
                self.on_frames(result.get("frames", 0) if isinstance(result, dict) else 0)
            self.on_result(unit.source, result)
            return
        parts = self.parts.get(unit.source.key)
        if parts is None:  # the video already failed in another chunk
            return
        if isinstance(result, dict):  # failed
            del self.parts[unit.source.key]
            self.on_result(unit.source, result)
            return
        self.on_frames(len(result.frames))
        parts[unit.args[2]] = result
        if all(p is not None for p in parts):
            del self.parts[unit.source.key]
            self.queue.appendleft(Unit("finish", unit.source, (Detections.join(parts),)))

    def lost(self, unit: Unit, exc: BaseException) -> None:
        """A unit whose worker died twice: its source fails."""
        self.parts.pop(unit.source.key, None)
        self.on_result(unit.source, failed(unit.source, exc))


# --------------------------------------------------------------------------- in this process


def run_inline(plan: Plan, options: Options, out: str) -> int:
    """Run every unit in this process (``workers=0``): for debugging, and for ``memory://`` outputs."""
    worker = Worker(options, out)
    while (unit := plan.next()) is not None:
        plan.done(unit, getattr(worker, unit.method)(*plan.call_args(unit)))
    return 0


# --------------------------------------------------------------------------- local processes

_WORKER: Worker | None = None


def _die_with_parent(parent_pid: int, *, kernel: bool = True) -> None:
    """End this pool process as soon as the batch process that started it ends, even by ``kill -9``.

    A worker holds a model (about 1 GB) and would otherwise finish its unit, write its outputs and
    idle on as an orphan. On Linux the kernel kills it with its parent (``PR_SET_PDEATHSIG``); on
    every system a watchdog thread waits on the parent's multiprocessing sentinel (a pipe that reads
    end-of-file when the parent dies) and checks the parent pid once a second, and ends the process.

    Args:
        parent_pid: the pid of the process that started this one.
        kernel: also ask the kernel (Linux); False leaves the watchdog alone (to test it).
    """
    if kernel and sys.platform.startswith("linux"):
        import ctypes

        try:
            prctl = ctypes.CDLL(None, use_errno=True).prctl
            prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass  # the watchdog below still ends the process
    if os.name == "posix" and os.getppid() != parent_pid:  # the parent died before the line above
        os._exit(1)
    import multiprocessing

    parent = multiprocessing.parent_process()  # None when not started by multiprocessing

    def watch() -> None:
        while True:
            if parent is not None:
                parent.join(timeout=1.0)  # returns at once when the parent has died
                if not parent.is_alive():
                    break
            else:
                threading.Event().wait(1.0)
            if os.name == "posix" and os.getppid() != parent_pid:
                break
        os._exit(1)  # nothing of a unit is final until it is complete: staging folders only

    threading.Thread(target=watch, name="posekit-parent-watch", daemon=True).start()


def _init_process(options: Options, out: str, parent_pid: int) -> None:
    """Set up a pool process: it dies with its parent; Ctrl-C is the parent's; one estimator, loaded now."""
    global _WORKER
    _die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    _WORKER = Worker(options, out)
    _WORKER.load()


def _call(method: str, args: tuple) -> Any:
    return getattr(_WORKER, method)(*args)


def run_pool(plan: Plan, options: Options, out: str, workers: int) -> int:
    """Run the units on ``workers`` spawned processes, each with its own single-threaded estimator.

    A process that dies (a decoder crash, the OOM killer) breaks the pool: it is started again and
    the units that were running are retried once; a unit that breaks it twice fails its source.
    On Ctrl-C the processes are ended at once and the interrupt is re-raised. The processes die with
    this one, also when it is killed (``_die_with_parent``).

    Returns:
        How many times the pool had to be restarted.
    """
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    ctx = multiprocessing.get_context("spawn")  # TensorFlow does not survive fork

    def start() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            workers, mp_context=ctx, initializer=_init_process, initargs=(options, out, os.getpid())
        )

    pool, restarts = start(), 0
    inflight: dict[Any, Unit] = {}
    try:
        while True:
            while len(inflight) < workers and (unit := plan.next()) is not None:
                inflight[pool.submit(_call, unit.method, plan.call_args(unit))] = unit
            if not inflight:
                return restarts
            done, _ = wait(inflight, return_when=FIRST_COMPLETED)
            broken = False
            for future in done:
                unit = inflight.pop(future)
                try:
                    result = future.result()
                except BrokenProcessPool as exc:
                    broken = True
                    if unit.attempt:
                        plan.lost(unit, RuntimeError(f"the worker process died twice on this source ({exc})"))
                    else:
                        unit.attempt += 1
                        plan.queue.appendleft(unit)
                    continue
                plan.done(unit, result)
            if broken:
                for unit in inflight.values():  # they died with the pool
                    unit.attempt += 1
                    plan.queue.appendleft(unit)
                inflight.clear()
                pool.shutdown(wait=False, cancel_futures=True)
                pool, restarts = start(), restarts + 1
    except BaseException:
        _terminate(pool)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _terminate(pool) -> None:
    """End a process pool's processes now (their partial outputs are staging folders, removed next run)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # CPython's pool keeps them here
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=10)


# --------------------------------------------------------------------------- Ray


def import_ray():
    """``ray``, or a one-line install hint."""
    try:
        import ray
    except ImportError:
        raise BatchError("--ray needs Ray: pip install posekit[ray]") from None
    return ray


# The environment variable that marks every process of a Ray instance a batch started itself.
RUN_MARK = "POSEKIT_RAY_RUN"

# The reaper of a batch's own Ray instance (Linux): a small process of its own session, started by
# the batch process before Ray. Once a second it notes the processes that carry the run's mark in
# their environment and every process below them (a process that rewrites its title can hide its
# environment later). When its pipe from the batch process reads end-of-file or its parent changes
# (the run ended, or its process died, even by kill -9), it kills every noted or marked process still
# running. Ray's own processes share the fate of the driver only in part: its agents and idle workers
# outlive a killed driver by a minute or more. A script, not a posekit module, so that it starts in
# milliseconds and holds no model.
_REAPER = r"""
import os, select, signal, sys, time
mark, limit = ("\0%s=%s\0" % (sys.argv[1], sys.argv[2])).encode(), float(sys.argv[3])
me, driver = os.getpid(), os.getppid()

def table():
    procs = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open("/proc/%s/stat" % name) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if fields[0] != "Z":
                procs[int(name)] = (int(fields[1]), fields[19])
    return procs

def marked(pid):
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            return mark in b"\0" + f.read()
    except OSError:
        return False

known, checked = {}, {}

def note():
    procs = table()
    for pid, (ppid, start) in procs.items():
        if pid != me and (pid, start) not in checked:
            checked[(pid, start)] = marked(pid)
    roots = [p for p, (_, start) in procs.items() if checked.get((p, start)) or known.get(p) == start]
    kids = {}
    for pid, (ppid, _) in procs.items():
        kids.setdefault(ppid, []).append(pid)
    seen = set()
    while roots:
        pid = roots.pop()
        if pid not in seen and pid != me:
            seen.add(pid)
            known[pid] = procs[pid][1]
            roots.extend(kids.get(pid, []))
    return procs

while os.getppid() == driver:
    ready = select.select([sys.stdin], [], [], 1.0)[0]
    if ready and not os.read(sys.stdin.fileno(), 4096):
        break
    note()
deadline = time.monotonic() + limit
while time.monotonic() < deadline:
    procs = note()
    left = [p for p, start in known.items() if p in procs and procs[p][1] == start and p not in (me, driver)]
    if not left:
        break
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    time.sleep(0.2)
"""
REAP_SECONDS = 30.0
_AGENT_TIMEOUT = "RAY_agent_register_timeout_ms"  # Ray's config name (RAY_ + the C++ name)


@contextlib.contextmanager
def local_ray(ray, *, attempts: int = 3) -> Iterator[None]:
    """A Ray instance of this run only: every listener on 127.0.0.1, no dashboard, gone with the run.

    ``ray.init()`` alone binds Ray's GCS server, raylet, workers and driver to every interface and
    its runtime-env agent to the machine's external address, and anyone who reaches them can run
    code. Ray keeps to loopback when its node address is 127.0.0.1, which ``ray.init`` on Linux
    replaces with the external address unless Ray believes it runs without clusters (as on macOS and
    Windows): that belief (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``) is set for the start only, and
    the node address checked after it (a Ray version where it no longer holds is refused, not used).
    Every process started carries ``RUN_MARK``; on Linux a reaper kills what is left of them when the
    run ends, also when this process is killed. Joining a cluster (``RAY_ADDRESS``) does none of this.

    Args:
        ray: the ``ray`` module.
        attempts: starts to try: on a loaded machine the raylet can give up waiting for its agents
            (Python processes slow to start; Ray's wait is fixed) and the start fails; a next one
            often succeeds.

    Raises:
        BatchError: the instance did not start, or could not be kept to 127.0.0.1.
    """
    import ipaddress

    for attempt in range(1, attempts + 1):
        token = uuid.uuid4().hex
        reaper = _start_reaper(token)
        try:
            try:
                _init_loopback(ray, token)
            except Exception as exc:  # noqa: BLE001 - Ray raises a bare Exception when its node does not start
                ray.shutdown()
                with warnings.catch_warnings():  # Ray's handles of the processes the reaper ends
                    warnings.simplefilter("ignore", ResourceWarning)
                    gc.collect()
                if attempt < attempts:
                    continue  # this attempt's processes are swept below
                raise BatchError(f"the local Ray instance did not start ({exc})") from None
            try:
                node_ip = ray.util.get_node_ip_address()
                if not ipaddress.ip_address(node_ip).is_loopback:
                    raise BatchError(
                        f"Ray {ray.__version__} started its local instance on {node_ip}, not 127.0.0.1: "
                        "refused (anyone reaching that address could run code); start a cluster yourself "
                        "and set RAY_ADDRESS"
                    )
                yield
                return
            finally:
                ray.shutdown()
        finally:
            _stop_reaper(reaper)


def _init_loopback(ray, token: str) -> None:
    """``ray.init`` of a new instance on 127.0.0.1 whose processes all carry ``RUN_MARK=token``."""
    import logging

    from ray._private import ray_constants  # read where ray.init resolves 127.0.0.1

    env = {
        RUN_MARK: token,
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        # how long the raylet waits for its agents, in the Ray versions that read it
        _AGENT_TIMEOUT: os.environ.get(_AGENT_TIMEOUT, "120000"),
    }
    saved = {k: os.environ.get(k) for k in env}
    clusters = getattr(ray_constants, "ENABLE_RAY_CLUSTER", None)
    try:
        os.environ.update(env)  # inherited by every Ray process: the ones ray.init starts start the rest
        ray_constants.ENABLE_RAY_CLUSTER = False
        ray.init(_node_ip_address="127.0.0.1", include_dashboard=False, logging_level=logging.ERROR)
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = clusters
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _start_reaper(token: str) -> subprocess.Popen | None:
    """The reaper of the processes marked ``RUN_MARK=token`` (Linux; None elsewhere)."""
    if not (sys.platform.startswith("linux") and os.path.isdir("/proc")):
        return None
    return subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", _REAPER, RUN_MARK, token, str(REAP_SECONDS)],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,  # a Ctrl-C in the terminal leaves it to do its work
    )  # fmt: skip


def _stop_reaper(reaper: subprocess.Popen | None) -> None:
    """Let the reaper sweep now and wait for it (it does the same by itself when this process dies)."""
    if reaper is None:
        return
    reaper.stdin.close()
    try:
        reaper.wait(timeout=REAP_SECONDS + 5)
    except subprocess.TimeoutExpired:
        reaper.kill()


def run_ray(
    plan: Plan, options: Options, out: str, workers: int | None, *, address: str | None,
    num_cpus_per_worker: float, num_gpus_per_worker: float,
) -> int:  # fmt: skip
    """Run the units on Ray actors, one estimator per actor (the model loads once per actor).

    Connects to ``address`` (default: ``RAY_ADDRESS``), or starts a Ray instance of its own on this
    machine when neither is set: on 127.0.0.1 only, without a dashboard, and ended with the run
    (``local_ray``). Actors restart when their process dies and Ray retries the units they held
    (``max_restarts``, ``max_task_retries``); units write nothing under a final name until complete,
    so a retried unit leaves no duplicate. Inputs and ``out`` must be reachable from every node (a
    shared path, or an object store URL).

    Returns:
        The number of actors.
    """
    import logging

    ray = import_ray()
    with contextlib.ExitStack() as stack:
        if not ray.is_initialized():
            address = address or os.environ.get("RAY_ADDRESS") or None
            if address is None:
                stack.enter_context(local_ray(ray))
            else:
                ray.init(address=address, logging_level=logging.ERROR)
                stack.callback(ray.shutdown)
        return _run_actors(ray, plan, options, out, workers, num_cpus_per_worker, num_gpus_per_worker)


def _run_actors(
    ray, plan: Plan, options: Options, out: str, workers: int | None, num_cpus_per_worker: float,
    num_gpus_per_worker: float,
) -> int:  # fmt: skip
    """``run_ray``'s work on a started Ray: the actors, the units, the results."""
    if workers is None:
        if num_gpus_per_worker > 0:
            workers = int(ray.cluster_resources().get("GPU", 0) // num_gpus_per_worker)
        else:
            workers = int(ray.cluster_resources().get("CPU", 1) // max(num_cpus_per_worker, 1e-9))
        workers = max(1, workers)
    actor_class = ray.remote(
        num_cpus=num_cpus_per_worker, num_gpus=num_gpus_per_worker, max_restarts=-1, max_task_retries=-1
    )(Worker)
    threads = max(1, int(num_cpus_per_worker))
    actor_options = dataclasses.replace(options, threads=threads)
    actors = [actor_class.remote(actor_options, out) for _ in range(workers)]
    try:
        free = list(actors)
        inflight: dict[Any, tuple[Any, Unit]] = {}
        while True:
            while free and (unit := plan.next()) is not None:
                actor = free.pop()
                ref = getattr(actor, unit.method).remote(*plan.call_args(unit))
                inflight[ref] = (actor, unit)
            if not inflight:
                return workers
            ready, _ = ray.wait(list(inflight), num_returns=1)
            for ref in ready:
                actor, unit = inflight.pop(ref)
                free.append(actor)
                try:
                    result = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - Ray gave up on the unit (node lost, ...)
                    plan.lost(unit, exc)
                    continue
                plan.done(unit, result)
    finally:
        for actor in actors:
            ray.kill(actor, no_restart=True)
