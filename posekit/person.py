"""Result types: one ``Person`` per detected body and the ``InferenceResult`` of one image."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from .skeleton import NUM_PARTS, PART_NAMES

__all__ = ["Person", "InferenceResult", "people_to_array"]


@dataclasses.dataclass
class Person:
    """One person found in an image.

    Attributes:
        keypoints: float32 (18, 3): x, y in original-image pixels and the
            keypoint's score (the unsmoothed heatmap value at the peak). A missing
            part has x = y = NaN and score 0. Rows follow ``skeleton.CocoPart``.
        score: the person's score: (sum of part scores + limb scores) / part count.
        person_id: identity across video frames, -1 when not tracked.
    """

    keypoints: np.ndarray
    score: float
    person_id: int = -1

    def __post_init__(self) -> None:
        kp = np.asarray(self.keypoints, dtype=np.float32)
        if kp.shape != (NUM_PARTS, 3):
            raise ValueError(f"keypoints must have shape (18, 3), got {kp.shape}")
        self.keypoints = kp
        self.score = float(self.score)

    @property
    def present(self) -> np.ndarray:
        """bool (18,): which parts were found."""
        return self.keypoints[:, 2] > 0

    @property
    def num_parts(self) -> int:
        """Number of parts found."""
        return int(self.present.sum())

    def part(self, index: int) -> tuple[float, float, float] | None:
        """(x, y, score) of one part, or None when it is missing."""
        x, y, s = (float(v) for v in self.keypoints[index])
        return None if s <= 0 else (x, y, s)

    def bbox(self) -> tuple[float, float, float, float] | None:
        """(x0, y0, x1, y1) around the found parts in image pixels, or None if none."""
        pts = self.keypoints[self.present, :2]
        if len(pts) == 0:
            return None
        return (
            float(pts[:, 0].min()),
            float(pts[:, 1].min()),
            float(pts[:, 0].max()),
            float(pts[:, 1].max()),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: score, person_id and {part name: [x, y, score]} of the found parts."""
        parts = {}
        for i in range(NUM_PARTS):
            p = self.part(i)
            if p is not None:
                parts[PART_NAMES[i]] = [round(p[0], 3), round(p[1], 3), round(p[2], 5)]
        return {"person_id": self.person_id, "score": round(self.score, 5), "keypoints": parts}

    def flat_keypoints(self) -> list[float]:
        """[x0, y0, c0, x1, y1, c1, ...] with missing parts as 0, 0, 0 (OpenPose's JSON layout)."""
        out: list[float] = []
        for x, y, s in self.keypoints.tolist():
            if s <= 0 or math.isnan(x) or math.isnan(y):
                out += [0.0, 0.0, 0.0]
            else:
                out += [round(x, 3), round(y, 3), round(s, 5)]
        return out


def people_to_array(people: list[Person]) -> np.ndarray:
    """Stack people into float32 (N, 18, 3); (0, 18, 3) when there are none."""
    if not people:
        return np.zeros((0, NUM_PARTS, 3), np.float32)
    return np.stack([p.keypoints for p in people]).astype(np.float32)


@dataclasses.dataclass
class InferenceResult:
    """What ``PoseEstimator.inference`` returns for one image.

    Attributes:
        people: the people found, in the grouping's order.
        heatmaps: float32 (h, w, 19) upsampled, unsmoothed heatmaps (channel 18 = background);
            h, w = input size / 8 * upsample, e.g. (184, 216) for 432x368 and upsample 4.
        pafs: float32 (h, w, 38) upsampled Part Affinity Fields (x, y per limb, see LIMBS).
        peaks: float32 (h, w, 19) smoothed heatmaps kept only at local maxima (0 elsewhere).
        image_size: (width, height) of the original image.
        timings: milliseconds per stage: preprocess, network, postprocess, paf, total.
        input_size: (width, height) the network ran at (the scale-1.0 size with multi-scale): the
            estimator's ``input_size``, the aspect-kept width for (None, height), or the image's own size;
            None when not known (a result made by hand).
    """

    people: list[Person]
    heatmaps: np.ndarray
    pafs: np.ndarray
    peaks: np.ndarray
    image_size: tuple[int, int]
    timings: dict[str, float]
    input_size: tuple[int, int] | None = None

    @property
    def keypoints(self) -> np.ndarray:
        """float32 (N, 18, 3) of all people: x, y in image pixels, score."""
        return people_to_array(self.people)

    def limb_paf(self, person: int, limb: int, samples: int = 10) -> np.ndarray | None:
        """The mean PAF vector of one person's limb: what the network says about the limb's direction.

        The field of ``limb`` (a row of ``skeleton.LIMBS``) is read at ``samples`` points evenly spaced
        from the person's first part to the second (the nearest upsampled cell of each, as the grouping
        samples it) and averaged.

        Returns:
            float32 (2,): (x, y) in the network input's frame (the grid's cells are square there, so its
            angle is the limb's angle as the network saw it: after the stretch, if the image was
            stretched); None when either part is missing.
        """
        from .preprocess import FieldTransform
        from .skeleton import LIMBS

        part_a, part_b, channel_x, channel_y = LIMBS[limb]
        a, b = self.people[person].part(part_a), self.people[person].part(part_b)
        if a is None or b is None:
            return None
        t = np.linspace(0.0, 1.0, int(samples))
        cols, rows = FieldTransform.for_field(self.pafs, self.image_size).to_grid(
            a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])
        )
        h, w = self.pafs.shape[:2]
        cols = np.clip(np.rint(cols).astype(int), 0, w - 1)
        rows = np.clip(np.rint(rows).astype(int), 0, h - 1)
        field = self.pafs[rows, cols][:, [channel_x, channel_y]]
        return field.mean(axis=0).astype(np.float32)

    def __len__(self) -> int:
        return len(self.people)
