"""The work of a batch, the same in a local worker process and in a Ray actor.

Three kinds of work unit, each a method of ``Worker``:

* ``image(source)``: read, run the network, write the source's outputs; returns its result.
* ``chunk(source, first, stop)``: run the network on the selected frames with ordinals
  ``first <= n < stop`` of a video (ordinal n is the n-th frame kept by ``every``); returns the
  detections only (arrays, no files). A video is cut into chunks so that several workers share it.
* ``finish(source, detections)``: once every chunk of a video is back, track the people through
  all its frames in order (one ``Tracker``, as ``process_video`` does, so the ids are exactly the
  ones ``posekit video`` gives), write the per-frame JSON, the drawn video (``draw``, decoding the
  frames again) and the keypoints table; returns the result.

Every unit can run twice (a retried Ray task, a re-run): it writes nothing under a final name until
its outputs are complete, and then replaces the previous ones. Errors of the source (unreadable,
corrupt, not a regular file) come back as a ``failed`` result, never as an exception; an output that
cannot be written (a full disk) comes back as a ``failed`` result with ``write_error`` set, on which
the batch stops (every later source would fail the same way).
"""

from __future__ import annotations

import dataclasses
import errno
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..network.weights import DEFAULT_INPUT_SIZE
from ..preprocess import DEFAULT_UPSAMPLE
from .sources import Source
from .store import Store, keypoint_table, part_name

__all__ = ["Options", "Worker", "Detections"]


@dataclasses.dataclass(frozen=True)
class Options:
    """What every worker needs to know to process a source the same way.

    Attributes:
        model: model name or frozen graph path (``PoseEstimator``'s ``model``).
        input_size: (width, height) of the network input.
        upsample: upsample factor of the fields (``inference``'s ``upsample``).
        architecture: architecture of a graph file, or None to detect it.
        engine: the estimator's network engine (``PoseEstimator(engine=...)``: "auto", "tf", ...).
        precision: the estimator's precision ("fp32", or "bf16" where the CPU has it).
        threads: threads of each worker's estimator.
        every: process every N-th frame of a video.
        max_frames: at most this many frames per video (None: all).
        track: ids across a video's frames (``posekit.video.track.Tracker``).
        draw: also write the drawn image or video.
        weights: a fine-tuned weights file (``PoseEstimator``'s ``weights``; absolute path), or None.
        weights_sha256: its content checksum (``posekit.network.weights.WeightsFile.sha256``): what the
        keypoints
            depend on, whatever the file's name.
        model_sha256: the content checksum of a graph file given as ``model`` (None for a registered name,
            whose file is pinned by its registry entry).
    """

    model: str = "mobilenet_thin"
    input_size: tuple[int, int] = DEFAULT_INPUT_SIZE
    upsample: float = DEFAULT_UPSAMPLE
    architecture: str | None = None
    engine: str = "auto"
    precision: str = "fp32"
    threads: int = 1
    every: int = 1
    max_frames: int | None = None
    track: bool = True
    draw: bool = False
    weights: str | None = None
    weights_sha256: str | None = None
    model_sha256: str | None = None

    def record(self) -> dict[str, Any]:
        """The settings that decide the keypoints; a stored source is reused only if they match."""
        return {
            "model": self.model,
            "input_size": list(self.input_size),
            "upsample": self.upsample,
            "architecture": self.architecture,
            "engine": self.engine,
            "precision": self.precision,
            "every": self.every,
            "max_frames": self.max_frames,
            "track": self.track,
            "weights_sha256": self.weights_sha256,  # None (published weights) matches older records
            "model_sha256": self.model_sha256,  # of a graph file (None for a registered name)
        }


@dataclasses.dataclass
class Detections:
    """The people of a run of video frames, as arrays (small to send between processes).

    Attributes:
        frames: int64 (F,) source frame indices.
        counts: int64 (F,) people per frame.
        keypoints: float32 (sum(counts), 18, 3) x, y in frame pixels, score.
        scores: float32 (sum(counts),) person scores.
        fps: the video's frame rate, or None.
        seconds: wall time spent.
    """

    frames: np.ndarray
    counts: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray
    fps: float | None
    seconds: float

    @staticmethod
    def join(parts: list[Detections]) -> Detections:
        """The detections of consecutive chunks, in order."""
        return Detections(
            frames=np.concatenate([p.frames for p in parts]),
            counts=np.concatenate([p.counts for p in parts]),
            keypoints=np.concatenate([p.keypoints for p in parts]),
            scores=np.concatenate([p.scores for p in parts]),
            fps=parts[0].fps,
            seconds=sum(p.seconds for p in parts),
        )

    def people(self) -> list[tuple[int, list]]:
        """(frame index, [Person, ...]) per frame."""
        from ..person import Person

        out, start = [], 0
        for frame, n in zip(self.frames.tolist(), self.counts.tolist()):
            out.append(
                (frame, [Person(self.keypoints[i], float(self.scores[i])) for i in range(start, start + n)])
            )
            start += n
        return out


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # terminal colour codes (Ray colours its error texts)


def failed(source: Source, exc: BaseException, seconds: float = 0.0) -> dict[str, Any]:
    """The result of a source that could not be processed, with a one-line error.

    An error that wraps another (Ray's ``RayTaskError`` keeps the worker's exception as ``cause``) is
    reported by that cause, so the line names the problem rather than Ray's task; colour codes are removed.
    """
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):
        exc = cause
    text = _ANSI.sub("", str(exc)).strip().splitlines()
    return {
        "key": source.key,
        "status": "failed",
        "error": f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": "),
        "frames": 0,
        "people": 0,
        "seconds": round(seconds, 3),
    }


def write_failed(source: Source, exc: OSError, folder: Path | None, seconds: float = 0.0) -> dict[str, Any]:
    """The result of a source whose outputs could not be written; ``write_error`` names the cause.

    An error without an errno (OpenCV's writers only return False) on a folder with almost no free
    space left is reported as the full disk it is.
    """
    code = exc.errno
    if code is None and folder is not None:
        try:
            if shutil.disk_usage(folder).free < _MIN_FREE_BYTES:
                code = errno.ENOSPC
        except OSError:
            pass
    if code in (errno.ENOSPC, errno.EDQUOT):
        cause = f"disk full ({errno.errorcode[code]})"
    elif code is not None:
        cause = f"{errno.errorcode.get(code, f'errno {code}')} ({os.strerror(code)})"
    else:
        cause = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    where = exc.filename or folder
    message = f"{cause} while writing {where}" if where is not None else f"{cause} while writing the outputs"
    return {**failed(source, exc, seconds), "error": message, "write_error": message}


#: Below this much free space, a writer that failed without saying why is taken to have hit a full disk.
_MIN_FREE_BYTES = 1 << 20


def _check_regular(source: Source) -> None:
    """Refuse a source that is not a regular file (a FIFO would block its reader for good)."""
    from ..video.sources import special_file_error

    problem = None if "://" in source.location else special_file_error(source.location, source.name)
    if problem is not None:
        raise OSError(problem)


#: Estimators of this process by (model, input size, architecture, engine, precision, threads): a process
#: that runs several batches (a notebook, the tests, a Ray actor) loads each model once.
_ESTIMATORS: dict[tuple, Any] = {}


class Worker:
    """One estimator and the output store; loads the model on first use (once per process or actor).

    Args:
        options: how to process the sources.
        out: the batch's output folder or URL.
    """

    def __init__(self, options: Options, out: str) -> None:
        self.options = options
        self.store = Store(out)
        self._estimator = None

    @property
    def estimator(self):
        """This process's estimator for the options (built once per process, reused by later batches)."""
        if self._estimator is None:
            o = self.options
            key = (
                o.model, o.input_size, o.architecture, o.engine, o.precision, o.threads, o.weights,
                o.weights_sha256,
            )  # fmt: skip
            if key not in _ESTIMATORS:
                from .._quiet import import_tensorflow, quiet_native_stderr
                from ..estimator import PoseEstimator

                import_tensorflow()
                with quiet_native_stderr():
                    _ESTIMATORS[key] = PoseEstimator(
                        o.model, input_size=o.input_size, architecture=o.architecture,
                        engine=o.engine, precision=o.precision, num_threads=o.threads,
                        weights=o.weights,
                    )  # fmt: skip
            self._estimator = _ESTIMATORS[key]
        return self._estimator

    def pid(self) -> int:
        """The worker's process id (for tests and diagnostics)."""
        return os.getpid()

    def load(self) -> int:
        """Load the model now; returns the process id."""
        _ = self.estimator
        return os.getpid()

    # ------------------------------------------------------------------ units

    def image(self, source: Source) -> dict[str, Any]:
        _ = self.estimator  # loaded before the clock starts: seconds are the source's own
        t0 = time.perf_counter()
        try:
            image = self._read_image(source)
            people = self.estimator.inference(image, upsample=self.options.upsample).people
        except Exception as exc:  # noqa: BLE001 - a bad source is a result, not a crash
            return failed(source, exc, time.perf_counter() - t0)
        return self._write(source, [(0, people)], image=image, fps=None, t0=t0, seconds=0.0)

    def chunk(self, source: Source, first: int, stop: int | None) -> Detections | dict[str, Any]:
        from ..person import people_to_array

        _ = self.estimator
        t0 = time.perf_counter()
        o = self.options
        frames, counts, keypoints, scores = [], [], [], []
        try:
            _check_regular(source)
            with self._local_video(source) as path:
                from ..video.sources import iter_frames, open_source

                with open_source(path) as src:
                    fps = src.fps
                    for ordinal, (index, frame) in enumerate(iter_frames(src, every=o.every)):
                        if stop is not None and ordinal >= stop:
                            break
                        if ordinal < first:
                            continue  # decoded to reach the chunk: exact frames, unlike seeking
                        people = self.estimator.inference(frame, upsample=o.upsample).people
                        frames.append(index)
                        counts.append(len(people))
                        keypoints.append(people_to_array(people))
                        scores.append(np.array([p.score for p in people], np.float32))
        except Exception as exc:  # noqa: BLE001 - a bad source is a result, not a crash
            return failed(source, exc, time.perf_counter() - t0)
        return Detections(
            frames=np.array(frames, np.int64),
            counts=np.array(counts, np.int64),
            keypoints=np.concatenate(keypoints) if keypoints else np.zeros((0, 18, 3), np.float32),
            scores=np.concatenate(scores) if scores else np.zeros(0, np.float32),
            fps=fps,
            seconds=time.perf_counter() - t0,
        )

    def finish(self, source: Source, detections: Detections) -> dict[str, Any]:
        t0 = time.perf_counter()
        try:
            frames = detections.people()
            if self.options.track:
                from ..video.track import Tracker, TrackerParams

                tracker = Tracker(TrackerParams(), fps=detections.fps or 30.0)
                frames = [(i, tracker.update(people, frame_index=i)) for i, people in frames]
        except Exception as exc:  # noqa: BLE001 - a bad source is a result, not a crash
            return failed(source, exc, detections.seconds + time.perf_counter() - t0)
        return self._write(source, frames, image=None, fps=detections.fps, t0=t0, seconds=detections.seconds)

    def video(self, source: Source) -> dict[str, Any]:
        """A whole video in one unit (``chunk`` over all frames, then ``finish``)."""
        detections = self.chunk(source, 0, self.options.max_frames)
        return detections if isinstance(detections, dict) else self.finish(source, detections)

    # ------------------------------------------------------------------ reading

    def _read_image(self, source: Source) -> np.ndarray:
        from ..preprocess import decode_image, read_image

        _check_regular(source)
        if "://" not in source.location:
            return read_image(source.location)
        import fsspec

        with fsspec.open(source.location, "rb") as f:
            return decode_image(f.read(), source.name)

    class _local_video:
        """A local file for OpenCV: the path itself, or a temporary download of a URL."""

        def __init__(self, source: Source) -> None:
            self.source = source
            self.tmp: str | None = None

        def __enter__(self) -> str:
            if "://" not in self.source.location:
                return self.source.location
            import fsspec

            suffix = os.path.splitext(self.source.location)[1]
            fd, self.tmp = tempfile.mkstemp(prefix="posekit-batch-", suffix=suffix)
            os.close(fd)
            with fsspec.open(self.source.location, "rb") as src, open(self.tmp, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            return self.tmp

        def __exit__(self, *exc: object) -> None:
            if self.tmp is not None:
                os.unlink(self.tmp)

    # ------------------------------------------------------------------ writing

    def _write(
        self, source: Source, frames: list[tuple[int, list]], *, image: np.ndarray | None, fps: float | None,
        t0: float, seconds: float,
    ) -> dict[str, Any]:  # fmt: skip
        """``_write_outputs``, its errors as results: ``write_error`` for an output that cannot be written."""
        staged = None
        try:
            staged = self.store.staging()
            return self._write_outputs(source, frames, staged, image=image, fps=fps,
                                       seconds=seconds + time.perf_counter() - t0)  # fmt: skip
        except OSError as exc:
            return write_failed(source, exc, staged, seconds + time.perf_counter() - t0)
        except Exception as exc:  # noqa: BLE001 - a bad source is a result, not a crash
            return failed(source, exc, seconds + time.perf_counter() - t0)
        finally:
            if staged is not None:
                shutil.rmtree(staged, ignore_errors=True)

    def _write_outputs(
        self, source: Source, frames: list[tuple[int, list]], staged: Path, *, image: np.ndarray | None,
        fps: float | None, seconds: float,
    ) -> dict[str, Any]:  # fmt: skip
        """Write a source's folder, then its keypoints file (the mark of completion); returns its result."""
        from ..export import openpose_json_name, write_openpose_json

        o = self.options
        stats = {
            "frames": len(frames),
            "people": int(sum(len(p) for _, p in frames)),
            "seconds": round(seconds, 3),
        }
        try:
            for index, people in frames:
                name = openpose_json_name(source.stem, None if source.kind == "image" else index)
                write_openpose_json(staged / name, people)
            drawn = None
            if o.draw:
                drawn = self._draw(source, frames, staged, image=image, fps=fps)
            rel = f"sources/{source.key}"
            self.store.commit_folder(staged, rel)
        finally:
            shutil.rmtree(staged, ignore_errors=True)
        record = {**o.record(), "source": source.name, "key": source.key, "fingerprint": source.fingerprint,
                  **stats}  # fmt: skip
        part = f"keypoints/{part_name(source.key)}"
        self.store.write_table(part, keypoint_table(source.name, frames, record))
        return {
            "key": source.key, "status": "done", "error": None, **stats, "outputs": rel, "keypoints": part,
            "drawn": f"{rel}/{drawn}" if drawn else None,
        }  # fmt: skip

    def _draw(
        self, source: Source, frames: list[tuple[int, list]], folder: Path, *, image: np.ndarray | None,
        fps: float | None,
    ) -> str | None:  # fmt: skip
        """Write the drawn image or video into ``folder``; returns its file name."""
        import cv2

        from .._files import atomic_path, write_bytes_atomic
        from ..draw import draw_people

        if image is not None:
            suffix = Path(source.name).suffix.lower()
            name = f"{source.stem}_pose{suffix if cv2.haveImageWriter('x' + suffix) else '.png'}"
            # encoded in memory, written by Python: a full disk is an OSError naming ENOSPC, not libpng lines
            ok, data = cv2.imencode(Path(name).suffix, draw_people(image, frames[0][1]))
            if not ok:
                raise ValueError(f"cannot encode {name}")
            write_bytes_atomic(folder / name, data.tobytes())
            return name
        if not frames:
            return None
        from ..draw import compose_frame
        from ..video.sources import VideoWriter, iter_frames, output_fps

        people = dict(frames)
        every = self.options.every
        # Nested: a parenthesised `with` needs Python 3.10 and posekit supports 3.9.
        with self._local_video(source) as path, atomic_path(folder / f"{source.stem}_pose.mp4") as tmp:  # noqa: SIM117
            with VideoWriter(tmp, output_fps(fps, every)) as out:
                for index, frame in iter_frames(path, every=every, max_frames=len(frames)):
                    out.write(compose_frame(frame, people.get(index, [])))
                if out.path != tmp:
                    raise OSError(f"cannot write an mp4 here (the writer fell back to {out.path.suffix})")
        return f"{source.stem}_pose.mp4"
