"""Keypoints for whole collections of images and videos, on one machine or a Ray cluster.

``run(inputs, out)`` finds the images and videos in ``inputs`` (files, folders searched
recursively, glob patterns; local paths or fsspec URLs) and writes into ``out``:

* per source, what ``posekit image`` / ``posekit video`` write: an OpenPose JSON file per image or
  per video frame (``sources/<key>/``), and with ``draw=True`` the drawn image or video;
* for the whole run, one keypoints table as a Parquet dataset (``keypoints/``, one file per
  source): columns ``source, frame, person_id, part, x, y, score`` (``TABLE_COLUMNS``), one row per
  found part, x, y in original-image pixels; the model and input size are in the schema metadata.
  ``pandas.read_parquet(out + "/keypoints")``, ``polars.read_parquet(out + "/keypoints/*.parquet")``
  and DuckDB's ``read_parquet('OUT/keypoints/*.parquet')`` read it as it is; ``read_keypoints`` too;
* ``manifest.json``: the options, and per source its status (``done``, ``skipped`` = complete from
  an earlier run, ``failed`` with its error, ``pending`` = not reached), frames, people and seconds;
  merged with the manifest already there (sources of earlier runs with other inputs stay listed).

Resumable and loss-free: a source's outputs are staged under a temporary name and moved into place
when complete, and its keypoints file, written last, marks it complete. A re-run skips complete
sources made with the same settings from the same content (size, mtime and hash recorded with the
keypoints; ``force=True`` redoes them); a source that fails (corrupt image, unreadable video, a FIFO)
is recorded with its error and the others go on; an output that cannot be written (a full disk)
stops the run at once (``OutputError``); Ctrl-C stops the run with every completed source intact and
the manifest written (``Manifest.interrupted``). One run at a time writes into a local ``out`` (a
lock naming the other run's pid); the options are checked, as ``posekit image`` checks them, before
any worker starts, and ``workers`` is capped at what the machine's CPUs and memory hold.

Where the work runs (``executor=``, ``posekit.batch.executors``): ``"local"`` runs ``workers`` spawned
processes (default: one per core), each with its own single-threaded estimator; ``"ray"`` runs the same
units on Ray actors (one estimator per actor) on the cluster at ``RAY_ADDRESS``, or on a local Ray
instance. Long videos are cut into chunks of ``chunk_frames`` frames that run on different workers;
tracking then runs once per video over all its frames in order, so the person ids are exactly those of
``posekit video``. ``engine=`` is each estimator's network engine, as everywhere in posekit.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

from ..preprocess import DEFAULT_UPSAMPLE
from .sources import IMAGE_SUFFIXES, VIDEO_INPUT_SUFFIXES, BatchError, Source, find_sources
from .store import TABLE_COLUMNS, OutputBusy, Store, fingerprint, import_pyarrow, part_name, table_schema
from .worker import Options

__all__ = [
    "run",
    "Manifest",
    "read_keypoints",
    "find_sources",
    "Source",
    "BatchError",
    "OutputError",
    "OutputBusy",
    "Options",
    "TABLE_COLUMNS",
    "table_schema",
    "IMAGE_SUFFIXES",
    "VIDEO_INPUT_SUFFIXES",
    "MANIFEST_NAME",
    "EXECUTORS",
    "WORKER_MEMORY_BYTES",
    "cap_workers",
]

MANIFEST_NAME = "manifest.json"
EXECUTORS = ("local", "ray")
STATUSES = ("done", "skipped", "failed", "pending")
#: Memory one local worker process is counted as holding (TensorFlow and one estimator of the default
#: model): ``workers`` is capped at the available memory over this.
WORKER_MEMORY_BYTES = 1 << 30
#: Keys every keypoints file's posekit record holds besides the settings (``Options.record``).
_RECORD_KEYS = ("frames", "people", "seconds", "fingerprint")


class OutputError(BatchError):
    """An output could not be written (a full disk): the run stopped at the first failed write.

    Attributes:
        manifest: the run's ``Manifest``; every source it lists as done has its keypoints file, and
            ``manifest.json`` says the same unless it could not be written either.
    """

    def __init__(self, message: str, manifest: Manifest) -> None:
        super().__init__(message)
        self.manifest = manifest


class _Stop(Exception):
    """Raised from a result callback to end the executor's loop (its workers are ended)."""


@dataclasses.dataclass
class Manifest:
    """What a batch did; saved as ``manifest.json`` in the output folder.

    Attributes:
        out: the output folder or URL.
        options: the settings that decide the keypoints (model, input size, upsample, engine, every, ...).
        executor: where the work ran: "local" or "ray".
        workers: worker processes or actors used (0: the calling process).
        sources: one dict per source, in input order: ``source`` (name), ``key``, ``kind``,
            ``status`` (one of ``STATUSES``), ``frames``, ``people``, ``seconds``, ``error`` (None
            unless failed) and, when complete, ``outputs`` (folder), ``keypoints`` (Parquet file)
            and ``drawn``; paths are relative to ``out``. ``manifest.json`` lists after them the
            sources of earlier runs into ``out`` that this run did not name (as those runs left them;
            complete ones whose keypoints file is gone as pending), so that it describes every
            keypoints file in ``out``; ``Manifest.read`` returns them all.
        seconds: wall time of the run.
        interrupted: stopped by Ctrl-C or SIGTERM; every completed source is intact.
        pool_restarts: times the local pool was restarted after a worker process died.
    """

    out: str
    options: dict[str, Any]
    executor: str
    workers: int
    sources: list[dict[str, Any]]
    seconds: float = 0.0
    interrupted: bool = False
    pool_restarts: int = 0

    @property
    def counts(self) -> dict[str, int]:
        """Sources per status."""
        return {s: sum(e["status"] == s for e in self.sources) for s in STATUSES}

    @property
    def failed(self) -> list[dict[str, Any]]:
        """The entries of the sources that failed."""
        return [e for e in self.sources if e["status"] == "failed"]

    @property
    def complete(self) -> bool:
        """Every source is done, skipped (complete earlier) or failed."""
        return not self.interrupted and self.counts["pending"] == 0

    def to_dict(self) -> dict[str, Any]:
        from .. import __version__

        d = dataclasses.asdict(self)
        return {"posekit": __version__, "counts": self.counts, "complete": self.complete, **d}

    @classmethod
    def read(cls, out: str | os.PathLike) -> Manifest:
        """Read the manifest of an output folder (also one written by posekit 0.1)."""
        d = json.loads(Store(out).read_bytes(MANIFEST_NAME))
        if "executor" not in d and "engine" in d:  # 0.1 named where the work ran "engine"
            d = {**d, "executor": d["engine"], "options": _upgrade_record(d.get("options", {}))}
        return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls) if f.name in d})


def read_keypoints(out: str | os.PathLike):
    """The keypoints table of a batch as a pandas DataFrame (``TABLE_COLUMNS``), by source, frame, person.

    Args:
        out: the batch's output folder or URL.
    """
    try:
        import pandas  # noqa: F401 - to_pandas needs it
    except ImportError:
        raise BatchError("read_keypoints needs pandas: pip install pandas") from None
    _, pq = import_pyarrow()
    store = Store(out)
    files = [n for n in store.listdir("keypoints") if n.endswith(".parquet") and not n.startswith(".")]
    if not files:
        return table_schema().empty_table().to_pandas()
    if store.local:
        table = pq.read_table([store.path(f"keypoints/{n}") for n in files])
    else:
        table = pq.read_table([store.path(f"keypoints/{n}") for n in files], filesystem=store.fs)
    frame = table.to_pandas()
    return frame.sort_values(["source", "frame", "person_id"], kind="stable", ignore_index=True)


def _upgrade_record(record: dict[str, Any]) -> dict[str, Any]:
    """A settings record (``Options.record``) as this version names it (0.1 said ``network_engine``)."""
    if "network_engine" in record and "engine" not in record:
        record = {**record, "engine": record["network_engine"]}
        del record["network_engine"]
    return record


def _check_options(
    executor: str, workers: int | None, every: int, max_frames: int | None, chunk_frames: int
) -> tuple[int, int | None]:
    """Refuse bad options (``BatchError``); returns (every, max_frames) as process_video checks them."""
    from ..video.sources import check_every, check_max_frames

    if executor not in EXECUTORS:
        raise BatchError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    try:
        every, max_frames = check_every(every), check_max_frames(max_frames)
    except ValueError as exc:
        raise BatchError(str(exc)) from None
    if isinstance(chunk_frames, bool) or not isinstance(chunk_frames, int) or chunk_frames < 1:
        raise BatchError(f"chunk_frames must be an integer >= 1, got {chunk_frames!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 0):
        raise BatchError(f"workers must be an integer >= 0 or None, got {workers!r}")
    return every, max_frames


def _check_model_options(
    input_size: Sequence[int], upsample: float, engine: str, precision: str
) -> tuple[tuple[int | None, int], float, str]:
    """The network options checked as ``PoseEstimator`` and ``posekit image`` check them, before any worker.

    Returns:
        (input size, upsample, the precision that will run: "bf16" without CPU support warns and is "fp32").
    """
    from ..network.engines import ENGINES as NETWORK_ENGINES
    from ..network.engines import check_precision
    from ..postprocess import check_upsample
    from ..preprocess import MIN_INPUT_SIDE, check_input_size

    try:
        size = check_input_size(input_size, keep_aspect=True)
        upsample = check_upsample(upsample, input_size=(size[0] or MIN_INPUT_SIDE, size[1]))
        if engine not in NETWORK_ENGINES:
            hint = f" (where the work runs is executor={engine!r})" if engine in EXECUTORS else ""
            raise ValueError(
                f"unknown network engine {engine!r}: valid engines are {', '.join(NETWORK_ENGINES)}{hint}"
            )
        precision = check_precision(precision, engine, size if size[0] is not None else None)
    except ValueError as exc:
        raise BatchError(str(exc)) from None
    return size, upsample, precision


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _available_memory() -> int | None:
    """Bytes of memory available to new processes (Linux ``MemAvailable``), or None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def cap_workers(requested: int | None) -> tuple[int, str | None]:
    """Local worker processes this machine holds: at most one per usable CPU and per ``WORKER_MEMORY_BYTES``.

    Args:
        requested: the processes asked for (None: as many as the machine holds).

    Returns:
        (workers, None), or (fewer workers, a one-line reason) when ``requested`` is more than that.
    """
    cpus = _usable_cpus()
    memory = _available_memory()
    by_memory = None if memory is None else max(1, memory // WORKER_MEMORY_BYTES)
    limit = max(1, min(cpus, by_memory or cpus))
    if requested is None or requested <= limit:
        return (limit if requested is None else requested), None
    held = f"{cpus} usable CPUs"
    if memory is not None:
        per = WORKER_MEMORY_BYTES / 2**30
        held += f" and {memory / 2**30:.1f} GiB of memory available ({per:g} GiB per worker)"
    return limit, f"workers={requested} capped to {limit}: this machine has {held}"


def run(
    inputs: Iterable[str | os.PathLike] | str | os.PathLike,
    out: str | os.PathLike,
    *,
    model: str | os.PathLike = "mobilenet_thin",
    input_size: Sequence[int] | str = "model",
    upsample: float = DEFAULT_UPSAMPLE,
    architecture: str | None = None,
    engine: str = "auto",
    precision: str = "fp32",
    executor: str = "local",
    workers: int | None = None,
    every: int = 1,
    max_frames: int | None = None,
    track: bool = True,
    draw: bool = False,
    force: bool = False,
    chunk_frames: int = 100,
    progress: bool | None = None,
    ray_address: str | None = None,
    num_cpus_per_worker: float = 1,
    num_gpus_per_worker: float = 0,
    weights: str | os.PathLike | None = None,
) -> Manifest:
    """Find the people in every image and video frame of ``inputs``; write the outputs into ``out``.

    Args:
        inputs: files, folders (recursive) and glob patterns of images and videos; local paths,
            ``file://`` or fsspec URLs (``s3://``, ``gs://``, ...).
        out: output folder: a local path, ``file://`` or fsspec URL; created if needed.
        model: model name or frozen graph file (``PoseEstimator``'s ``model``).
        input_size: (width, height) of the network input; (None, height) keeps each image's aspect ratio;
            "model" (default): the model's own (``posekit.network.models.default_input_size``).
        upsample: upsample factor of the fields before peak finding.
        architecture: architecture of a graph file (None: detected).
        engine: each estimator's network engine (``PoseEstimator(engine=...)``, the CLI's --engine).
        precision: each estimator's precision ("fp32"; "bf16" where the CPU has it).
        executor: where the work runs: "local" (worker processes) or "ray" (Ray actors).
        workers: local: worker processes (None: one per core; 0: everything in this process), at most
            what the machine holds (``cap_workers``: CPUs and memory; more warns and is capped);
            Ray: actors (None: the cluster's CPUs / ``num_cpus_per_worker``).
        every: process every N-th frame of each video.
        max_frames: at most this many frames per video (None: all).
        track: person ids across each video's frames (``posekit.video.track.Tracker``; images: -1).
        draw: also write each image and video with the skeletons drawn.
        force: redo sources that are already complete in ``out``.
        chunk_frames: videos with more selected frames are cut into chunks of this many frames.
        progress: a tqdm bar over frames (None: only when stderr is a terminal).
        ray_address: Ray cluster to join (default: ``RAY_ADDRESS``, else a local Ray instance).
        num_cpus_per_worker: CPUs each Ray actor reserves (and threads of its estimator).
        num_gpus_per_worker: GPUs each Ray actor reserves.
        weights: fine-tuned weights file for the model (``PoseEstimator``'s ``weights``; the CLI's
            --weights), checked here once; sources done with other weights are redone.

    Returns:
        The ``Manifest``, also written to ``out/manifest.json``. Ctrl-C (or SIGTERM in the CLI)
        returns it with ``interrupted=True`` once every completed source is safely written.

    Raises:
        BatchError: no image or video in ``inputs``, an input not found, clashing output names, an
            output folder that cannot be written, bad options (as ``PoseEstimator`` refuses them), a
            URL whose fsspec package is missing, or Ray not installed.
        OutputBusy: another run is writing into ``out`` (its pid in the message).
        OutputError: an output could not be written (a full disk): the run stopped there.
        posekit.network.weights.ModelError: an unknown model.
    """
    t0 = time.perf_counter()
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    inputs = list(inputs)
    every, max_frames = _check_options(executor, workers, every, max_frames, chunk_frames)
    if not os.fspath(out).strip():
        raise BatchError(f"empty output folder name {os.fspath(out)!r}")
    if isinstance(input_size, str) and input_size == "model":
        from ..network.models import default_input_size

        input_size = default_input_size(model, architecture)
    size, upsample, precision = _check_model_options(input_size, upsample, engine, precision)
    import_pyarrow()
    if executor == "ray":
        from .executors import import_ray

        import_ray()
    store = Store(out)
    sources = find_sources(inputs, exclude=[out])  # never the outputs of this or an earlier run
    if not sources:
        raise BatchError("no images or videos found in " + ", ".join(os.fspath(i) for i in inputs))
    store.check_writable()
    store.lock()  # one run per output folder: a second one would delete this one's staging folders
    try:
        if executor == "local":
            from ..network.models import resolve

            resolve(model, architecture)  # an unknown model fails here, once; a registered one is fetched
        from ..network.weights import MODELS, file_sha256

        model_sha256 = None
        if os.fspath(model) not in MODELS and os.path.isfile(model):  # a registered name is pinned
            model_sha256 = file_sha256(model)  # a graph file replaced in place gets its sources redone
        tuned = None
        if weights is not None:
            from ..network.models import read_weights_for

            tuned = read_weights_for(
                model, weights, architecture
            )  # a bad file fails here, not in each worker
        options = Options(
            model=os.fspath(model), input_size=size, upsample=upsample, architecture=architecture,
            engine=engine, precision=precision, every=every, max_frames=max_frames,
            track=track, draw=draw, weights=None if weights is None else os.path.abspath(weights),
            weights_sha256=None if tuned is None else tuned.sha256, model_sha256=model_sha256,
        )  # fmt: skip
        if executor == "local" and workers != 0:
            workers, reason = cap_workers(workers)
            if reason is not None:
                warnings.warn(reason, RuntimeWarning, stacklevel=2)
        manifest = Manifest(
            out=os.fspath(out), options=options.record(), executor=executor, workers=workers or 0,
            sources=[{"source": s.name, "key": s.key, "kind": s.kind, "status": "pending", "frames": 0,
                      "people": 0, "seconds": 0.0, "error": None} for s in sources],
        )  # fmt: skip
        entries = {s.key: e for s, e in zip(sources, manifest.sources)}
        store.clean_partial()
        parts = set(store.listdir("keypoints"))
        earlier = _earlier_entries(store, set(entries), parts)
        todo = _skip_complete(store, sources, entries, options, force, parts)
        _run_executor(store, manifest, earlier, todo, entries, options, workers, executor, chunk_frames,
                      progress, t0, ray_address=ray_address, num_cpus_per_worker=num_cpus_per_worker,
                      num_gpus_per_worker=num_gpus_per_worker)  # fmt: skip
    finally:
        store.unlock()
    return manifest


def _earlier_entries(store: Store, keys: set[str], parts: set[str]) -> list[dict[str, Any]]:
    """The entries of ``manifest.json`` already in ``out`` for sources not in this run, true to ``parts``.

    An entry listed as complete whose keypoints file is gone is listed as pending.
    """
    try:
        data = json.loads(store.read_bytes(MANIFEST_NAME))
    except (OSError, ValueError):
        return []
    listed = data.get("sources") if isinstance(data, dict) else None
    kept = []
    for e in listed if isinstance(listed, list) else []:
        if not isinstance(e, dict) or not isinstance(e.get("key"), str) or e["key"] in keys:
            continue
        if e.get("status") in ("done", "skipped") and part_name(e["key"]) not in parts:
            e = {**e, "status": "pending", "keypoints": None, "error": "its keypoints file is gone"}
        kept.append(e)
    return kept


def _stored(
    store: Store, source: Source, wanted: dict[str, Any], parts: set[str], lacking: list[str] | None = None
) -> dict[str, Any] | None:
    """The manifest fields of a source complete in ``out`` with the settings ``wanted`` and its current
    content (``source.fingerprint``), its outputs folder present, else None. A record without one of its
    keys is not complete (its file named in ``lacking``)."""
    part = part_name(source.key)
    meta = store.table_metadata(f"keypoints/{part}") if part in parts else None
    if meta is None:
        return None
    meta = _upgrade_record(meta)  # a source done by posekit 0.1 with the same settings is not redone
    # a setting that is None here (no weights file, ...) may be absent from an older record
    missing = [k for k in _RECORD_KEYS if k not in meta] + [
        k for k, v in wanted.items() if k not in meta and v is not None
    ]
    if missing:
        if lacking is not None:
            lacking.append(f"keypoints/{part} ({', '.join(missing)})")
        return None
    if any(meta.get(k) != v for k, v in wanted.items()) or meta["fingerprint"] != source.fingerprint:
        return None
    if not store.exists(f"sources/{source.key}"):  # its JSON was removed since: not complete
        return None
    return {
        "frames": meta["frames"], "people": meta["people"], "seconds": meta["seconds"], "error": None,
        "outputs": f"sources/{source.key}", "keypoints": f"keypoints/{part}",
    }  # fmt: skip


def _skip_complete(
    store: Store, sources: list[Source], entries: dict[str, dict], options: Options, force: bool,
    parts: set[str],
) -> list[Source]:  # fmt: skip
    """Mark the sources complete in ``out`` with the same settings and content as skipped, those that
    cannot be read (not a regular file, unreadable) as failed; return the others with their fingerprints."""
    todo = []
    lacking: list[str] = []
    for s in sources:
        try:
            s = dataclasses.replace(s, fingerprint=fingerprint(s))  # stat first: a FIFO is never opened
        except OSError as exc:
            from .worker import failed

            entries[s.key].update(failed(s, exc))
            store.remove(f"keypoints/{part_name(s.key)}")  # not complete any more
            continue
        stored = None if force else _stored(store, s, options.record(), parts, lacking)
        if stored is not None:
            entries[s.key].update(status="skipped", **stored)
            continue
        if part_name(s.key) in parts:
            store.remove(f"keypoints/{part_name(s.key)}")  # no longer complete until it is redone
        todo.append(s)
    if lacking:
        warnings.warn(
            f"{len(lacking)} keypoints file(s) lack keys of the posekit record, their sources are redone: "
            f"{lacking[0]}{' ...' if len(lacking) > 1 else ''}",
            RuntimeWarning,
            stacklevel=3,
        )
    return todo


def _reconcile(store: Store, sources: list[Source], entries: dict[str, dict], options: Options) -> None:
    """After an interrupt: sources a worker completed whose result had not come back yet are done too."""
    parts = set(store.listdir("keypoints"))
    for s in sources:
        if entries[s.key]["status"] == "pending":
            stored = _stored(store, s, options.record(), parts)
            if stored is not None:
                entries[s.key].update(status="done", **stored)


def _run_executor(
    store: Store, manifest: Manifest, earlier: list[dict], todo: list[Source], entries: dict[str, dict],
    options: Options, workers: int | None, executor: str, chunk_frames: int, progress: bool | None, t0: float,
    **ray_options: Any,
) -> None:  # fmt: skip
    from tqdm.auto import tqdm

    from .executors import Plan, run_inline, run_pool, run_ray
    from .worker import write_failed

    last_write = [0.0]
    stopped: list[str] = []  # the first write that failed

    def save(force: bool = False) -> str | None:
        """Write the manifest (this run's sources, then earlier runs' others); the write error, or None."""
        now = time.perf_counter()
        if not (force or now - last_write[0] > 2.0):
            return None
        manifest.seconds = round(now - t0, 3)
        merged = dataclasses.replace(manifest, sources=manifest.sources + earlier)
        try:
            store.write_bytes(MANIFEST_NAME, (json.dumps(merged.to_dict(), indent=1) + "\n").encode())
        except OSError as exc:
            return write_failed(Source(MANIFEST_NAME, MANIFEST_NAME, "", "image"), exc, None)["error"]
        last_write[0] = now
        return None

    bar = None

    def on_result(source: Source, result: dict) -> None:
        problem = result.pop("write_error", None)
        entries[source.key].update(result)
        if bar is not None:
            c = manifest.counts
            bar.set_postfix_str(
                f"sources {c['done'] + c['skipped']}/{len(manifest.sources)}, {c['failed']} failed"
            )
        problem = problem or save()
        if problem is not None:
            stopped.append(problem)
            raise _Stop  # every later source would fail the same way

    def on_frames(n: int) -> None:
        if bar is not None:
            bar.update(n)

    plan = Plan(todo, options, chunk_frames, on_result, on_frames)
    disable = None if progress is None else not progress  # None: shown only on a terminal
    bar = tqdm(
        total=plan.estimated_frames, unit="frame", desc="posekit batch", disable=disable, dynamic_ncols=True
    )
    problem = save(force=True)
    out = store.url if not store.local else str(store.root)
    try:
        if problem is not None:
            stopped.append(problem)
        elif not todo:
            pass
        elif executor == "ray":
            manifest.workers = run_ray(plan, options, out, workers, address=ray_options["ray_address"],
                                       num_cpus_per_worker=ray_options["num_cpus_per_worker"],
                                       num_gpus_per_worker=ray_options["num_gpus_per_worker"])  # fmt: skip
        elif workers == 0:
            run_inline(plan, options, out)
        else:
            manifest.pool_restarts = run_pool(plan, options, out, workers)
    except KeyboardInterrupt:
        manifest.interrupted = True
        _reconcile(store, todo, entries, options)
    except _Stop:
        _reconcile(store, todo, entries, options)  # units that completed while the run was stopping
    finally:
        bar.close()
        store.clean_partial()  # the workers are gone: staging folders left are of unfinished sources
        problem = save(force=True)
        if problem is not None and not stopped:
            stopped.append(problem)
    if stopped:
        c = manifest.counts
        raise OutputError(
            f"{stopped[0]}: stopped there with {c['done'] + c['skipped']} sources complete and "
            f"{c['pending']} not reached; free some space (or fix the output) and re-run to resume",
            manifest,
        )
