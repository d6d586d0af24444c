"""Network runners: the same Keras model executed by TensorFlow or by the TFLite interpreter.

``make_runner(model, backend, input_size, cache_dir)`` returns a callable mapping a float32
BGR 0..255 batch (N, H, W, 3) to ``(heatmaps (N, h, w, 19), pafs (N, h, w, 38))`` as NumPy arrays.

Backends:

- ``"tf"``: the Keras model under ``tf.function`` (any input size, batches run as one call).
- ``"tflite"``: the model converted once per input size to TFLite (float32, no quantisation) and run
  by the interpreter with the XNNPACK delegate on all cores. The conversion is cached beside the
  weights; right after converting, its outputs are checked against the Keras model (max difference
  1e-4), and a mismatching conversion is refused. On this project's 2-core benchmark machine it is the
  fastest float32 engine (see ``benchmarks/bench_image.py``), so it is the default for fixed input sizes.
- ``"auto"``: "tflite" when the input size is fixed and TFLite is available, else "tf".
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

__all__ = ["BACKENDS", "make_runner", "tflite_available", "convert_tflite", "TFLITE_TOLERANCE"]

BACKENDS = ("auto", "tf", "tflite")
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
    """Convert the Keras model for a fixed (width, height) input to a float32 TFLite file at ``path``."""
    import tensorflow as tf

    w, h = input_size
    fn = tf.function(lambda x: model(x, training=False), input_signature=[tf.TensorSpec((1, h, w, 3), tf.float32)])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn)
    flat = converter.convert()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(flat)
    os.replace(tmp, path)
    return path


class _TfliteRunner:
    """Runs a fixed-size TFLite model; batches run image by image."""

    def __init__(self, path: Path, num_threads: int | None) -> None:
        from ._quiet import quiet_native_stderr

        interpreter_cls = _interpreter_class()
        # TensorFlow's own interpreter warns that LiteRT replaces it; XNNPACK prints an INFO line natively
        with warnings.catch_warnings(), quiet_native_stderr():
            warnings.simplefilter("ignore")
            self.interpreter = interpreter_cls(model_path=str(path), num_threads=num_threads or os.cpu_count())
            self.interpreter.allocate_tensors()
        inp = self.interpreter.get_input_details()[0]
        self.input_index = inp["index"]
        self.input_shape = tuple(int(v) for v in inp["shape"])
        outs = self.interpreter.get_output_details()
        by_channels = {int(d["shape"][-1]): d["index"] for d in outs}
        self.heat_index, self.paf_index = by_channels[19], by_channels[38]

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if tuple(batch.shape[1:]) != self.input_shape[1:]:
            raise ValueError(f"this TFLite runner takes (N, {self.input_shape[1]}, {self.input_shape[2]}, 3), got {batch.shape}")
        heats, pafs = [], []
        for image in batch:
            self.interpreter.set_tensor(self.input_index, np.ascontiguousarray(image[None], np.float32))
            self.interpreter.invoke()
            heats.append(self.interpreter.get_tensor(self.heat_index))
            pafs.append(self.interpreter.get_tensor(self.paf_index))
        return np.concatenate(heats), np.concatenate(pafs)


def make_tflite_runner(model, input_size: tuple[int, int], cache_dir: Path, num_threads: int | None = None) -> Runner:
    """Convert (once, cached in ``cache_dir``) and load a TFLite runner, checked against the Keras model.

    Raises:
        RuntimeError: a fresh conversion differs from the Keras model by more than ``TFLITE_TOLERANCE``.
    """
    w, h = input_size
    path = Path(cache_dir) / f"{w}x{h}.tflite"
    fresh = not path.is_file()
    if fresh:
        convert_tflite(model, input_size, path)
    runner = _TfliteRunner(path, num_threads)
    if fresh:
        x = np.random.default_rng(0).uniform(0, 255, (1, h, w, 3)).astype(np.float32)
        got = runner(x)
        want = [t.numpy() for t in model(x, training=False)]
        diff = max(float(np.abs(a - b).max()) for a, b in zip(got, want))
        if not diff <= TFLITE_TOLERANCE:
            path.unlink(missing_ok=True)
            raise RuntimeError(f"the TFLite conversion differs from the Keras model by {diff:.2e}: refused")
    return runner


def make_runner(
    model, backend: str, input_size: tuple[int, int] | None, cache_dir: Path, num_threads: int | None = None
) -> tuple[Runner, str]:
    """Build the network runner for ``backend``; returns (runner, the backend actually used)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: valid backends are {', '.join(BACKENDS)}")
    if backend == "auto":
        backend = "tflite" if input_size is not None and tflite_available() else "tf"
        if backend == "tflite":
            try:
                return make_tflite_runner(model, input_size, cache_dir, num_threads), "tflite"
            except Exception as exc:  # any converter/interpreter failure: the TF path always works
                warnings.warn(f"TFLite unavailable ({exc}); using TensorFlow", RuntimeWarning, stacklevel=3)
                return make_tf_runner(model), "tf"
    if backend == "tflite":
        if input_size is None:
            raise ValueError('backend="tflite" needs a fixed input_size (the converted model has fixed shapes)')
        if not tflite_available():
            raise RuntimeError("no TFLite interpreter: pip install ai-edge-litert, or use backend='tf'")
        return make_tflite_runner(model, input_size, cache_dir, num_threads), "tflite"
    return make_tf_runner(model), "tf"
