"""The OpenVINO engine (extra ``posekit[openvino]``): the cached TFLite conversion compiled for the CPU.

``make_openvino_runner`` reads the float32 TFLite conversion (``posekit.network.tflite``), checks a fresh one
against the Keras model, and compiles it in float32 or, for precision "bf16", with OpenVINO's bf16 inference
precision and ``posekit.network.bf16``'s plan marked; for precision "int8" it compiles the distilled int8
network (``posekit.network.int8``) instead, and checks that its convolutions run in int8. It can also
reshape a conversion already made to another size, or to any width at one height (a compile, no
conversion). One infer request behind a lock per runner.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from ..preprocess import check_input_size
from .bf16 import BF16_PLAN, Bf16Plan, convolution_precisions, mark_fp32
from .int8 import INT8_CONVOLUTION_PRECISIONS, int8_float_layers, int8_network
from .runner import FixedSizeRunner, Runner, count_build
from .tflite import TFLITE_TOLERANCE, cached_tflite, weights_fingerprint
from .weights import cache_problem

__all__ = [
    "OPENVINO_HINT",
    "OPENVINO_PRECISIONS",
    "openvino_available",
    "make_openvino_runner",
    "OpenvinoRunner",
    "make_int8_runner",
]

OPENVINO_HINT = "pip install 'posekit[openvino]' (or: pip install openvino)"
#: The precisions this engine compiles.
OPENVINO_PRECISIONS = ("fp32", "bf16", "int8")


def openvino_available() -> bool:
    """True when OpenVINO's Python runtime can be imported."""
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def _static_dims(port) -> tuple[int, ...]:
    """An OpenVINO port's shape, -1 for a dynamic dimension."""
    return tuple(d.get_length() if d.is_static else -1 for d in port.get_partial_shape())


class OpenvinoRunner(FixedSizeRunner):
    """A TFLite conversion compiled by OpenVINO for the CPU, float32 or bf16 by ``plan``.

    One infer request, one call at a time (a lock): the request's tensors are shared state.
    ``input_size`` other than the file's reshapes the network to it before compiling (OpenVINO
    propagates the new shape through the convolutions: no new conversion); (None, height) compiles it
    for any width at that height (a dynamic width: one compilation serves every width; its speed against a
    fixed width: ``benchmarks/bench_batch.py``).

    Raises:
        RuntimeError: OpenVINO is missing, or it did not keep ``plan``'s float32 nodes in float32.
    """

    kind = "OpenVINO"

    def __init__(
        self,
        path: Path,
        num_threads: int | None,
        plan: Bf16Plan | None = None,
        *,
        input_size: tuple[int, int] | None = None,
    ) -> None:
        try:
            import openvino as ov
        except ImportError:
            raise RuntimeError(f"engine 'openvino' needs OpenVINO: {OPENVINO_HINT}") from None
        core = ov.Core()
        model = core.read_model(str(path))
        reshaped = False
        if input_size is not None:
            w, h = input_size
            if w is None:
                model.reshape({model.inputs[0]: ov.PartialShape([1, h, -1, 3])})
                reshaped = True
            elif tuple(model.inputs[0].partial_shape.to_shape()) != (1, h, w, 3):
                model.reshape({model.inputs[0]: [1, h, w, 3]})
                reshaped = True
        threads = int(num_threads or os.cpu_count() or 1)
        config = {"INFERENCE_PRECISION_HINT": "f32" if plan is None else "bf16",
                  "INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY",
                  "ENABLE_CPU_PINNING": False}  # fmt: skip
        marked = 0
        if plan is not None:
            model, marked = mark_fp32(model, plan)
        self.compiled = core.compile_model(model, "CPU", config)
        count_build("openvino_compiles")
        if reshaped:
            count_build("openvino_reshapes")
        self.request = self.compiled.create_infer_request()
        self.input_shape = _static_dims(self.compiled.inputs[0])
        self.outputs = {_static_dims(o)[-1]: o for o in self.compiled.outputs}
        if len(self.input_shape) != 4 or not {19, 38} <= set(self.outputs):
            raise ValueError(
                f"{path} is not a pose network (input {self.input_shape}, outputs {sorted(self.outputs)})"
            )
        if plan is not None:
            self.convolutions = convolution_precisions(self.compiled)
            if marked and not self.convolutions.get("f32"):
                raise RuntimeError(
                    f"OpenVINO {ov.__version__} ran every convolution in bf16, ignoring the float32 parts of "
                    f"precision 'bf16' ({plan.describe()}): it needs OpenVINO >= 2026.4"
                )
        self._lock = threading.Lock()

    def _one(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        result = self.request.infer([image])
        return result[self.outputs[19]].copy(), result[self.outputs[38]].copy()


def make_openvino_runner(
    model,
    input_size: tuple[int, int],
    cache_dir: Path,
    num_threads: int | None = None,
    *,
    precision: str = "fp32",
    plan: Bf16Plan = BF16_PLAN,
    reshape_from: tuple[int, int] | None = None,
    check_reshape: bool = False,
) -> Runner:
    """The OpenVINO runner for ``input_size`` and ``precision`` ("fp32", "bf16", "int8": the module doc).

    Both read the cached float32 TFLite conversion (converted, recorded and checked against the Keras
    model within ``TFLITE_TOLERANCE`` by OpenVINO float32 when missing or not vouched for); "bf16" then
    marks ``plan``'s float32 nodes and compiles with OpenVINO's bf16 inference precision.

    With ``reshape_from`` = (width, height), the conversion of that size is read and reshaped to
    ``input_size`` (a compile, no conversion); ``input_size`` (None, height) makes one network for every
    width at that height. ``check_reshape`` then compares the reshaped float32 network's outputs with
    the Keras model's at ``input_size`` (at two widths for (None, height); ``TFLITE_TOLERANCE``).

    Raises:
        RuntimeError: OpenVINO is not installed (with the install hint), the float32 result differs
            from the Keras model by more than ``TFLITE_TOLERANCE``, or OpenVINO ignored the plan.
        ValueError: unknown precision, a network without the structure ``Bf16Plan`` is defined on, or
            "int8" for a network other than the pinned mobilenet_thin (``int8_network``).
    """
    if not openvino_available():
        raise RuntimeError(f"engine 'openvino' needs OpenVINO: {OPENVINO_HINT}")
    if precision not in OPENVINO_PRECISIONS:
        raise ValueError(
            f"engine 'openvino' compiles {', '.join(OPENVINO_PRECISIONS)}, not precision {precision!r}"
        )
    if precision == "int8":
        return make_int8_runner(model, input_size, num_threads)
    if reshape_from is not None and tuple(reshape_from) != tuple(input_size):  # also (None, height)
        return _reshaped_openvino_runner(
            model, input_size, reshape_from, cache_dir, num_threads, precision, plan, check_reshape
        )
    w, h = check_input_size(input_size)
    path = Path(cache_dir) / f"{w}x{h}.tflite"
    fresh = cache_problem(path, input_size=[w, h], weights_sha256=weights_fingerprint(model)) is not None
    cached_tflite(model, (w, h), path)
    if fresh or precision == "fp32":
        runner = OpenvinoRunner(path, num_threads)
        if fresh:
            x = np.random.default_rng(0).uniform(0, 255, (1, h, w, 3)).astype(np.float32)
            want = [t.numpy() for t in model(x, training=False)]
            diff = max(float(np.abs(a - b).max()) for a, b in zip(runner(x), want))
            if not diff <= TFLITE_TOLERANCE:
                path.unlink(missing_ok=True)
                raise RuntimeError(f"OpenVINO's run of the TFLite conversion differs by {diff:.2e}: refused")
        if precision == "fp32":
            return runner
    return OpenvinoRunner(path, num_threads, plan)


def _reshaped_openvino_runner(
    model, input_size, reshape_from, cache_dir, num_threads, precision, plan, check
) -> Runner:
    """``make_openvino_runner(reshape_from=...)``: the conversion of ``reshape_from``, reshaped."""
    w, h = check_input_size(input_size, keep_aspect=True)
    bw, bh = check_input_size(reshape_from)
    path = cached_tflite(model, (bw, bh), Path(cache_dir) / f"{bw}x{bh}.tflite")
    if check:
        runner = OpenvinoRunner(path, num_threads, input_size=(w, h))
        rng = np.random.default_rng(0)
        for width in [w] if w is not None else [bw, max(32, bw // 32 * 16)]:
            x = rng.uniform(0, 255, (1, h, width, 3)).astype(np.float32)
            want = [t.numpy() for t in model(x, training=False)]
            diff = max(float(np.abs(a - b).max()) for a, b in zip(runner(x), want))
            if not diff <= TFLITE_TOLERANCE:
                raise RuntimeError(
                    f"OpenVINO's network reshaped from {bw}x{bh} to {width}x{h} differs from the Keras model "
                    f"by {diff:.2e}"
                )
        if precision == "fp32":
            return runner
    return OpenvinoRunner(path, num_threads, None if precision == "fp32" else plan, input_size=(w, h))


def make_int8_runner(model, input_size: tuple[int | None, int], num_threads: int | None = None) -> Runner:
    """The distilled int8 network of ``model`` compiled for ``input_size`` ((None, height): any width).

    Raises:
        ValueError: ``model`` is not the pinned mobilenet_thin (``int8_network``).
        RuntimeError: OpenVINO ran a convolution of it in another precision than u8/i8 (those its record
            lists as left in float excepted).
    """
    w, h = check_input_size(input_size, keep_aspect=True)
    runner = OpenvinoRunner(int8_network(model), num_threads, input_size=(w, h))
    runner.convolutions = convolutions = convolution_precisions(runner.compiled)
    floats = len(int8_float_layers())  # left in float when it was built: any float precision
    int8 = sum(n for p, n in convolutions.items() if p in INT8_CONVOLUTION_PRECISIONS)
    if not convolutions or sum(convolutions.values()) - int8 != floats:
        raise RuntimeError(
            f"OpenVINO ran the int8 network's convolutions as {convolutions}, not all but its {floats} "
            "float ones in int8: refused"
        )
    return runner
