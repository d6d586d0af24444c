"""Reading tf-pose-estimation's frozen TF1 graphs: constants, their Keras layers, the architecture.

``load_graph_weights`` reads every constant of a frozen graph and keys the weights by the layer
they feed (found from the graph's structure, not from constant names); ``weights_for`` picks each
Keras layer's weights out of them (folding inference-mode batch norms into conv biases) using the
architecture's layer-name mapping (``posekit.network.architectures``); ``detect_architecture`` tells the
architecture from node names; ``frozen_graph_function`` runs the graph itself (the reference the
Keras rebuild is checked against).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable

import numpy as np

from .architectures import ARCHITECTURES, mobilenet_v2_channels
from .weights import ModelError

__all__ = [
    "load_graph_weights",
    "const_limits",
    "weights_for",
    "detect_architecture",
    "architecture_hint",
    "frozen_graph_function",
]


def architecture_hint() -> str:
    """How to name a graph's architecture, in Python and on the command line, with the valid names."""
    valid = ", ".join(sorted(ARCHITECTURES))
    return f"pass architecture=NAME (Python) or --architecture NAME (command line), NAME one of {valid}"


_FUSED_BN = ("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3")

#: Without a model to check against: the most values one constant may declare (4x the largest weight of
#: any architecture, cmu's 3x3x512x512 conv kernel) and all constants together (4x cmu's weights).
MAX_CONST_VALUES = 4 * 3 * 3 * 512 * 512
MAX_GRAPH_VALUES = 4 * 52_311_446


def const_limits(model=None) -> tuple[int, int]:
    """(most values of one constant, of all constants) a graph for ``model`` may declare.

    A frozen graph's constants are the network's weights (plus a few small shape constants): for a
    Keras ``model`` of one of the architectures the limits are 4x its largest weight (at least 2**20
    values, so that a graph of another small architecture is refused by its missing weights, which says
    more than its sizes) and 4x all its weights plus 2**20; None gives the largest architecture's limits.
    """
    if model is None:
        return MAX_CONST_VALUES, MAX_GRAPH_VALUES
    sizes = [math.prod(int(d) for d in w.shape) for w in model.weights] or [0]
    return max(4 * max(sizes), 1 << 20), 4 * sum(sizes) + (1 << 20)


def _check_declared_sizes(gd, graph_path, model) -> None:
    """Refuse constants whose declared shapes exceed ``const_limits(model)``, before any is read.

    A constant's tensor can declare a shape far larger than its bytes (one value repeated): reading it
    would allocate the whole shape, so the shapes are checked first.
    """
    one, total_limit = const_limits(model)
    what = f"any weight of {model.name}" if model is not None else "any weight of a known architecture"
    total = 0
    for node in gd.node:
        if node.op != "Const":
            continue
        dims = [int(d.size) for d in node.attr["value"].tensor.tensor_shape.dim]
        if any(d < 0 for d in dims):
            raise ModelError(f"{graph_path}: constant {node.name} declares a negative dimension {dims}")
        n = math.prod(dims)
        if n > one:
            raise ModelError(
                f"{graph_path}: constant {node.name} declares shape {dims} ({n:,} values), far more than "
                f"{what} ({one:,} at most): refused before reading it"
            )
        total += n
    if total > total_limit:
        raise ModelError(
            f"{graph_path}: its constants declare {total:,} values, far more than {what} "
            f"({total_limit:,} at most): refused before reading them"
        )


def load_graph_weights(graph_path: Path, *, data: bytes | None = None, model=None) -> dict[str, np.ndarray]:
    """Read the constants of a frozen graph: {name: array}.

    Besides every ``Const`` node under its own name, the weights are keyed by the layer they
    feed, found from the graph's structure (so names like ``.../weights/read/_2__cf__2`` do not
    matter); ``P`` is the op's name prefix (``P/Conv2D``, ``P/depthwise``):

    - ``P/weights``: kernel of a ``Conv2D``; ``P/depthwise_weights``: of a ``DepthwiseConv2dNative``;
    - ``P/bias``: the constant of a ``BiasAdd`` applied to ``P``'s output;
    - ``P/BatchNorm/{gamma,beta,moving_mean,moving_variance}``, ``P/BatchNorm/epsilon`` and
      ``P/BatchNorm/is_training`` (bool) of a ``FusedBatchNorm`` applied to ``P``'s output
      (mean and variance are empty in training mode).

    Every constant's declared shape is checked against ``const_limits(model)`` before any is read
    (``model``: the Keras model the weights are for; None: the largest architecture's limits).

    Raises:
        ModelError: not a frozen graph, or a constant larger than the architecture allows.
    """
    import tensorflow as tf

    gd = tf.compat.v1.GraphDef()
    try:
        gd.ParseFromString(Path(graph_path).read_bytes() if data is None else data)
    except Exception as exc:  # protobuf raises its own DecodeError
        raise ModelError(f"{graph_path} is not a frozen TensorFlow graph: {exc}") from None
    _check_declared_sizes(gd, graph_path, model)
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


def weights_for(
    model, consts: dict[str, np.ndarray], source: str, graph_name: Callable[[str], str] | None = None
) -> dict[str, np.ndarray]:
    """Pick each Keras layer's weights out of the graph constants, checking shapes.

    Batch norms in inference mode that follow a biased Keras ``Conv2D`` are folded into its kernel
    and bias; ``BatchStatNorm`` layers take gamma and beta of a training-mode batch norm.

    Args:
        model: a Keras model from one of ``ARCHITECTURES``' builders.
        consts: ``load_graph_weights`` of the graph.
        source: the graph's name in error messages.
        graph_name: Keras layer name -> node-name prefix; None takes the mapping of the
            architecture named like the model.

    Returns:
        {"<layer name>/<weight index>": float32 array} for every layer with weights.
    """
    import keras

    from .architectures import _custom_layers

    if graph_name is None:
        if model.name not in ARCHITECTURES:
            raise ValueError(f"model {model.name!r} is not one of {sorted(ARCHITECTURES)}: pass graph_name=")
        graph_name = ARCHITECTURES[model.name].graph_name
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


def detect_architecture(graph_path: str | os.PathLike) -> str:
    """Tell a frozen graph's architecture from its node names (and, for MobileNetV2, its widths).

    Raises:
        ModelError: the file is not one of the known tf-pose graphs; the message says how to
            name the architecture (``architecture=`` in Python, ``--architecture`` on the command line).
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
                width = 0.5 if name.endswith("small") else 1.4
                if first.shape[-1] == mobilenet_v2_channels(width)["Conv"]:
                    return name
    raise ModelError(f"cannot tell the architecture of {path}: {architecture_hint()}")


def frozen_graph_function(graph_path: Path, output: str = "Openpose/concat_stage7:0", input: str = "image:0"):
    """The frozen graph itself as a TF2 callable (via ``tf.compat.v1`` import): image -> (N, h, w, 57).

    The reference the tests check the Keras rebuild against (outputs equal within 1e-4).

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
