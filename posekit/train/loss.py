"""The staged loss: every stage's heatmaps and PAFs against the same targets (intermediate supervision)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..skeleton import NUM_HEATMAPS, NUM_PAFS

__all__ = ["NUM_STAGE_OUTPUTS", "stage_losses"]

NUM_STAGE_OUTPUTS = 12  #: six stages x (heatmaps, PAFs): what ``load_model(..., all_stages=True)`` returns


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
