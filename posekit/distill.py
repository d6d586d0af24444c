"""int8 by quantisation-aware distillation: a student network in int8 that keeps the exact mode's keypoints.

Post-training int8 fails on mobilenet_thin (``benchmarks/probe_int8.py``): each depthwise convolution feeds a
1x1 convolution with no activation in between, and the channels there differ in range by up to ~350x, so one
scale per activation tensor erases most of them. The remedy here:

1. **Equalise**, exactly in float32: ``equalise_relu`` gives every channel between a ReLU'd 1x1 conv and the
   depthwise it feeds the same range (a positive scale passes through ReLU; both kernels are quantised per
   channel, so this costs nothing); then ``equalise`` divides depthwise channel c by s_c and multiplies the
   1x1 weights of input c by it (nothing non-linear in between), balancing the 1x1 convolutions' inputs.
2. **Simulate int8** (``build_student``): every convolution quantises its input per tensor (8 bits, a range
   calibrated for the least squared error, then learned) and its weights per output channel (8 bits,
   symmetric, the channel's largest magnitude), with ``tf.quantization.fake_quant_*`` (straight-through
   gradients).
3. **Distil** (``distil``): train the student to reproduce the exact network's (the teacher's) heatmaps and
   PAFs on unlabelled, augmented images (``training_images``) that share no image with any evaluation image
   (``evaluation_files``). No labels are needed: the teacher's outputs are the targets.
4. **Export** (``export_openvino``): the student's fake-quantised TF function converted by OpenVINO keeps
   FakeQuantize nodes; OpenVINO's CPU plugin runs the convolutions on u8/i8 kernels (precision "int8",
   ``posekit.network.int8``, checks the executed precisions).

The int8 network is a build product of the pinned ``mobilenet_thin`` weights, shipped as
``posekit.network.int8.INT8_MODEL`` with its record (``write_record``: command, seed, settings, fidelity);
``posekit distill --out FILE`` rebuilds it. The training images' provenance: ``images/distill/SOURCES.md``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Callable

import numpy as np

__all__ = [
    "DistillConfig",
    "separable_pairs",
    "channel_ranges",
    "equalise",
    "relu_pairs",
    "equalise_relu",
    "save_student",
    "load_student",
    "student_runner",
    "exact_results",
    "fidelity",
    "quantised_layers",
    "build_student",
    "calibrate",
    "round_weights",
    "training_images",
    "SELECTION_EVERY",
    "split_training_images",
    "evaluation_files",
    "image_hashes",
    "augment",
    "distil",
    "export_openvino",
    "write_record",
]

ROOT = Path(__file__).resolve().parent.parent
_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


# --------------------------------------------------------------------------- equalisation


def separable_pairs(model) -> list:
    """(depthwise, 1x1 conv) layer pairs with nothing in between (the depthwise feeds only the 1x1)."""
    import keras

    pairs = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.DepthwiseConv2D) and layer.activation.__name__ == "linear":
            users = [node.operation for node in layer._outbound_nodes]
            if (
                len(users) == 1
                and isinstance(users[0], keras.layers.Conv2D)
                and users[0].kernel_size == (1, 1)
            ):
                pairs.append((layer, users[0]))
    return pairs


def channel_ranges(model, pairs, batch: np.ndarray) -> list[np.ndarray]:
    """Per pair: the per-channel largest absolute activation entering the 1x1 convolution, over ``batch``."""
    import keras

    probe = keras.Model(model.input, [dw.output for dw, _ in pairs])
    return [np.abs(np.asarray(a)).max(axis=(0, 1, 2)) for a in probe(batch)]


def equalise(model, pairs, ranges) -> None:
    """Rescale each pair in place so that its activation channels have balanced ranges (exact in float32).

    s_c = sqrt(range_c / weight range_c) (normalised to median 1): the depthwise channel c is divided by
    s_c, the 1x1 weights reading channel c multiplied by it.
    """
    for (dw, pw), r in zip(pairs, ranges):
        weights = dw.get_weights()
        pw_weights = pw.get_weights()
        w_range = np.abs(pw_weights[0][0, 0]).max(axis=1)  # per input channel, over the outputs
        s = np.sqrt(np.maximum(r, 1e-8) / np.maximum(w_range, 1e-8))
        s = s / np.median(s)
        weights[0] = weights[0] / s[None, None, :, None]
        if len(weights) > 1:
            weights[1] = weights[1] / s
        dw.set_weights(weights)
        pw_weights[0] = pw_weights[0] * s[None, None, :, None]
        pw.set_weights(pw_weights)


def relu_pairs(model) -> list:
    """(1x1 conv with ReLU, depthwise) layer pairs where the conv's output feeds only that depthwise."""
    import keras

    pairs = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D) and not isinstance(layer, keras.layers.DepthwiseConv2D):
            users = [node.operation for node in layer._outbound_nodes]
            if (
                layer.activation.__name__ == "relu"
                and len(users) == 1
                and isinstance(users[0], keras.layers.DepthwiseConv2D)
            ):
                pairs.append((layer, users[0]))
    return pairs


def equalise_relu(model, batch: np.ndarray) -> None:
    """Give every channel between a ReLU'd 1x1 conv and its depthwise the same range (exact in float32).

    ReLU commutes with a positive scale: output channel c of the 1x1 conv (kernel and bias) is divided by
    s_c = range_c / median range, and channel c of the depthwise kernel multiplied by it. Both kernels are
    quantised per channel, so only the per-tensor activation range gains.
    """
    import keras

    pairs = relu_pairs(model)
    probe = keras.Model(model.input, [pw.output for pw, _ in pairs])
    for (pw, dw), a in zip(pairs, probe(batch)):
        r = np.maximum(np.asarray(a).max(axis=(0, 1, 2)), 1e-6)
        s = r / np.median(r)
        w = pw.get_weights()
        w[0], w[1] = w[0] / s, w[1] / s
        pw.set_weights(w)
        w = dw.get_weights()
        w[0] = w[0] * s[None, None, :, None]
        dw.set_weights(w)


# --------------------------------------------------------------------------- the fake-quantised student

_QUANT: dict[str, type] = {}


def _quant_layers() -> dict[str, type]:
    """Conv2D / DepthwiseConv2D with simulated int8 (defined on first use: no Keras at import)."""
    if _QUANT:
        return _QUANT
    import keras
    import tensorflow as tf

    def quant_kernel(kernel, w_max, depthwise: bool):
        k = tf.convert_to_tensor(kernel)
        if depthwise:  # (kh, kw, C, 1): one scale per channel C
            k = tf.transpose(k, (0, 1, 3, 2))
        m = tf.maximum(tf.convert_to_tensor(w_max), 1e-8)
        k = tf.quantization.fake_quant_with_min_max_vars_per_channel(k, -m, m, num_bits=8, narrow_range=True)
        return tf.transpose(k, (0, 1, 3, 2)) if depthwise else k

    class _Quantised:
        def _add_ranges(self):
            self.act_lo = self.add_weight(name="act_lo", shape=(), initializer="zeros", dtype="float32")
            self.act_hi = self.add_weight(name="act_hi", shape=(), initializer="ones", dtype="float32")
            channels = int(np.prod(self.kernel.shape[2:])) if self._depthwise else int(self.kernel.shape[-1])
            self.w_max = self.add_weight(
                name="w_max", shape=(channels,), initializer="ones", dtype="float32", trainable=False
            )

        def _quant_input(self, x):
            lo, hi = tf.convert_to_tensor(self.act_lo), tf.convert_to_tensor(self.act_hi)
            return tf.quantization.fake_quant_with_min_max_vars(x, lo, hi, num_bits=8)

        def _finish(self, y):
            if self.use_bias:
                y = y + tf.convert_to_tensor(self.bias)
            return self.activation(y)

    @keras.saving.register_keras_serializable(package="posekit")
    class QConv2D(_Quantised, keras.layers.Conv2D):
        _depthwise = False

        def build(self, input_shape):
            super().build(input_shape)
            self._add_ranges()

        def call(self, x):
            k = quant_kernel(self.kernel, self.w_max, False)
            y = tf.nn.conv2d(self._quant_input(x), k, self.strides, self.padding.upper())
            return self._finish(y)

    @keras.saving.register_keras_serializable(package="posekit")
    class QDepthwiseConv2D(_Quantised, keras.layers.DepthwiseConv2D):
        _depthwise = True

        def build(self, input_shape):
            super().build(input_shape)
            self._add_ranges()

        def call(self, x):
            k = quant_kernel(self.kernel, self.w_max, True)
            s = (1, *self.strides, 1)
            y = tf.nn.depthwise_conv2d(self._quant_input(x), k, s, self.padding.upper())
            return self._finish(y)

    _QUANT.update(QConv2D=QConv2D, QDepthwiseConv2D=QDepthwiseConv2D)
    return _QUANT


def build_student(model):
    """The fake-quantised twin of a Keras network (same layers and names, weights copied).

    Each Conv2D / DepthwiseConv2D becomes its quantised twin: input per tensor in [act_lo, act_hi]
    (256 levels; set by ``calibrate``), kernel per output channel in [-w_max, w_max] (255 levels; w_max is
    the channel's largest magnitude in ``model``, fixed: ``round_weights`` and training keep to its grid).
    """
    import keras

    q = _quant_layers()

    def clone(layer):
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            return q["QDepthwiseConv2D"].from_config(layer.get_config())
        if isinstance(layer, keras.layers.Conv2D):
            return q["QConv2D"].from_config(layer.get_config())
        return layer.__class__.from_config(layer.get_config())

    student = keras.models.clone_model(model, clone_function=clone)
    for layer in model.layers:
        twin = student.get_layer(layer.name)
        for src, dst in zip(layer.weights, twin.weights):  # kernel, bias first; the ranges follow
            dst.assign(src)
        if hasattr(twin, "w_max"):
            twin.w_max.assign(_kernel_max(np.asarray(twin.kernel), twin._depthwise))
    return student


def _kernel_max(kernel: np.ndarray, depthwise: bool) -> np.ndarray:
    """The largest magnitude of each output channel of a Conv2D / DepthwiseConv2D kernel."""
    if depthwise:  # (kh, kw, C, multiplier) -> C * multiplier channels
        return np.abs(kernel).max(axis=(0, 1)).reshape(-1)
    return np.abs(kernel).reshape(-1, kernel.shape[-1]).max(axis=0)


def quantised_layers(student) -> list:
    return [layer for layer in student.layers if hasattr(layer, "act_lo")]


def calibrate(student, model, batch: np.ndarray) -> None:
    """Set each quantised layer's input range to what its float twin in ``model`` sees on ``batch``."""
    import keras

    layers = quantised_layers(student)
    tensors = {}  # one tensor may feed several layers
    for layer in layers:
        t = model.get_layer(layer.name).input
        tensors.setdefault(t.name, t)
    probe = keras.Model(model.input, list(tensors.values()))
    values = dict(zip(tensors, probe(batch)))
    rng = np.random.default_rng(0)
    for layer in layers:
        x = np.asarray(values[model.get_layer(layer.name).input.name]).ravel()
        if layer.name == "Conv2d_0":  # the image: BGR 0..255, exact in 8 bits
            lo, hi = 0.0, 255.0
        else:
            lo, hi = _clip_range(x if x.size <= 400_000 else rng.choice(x, 400_000, replace=False))
        layer.act_lo.assign(min(lo, 0.0))
        layer.act_hi.assign(max(hi, 1e-3))


def _clip_range(x: np.ndarray) -> tuple[float, float]:
    """The (lo, hi) of 8-bit quantisation that gives ``x`` the least squared error (its range, shrunk)."""
    lo0, hi0 = min(float(x.min()), 0.0), max(float(x.max()), 1e-3)
    best = None
    for f in (1.0, 0.8, 0.65, 0.5, 0.4, 0.3, 0.22, 0.16, 0.12, 0.08, 0.05):
        lo, hi = lo0 * f, hi0 * f
        step = (hi - lo) / 255.0
        q = np.clip(np.round((np.clip(x, lo, hi) - lo) / step), 0, 255) * step + lo
        err = float(np.mean((q - x) ** 2))
        if best is None or err < best[0]:
            best = (err, lo, hi)
    return best[1], best[2]


def _gptq(w: np.ndarray, hessian: np.ndarray, scale: np.ndarray, damp: float = 0.01) -> np.ndarray:
    """Round ``w`` (rows, cols) onto ``scale`` (rows,) x [-127, 127], column by column, each column's
    rounding error spread over the columns not yet rounded as ``hessian`` (cols, cols; the inputs' X^T X)
    says (GPTQ, Frantar et al. 2022): the rounding that changes ``w @ x`` least over those inputs."""
    w = w.astype(np.float64).copy()
    h = hessian.astype(np.float64).copy()
    dead = np.diag(h) == 0
    h[dead, dead] = 1.0
    w[:, dead] = 0.0
    h += damp * np.mean(np.diag(h)) * np.eye(len(h))
    h_inv = np.linalg.cholesky(np.linalg.inv(h)).T  # upper triangular
    out = np.zeros_like(w)
    for i in range(w.shape[1]):
        q = np.clip(np.round(w[:, i] / scale), -127, 127) * scale
        out[:, i] = q
        w[:, i + 1 :] -= np.outer((w[:, i] - q) / h_inv[i, i], h_inv[i, i + 1 :])
    return out


def _patches(x: np.ndarray, layer) -> np.ndarray:
    """The layer's input windows: (positions, kh * kw, C) for each output position."""
    import tensorflow as tf

    kh, kw = layer.kernel_size
    if (kh, kw) == (1, 1):
        sh, sw = layer.strides
        x = x[:, ::sh, ::sw]
        return x.reshape(-1, 1, x.shape[-1])
    sizes, strides = [1, kh, kw, 1], [1, *layer.strides, 1]
    p = tf.image.extract_patches(x, sizes, strides, [1, 1, 1, 1], layer.padding.upper())
    return np.asarray(p).reshape(-1, kh * kw, x.shape[-1])


def round_weights(
    student, model, batch: np.ndarray, *, correct_bias: bool = True, log: Callable | None = None
) -> None:
    """Round every quantised kernel of ``student`` onto its int8 grid (``_gptq``), layer by layer in order.

    Each layer sees the inputs the student gives it on ``batch`` (int8, after the layers rounded before
    it). With ``correct_bias``, a layer with a bias then takes on the mean difference, per channel, between
    its float twin in ``model`` on the float inputs and itself on those int8 inputs (before the activation):
    the error of every layer up to it, on average.
    """
    import keras
    import tensorflow as tf

    for layer in quantised_layers(student):
        x_q = np.asarray(keras.Model(student.input, layer.input)(batch))
        if layer.name != "Conv2d_0":
            lo, hi = float(layer.act_lo.numpy()), float(layer.act_hi.numpy())
            x_q = tf.quantization.fake_quant_with_min_max_vars(x_q, lo, hi, num_bits=8).numpy()
        kernel = np.asarray(layer.kernel, np.float64)
        scale = np.maximum(np.asarray(layer.w_max, np.float64), 1e-8) / 127.0
        patches = _patches(x_q, layer)  # (positions, kh * kw, C)
        if layer._depthwise:  # one (1, kh * kw) problem per channel
            kh, kw, channels, _ = kernel.shape
            hess = np.einsum("mic,mjc->cij", patches, patches, optimize=True)
            new = np.empty_like(kernel)
            for c in range(channels):
                w = kernel[:, :, c, 0].reshape(1, -1)
                new[:, :, c, 0] = _gptq(w, hess[c], scale[c : c + 1]).reshape(kh, kw)
        else:
            patches = patches.reshape(len(patches), -1).astype(np.float64)
            w = kernel.reshape(len(patches[0]), -1).T
            new = _gptq(w, patches.T @ patches, scale).T.reshape(kernel.shape)
        layer.kernel.assign(new.astype(np.float32))
        if correct_bias and layer.use_bias and layer.name != "Conv2d_0":
            twin = model.get_layer(layer.name)
            x_f = keras.Model(model.input, twin.input)(batch)
            pad = layer.padding.upper()
            want = tf.nn.conv2d(x_f, twin.kernel, layer.strides, pad)
            got = tf.nn.conv2d(x_q, layer.kernel, layer.strides, pad)
            shift = tf.reduce_mean(want - got, axis=(0, 1, 2))
            layer.bias.assign(twin.bias + shift)
        if log:
            log(f"rounded {layer.name}")


# --------------------------------------------------------------------------- data


def _images_in(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in _SUFFIXES)


def evaluation_files(root: Path = ROOT, extra_folders: Sequence[Path] = ()) -> list[Path]:
    """Every image posekit is judged on: the bundled photos (``images/``, not its subfolders) and the COCO
    sample (``images/coco_val2017``), plus the images anywhere under ``extra_folders`` (the tests pass the
    reference images they judge the modes on)."""
    files = _images_in(root / "images") + _images_in(root / "images" / "coco_val2017")
    for folder in extra_folders:
        if Path(folder).is_dir():
            files += sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in _SUFFIXES)
    return files


def training_images(root: Path = ROOT, *, frame_step: int = 1) -> list[tuple[str, np.ndarray]]:
    """The unlabelled training images: (name, BGR uint8) for the clip's frames and ``images/distill``'s files.

    ``images/distill/SOURCES.md`` gives each file's origin and licence; the clip is ``videos/vtest_pair.mp4``.
    """
    import cv2

    out = []
    cap = cv2.VideoCapture(str(root / "videos" / "vtest_pair.mp4"))
    i = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if i % frame_step == 0:
            out.append((f"vtest_pair.mp4#{i}", frame))
        i += 1
    cap.release()
    for p in _images_in(root / "images" / "distill"):
        image = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if image is not None:
            out.append((p.name, image))
    return out


#: Every ``SELECTION_EVERY``-th frame of the clip (from frame ``SELECTION_EVERY // 2``) is held out of
#: training: ``distil`` picks its checkpoint by the keypoints kept on those frames, never on an evaluation
#: image.
SELECTION_EVERY = 8


def split_training_images(named: list[tuple[str, np.ndarray]]) -> tuple[list, list]:
    """``training_images()`` split into (fit, select): the held-out clip frames (``SELECTION_EVERY``) and the
    rest. Both come from the training material; neither shares an image with ``evaluation_files``."""
    select = [
        (name, image)
        for name, image in named
        if name.startswith("vtest_pair.mp4#")
        and int(name.split("#")[1]) % SELECTION_EVERY == SELECTION_EVERY // 2
    ]
    chosen = {name for name, _ in select}
    return [(name, image) for name, image in named if name not in chosen], select


def image_hashes(image: np.ndarray) -> str:
    """sha256 of an image's decoded pixels (BGR uint8): equal for the same picture in any lossless file."""
    return hashlib.sha256(np.ascontiguousarray(image).tobytes() + str(image.shape).encode()).hexdigest()


def _random_affine(rng, image, out_hw):
    import cv2

    h, w = image.shape[:2]
    oh, ow = out_hw
    scale = min(oh / h, ow / w) * float(np.exp(rng.uniform(np.log(0.6), np.log(3.0))))
    angle = float(rng.uniform(-30, 30)) if rng.random() < 0.5 else 0.0
    cx, cy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h
    m = cv2.getRotationMatrix2D((cx, cy), angle, scale)
    m[:, 2] += (ow / 2 - cx, oh / 2 - cy)
    return cv2.warpAffine(image, m, (ow, oh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def augment(rng: np.random.Generator, pool: list[np.ndarray], out_hw: tuple[int, int]) -> np.ndarray:
    """One augmented float32 BGR 0..255 (H, W, 3) image: random scale, crop, rotation, flip, colour, mosaic.

    ``pool``: BGR uint8 images; ``out_hw``: (height, width).
    """
    import cv2

    oh, ow = out_hw
    if rng.random() < 0.3:  # a 2 x 2 mosaic
        hh, hw = oh // 2, ow // 2
        tiles = [_random_affine(rng, pool[rng.integers(len(pool))], (hh, hw)) for _ in range(4)]
        image = np.zeros((oh, ow, 3), np.uint8)
        image[:hh, :hw], image[:hh, hw : 2 * hw] = tiles[0], tiles[1]
        image[hh : 2 * hh, :hw], image[hh : 2 * hh, hw : 2 * hw] = tiles[2], tiles[3]
    else:
        image = _random_affine(rng, pool[rng.integers(len(pool))], out_hw)
    if rng.random() < 0.5:
        image = image[:, ::-1]
    x = image.astype(np.float32)
    if rng.random() < 0.15:
        x = np.repeat(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)[..., None].astype(np.float32), 3, axis=2)
    else:
        grey = x.mean(axis=2, keepdims=True)
        x = grey + (x - grey) * rng.uniform(0.6, 1.4)  # saturation
        x = x * rng.uniform(0.9, 1.1, size=3)  # colour balance
    x = (x - 128.0) * rng.uniform(0.7, 1.3) + 128.0 + rng.uniform(-30, 30)  # contrast, brightness
    return np.clip(np.rint(x), 0, 255).astype(np.float32)


# --------------------------------------------------------------------------- training


@dataclasses.dataclass
class DistillConfig:
    """Settings of one distillation run (the shipped network's are the defaults)."""

    steps: int = 200
    batch: int = 8
    crop: tuple[int, int] = (192, 192)  # (height, width) of the training input
    stages: str = "last2"  # "last2" or "all6": the teacher's outputs the loss compares
    lr: float = 2e-5
    range_lr: float = 2e-4
    seed: int = 0
    eval_every: int = 50
    eval_size: tuple[int, int] = (432, 368)  # (width, height) of the fidelity check
    round: bool = True  # round the kernels with ``round_weights`` before training


def _teacher_and_student(seed: int):
    import keras

    from .network.models import load_model

    keras.utils.set_random_seed(seed)
    teacher = load_model("mobilenet_thin", all_stages=True)
    base = load_model("mobilenet_thin", all_stages=True)
    return teacher, base


def save_student(student, path: Path) -> None:
    """Every variable of the student (kernels, biases, input ranges) by path, to an ``.npz`` (atomic)."""
    tmp = Path(path).with_suffix(".tmp.npz")
    np.savez(tmp, **{v.path: np.asarray(v) for v in student.weights})
    os.replace(tmp, path)


def load_student(student, path: Path) -> None:
    """Load ``save_student``'s file into a student of the same network."""
    with np.load(path) as saved:
        for v in student.weights:
            v.assign(saved[v.path])


def student_runner(student) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """A runner (batch -> last stage heatmaps, PAFs) of the fake-quantised student under TensorFlow."""
    import tensorflow as tf

    fn = tf.function(
        lambda x: student(x, training=False)[-2:],
        input_signature=[tf.TensorSpec((None, None, None, 3), tf.float32)],
    )

    def run(batch):
        heat, paf = fn(tf.constant(batch, tf.float32))
        return heat.numpy(), paf.numpy()

    return run


def exact_results(photos: list[Path], size: tuple[int, int]) -> dict:
    """The exact mode's results on ``photos`` at ``size`` (the reference of ``fidelity``)."""
    import cv2

    from .estimator import PoseEstimator

    exact = PoseEstimator("mobilenet_thin", input_size=size)
    return {p: exact.inference(cv2.imread(str(p))) for p in photos}


def fidelity(run, photos: list[Path], size: tuple[int, int], reference: dict | None = None) -> dict:
    """People counts and keypoints kept of ``run`` (a runner) against the exact mode on ``photos``."""
    import cv2

    from .estimator import PoseEstimator
    from .match import keypoints_kept

    if reference is None:
        reference = exact_results(photos, size)
    probe = PoseEstimator("mobilenet_thin", input_size=size, engine="tf")
    probe._run = run  # the student under the estimator's own post-processing
    differs, kept, total, rows = 0, 0, 0, []
    for p in photos:
        a = reference[p]
        b = probe.inference(cv2.imread(str(p)))
        k, t = keypoints_kept(a.keypoints, b.keypoints, a.image_size, size)
        differs, kept, total = differs + (len(a) != len(b)), kept + k, total + t
        rows.append({"image": p.name, "people": [len(a), len(b)], "kept": [k, t]})
    return {"differs": differs, "images": len(photos), "kept": kept, "total": total, "rows": rows}


def _select_fidelity(run, select, size, reference) -> dict:
    """``fidelity`` on in-memory (name, image) pairs (the held-out selection frames)."""
    from .estimator import PoseEstimator
    from .match import keypoints_kept

    probe = PoseEstimator("mobilenet_thin", input_size=size, engine="tf")
    probe._run = run
    differs = kept = total = 0
    for (_name, image), a in zip(select, reference):
        b = probe.inference(image)
        k, t = keypoints_kept(a.keypoints, b.keypoints, a.image_size, size)
        differs, kept, total = differs + (len(a) != len(b)), kept + k, total + t
    return {"differs": differs, "images": len(select), "kept": kept, "total": total}


def distil(config: DistillConfig, workdir: Path, *, photos: list[Path] = (), log: Callable = print):
    """Build the int8 student and train it; return the checkpoint that keeps most on the selection frames.

    Steps: equalise the exact network, calibrate the input ranges, round the kernels (``round_weights``,
    when ``config.round``), then ``config.steps`` training steps. Every ``config.eval_every`` steps (and at
    0 and the end) the student's keypoints kept on the held-out selection frames (``split_training_images``)
    choose the checkpoint (``workdir/best.npz``); ``photos`` (evaluation images, never trained or selected
    on) only add a column to the curve (``workdir/curve.jsonl``). A run resumes from ``workdir``'s checkpoint.
    """
    import keras
    import tensorflow as tf

    from .estimator import PoseEstimator

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(config.seed)
    teacher, base = _teacher_and_student(config.seed)
    fit, select = split_training_images(training_images())
    pool = [image for _, image in fit]
    oh, ow = config.crop
    calib = np.stack([augment(rng, pool, (oh, ow)) for _ in range(32)])
    equalise_relu(base, calib)
    pairs = separable_pairs(base)
    equalise(base, pairs, channel_ranges(base, pairs, calib))
    student = build_student(base)
    calibrate(student, base, calib)
    ckpt, best_path = workdir / "student.npz", workdir / "best.npz"
    state_path = workdir / "state.json"
    state = {"step": 0, "best_kept": -1.0, "best_step": None}
    if ckpt.exists() and state_path.exists():
        load_student(student, ckpt)
        state = json.loads(state_path.read_text())
        rng = np.random.default_rng([config.seed, state["step"]])
        log(f"resumed at step {state['step']}")
    elif config.round:
        t0 = time.perf_counter()
        round_weights(student, base, calib[:24])
        log(f"rounded the kernels in {time.perf_counter() - t0:.0f}s")
    ranges = [v for layer in quantised_layers(student) for v in (layer.act_lo, layer.act_hi)]
    range_ids = {id(v) for v in ranges}
    weights = [v for v in student.trainable_variables if id(v) not in range_ids]
    opt_w = keras.optimizers.Adam(config.lr)
    opt_r = keras.optimizers.Adam(config.range_lr)
    chosen = slice(-4, None) if config.stages == "last2" else slice(None)

    @tf.function(input_signature=[tf.TensorSpec((None, oh, ow, 3), tf.float32)])
    def step(x):
        targets = teacher(x, training=False)[chosen]
        with tf.GradientTape() as tape:
            outs = student(x, training=True)[chosen]
            loss = tf.add_n([tf.reduce_mean(tf.square(a - b)) for a, b in zip(outs, targets)])
        grads = tape.gradient(loss, weights + ranges)
        opt_w.apply_gradients(zip(grads[: len(weights)], weights))
        opt_r.apply_gradients(zip(grads[len(weights) :], ranges))
        return loss

    run = student_runner(student)
    exact = PoseEstimator("mobilenet_thin", input_size=config.eval_size)
    select_reference = [exact.inference(image) for _, image in select]
    reference = None
    curve_path = workdir / "curve.jsonl"
    t_start, losses = time.perf_counter(), []

    def save(i: int) -> None:
        save_student(student, ckpt)
        state["step"] = i
        state_path.write_text(json.dumps(state))

    for i in range(state["step"], config.steps + 1):
        if i % config.eval_every == 0 or i == config.steps:
            f = _select_fidelity(run, select, config.eval_size, select_reference)
            row = {
                "step": i,
                "seconds": round(time.perf_counter() - t_start, 1),
                "loss": float(np.mean(losses)) if losses else None,
                "selection_kept": round(f["kept"] / max(f["total"], 1), 4),
                "selection_differs": f["differs"],
            }
            if photos:
                if reference is None:
                    reference = exact_results(photos, config.eval_size)
                e = fidelity(run, photos, config.eval_size, reference)
                row.update(kept=round(e["kept"] / max(e["total"], 1), 4), differs=e["differs"])
            if row["selection_kept"] > state["best_kept"]:
                state.update(best_kept=row["selection_kept"], best_step=i)
                save_student(student, best_path)
            with curve_path.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
            log(json.dumps(row))
            losses = []
            save(i)
        if i == config.steps:
            break
        x = np.stack([augment(rng, pool, (oh, ow)) for _ in range(config.batch)])
        losses.append(float(step(tf.constant(x))))
        if (i + 1) % 50 == 0:
            save(i + 1)
            log(f"step {i + 1} loss {np.mean(losses[-50:]):.3e} {time.perf_counter() - t_start:.0f}s")
    load_student(student, best_path)
    log(f"chose step {state['best_step']} (selection frames kept {state['best_kept']:.3f})")
    student.chosen_step = state["best_step"]
    return student


# --------------------------------------------------------------------------- export and run


def export_openvino(student, path: Path, input_size: tuple[int, int] = (432, 368)) -> Path:
    """Save the student's last stage as an OpenVINO IR with FakeQuantize nodes for (width, height) input_size.

    OpenVINO reshapes it to other sizes when it is compiled (``posekit.network.openvino.make_int8_runner``).
    """
    import openvino as ov
    import tensorflow as tf

    w, h = input_size
    fn = tf.function(
        lambda x: student(x, training=False)[-2:],
        input_signature=[tf.TensorSpec((1, h, w, 3), tf.float32)],
    )
    model = ov.convert_model(fn.get_concrete_function())
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(model, str(path), compress_to_fp16=False)
    return path


def write_record(path: Path, config: DistillConfig, **extra) -> Path:
    """Write the JSON record beside an exported network: its settings, its teacher's fingerprint, ``extra``.

    ``weights_sha256`` is ``posekit.network.tflite.weights_fingerprint`` of ``load_model("mobilenet_thin")``:
    precision "int8" runs the network only for a model with those weights.
    """
    from .network.models import load_model
    from .network.tflite import weights_fingerprint

    record = {
        "built_by": "posekit distill",
        "config": dataclasses.asdict(config),
        "weights_sha256": weights_fingerprint(load_model("mobilenet_thin")),
        "training_images": "the frames of videos/vtest_pair.mp4 and images/distill (SOURCES.md there)",
        **extra,
    }
    path = Path(path).with_suffix(".json")
    path.write_text(json.dumps(record, indent=1) + "\n")
    return path
