"""Network engines: the same Keras model executed by TensorFlow or by the TFLite interpreter.

``make_runner(model, engine, input_size, cache_dir)`` returns a callable mapping a float32
BGR 0..255 batch (N, H, W, 3) to ``(heatmaps (N, h, w, 19), pafs (N, h, w, 38))`` as NumPy arrays,
stride 8. ("Engine" is the network's executor; the PAF grouping's implementation is ``posekit.paf``'s
backend.)

Engines (``ENGINES``):

- ``"tf"``: the Keras model under ``tf.function`` (any input size, batches run as one call).
- ``"tflite"``: the model converted once per input size to TFLite (float32, no quantisation) and run
  by the interpreter with the XNNPACK delegate. The conversion is cached in ``cache_dir`` as
  ``WxH.tflite`` with a record (``posekit.network.weights.write_cache_record``: its sha256, the input size
  and a fingerprint of the model's weights); a cached file that its record does not vouch for, or
  that the interpreter cannot load, is converted again (one line on stderr says so). Right after
  converting, its outputs are checked against the Keras model (``TFLITE_TOLERANCE``), and a
  mismatching conversion is refused. ``benchmarks/bench_image.py`` compares the engines' speed.
- ``"openvino"`` (optional extra ``posekit[openvino]``): OpenVINO's CPU runtime reading the same cached
  TFLite conversion, float32 or bf16 (see precisions below); one infer request behind a lock.
- ``"auto"``: for precision "fp32" and a fixed input size, "openvino" where it is installed (on a quiet
  2-core AVX-512 machine its network ran at 0.89 of TFLite/XNNPACK's time, 74% of the same run's
  float32 matrix-product GFLOP/s: ``benchmarks/bench_image.py``), else "tflite", else "tf"; any size:
  "tf"; for "bf16", "openvino".

Precisions (``PRECISIONS``):

- ``"fp32"`` (default, "exact mode"): every engine gives the Keras model's outputs within 1e-4.
- ``"bf16"`` (fast mode, fixed input size, OpenVINO): one OpenVINO model compiled with the bf16
  inference precision, in which the parts that ``BF16_PLAN`` names are marked to stay float32 (the
  backbone's depthwise convolutions and stages 1-2; ``Bf16Plan``). The whole network in bf16 keeps only
  ~89% of the exact mode's keypoints (bf16's rounding in those parts grows into lost limbs); with the
  plan 99% are kept, at about 0.63 of OpenVINO float32's network time (``benchmarks/bench_precision.py``
  measures each plan, ``benchmarks/bench_image.py`` the speed against the original).
  It needs a CPU with ``avx512_bf16`` or ``amx_bf16`` (``cpu_flags``); without them one warning line
  says so and the exact mode runs instead.
- ``"int8"`` is refused with the measured reason (``benchmarks/probe_int8.py``): each depthwise
  convolution feeds a 1x1 convolution with no activation in between, and the channels entering those 1x1
  convolutions differ in range up to ~350x; int8 with one scale per activation tensor leaves most of them
  a level or two, and NNCF's int8 kept 5% of the exact mode's keypoints. Equalising the ranges first (an
  exact rescaling of the depthwise and 1x1 weights) lifts that to 63%: still far from the 95% goal.

Input sizes are bounded (``posekit.preprocess.MAX_INPUT_SIDE`` per side): nothing is converted
or cached beyond it.

Many sizes (multi-scale inference, aspect-kept ``-1xH`` input sizes on photos of many shapes):
``SizedRunners`` keeps the most recently used networks in memory (an LRU of ``RUNNER_CACHE_SIZE``)
beside the conversions on disk. OpenVINO makes one network per height that takes every width, by
reshaping the network it already read to a dynamic width (``make_openvino_runner(reshape_from=...)``:
a compile, no TFLite conversion; the first one of each ``SizedRunners`` is checked against the Keras
model); TFLite converts once per size (cached on disk); "tf" runs any size with one function.
``network_builds()`` counts the conversions and compilations of this process.

Thread safety: a runner may be called from several threads at once. The "tf" runner is a
``tf.function`` (thread-safe); the TFLite interpreter is not (its input and output tensors are
shared), so each TFLite runner serialises its calls with a lock. Threads that must run the
network concurrently use one runner each (``PoseEstimator.replica``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .._files import atomic_path
from ..preprocess import check_input_size
from .weights import cache_problem, report_rebuilt, write_cache_record

__all__ = [
    "ENGINES",
    "PRECISIONS",
    "BF16_PLAN",
    "Bf16Plan",
    "cpu_flags",
    "check_precision",
    "openvino_available",
    "make_runner",
    "SizedRunners",
    "RUNNER_CACHE_SIZE",
    "network_builds",
    "make_tf_runner",
    "make_tflite_runner",
    "make_openvino_runner",
    "tflite_available",
    "convert_tflite",
    "TFLITE_TOLERANCE",
]

ENGINES = ("auto", "tf", "tflite", "openvino")
PRECISIONS = ("fp32", "bf16")
STAGES = 6  # the pose head's stages after the backbone
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
TFLITE_TOLERANCE = 1e-4
OPENVINO_HINT = "pip install 'posekit[openvino]' (or: pip install openvino)"
_INT8_REFUSED = (
    "precision 'int8' is not offered: post-training int8 (NNCF on OpenVINO) keeps 5% of the exact mode's "
    "keypoints on this network, 63% after equalising its activation ranges (far below the fast mode's 95%; "
    "benchmarks/probe_int8.py); use precision 'bf16' for the fast mode"
)

Runner = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]

#: Runners of distinct input sizes a ``SizedRunners`` keeps in memory (least recently used dropped).
RUNNER_CACHE_SIZE = 8

_BUILDS: dict[str, int] = {
    "tflite_conversions": 0,
    "tflite_loads": 0,
    "openvino_compiles": 0,
    "openvino_reshapes": 0,
}
_BUILDS_LOCK = threading.Lock()


def _count_build(kind: str) -> None:
    with _BUILDS_LOCK:
        _BUILDS[kind] += 1


def network_builds() -> dict[str, int]:
    """How many networks this process has built, by kind (a copy; compare two calls for a difference).

    Keys: "tflite_conversions" (Keras -> TFLite, the slow step: seconds), "tflite_loads" (TFLite
    interpreters made), "openvino_compiles" (OpenVINO compilations, any size), "openvino_reshapes" (those
    of them made by reshaping a network already read, without a conversion).
    """
    with _BUILDS_LOCK:
        return dict(_BUILDS)


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
    several inputs (a part of a network) takes them at the grid of ``input_size``.

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
    _count_build("tflite_conversions")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_bytes(flat)
    return path


class _FixedSizeRunner:
    """A converted network of fixed input shape: batches run image by image, one call at a time (a lock).

    Subclasses set ``input_shape`` (1, H, W, 3) and ``_lock`` and run one (1, H, W, 3) float32 image in
    ``_one``; their tensors are shared state, hence the lock. A side of -1 takes any size (OpenVINO's
    dynamic width).
    """

    kind = "converted"
    input_shape: tuple[int, ...]
    _lock: threading.Lock

    def _one(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if batch.ndim != 4 or any(
            want not in (-1, got) for want, got in zip(self.input_shape[1:], batch.shape[1:])
        ):
            _, h, w, _ = self.input_shape
            raise ValueError(
                f"this {self.kind} runner takes (N, {h}, {'any width' if w == -1 else w}, 3), "
                f"got {batch.shape}"
            )
        heats, pafs = [], []
        with self._lock:
            for image in batch:
                heat, paf = self._one(np.ascontiguousarray(image[None], np.float32))
                heats.append(heat)
                pafs.append(paf)
        return np.concatenate(heats), np.concatenate(pafs)


class _TfliteRunner(_FixedSizeRunner):
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
        _count_build("tflite_loads")
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


def _cached_tflite(model, input_size: tuple[int, int], path: Path) -> Path:
    """``path``: the TFLite conversion of ``model``, reused when its record vouches for it.

    The caller checks a fresh conversion's outputs against the Keras model.
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


@dataclass(frozen=True)
class Bf16Plan:
    """Which parts of the network the fast mode keeps in float32 (the rest runs in bf16).

    Parts are found in OpenVINO's graph of the network by its structure: a node's *stage* is the number of
    Concat nodes on the longest path from the input to it (0: the backbone, up to and excluding its
    feature concat; 1..6: the stages, each starting at its concat).

    Attributes:
        fp32_stages: stages (1..6) kept in float32.
        backbone: "fp32" (all of it), "bf16" (all of it) or "pointwise": only the backbone's full
            convolutions (the first 3x3 and the 1x1 pointwise ones, OpenVINO ``Convolution``) in bf16,
            its depthwise convolutions (``GroupConvolution``) and the rest in float32.
    """

    fp32_stages: tuple[int, ...] = ()
    backbone: str = "bf16"

    def __post_init__(self) -> None:
        if self.backbone not in ("fp32", "bf16", "pointwise"):
            raise ValueError(f"backbone must be 'fp32', 'bf16' or 'pointwise', not {self.backbone!r}")
        if not set(self.fp32_stages) <= set(range(1, STAGES + 1)):
            raise ValueError(f"fp32_stages must be among 1..{STAGES}, got {self.fp32_stages}")

    def keeps_fp32(self, node_type: str, stage: int) -> bool:
        """True for a node of OpenVINO type ``node_type`` in ``stage`` that this plan keeps in float32."""
        if stage == 0:
            return self.backbone == "fp32" or (self.backbone == "pointwise" and node_type != "Convolution")
        return stage in self.fp32_stages

    def describe(self) -> str:
        """One line: what runs in float32 under this plan."""
        parts = {"fp32": ["the backbone"], "pointwise": ["the backbone's depthwise convolutions"]}.get(
            self.backbone, []
        )
        if self.fp32_stages:
            parts.append(
                "stage"
                + ("s " if len(self.fp32_stages) > 1 else " ")
                + ", ".join(str(s) for s in sorted(self.fp32_stages))
            )
        return ("float32: " + " and ".join(parts)) if parts else "everything in bf16"


#: The fast mode's plan. Measured against the exact mode on the bundled images (the calibration set)
#: and the anchor images (``benchmarks/bench_precision.py`` prints the sweep): the whole network in bf16
#: loses people on 3 of 18 images and keeps 89% of the keypoints; the backbone's depthwise convolutions
#: and stages 1-2 are where bf16's rounding grows into lost limbs, the backbone's pointwise convolutions
#: (the largest share of the time) and stages 3-6 tolerate it. This plan is the most bf16 of the sweep
#: that loses no keypoint on the bundled images.
BF16_PLAN = Bf16Plan(fp32_stages=(1, 2), backbone="pointwise")


def _node_stages(ov_model) -> dict[str, int]:
    """Stage of each node of an OpenVINO graph of the pose network (``Bf16Plan``), by friendly name.

    Raises:
        ValueError: the graph does not have the backbone + ``STAGES`` concatenated stages structure.
    """
    stages: dict[str, int] = {}
    concats = 0
    for node in ov_model.get_ordered_ops():  # topological order
        before = [stages[i.get_source_output().get_node().get_friendly_name()] for i in node.inputs()]
        is_concat = node.get_type_name() == "Concat"
        concats += is_concat
        stages[node.get_friendly_name()] = max(before, default=0) + is_concat
    outputs = {stages[r.get_friendly_name()] for r in ov_model.get_results()}
    if concats != STAGES or outputs != {STAGES}:
        raise ValueError(
            f"the network's graph has {concats} concatenations and outputs at stage(s) {sorted(outputs)}: "
            f"not the backbone + {STAGES} stages that precision 'bf16' is planned for"
        )
    return stages


#: OpenVINO's run-time attribute that keeps a node out of a lower inference precision, as the IR writes it:
#: the CPU plugin keeps the original precision of a node whose conversion to f16 is disabled, and applies
#: that to the bf16 inference precision too (``_OpenvinoRunner`` checks the compiled graph's precisions).
_KEEP_FP32 = (
    '<rt_info><attribute name="DisablePrecisionConversion" version="0" value="dynamic:f16" /></rt_info>'
)
_IR_LAYER = re.compile(
    r'(<layer id="\d+" name="([^"]+)" type="(?!Const"|Parameter"|Result")[^"]+" version="[^"]+">)'
)


def _mark_fp32(ov_model, plan: Bf16Plan):
    """A copy of ``ov_model`` whose nodes ``plan`` keeps in float32 carry OpenVINO's keep-precision mark.

    The mark (``DisablePrecisionConversion``) has no Python API; it is written into the model's IR
    (``ov.save_model``) and read back, in a temporary folder. Returns (model, number of marked nodes).
    """
    import tempfile

    import openvino as ov

    with tempfile.TemporaryDirectory(prefix="posekit-ir-") as folder:
        xml = Path(folder) / "net.xml"
        ov.save_model(ov_model, str(xml), compress_to_fp16=False)
        saved = ov.Core().read_model(str(xml))  # friendly names as written in the IR
        stages = _node_stages(saved)
        keep = {
            node.get_friendly_name()
            for node in saved.get_ordered_ops()
            if node.get_type_name() not in ("Parameter", "Result", "Constant")
            and plan.keeps_fp32(node.get_type_name(), stages[node.get_friendly_name()])
        }
        text, layers = _IR_LAYER.subn(
            lambda m: m.group(0) + (_KEEP_FP32 if m.group(2) in keep else ""), xml.read_text()
        )
        found = sum(m.group(2) in keep for m in _IR_LAYER.finditer(text))
        if found != len(keep):  # an IR layout this code does not know: never a silently different plan
            raise RuntimeError(
                f"OpenVINO {ov.__version__} wrote an IR where {found} of the {len(keep)} float32 nodes "
                f"of precision 'bf16' were found ({layers} layers): it needs OpenVINO 2026.4"
            )
        weights = np.frombuffer(xml.with_suffix(".bin").read_bytes(), np.uint8).copy()
        marked = ov.Core().read_model(text, ov.Tensor(weights))  # in memory: the folder goes
    return marked, len(keep)


def _convolution_precisions(compiled) -> dict[str, int]:
    """How many convolutions (plain and depthwise) OpenVINO's compiled graph runs in each precision."""
    counts: dict[str, int] = {}
    for node in compiled.get_runtime_model().get_ordered_ops():
        info = node.get_rt_info()
        if info["layerType"].astype(str) == "Convolution":
            key = info["runtimePrecision"].astype(str)
            counts[key] = counts.get(key, 0) + 1
    return counts


def _static_dims(port) -> tuple[int, ...]:
    """An OpenVINO port's shape, -1 for a dynamic dimension."""
    return tuple(d.get_length() if d.is_static else -1 for d in port.get_partial_shape())


class _OpenvinoRunner(_FixedSizeRunner):
    """A TFLite conversion compiled by OpenVINO for the CPU, float32 or bf16 by ``plan``.

    One infer request, one call at a time (a lock): the request's tensors are shared state.
    ``input_size`` other than the file's reshapes the network to it before compiling (OpenVINO
    propagates the new shape through the convolutions: no new conversion); (None, height) compiles it
    for any width at that height (a dynamic width: one compilation serves every width, at the speed of
    a fixed one within this machine's noise, ``benchmarks/bench_batch.py``).

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
            model, marked = _mark_fp32(model, plan)
        self.compiled = core.compile_model(model, "CPU", config)
        _count_build("openvino_compiles")
        if reshaped:
            _count_build("openvino_reshapes")
        self.request = self.compiled.create_infer_request()
        self.input_shape = _static_dims(self.compiled.inputs[0])
        self.outputs = {_static_dims(o)[-1]: o for o in self.compiled.outputs}
        if len(self.input_shape) != 4 or not {19, 38} <= set(self.outputs):
            raise ValueError(
                f"{path} is not a pose network (input {self.input_shape}, outputs {sorted(self.outputs)})"
            )
        if plan is not None:
            self.convolutions = _convolution_precisions(self.compiled)
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
    """The OpenVINO runner for ``input_size`` and ``precision`` ("fp32" or "bf16", see the module doc).

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
        ValueError: unknown precision, or a network without the structure ``Bf16Plan`` is defined on.
    """
    if not openvino_available():
        raise RuntimeError(f"engine 'openvino' needs OpenVINO: {OPENVINO_HINT}")
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}: valid precisions are {', '.join(PRECISIONS)}")
    if reshape_from is not None and tuple(reshape_from) != tuple(input_size):  # also (None, height)
        return _reshaped_openvino_runner(
            model, input_size, reshape_from, cache_dir, num_threads, precision, plan, check_reshape
        )
    w, h = check_input_size(input_size)
    path = Path(cache_dir) / f"{w}x{h}.tflite"
    fresh = cache_problem(path, input_size=[w, h], weights_sha256=_weights_fingerprint(model)) is not None
    _cached_tflite(model, (w, h), path)
    if fresh or precision == "fp32":
        runner = _OpenvinoRunner(path, num_threads)
        if fresh:
            x = np.random.default_rng(0).uniform(0, 255, (1, h, w, 3)).astype(np.float32)
            want = [t.numpy() for t in model(x, training=False)]
            diff = max(float(np.abs(a - b).max()) for a, b in zip(runner(x), want))
            if not diff <= TFLITE_TOLERANCE:
                path.unlink(missing_ok=True)
                raise RuntimeError(f"OpenVINO's run of the TFLite conversion differs by {diff:.2e}: refused")
        if precision == "fp32":
            return runner
    return _OpenvinoRunner(path, num_threads, plan)


def _reshaped_openvino_runner(
    model, input_size, reshape_from, cache_dir, num_threads, precision, plan, check
) -> Runner:
    """``make_openvino_runner(reshape_from=...)``: the conversion of ``reshape_from``, reshaped."""
    w, h = check_input_size(input_size, keep_aspect=True)
    bw, bh = check_input_size(reshape_from)
    path = _cached_tflite(model, (bw, bh), Path(cache_dir) / f"{bw}x{bh}.tflite")
    if check:
        runner = _OpenvinoRunner(path, num_threads, input_size=(w, h))
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
    return _OpenvinoRunner(path, num_threads, None if precision == "fp32" else plan, input_size=(w, h))


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
