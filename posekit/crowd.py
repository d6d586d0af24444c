"""Cost against image content: tiled crowds, the network's multiply-adds and receptive fields.

Small tools for the course's cost section (notebook 12): ``tile`` makes a synthetic crowd from
one image, ``network_macs`` counts the multiply-adds of a fully convolutional network at a given
input size (its cost does not depend on what the image shows, only on its size), and
``receptive_fields`` measures how far one output cell of a layer can see.
"""

from __future__ import annotations

import numpy as np

__all__ = ["network_macs", "receptive_fields", "tile"]


def tile(image: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """An image repeated ``rows`` x ``cols`` times (a synthetic crowd).

    Args:
        image: BGR uint8 (H, W, 3) (or gray (H, W)).
        rows: copies down (>= 1).
        cols: copies across (>= 1).

    Returns:
        BGR uint8 (rows * H, cols * W, 3), contiguous.

    Raises:
        ValueError: rows or cols not an integer >= 1, or an empty image.
    """
    for value, name in ((rows, "rows"), (cols, "cols")):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    arr = np.asarray(image)
    if arr.ndim not in (2, 3) or arr.size == 0:
        raise ValueError(f"image must be a non-empty (H, W, 3) or (H, W) array, got shape {arr.shape}")
    reps = (int(rows), int(cols)) + (1,) * (arr.ndim - 2)
    return np.ascontiguousarray(np.tile(arr, reps))


def network_macs(model, input_size: tuple[int, int]) -> dict[str, int]:
    """Multiply-adds of a Keras model's convolutions for one image of ``input_size``.

    Runs the model once on zeros to read each convolution's output size, then counts
    ``h_out * w_out * k_h * k_w * c_in * c_out`` for a ``Conv2D`` and ``h_out * w_out * k_h * k_w * c_in *
    multiplier`` for a ``DepthwiseConv2D`` (biases, activations and pooling are left out: they are a
    few percent of the total).

    Args:
        model: a Keras functional model taking float32 (N, H, W, 3), e.g. ``posekit.load_model(...)``.
        input_size: (width, height) of the input.

    Returns:
        {"conv": multiply-adds of the ordinary convolutions, "depthwise": those of the depthwise
        ones, "total": their sum}.
    """
    import keras

    convs = [
        layer
        for layer in model.layers
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D))
    ]
    if not convs:
        return {"conv": 0, "depthwise": 0, "total": 0}
    width, height = int(input_size[0]), int(input_size[1])
    probe = keras.Model(model.input, [layer.output for layer in convs])
    outs = probe(np.zeros((1, height, width, 3), np.float32), training=False)
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    counts = {"conv": 0, "depthwise": 0}
    for layer, out in zip(convs, outs):
        _, h, w, c_out = (int(v) for v in out.shape)
        kernel = layer.get_weights()[0]
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            kh, kw, c_in, mult = kernel.shape
            counts["depthwise"] += h * w * kh * kw * c_in * mult
        else:
            kh, kw, c_in, c_out = kernel.shape
            counts["conv"] += h * w * kh * kw * c_in * c_out
    counts["total"] = counts["conv"] + counts["depthwise"]
    return counts


def receptive_fields(
    model, layers: dict[str, str], input_size: tuple[int, int], image=None
) -> dict[str, int]:
    """Receptive fields measured with gradients: how far in the input one output cell can see.

    For each named layer, the gradient of the layer's output at its centre cell (summed over the
    channels) is taken with respect to the input image; the field is the larger side of the box of
    input pixels whose gradient is not zero. This is the field the trained network has (a ReLU that
    is off for this input passes no gradient), not a formula's.

    Args:
        model: a Keras model (e.g. ``posekit.load_model(name, all_stages=True)``).
        layers: {label: layer name}, e.g. {"backbone": "feat_concat", "stage 1": <its last layer>}.
        input_size: (width, height) of the input; make it larger than the fields so none is cut.
        image: BGR uint8 (H, W, 3) resized to ``input_size`` as the input (None: mid-grey).

    Returns:
        {label: field in input pixels}.
    """
    import cv2
    import tensorflow as tf

    w, h = (int(v) for v in input_size)
    if image is None:
        x = np.full((1, h, w, 3), 128.0, np.float32)
    else:
        x = cv2.resize(np.asarray(image), (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)[None]
    names = list(layers.values())
    probe = tf.keras.Model(model.inputs, [model.get_layer(n).output for n in names])
    xt = tf.convert_to_tensor(x)
    out = {}
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(xt)
        ys = probe(xt, training=False)
        ys = ys if isinstance(ys, (list, tuple)) else [ys]
        scalars = [y[0, y.shape[1] // 2, y.shape[2] // 2, :] for y in ys]
        scalars = [tf.reduce_sum(s) for s in scalars]
    for label, s in zip(layers, scalars):
        g = np.abs(tape.gradient(s, xt).numpy()[0]).sum(-1)
        rows, cols = np.nonzero(g > 0)
        out[label] = int(max(rows.max() - rows.min() + 1, cols.max() - cols.min() + 1)) if len(rows) else 0
    del tape
    return out
