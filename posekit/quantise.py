"""int8 in simulation: exact equalisation, the fake-quantised student, its calibration and GPTQ rounding.

The first steps of ``posekit.distill`` (which trains the student and exports it):

- **Equalise**, exactly in float32: ``equalise_relu`` gives every channel between a ReLU'd 1x1 conv and the
  depthwise it feeds the same range; ``equalise`` balances the channels crossing each depthwise -> 1x1
  junction (``separable_pairs``, ``channel_ranges``). The float network computes the same thing after both.
- **Simulate int8** (``build_student``): every convolution quantises its input per tensor (8 bits, a range set
  by ``calibrate``, then learned) and its kernel per output channel on a fixed grid (8 bits, symmetric), with
  ``tf.quantization.fake_quant_*`` (straight-through gradients).
- **Round** (``round_weights``): each kernel is put on its grid by GPTQ, layer by layer, on the int8 inputs
  the student gives it.
- **Train** with ``grid_adam``: Adam whose step for a quantised kernel is a fixed share of that channel's
  grid step, so every layer moves its kernels across the grid at the same pace.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Callable

import numpy as np

__all__ = [
    "separable_pairs",
    "channel_ranges",
    "range_levels",
    "equalise",
    "relu_pairs",
    "equalise_relu",
    "quantised_layers",
    "grid_concats",
    "input_ranges",
    "build_student",
    "kernel_sensitivity",
    "calibrate",
    "round_weights",
    "grid_adam",
]


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


def range_levels(ranges, levels: int = 16) -> tuple[float, int]:
    """How one int8 scale for a whole tensor serves its channels: (widest / median channel range, the
    number of channels spanning under ``levels`` of the 255 levels, i.e. under levels / 255 of the widest).

    ``ranges``: (C,) each channel's largest absolute value (``channel_ranges``).
    """
    r = np.asarray(ranges, np.float64).ravel()
    return float(r.max() / np.median(r)), int((r < r.max() * levels / 255).sum())


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
        m = tf.maximum(tf.convert_to_tensor(w_max), _W_FLOOR)  # levels m / 127 apart, as _grid_step
        k = tf.quantization.fake_quant_with_min_max_vars_per_channel(k, -m, m, num_bits=8, narrow_range=True)
        return tf.transpose(k, (0, 1, 3, 2)) if depthwise else k

    class _Quantised:  # first base of a Conv2D / DepthwiseConv2D: its build, then the ranges
        input_on_grid = False  # True: the input comes quantised (from a QConcatenate); set before build

        def build(self, input_shape):
            super().build(input_shape)
            self._add_ranges()

        def _add_ranges(self):
            if not self.input_on_grid:
                self.act_lo = self.add_weight(name="act_lo", shape=(), initializer="zeros", dtype="float32")
                self.act_hi = self.add_weight(name="act_hi", shape=(), initializer="ones", dtype="float32")
            channels = int(np.prod(self.kernel.shape[2:])) if self._depthwise else int(self.kernel.shape[-1])
            self.w_max = self.add_weight(
                name="w_max", shape=(channels,), initializer="ones", dtype="float32", trainable=False
            )

        def _quant_input(self, x):
            if self.input_on_grid:  # a QConcatenate quantised it already
                return x
            lo, hi = tf.convert_to_tensor(self.act_lo), tf.convert_to_tensor(self.act_hi)
            return tf.quantization.fake_quant_with_min_max_vars(x, lo, hi, num_bits=8)

        def _finish(self, y):
            if self.use_bias:
                y = y + tf.convert_to_tensor(self.bias)
            return self.activation(y)

    @keras.saving.register_keras_serializable(package="posekit")
    class QConv2D(_Quantised, keras.layers.Conv2D):
        _depthwise = False

        def call(self, x):
            k = quant_kernel(self.kernel, self.w_max, False)
            y = tf.nn.conv2d(self._quant_input(x), k, self.strides, self.padding.upper())
            return self._finish(y)

    @keras.saving.register_keras_serializable(package="posekit")
    class QDepthwiseConv2D(_Quantised, keras.layers.DepthwiseConv2D):
        _depthwise = True

        def call(self, x):
            k = quant_kernel(self.kernel, self.w_max, True)
            s = (1, *self.strides, 1)
            y = tf.nn.depthwise_conv2d(self._quant_input(x), k, s, self.padding.upper())
            return self._finish(y)

    @keras.saving.register_keras_serializable(package="posekit")
    class QConcatenate(keras.layers.Concatenate):
        """Concatenate with each input quantised per tensor in its own range (``part_lo[i]``,
        ``part_hi[i]``) first, the inputs in ``on_grid`` (another QConcatenate's output) excepted."""

        on_grid: tuple = ()  # set before build

        def build(self, input_shape):
            super().build(input_shape)
            n = len(input_shape)
            self.part_lo = self.add_weight(name="part_lo", shape=(n,), initializer="zeros", dtype="float32")
            self.part_hi = self.add_weight(name="part_hi", shape=(n,), initializer="ones", dtype="float32")

        def call(self, inputs):
            parts = [
                x if i in self.on_grid else tf.quantization.fake_quant_with_min_max_vars(
                    x, self.part_lo[i], self.part_hi[i], num_bits=8)
                for i, x in enumerate(inputs)
            ]  # fmt: skip
            return tf.concat(parts, axis=self.axis)

    _QUANT.update(QConv2D=QConv2D, QDepthwiseConv2D=QDepthwiseConv2D, QConcatenate=QConcatenate)
    return _QUANT


def grid_concats(model) -> dict[str, tuple[int, ...]]:
    """The concatenations to quantise part by part: {name: indices of inputs that are already quantised}.

    A Concatenate qualifies when every layer reading it is a depthwise convolution or another qualifying
    Concatenate (mobilenet_thin: the 864 feature channels, and each stage's input: the previous stage's
    PAFs and heatmaps beside them). One int8 scale for the whole concatenation would give the maps
    (about -1..1) ~10-20 of the 255 levels beside features reaching 20-35; a scale per part keeps all
    255 for each. The depthwise layers act per channel, so OpenVINO runs the concatenation in u8 and
    the depthwise in int8 with a scale per input channel.
    """
    import keras

    concats = {layer.name: layer for layer in model.layers if isinstance(layer, keras.layers.Concatenate)}
    ok = set(concats)
    changed = True
    while changed:  # drop any whose readers include something else, until none is dropped
        changed = False
        for name in sorted(ok):
            for node in concats[name]._outbound_nodes:
                user = node.operation
                if not (isinstance(user, keras.layers.DepthwiseConv2D) or user.name in ok):
                    ok.discard(name)
                    changed = True
                    break
    out = {}
    for name in ok:
        inputs = concats[name].input
        out[name] = tuple(i for i, t in enumerate(inputs) if t._keras_history[0].name in ok)
    return out


def build_student(model, float_layers: Sequence[str] = ()):
    """The fake-quantised twin of a Keras network (same layers and names, weights copied).

    Each Conv2D / DepthwiseConv2D becomes its quantised twin: input per tensor in [act_lo, act_hi]
    (256 levels; set by ``calibrate``), kernel per output channel in [-w_max, w_max] (255 levels; w_max is
    the channel's largest magnitude in ``model``, fixed: ``round_weights`` and training keep to its grid).
    Each concatenation read only by depthwise convolutions (``grid_concats``) quantises its inputs, each
    in its own range, and the depthwise layers take its output as it is.
    The convolutions named in ``float_layers`` stay float (``kernel_sensitivity`` finds the ones worth it).
    """
    import keras

    q = _quant_layers()
    unknown = set(float_layers) - {layer.name for layer in model.layers}
    if unknown:
        raise ValueError(f"float_layers names layers the network does not have: {sorted(unknown)}")

    concats = grid_concats(model)
    fed = {node.operation.name for name in concats for node in model.get_layer(name)._outbound_nodes}

    def clone(layer):
        if layer.name in float_layers:
            return layer.__class__.from_config(layer.get_config())
        if layer.name in concats:
            twin = q["QConcatenate"].from_config(layer.get_config())
            twin.on_grid = concats[layer.name]
            return twin
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            twin = q["QDepthwiseConv2D"].from_config(layer.get_config())
        elif isinstance(layer, keras.layers.Conv2D):
            twin = q["QConv2D"].from_config(layer.get_config())
        else:
            return layer.__class__.from_config(layer.get_config())
        twin.input_on_grid = layer.name in fed
        return twin

    student = keras.models.clone_model(model, clone_function=clone)
    for layer in model.layers:
        if not layer.weights:
            continue
        twin = student.get_layer(layer.name)
        for src, dst in zip(layer.weights, twin.weights):  # kernel, bias first; the ranges follow
            dst.assign(src)
        if hasattr(twin, "w_max"):
            twin.w_max.assign(_kernel_max(np.asarray(twin.kernel), twin._depthwise))
    return student


def kernel_sensitivity(model, batch: np.ndarray) -> dict[str, float]:
    """How much rounding each convolution's kernel alone to int8 changes the last stage, on ``batch``.

    For each Conv2D / DepthwiseConv2D of ``model`` (float; restored after): its kernel rounded to nearest on
    the per-channel int8 grid, the rest float; the score is the last heatmaps' mean squared change divided
    by the sum of those over all layers, plus the same for the PAFs (so the scores add up to 2).
    """
    import keras

    convs = [
        layer
        for layer in model.layers
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D))
    ]
    base = [np.asarray(t) for t in model(batch)[-2:]]
    errors = {}
    for layer in convs:
        kernel = np.asarray(layer.kernel)
        depthwise = isinstance(layer, keras.layers.DepthwiseConv2D)
        scale = _per_channel(_grid_step(_kernel_max(kernel, depthwise)), depthwise)
        layer.kernel.assign(np.rint(kernel / scale) * scale)
        out = [np.asarray(t) for t in model(batch)[-2:]]
        layer.kernel.assign(kernel)
        errors[layer.name] = [float(np.mean((a - b) ** 2)) for a, b in zip(out, base)]
    totals = [max(sum(e[i] for e in errors.values()), 1e-30) for i in (0, 1)]
    return {name: e[0] / totals[0] + e[1] / totals[1] for name, e in errors.items()}


_W_FLOOR = 1e-8  # the smallest channel range of the int8 weight grid (an all-zero channel stays zero)


def _grid_step(w_max) -> np.ndarray:
    """The int8 weight grid's step per output channel: symmetric, 255 levels (-127..127) over [-w_max, w_max]
    (the grid ``tf.quantization.fake_quant_with_min_max_vars_per_channel(narrow_range=True)`` uses)."""
    return np.maximum(np.asarray(w_max, np.float64), _W_FLOOR) / 127.0


def _per_channel(values: np.ndarray, depthwise: bool) -> np.ndarray:
    """(channels,) values shaped to broadcast over a Conv2D (kh, kw, C_in, C_out) or DepthwiseConv2D
    (kh, kw, C, 1) kernel's output channels."""
    return np.asarray(values).reshape((1, 1, -1, 1) if depthwise else (1, 1, 1, -1))


def _kernel_max(kernel: np.ndarray, depthwise: bool) -> np.ndarray:
    """The largest magnitude of each output channel of a Conv2D / DepthwiseConv2D kernel."""
    if depthwise:  # (kh, kw, C, multiplier) -> C * multiplier channels
        return np.abs(kernel).max(axis=(0, 1)).reshape(-1)
    return np.abs(kernel).reshape(-1, kernel.shape[-1]).max(axis=0)


def quantised_layers(student) -> list:
    """The student's quantised convolutions (QConv2D, QDepthwiseConv2D), in order."""
    return [layer for layer in student.layers if hasattr(layer, "w_max")]


def input_ranges(student) -> list:
    """Every learned activation range variable of the student: the convolutions' own input ranges and the
    QConcatenates' part ranges."""
    out = []
    for layer in student.layers:
        if hasattr(layer, "act_lo"):
            out += [layer.act_lo, layer.act_hi]
        elif hasattr(layer, "part_lo"):
            out += [layer.part_lo, layer.part_hi]
    return out


def calibrate(student, model, batch: np.ndarray) -> None:
    """Set each input range of the student (``input_ranges``) to what the float tensor it quantises in
    ``model`` holds on ``batch``: a convolution's input, or each quantised part of a QConcatenate."""
    import keras

    jobs = []  # (float tensor, lo variable, hi variable, index or None)
    for layer in student.layers:
        if hasattr(layer, "act_lo"):
            jobs.append((model.get_layer(layer.name).input, layer.act_lo, layer.act_hi, None, layer.name))
        elif hasattr(layer, "part_lo"):
            parts = model.get_layer(layer.name).input
            jobs += [
                (t, layer.part_lo, layer.part_hi, i, layer.name)
                for i, t in enumerate(parts)
                if i not in layer.on_grid
            ]
    tensors = {}  # one tensor may feed several layers
    for t, *_ in jobs:
        tensors.setdefault(t.name, t)
    probe = keras.Model(model.input, list(tensors.values()))
    values = dict(zip(tensors, probe(batch)))
    rng = np.random.default_rng(0)
    for t, lo_var, hi_var, index, name in jobs:
        x = np.asarray(values[t.name]).ravel()
        if name == "Conv2d_0":  # the image: BGR 0..255, exact in 8 bits
            lo, hi = 0.0, 255.0
        else:
            lo, hi = _clip_range(x if x.size <= 400_000 else rng.choice(x, 400_000, replace=False))
        lo, hi = min(lo, 0.0), max(hi, 1e-3)
        if index is None:
            lo_var.assign(lo)
            hi_var.assign(hi)
        else:
            lo_var.assign(np.where(np.arange(lo_var.shape[0]) == index, lo, np.asarray(lo_var)))
            hi_var.assign(np.where(np.arange(hi_var.shape[0]) == index, hi, np.asarray(hi_var)))


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
    student, model, batch: np.ndarray, *, correct_bias: bool = False, log: Callable | None = None
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
        if layer.name != "Conv2d_0" and not layer.input_on_grid:
            lo, hi = float(layer.act_lo.numpy()), float(layer.act_hi.numpy())
            x_q = tf.quantization.fake_quant_with_min_max_vars(x_q, lo, hi, num_bits=8).numpy()
        kernel = np.asarray(layer.kernel, np.float64)
        scale = _grid_step(layer.w_max)
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
            if layer._depthwise:
                s = (1, *layer.strides, 1)
                want = tf.nn.depthwise_conv2d(x_f, twin.kernel, s, pad)
                got = tf.nn.depthwise_conv2d(x_q, layer.kernel, s, pad)
            else:
                want = tf.nn.conv2d(x_f, twin.kernel, layer.strides, pad)
                got = tf.nn.conv2d(x_q, layer.kernel, layer.strides, pad)
            shift = tf.reduce_mean(want - got, axis=(0, 1, 2))
            layer.bias.assign(twin.bias + shift)
        if log:
            log(f"rounded {layer.name}")


def grid_adam(student, variables: Sequence, grid_lr: float, other_lr: float, eps: float = 1e-12):
    """Adam for ``variables`` of ``student`` whose step is measured in int8 grid steps for the kernels.

    A quantised kernel's step is ``grid_lr`` times its channel's grid step (``_grid_step``) times Adam's
    normalised direction; any other variable (biases, float layers) steps ``other_lr``. One learning rate
    for all kernels does not fit: their grid steps differ by orders of magnitude between layers, so a rate
    small enough for the finest grids never moves a coarse-grid weight off its level (measured: with plain
    Adam at 2e-5 the distillation loss stayed where rounding left it). Returns ``apply(grads)``, usable in a
    ``tf.function`` (the moment slots are created here, once).
    """
    import tensorflow as tf

    kernels = {id(layer.kernel): layer for layer in quantised_layers(student)}
    steps = []
    for v in variables:
        layer = kernels.get(id(v))
        if layer is None:
            steps.append(tf.constant(other_lr, tf.float32))
            continue
        step = _per_channel(grid_lr * _grid_step(layer.w_max), layer._depthwise)
        steps.append(tf.constant(step, tf.float32))
    m = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]
    s = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]
    t = tf.Variable(0.0, trainable=False)
    b1, b2 = 0.9, 0.999

    def apply(grads, rate=1.0) -> None:
        """One step; ``rate`` scales it (a schedule's factor)."""
        t.assign_add(1.0)
        c1, c2 = 1.0 - b1**t, 1.0 - b2**t
        for v, g, mv, sv, lr in zip(variables, grads, m, s, steps):
            mv.assign(b1 * mv + (1.0 - b1) * g)
            sv.assign(b2 * sv + (1.0 - b2) * tf.square(g))
            v.assign_sub(rate * lr * (mv / c1) / (tf.sqrt(sv / c2) + eps))

    return apply
