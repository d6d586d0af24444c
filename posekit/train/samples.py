"""One training sample: the image with its people, checked, and its network input and targets."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..preprocess import FieldTransform
from ..skeleton import NUM_PARTS
from ..targets import DEFAULT_LIMB_WIDTH, DEFAULT_SIGMA

__all__ = ["Sample", "sample_targets"]


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


def _check_sample(sample, index: int) -> Sample:
    from ..preprocess import as_bgr

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
    from ..preprocess import prepare
    from ..targets import confidence_maps, grid_mask, paf_targets

    image, people, ignore = sample
    height, width = image.shape[:2]
    x = prepare(image, input_size)
    people = np.array(people, dtype=np.float64, copy=True)  # image pixels -> network-input pixels
    people[..., 0], people[..., 1] = FieldTransform(input_size, (width, height)).to_grid(
        people[..., 0], people[..., 1]
    )
    heat = confidence_maps(people, input_size, grid_size, sigma)
    paf = paf_targets(people, input_size, grid_size, limb_width)
    mask = np.ones(heat.shape[:2], np.float32) if ignore is None else grid_mask(ignore, grid_size)
    return x, heat, paf, mask
