"""Network engines: the same Keras model executed by TensorFlow or by the TFLite interpreter.

``make_runner(model, engine, input_size, cache_dir)`` returns a callable mapping a float32
BGR 0..255 batch (N, H, W, 3) to ``(heatmaps (N, h, w, 19), pafs (N, h, w, 38))`` as NumPy arrays,
stride 8. ("Engine" is the network's executor; the PAF grouping's implementation is ``posekit.paf``'s
backend.)

Engines (``ENGINES``):

- ``"tf"``: the Keras model under ``tf.function`` (any input size, batches run as one call).
- ``"tflite"``: the model converted once per input size to TFLite (float32, no quantisation) and run
  by the interpreter with the XNNPACK delegate. The conversion is cached in ``cache_dir`` as
  ``WxH.tflite`` with a record (``posekit.weights.write_cache_record``: its sha256, the input size
  and a fingerprint of the model's weights); a cached file that its record does not vouch for, or
  that the interpreter cannot load, is converted again (one line on stderr says so). Right after
  converting, its outputs are checked against the Keras model (``TFLITE_TOLERANCE``), and a
  mismatching conversion is refused. ``benchmarks/bench_image.py`` compares the engines' speed.
- ``"openvino"`` (optional extra ``posekit[openvino]``): OpenVINO's CPU runtime reading the same cached
  TFLite conversion(s), float32 or bf16 (see precisions below); one infer request behind a lock.
- ``"auto"``: for precision "fp32" and a fixed input size, "openvino" where it is installed (on a quiet
  2-core AVX-512 machine its network ran at 0.89 of TFLite/XNNPACK's time, 74% of the same run's
  float32 matrix-product GFLOP/s: ``benchmarks/bench_image.py``), else "tflite", else "tf"; any size:
  "tf"; for "bf16", "openvino".

Precisions (``PRECISIONS``):

- ``"fp32"`` (default, "exact mode"): every engine gives the Keras model's outputs within 1e-4.
- ``"bf16"`` (fast mode, fixed input size, OpenVINO): the network is cut before stage
  ``BF16_FIRST_STAGE``; the backbone and the stages before it run in float32, the later stages with
  OpenVINO's bf16 inference precision (two cached TFLite parts, chained by their channel counts). The whole
  network in bf16 keeps only ~89% of the exact mode's keypoints (errors made early grow through the
  stages); with the first three stages in float32 ~99% are kept (``benchmarks/bench_image.py``).
  It needs a CPU with ``avx512_bf16`` or ``amx_bf16`` (``cpu_flags``); without them one warning line
  says so and the exact mode runs instead.
- ``"int8"`` is refused with the reason: post-training int8 (NNCF on OpenVINO, TFLite full-integer)
  kept under 10% of the keypoints on this network when measured.

Input sizes are bounded (``posekit.preprocess.MAX_INPUT_SIDE`` per side): nothing is converted
or cached beyond it.

Thread safety: a runner may be called from several threads at once. The "tf" runner is a
``tf.function`` (thread-safe); the TFLite interpreter is not (its input and output tensors are
shared), so each TFLite runner serialises its calls with a lock. Threads that must run the
network concurrently use one runner each (``PoseEstimator.replica``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

from ._files import atomic_path
from .preprocess import check_input_size
from .weights import cache_problem, report_rebuilt, write_cache_record

__all__ = [
    "ENGINES",
    "PRECISIONS",
    "BF16_FIRST_STAGE",
    "cpu_flags",
    "check_precision",
    "openvino_available",
    "BACKENDS",
    "make_runner",
    "make_tf_runner",
    "make_tflite_runner",
    "make_openvino_runner",
    "tflite_available",
    "convert_tflite",
    "TFLITE_TOLERANCE",
]

ENGINES = ("auto", "tf", "tflite", "openvino")
BACKENDS = ENGINES  # the former name of ENGINES
PRECISIONS = ("fp32", "bf16")
BF16_FIRST_STAGE = 4  # "bf16": backbone and stages 1-3 in float32, stages 4.. in bf16
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
TFLITE_TOLERANCE = 1e-4
OPENVINO_HINT = "pip install 'posekit[openvino]' (or: pip install openvino)"
_INT8_REFUSED = (
    "precision 'int8' is not offered: post-training int8 (NNCF on OpenVINO, TFLite full-integer) kept "
    "under 10% of the exact mode's keypoints on this network; use precision 'bf16' for the fast mode"
)

Runner = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def _interpreter_class():
    """The TFLite interpreter: LiteRT's (package ai-edge-litert) when installed, else TensorFlow's."""
    try:
        from ai_edge_litert.interpreter import Interpreter  # type: ignore[import-not-found]

        return Interpreter
    except ImportError:
        pass
    import tensorflow as tf

    return getattr(getattr(tf, "lite", None), "Interpreter", None)


def tflite_available() -> bool:
    """True when a TFLite interpreter can be imported."""
    try:
        return _interpreter_class() is not None
    except ImportError:
        return False


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


def openvino_available() -> bool:
    """True when OpenVINO's Python runtime can be imported."""
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def check_precision(precision: str, engine: str = "auto", input_size: tuple[int, int] | None = None) -> str:
    """The precision that will run for ``precision`` on this machine (warns once when it differs).

    "bf16" on a CPU without ``BF16_CPU_FLAGS`` warns in one line what the CPU lacks and returns "fp32"
    (the exact mode runs: never a crash, never a silently slower emulation).

    Raises:
        ValueError: unknown precision, "int8" (with the measured reason), or "bf16" with engine "tf" or
            "tflite", or without a fixed input size.
    """
    if precision == "int8":
        raise ValueError(_INT8_REFUSED)
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}: valid precisions are {', '.join(PRECISIONS)}")
    if precision == "fp32":
        return precision
    if engine not in ("auto", "openvino"):
        raise ValueError(f"precision {precision!r} runs on the 'openvino' engine (or 'auto'), not {engine!r}")
    if input_size is None:
        raise ValueError(f"precision {precision!r} needs a fixed input_size")
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


def convert_tflite(model, input_size: tuple[int, int], path: Path) -> Path:
    """Convert the Keras model for a fixed (width, height) input to a float32 TFLite file at ``path``.

    The file appears complete or not at all (a failed conversion leaves nothing behind). A model with
    several inputs (a part of the network, ``_split_model``) takes them at the grid of ``input_size``.

    Raises:
        ValueError: ``input_size`` is beyond ``MAX_INPUT_SIDE``.
    """
    w, h = check_input_size(input_size)
    import tensorflow as tf

    shapes = [(1, h, w, 3)] if len(model.inputs) == 1 and model.inputs[0].shape[-1] == 3 else [
        (1, -(-h // 8), -(-w // 8), int(t.shape[-1])) for t in model.inputs
    ]  # fmt: skip
    fn = tf.function(
        lambda *xs: model(list(xs) if len(xs) > 1 else xs[0], training=False),
        input_signature=[tf.TensorSpec(shape, tf.float32) for shape in shapes],
    )
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn)
    flat = converter.convert()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_bytes(flat)
    return path


class _TfliteRunner:
    """Runs a fixed-size TFLite model; batches run image by image, one call at a time (a lock)."""

    def __init__(self, path: Path, num_threads: int | None) -> None:
        from ._quiet import quiet_native_stderr

        interpreter_cls = _interpreter_class()
        # TensorFlow's own interpreter warns that LiteRT replaces it; XNNPACK prints an INFO line natively
        with warnings.catch_warnings(), quiet_native_stderr():
            warnings.simplefilter("ignore")
            self.interpreter = interpreter_cls(
                model_path=str(path), num_threads=num_threads or os.cpu_count()
            )
            self.interpreter.allocate_tensors()
        inp = self.interpreter.get_input_details()[0]
        self.input_index = inp["index"]
        self.input_shape = tuple(int(v) for v in inp["shape"])
        outs = self.interpreter.get_output_details()
        by_channels = {int(d["shape"][-1]): d["index"] for d in outs}
        if len(self.input_shape) != 4 or 19 not in by_channels or 38 not in by_channels:
            raise ValueError(
                f"{path} is not a pose network (input {self.input_shape}, outputs {sorted(by_channels)})"
            )
        self.heat_index, self.paf_index = by_channels[19], by_channels[38]
        self._lock = threading.Lock()  # the interpreter's tensors are shared state

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if tuple(batch.shape[1:]) != self.input_shape[1:]:
            _, h, w, _ = self.input_shape
            raise ValueError(f"this TFLite runner takes (N, {h}, {w}, 3), got {batch.shape}")
        heats, pafs = [], []
        with self._lock:
            for image in batch:
                self.interpreter.set_tensor(self.input_index, np.ascontiguousarray(image[None], np.float32))
                self.interpreter.invoke()
                heats.append(self.interpreter.get_tensor(self.heat_index))  # get_tensor copies
                pafs.append(self.interpreter.get_tensor(self.paf_index))
        return np.concatenate(heats), np.concatenate(pafs)


def _weights_fingerprint(model) -> str:
    """sha256 of the model's name and weights: what a TFLite conversion was made from."""
    h = hashlib.sha256(model.name.encode())
    for w in model.get_weights():
        h.update(f"{w.dtype}{w.shape}".encode())
        h.update(np.ascontiguousarray(w).tobytes())
    return h.hexdigest()


def make_tflite_runner(
    model, input_size: tuple[int, int], cache_dir: Path, num_threads: int | None = None
) -> Runner:
    """Load the TFLite runner for ``input_size`` from ``cache_dir``, converting (and checking) when needed.

    A cached ``WxH.tflite`` is used when its record vouches for it (same bytes, input size, weights and
    posekit version) and the interpreter loads it; otherwise it is converted again from ``model``.

    Raises:
        ValueError: ``input_size`` is beyond ``MAX_INPUT_SIDE``.
        RuntimeError: a fresh conversion differs from the Keras model by more than ``TFLITE_TOLERANCE``.
    """
    w, h = check_input_size(input_size)
    path = Path(cache_dir) / f"{w}x{h}.tflite"
    made_from = {"input_size": [w, h], "weights_sha256": _weights_fingerprint(model)}
    problem = cache_problem(path, **made_from)
    if problem is None:
        try:
            return _TfliteRunner(path, num_threads)
        except (ValueError, RuntimeError, OSError):  # vouched for, yet the interpreter refuses it
            problem = "could not be read"
    convert_tflite(model, (w, h), path)
    runner = _TfliteRunner(path, num_threads)
    x = np.random.default_rng(0).uniform(0, 255, (1, h, w, 3)).astype(np.float32)
    got = runner(x)
    want = [t.numpy() for t in model(x, training=False)]
    diff = max(float(np.abs(a - b).max()) for a, b in zip(got, want))
    if not diff <= TFLITE_TOLERANCE:
        path.unlink(missing_ok=True)
        raise RuntimeError(f"the TFLite conversion differs from the Keras model by {diff:.2e}: refused")
    with contextlib.suppress(OSError):  # unrecorded (read-only cache): converted again next time
        write_cache_record(path, **made_from)
    if problem != "missing":
        report_rebuilt(path, model.name, problem, source="the Keras model")
    return runner


def _split_model(model, first_stage: int):
    """The Keras model cut before stage ``first_stage``: (head, tail) sharing the original layers.

    head: image -> (paf, heat, features) fed to stage ``first_stage``; tail: those -> (heat, paf).

    Raises:
        ValueError: the model has no layer named ``Stage{first_stage}_concat``.
    """
    import keras

    name = f"Stage{first_stage}_concat"
    try:
        cut = model.get_layer(name).input
    except ValueError:
        raise ValueError(
            f"model {model.name!r} has no layer {name!r}: it cannot run in mixed precision"
        ) from None
    return keras.Model(model.input, cut, name=f"{model.name}_head{first_stage}"), keras.Model(
        cut, model.outputs, name=f"{model.name}_tail{first_stage}"
    )


def _cached_tflite(model, input_size: tuple[int, int], path: Path) -> Path:
    """``path``: a TFLite conversion of ``model`` (whole or a part), reused when its record vouches for it.

    The caller checks a fresh conversion's outputs (only a whole float32 network has a tolerance).
    """
    w, h = input_size
    made_from = {"input_size": [w, h], "weights_sha256": _weights_fingerprint(model)}
    problem = cache_problem(path, **made_from)
    if problem is None:
        return path
    convert_tflite(model, (w, h), path)
    with contextlib.suppress(OSError):
        write_cache_record(path, **made_from)
    if problem != "missing":
        report_rebuilt(path, model.name, problem, source="the Keras model")
    return path


class _OpenvinoRunner:
    """TFLite file(s) compiled by OpenVINO for the CPU, chained: each part's inputs are found among the
    earlier outputs by channel count (3 = image, 19 = heat, 38 = paf, others = features).

    One infer request per part, one call at a time (a lock): the requests' tensors are shared state.
    """

    def __init__(self, parts: list[tuple[Path, str]], num_threads: int | None) -> None:
        try:
            import openvino as ov
        except ImportError:
            raise RuntimeError(f"engine 'openvino' needs OpenVINO: {OPENVINO_HINT}") from None
        core = ov.Core()
        self.parts = []
        threads = int(num_threads or os.cpu_count() or 1)
        for path, precision in parts:
            config = {"INFERENCE_PRECISION_HINT": {"fp32": "f32", "bf16": "bf16"}[precision],
                      "INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}  # fmt: skip
            compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
            self.parts.append((compiled, compiled.create_infer_request()))
        first = self.parts[0][0].inputs[0]
        self.input_shape = tuple(int(v) for v in first.shape)
        outs = {int(o.shape[-1]) for o in self.parts[-1][0].outputs}
        if len(self.input_shape) != 4 or not {19, 38} <= outs:
            raise ValueError(
                f"{parts[0][0]} is not a pose network (input {self.input_shape}, outputs {sorted(outs)})"
            )
        self._lock = threading.Lock()

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if tuple(batch.shape[1:]) != self.input_shape[1:]:
            _, h, w, _ = self.input_shape
            raise ValueError(f"this OpenVINO runner takes (N, {h}, {w}, 3), got {batch.shape}")
        heats, pafs = [], []
        with self._lock:
            for image in batch:
                values = {3: np.ascontiguousarray(image[None], np.float32)}
                for compiled, request in self.parts:
                    result = request.infer([values[int(t.shape[-1])] for t in compiled.inputs])
                    values.update({int(o.shape[-1]): result[o].copy() for o in compiled.outputs})
                heats.append(values[19])
                pafs.append(values[38])
        return np.concatenate(heats), np.concatenate(pafs)


def make_openvino_runner(
    model,
    input_size: tuple[int, int],
    cache_dir: Path,
    num_threads: int | None = None,
    *,
    precision: str = "fp32",
) -> Runner:
    """The OpenVINO runner for ``input_size`` and ``precision`` ("fp32" or "bf16", see the module doc).

    Reads the cached TFLite conversion(s) (converted, recorded and, for "fp32", checked against the
    Keras model within ``TFLITE_TOLERANCE`` when missing or not vouched for).

    Raises:
        RuntimeError: OpenVINO is not installed (with the install hint), or the float32 result differs
            from the Keras model by more than ``TFLITE_TOLERANCE``.
    """
    if not openvino_available():
        raise RuntimeError(f"engine 'openvino' needs OpenVINO: {OPENVINO_HINT}")
    w, h = check_input_size(input_size)
    folder = Path(cache_dir)
    if precision == "fp32":
        path = folder / f"{w}x{h}.tflite"
        fresh = cache_problem(path, input_size=[w, h], weights_sha256=_weights_fingerprint(model)) is not None
        _cached_tflite(model, (w, h), path)
        runner = _OpenvinoRunner([(path, "fp32")], num_threads)
        if fresh:
            x = np.random.default_rng(0).uniform(0, 255, (1, h, w, 3)).astype(np.float32)
            want = [t.numpy() for t in model(x, training=False)]
            diff = max(float(np.abs(a - b).max()) for a, b in zip(runner(x), want))
            if not diff <= TFLITE_TOLERANCE:
                path.unlink(missing_ok=True)
                raise RuntimeError(f"OpenVINO's run of the TFLite conversion differs by {diff:.2e}: refused")
        return runner
    if precision != "bf16":
        raise ValueError(f"unknown precision {precision!r}: valid precisions are {', '.join(PRECISIONS)}")
    head, tail = _split_model(model, BF16_FIRST_STAGE)
    head_path = _cached_tflite(head, (w, h), folder / f"{w}x{h}.head{BF16_FIRST_STAGE}.tflite")
    tail_path = _cached_tflite(tail, (w, h), folder / f"{w}x{h}.tail{BF16_FIRST_STAGE}.tflite")
    return _OpenvinoRunner([(head_path, "fp32"), (tail_path, "bf16")], num_threads)


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
        model: the Keras model (``posekit.models.load_model``).
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
    if precision == "int8":
        raise ValueError(_INT8_REFUSED)
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}: valid precisions are {', '.join(PRECISIONS)}")
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
