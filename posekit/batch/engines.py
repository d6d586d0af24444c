"""Running the work units of a batch: in this process, on a pool of local processes, or on Ray actors.

``Plan`` holds the units still to run and turns results into per-source results; each engine only
moves units to workers and results back. Every worker owns one ``Worker`` (one estimator), so the
model is loaded once per process or actor.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import os
import signal
from collections.abc import Callable
from typing import Any

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
    from ..video import open_source

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
            count = frame_count(s)
            selected = None if count is None else -(-count // options.every)
            if options.max_frames is not None:
                selected = options.max_frames if selected is None else min(selected, options.max_frames)
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


def _init_process(options: Options, out: str) -> None:
    """Set up a pool process: Ctrl-C is the parent's to handle; one estimator, loaded now."""
    global _WORKER
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
    On Ctrl-C the processes are ended at once and the interrupt is re-raised.

    Returns:
        How many times the pool had to be restarted.
    """
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    ctx = multiprocessing.get_context("spawn")  # TensorFlow does not survive fork

    def start() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            workers, mp_context=ctx, initializer=_init_process, initargs=(options, out)
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


def run_ray(
    plan: Plan, options: Options, out: str, workers: int | None, *, address: str | None,
    num_cpus_per_worker: float, num_gpus_per_worker: float,
) -> int:  # fmt: skip
    """Run the units on Ray actors, one estimator per actor (the model loads once per actor).

    Connects to ``address`` (default: ``RAY_ADDRESS``), or starts a local Ray instance when neither is
    set. Actors restart when their process dies and Ray retries the units they held (``max_restarts``,
    ``max_task_retries``); units write nothing under a final name until complete, so a retried unit
    leaves no duplicate. Inputs and ``out`` must be reachable from every node (a shared path, or an
    object store URL).

    Returns:
        The number of actors.
    """
    import logging

    ray = import_ray()
    started = False
    if not ray.is_initialized():
        address = address or os.environ.get("RAY_ADDRESS") or None
        kwargs: dict[str, Any] = {"logging_level": logging.ERROR}
        if address is None:
            kwargs["include_dashboard"] = False
        ray.init(address=address, **kwargs)
        started = True
    try:
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
    finally:
        if started:
            ray.shutdown()
