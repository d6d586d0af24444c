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
- ``"auto"``: "tflite" when the input size is fixed and TFLite is available, else "tf".

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
    "BACKENDS",
    "make_runner",
    "make_tf_runner",
    "make_tflite_runner",
    "tflite_available",
    "convert_tflite",
    "TFLITE_TOLERANCE",
]

ENGINES = ("auto", "tf", "tflite")
BACKENDS = ENGINES  # the former name of ENGINES
TFLITE_TOLERANCE = 1e-4

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

    The file appears complete or not at all (a failed conversion leaves nothing behind).

    Raises:
        ValueError: ``input_size`` is beyond ``MAX_INPUT_SIDE``.
    """
    w, h = check_input_size(input_size)
    import tensorflow as tf

    fn = tf.function(
        lambda x: model(x, training=False), input_signature=[tf.TensorSpec((1, h, w, 3), tf.float32)]
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


def make_runner(
    model, engine: str, input_size: tuple[int, int] | None, cache_dir: Path, num_threads: int | None = None
) -> tuple[Runner, str]:
    """Build the network runner for ``engine``.

    Args:
        model: the Keras model (``posekit.models.load_model``).
        engine: one of ``ENGINES``.
        input_size: fixed (width, height), or None for any size (then "auto" is "tf").
        cache_dir: folder of the TFLite conversions.
        num_threads: TFLite interpreter threads (default: all cores).

    Returns:
        (runner, the engine actually used: "tf" or "tflite").

    Raises:
        ValueError: unknown engine, "tflite" without an input size, or a size beyond ``MAX_INPUT_SIDE``.
        RuntimeError: "tflite" asked for but no interpreter is installed, or its conversion is refused.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}: valid engines are {', '.join(ENGINES)}")
    if input_size is not None:
        input_size = check_input_size(input_size)
    if engine == "auto":
        if input_size is None or not tflite_available():
            return make_tf_runner(model), "tf"
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
