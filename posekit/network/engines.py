"""Network engines: the same Keras model executed by TensorFlow, TFLite or OpenVINO.

``make_runner(model, engine, input_size, cache_dir)`` returns a runner (``posekit.network.runner``): a
callable mapping a float32 BGR 0..255 batch (N, H, W, 3) to ``(heatmaps (N, h, w, 19), pafs (N, h, w, 38))``
on the network grid. ("Engine" is the network's executor; the PAF grouping's implementation is
``posekit.paf``'s backend.)

Engines (``ENGINES``):

- ``"tf"``: the Keras model under ``tf.function`` (any input size, batches run as one call).
- ``"tflite"``: the model converted once per input size, cached and checked (``posekit.network.tflite``).
- ``"openvino"`` (optional extra ``posekit[openvino]``): OpenVINO's CPU runtime reading the same cached
  conversion, float32 or bf16 (``posekit.network.openvino``).
- ``"auto"``: for precision "fp32" and a fixed input size, "openvino" where it is installed, else "tflite",
  else "tf"; any size: "tf"; for "bf16", "openvino". (The engines' speeds: ``benchmarks/bench_image.py`` and
  the README's Speed section.)

Precisions (``PRECISIONS``), checked against the engine and the CPU by ``check_precision``:

- ``"fp32"`` (default, "exact mode"): every engine gives the Keras model's outputs within 1e-4.
- ``"bf16"`` (fast mode, fixed input size, OpenVINO): bf16 inference precision with the parts that
  ``posekit.network.bf16.BF16_PLAN`` names kept in float32. It needs a CPU with one of ``BF16_CPU_FLAGS``
  (``cpu_flags``); without them one warning line says so and the exact mode runs instead.
- ``"int8"`` (fixed input size, OpenVINO, ``mobilenet_thin`` with its pinned weights): the distilled int8
  network ``posekit.network.int8.INT8_MODEL`` (post-training int8 fails on this network:
  ``benchmarks/probe_int8.py``; ``posekit.distill`` trains it with the quantisation in the loop). Its
  convolutions must run on OpenVINO's u8/i8 kernels, else the runner is refused.

Many sizes (multi-scale inference, aspect-kept ``-1xH`` input sizes): ``SizedRunners`` keeps the most
recently used networks in memory (an LRU of ``RUNNER_CACHE_SIZE``) beside the conversions on disk. OpenVINO
makes one network per height that takes every width, by reshaping the network it already read (the first
one of each ``SizedRunners`` is checked against the Keras model); TFLite converts once per size; "tf" runs
any size with one function.

Thread safety: a runner may be called from several threads at once. The "tf" runner is a ``tf.function``
(thread-safe); the converted runners serialise their calls with a lock. Threads that must run the network
concurrently use one runner each (``PoseEstimator.replica``).
"""

from __future__ import annotations

import threading
import warnings
from pathlib import Path

import numpy as np

from ..preprocess import check_input_size
from .openvino import make_openvino_runner, openvino_available
from .runner import Runner
from .tflite import make_tflite_runner, tflite_available

__all__ = [
    "ENGINES",
    "PRECISIONS",
    "BF16_CPU_FLAGS",
    "cpu_flags",
    "check_precision",
    "make_runner",
    "make_tf_runner",
    "SizedRunners",
    "RUNNER_CACHE_SIZE",
]

ENGINES = ("auto", "tf", "tflite", "openvino")
PRECISIONS = ("fp32", "bf16", "int8")
#: CPU flags (Linux names) of which precision "bf16" needs one.
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")

#: Runners of distinct input sizes a ``SizedRunners`` keeps in memory (least recently used dropped).
RUNNER_CACHE_SIZE = 8


def cpu_flags() -> frozenset[str]:
    """The CPU's instruction-set flags as Linux names them (``/proc/cpuinfo``); empty where unknown."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def _known_precision(precision: str) -> None:
    """Refuse a precision that is not one of ``PRECISIONS``, naming the valid ones."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}: valid precisions are {', '.join(PRECISIONS)}")


def check_precision(precision: str, engine: str = "auto", input_size: tuple[int, int] | None = None) -> str:
    """The precision that will run for ``precision`` on this machine (warns once when it differs).

    "bf16" on a CPU without ``BF16_CPU_FLAGS`` warns in one line what the CPU lacks and returns "fp32"
    (the exact mode runs: never a crash, never a silently slower emulation).

    Raises:
        ValueError: unknown precision, or "bf16" / "int8" with engine "tf" or "tflite", or without a fixed
            input size.
    """
    _known_precision(precision)
    if precision == "fp32":
        return precision
    if engine not in ("auto", "openvino"):
        raise ValueError(f"precision {precision!r} runs on the 'openvino' engine (or 'auto'), not {engine!r}")
    if input_size is None:
        raise ValueError(f"precision {precision!r} needs a fixed input_size")
    if precision == "int8":
        return precision
    if not any(flag in cpu_flags() for flag in BF16_CPU_FLAGS):
        warnings.warn(
            "precision 'bf16': this CPU lacks avx512_bf16 and amx_bf16; running float32 (exact mode) instead",
            RuntimeWarning,
            stacklevel=2,
        )
        return "fp32"
    return precision


def make_tf_runner(model) -> Runner:
    """The Keras model under ``tf.function`` with a dynamic input signature (no retracing per size)."""
    import tensorflow as tf

    fn = tf.function(
        lambda x: model(x, training=False), input_signature=[tf.TensorSpec((None, None, None, 3), tf.float32)]
    )

    def run(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        heat, paf = fn(tf.constant(batch, tf.float32))
        return heat.numpy(), paf.numpy()

    return run


class SizedRunners:
    """Network runners by input size for one model, engine and precision: an LRU of compiled networks.

    ``runners(size)`` returns the runner for (width, height), building it on first use. OpenVINO makes
    one network per height that takes any width (the conversion of ``base`` reshaped to a dynamic
    width: a compile, no conversion; the first one is checked against the Keras model at two widths,
    and if it differs, each size is converted instead, with one warning); TFLite converts each size
    (cached on disk, ``make_tflite_runner``); "tf" returns its one runner for every size. At most
    ``capacity`` networks are held in memory, the least recently used dropped first (a thread still
    running a dropped runner finishes with it). Thread-safe: two threads asking for one new network
    build it once; a build does not block threads asking for networks already built.

    Args:
        model: the Keras model.
        engine: the engine the runners use: "tf", "tflite" or "openvino" (as ``make_runner`` returned it).
        cache_dir: folder of the TFLite conversions.
        num_threads: TFLite interpreter / OpenVINO threads.
        precision: "fp32" or "bf16" (as ``check_precision`` returned it).
        base: (size, runner) already built; OpenVINO reshapes this size's conversion ("tf": (None,
            runner) serves every size).
        capacity: networks held in memory, at least 1 (the base is one of them until dropped).
    """

    def __init__(
        self,
        model,
        engine: str,
        cache_dir: Path,
        num_threads: int | None = None,
        *,
        precision: str = "fp32",
        base: tuple[tuple[int, int] | None, Runner] | None = None,
        capacity: int = RUNNER_CACHE_SIZE,
    ) -> None:
        from collections import OrderedDict

        if engine not in ("tf", "tflite", "openvino"):
            raise ValueError(
                f"SizedRunners needs a resolved engine ('tf', 'tflite' or 'openvino'), got {engine!r}"
            )
        if int(capacity) < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity!r}")
        self.model, self.engine, self.cache_dir = model, engine, Path(cache_dir)
        self.num_threads, self.precision, self.capacity = num_threads, precision, int(capacity)
        self._runners: OrderedDict[tuple[int | None, int], Runner] = OrderedDict()
        self._lock = threading.Lock()
        self._building: dict[tuple[int | None, int], threading.Lock] = {}
        self._base_size = None if base is None or base[0] is None else check_input_size(base[0])
        self._reshape_checked = False  # the first reshape is compared with the Keras model
        self._reshape_ok = True
        self.builds = 0  # networks this object built
        if self._base_size is not None and engine != "tf":
            self._runners[self._base_size] = base[1]
        self._tf = base[1] if engine == "tf" and base is not None else None

    def sizes(self) -> list[tuple[int | None, int]]:
        """The networks held in memory by (width, height), least recently used first; width None: any."""
        with self._lock:
            return list(self._runners)

    def __call__(self, size: tuple[int, int]) -> Runner:
        if self.engine == "tf":
            with self._lock:
                if self._tf is None:
                    self._tf = make_tf_runner(self.model)
                return self._tf
        size = check_input_size(size)
        with self._lock:
            for key in (size, (None, size[1])):
                runner = self._runners.get(key)
                if runner is not None:
                    self._runners.move_to_end(key)
                    return runner
            any_width = self.engine == "openvino" and self._base_size is not None and self._reshape_ok
            key = (None, size[1]) if any_width else size
            building = self._building.setdefault(key, threading.Lock())
        with building:  # one build per network; other networks go on
            with self._lock:
                runner = self._runners.get(key)
            if runner is None:
                key, runner = self._build(key, size)
            with self._lock:
                self._runners[key] = runner
                self._runners.move_to_end(key)
                while len(self._runners) > self.capacity:
                    self._runners.popitem(last=False)
                self._building.pop(key, None)
        return runner

    def _build(self, key, size) -> tuple[tuple[int | None, int], Runner]:
        """(the key it serves, a new runner) for ``key``: (None, height) for OpenVINO's any width."""
        with self._lock:
            self.builds += 1
        if key[0] is None:
            check = not self._reshape_checked
            try:
                runner = make_openvino_runner(
                    self.model, key, self.cache_dir, self.num_threads, precision=self.precision,
                    reshape_from=self._base_size, check_reshape=check,
                )  # fmt: skip
                self._reshape_checked = True
                return key, runner
            except RuntimeError as exc:
                if not check:
                    raise
                self._reshape_ok = False
                warnings.warn(f"{exc}: converting each size instead", RuntimeWarning, stacklevel=3)
        if self.engine == "openvino":
            runner = make_openvino_runner(
                self.model, size, self.cache_dir, self.num_threads, precision=self.precision
            )
            return size, runner
        return size, make_tflite_runner(self.model, size, self.cache_dir, self.num_threads)


def make_runner(
    model,
    engine: str,
    input_size: tuple[int, int] | None,
    cache_dir: Path,
    num_threads: int | None = None,
    *,
    precision: str = "fp32",
) -> tuple[Runner, str]:
    """Build the network runner for ``engine``.

    Args:
        model: the Keras model (``posekit.network.models.load_model``).
        engine: one of ``ENGINES``.
        input_size: fixed (width, height), or None for any size (then "auto" is "tf").
        cache_dir: folder of the TFLite conversions.
        num_threads: TFLite interpreter / OpenVINO threads (default: all cores).
        precision: one of ``PRECISIONS`` as ``check_precision`` returned it (not checked against the CPU
            here: call ``check_precision`` first for the warning and the fallback).

    Returns:
        (runner, the engine actually used: "tf", "tflite" or "openvino").

    Raises:
        ValueError: unknown engine or precision, "tflite"/"openvino" without an input size, or a size
            beyond ``MAX_INPUT_SIDE``.
        RuntimeError: "tflite" or "openvino" asked for but not installed, or a conversion is refused.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}: valid engines are {', '.join(ENGINES)}")
    _known_precision(precision)
    if input_size is not None:
        input_size = check_input_size(input_size)
    if precision != "fp32" or engine == "openvino":
        if engine not in ("auto", "openvino"):
            raise ValueError(
                f"precision {precision!r} runs on the 'openvino' engine (or 'auto'), not {engine!r}"
            )
        if input_size is None:
            raise ValueError(
                'engine "openvino" needs a fixed input_size (a converted model has fixed shapes)'
            )
        runner = make_openvino_runner(model, input_size, cache_dir, num_threads, precision=precision)
        return runner, "openvino"
    if engine == "auto":
        if input_size is None or not tflite_available():
            return make_tf_runner(model), "tf"
        if openvino_available():  # the fastest float32 engine that holds the tolerance, where installed
            try:
                return make_openvino_runner(model, input_size, cache_dir, num_threads), "openvino"
            except Exception as exc:  # a broken OpenVINO install: TFLite serves the same outputs
                warnings.warn(f"OpenVINO unavailable ({exc}); using TFLite", RuntimeWarning, stacklevel=3)
        try:
            return make_tflite_runner(model, input_size, cache_dir, num_threads), "tflite"
        except Exception as exc:  # any converter/interpreter failure: the TF path always works
            warnings.warn(f"TFLite unavailable ({exc}); using TensorFlow", RuntimeWarning, stacklevel=3)
            return make_tf_runner(model), "tf"
    if engine == "tflite":
        if input_size is None:
            raise ValueError('engine "tflite" needs a fixed input_size (a converted model has fixed shapes)')
        if not tflite_available():
            raise RuntimeError("no TFLite interpreter: pip install ai-edge-litert, or use engine 'tf'")
        return make_tflite_runner(model, input_size, cache_dir, num_threads), "tflite"
    return make_tf_runner(model), "tf"
