"""The TFLite engine: the Keras model converted once per input size and run by the interpreter.

The conversion (float32, no quantisation) is cached as ``WxH.tflite`` in the cache folder with a record
(``posekit.network.weights.write_cache_record``: its sha256, the input size and a fingerprint of the model's
weights); a cached file that its record does not vouch for, or that the interpreter cannot load, is converted
again (one line on stderr says so). Right after converting, its outputs are checked against the Keras model
(``TFLITE_TOLERANCE``) and a mismatching conversion is refused. The interpreter (LiteRT's, else
TensorFlow's) runs with the XNNPACK delegate; the OpenVINO engine reads the same cached conversion.
Input sizes are bounded (``posekit.preprocess.MAX_INPUT_SIDE`` per side): nothing is converted beyond it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import warnings
from pathlib import Path

import numpy as np

from .._files import atomic_path
from ..preprocess import STRIDE, check_input_size
from .runner import FixedSizeRunner, Runner, count_build
from .weights import cache_problem, report_rebuilt, write_cache_record

__all__ = ["TFLITE_TOLERANCE", "tflite_available", "convert_tflite", "make_tflite_runner", "TfliteRunner"]

#: Largest absolute difference from the Keras model's outputs a conversion may show.
TFLITE_TOLERANCE = 1e-4


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


def convert_tflite(model, input_size: tuple[int, int], path: Path) -> Path:
    """Convert the Keras model for a fixed (width, height) input to a float32 TFLite file at ``path``.

    The file appears complete or not at all (a failed conversion leaves nothing behind). A model with
    several inputs (a part of a network) takes them at the grid of ``input_size``.

    Raises:
        ValueError: ``input_size`` is beyond ``MAX_INPUT_SIDE``.
    """
    w, h = check_input_size(input_size)
    import tensorflow as tf

    shapes = [(1, h, w, 3)] if len(model.inputs) == 1 and model.inputs[0].shape[-1] == 3 else [
        (1, -(-h // STRIDE), -(-w // STRIDE), int(t.shape[-1])) for t in model.inputs
    ]  # fmt: skip
    fn = tf.function(
        lambda *xs: model(list(xs) if len(xs) > 1 else xs[0], training=False),
        input_signature=[tf.TensorSpec(shape, tf.float32) for shape in shapes],
    )
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn)
    flat = converter.convert()
    count_build("tflite_conversions")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_bytes(flat)
    return path


class TfliteRunner(FixedSizeRunner):
    """Runs a fixed-size TFLite model; batches run image by image, one call at a time (a lock)."""

    kind = "TFLite"

    def __init__(self, path: Path, num_threads: int | None) -> None:
        from .._quiet import quiet_native_stderr

        interpreter_cls = _interpreter_class()
        # TensorFlow's own interpreter warns that LiteRT replaces it; XNNPACK prints an INFO line natively
        with warnings.catch_warnings(), quiet_native_stderr():
            warnings.simplefilter("ignore")
            self.interpreter = interpreter_cls(
                model_path=str(path), num_threads=num_threads or os.cpu_count()
            )
            self.interpreter.allocate_tensors()
        count_build("tflite_loads")
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

    def _one(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.interpreter.set_tensor(self.input_index, image)
        self.interpreter.invoke()
        get = self.interpreter.get_tensor  # copies
        return get(self.heat_index), get(self.paf_index)


def weights_fingerprint(model) -> str:
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
    made_from = {"input_size": [w, h], "weights_sha256": weights_fingerprint(model)}
    problem = cache_problem(path, **made_from)
    if problem is None:
        try:
            return TfliteRunner(path, num_threads)
        except (ValueError, RuntimeError, OSError):  # vouched for, yet the interpreter refuses it
            problem = "could not be read"
    convert_tflite(model, (w, h), path)
    runner = TfliteRunner(path, num_threads)
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


def cached_tflite(model, input_size: tuple[int, int], path: Path) -> Path:
    """``path``: the TFLite conversion of ``model``, reused when its record vouches for it.

    The caller checks a fresh conversion's outputs against the Keras model.
    """
    w, h = input_size
    made_from = {"input_size": [w, h], "weights_sha256": weights_fingerprint(model)}
    problem = cache_problem(path, **made_from)
    if problem is None:
        return path
    convert_tflite(model, (w, h), path)
    with contextlib.suppress(OSError):
        write_cache_record(path, **made_from)
    if problem != "missing":
        report_rebuilt(path, model.name, problem, source="the Keras model")
    return path
