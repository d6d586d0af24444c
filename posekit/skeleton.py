"""The body model: keypoint names, the limb table and the drawing colours.

posekit uses the 18-keypoint layout of OpenPose's COCO model (the order the
mobilenet_thin network was trained with), plus a background channel::

    0 Nose, 1 Neck, 2 RShoulder, 3 RElbow, 4 RWrist, 5 LShoulder, 6 LElbow,
    7 LWrist, 8 RHip, 9 RKnee, 10 RAnkle, 11 LHip, 12 LKnee, 13 LAnkle,
    14 REye, 15 LEye, 16 REar, 17 LEar, (18 Background: heatmap channel only)

"R" and "L" are the person's right and left, not the image's.
"""

from __future__ import annotations

import enum

import numpy as np

__all__ = [
    "CocoPart",
    "NUM_PARTS",
    "NUM_HEATMAPS",
    "NUM_LIMBS",
    "NUM_PAFS",
    "PART_NAMES",
    "HEATMAP_NAMES",
    "LIMBS",
    "LIMB_NAMES",
    "START_LIMBS",
    "RENDER_LIMBS",
    "COLORS_BGR",
]


class CocoPart(enum.IntEnum):
    """Keypoint index in posekit's (OpenPose COCO-18) order; 18 is the background heatmap."""

    Nose = 0
    Neck = 1
    RShoulder = 2
    RElbow = 3
    RWrist = 4
    LShoulder = 5
    LElbow = 6
    LWrist = 7
    RHip = 8
    RKnee = 9
    RAnkle = 10
    LHip = 11
    LKnee = 12
    LAnkle = 13
    REye = 14
    LEye = 15
    REar = 16
    LEar = 17
    Background = 18


NUM_PARTS = 18  #: keypoints per person
NUM_HEATMAPS = 19  #: heatmap channels: 18 parts + background
NUM_LIMBS = 19  #: limbs (part pairs) with a Part Affinity Field
NUM_PAFS = 38  #: PAF channels: an x and a y component per limb

PART_NAMES: tuple[str, ...] = tuple(p.name for p in CocoPart)[:NUM_PARTS]
#: Names of the 19 heatmap channels: the 18 parts, then "Background".
HEATMAP_NAMES: tuple[str, ...] = tuple(p.name for p in CocoPart)

#: Limb table, int32 (19, 4): part_a, part_b, PAF channel of the x component,
#: PAF channel of the y component (channels index the 38-channel PAF block).
#: Row order matters: people are assembled limb by limb in this order.
LIMBS = np.array(
    [
        [1, 2, 12, 13],  # 0  Neck-RShoulder
        [1, 5, 20, 21],  # 1  Neck-LShoulder
        [2, 3, 14, 15],  # 2  RShoulder-RElbow
        [3, 4, 16, 17],  # 3  RElbow-RWrist
        [5, 6, 22, 23],  # 4  LShoulder-LElbow
        [6, 7, 24, 25],  # 5  LElbow-LWrist
        [1, 8, 0, 1],  # 6  Neck-RHip
        [8, 9, 2, 3],  # 7  RHip-RKnee
        [9, 10, 4, 5],  # 8  RKnee-RAnkle
        [1, 11, 6, 7],  # 9  Neck-LHip
        [11, 12, 8, 9],  # 10 LHip-LKnee
        [12, 13, 10, 11],  # 11 LKnee-LAnkle
        [1, 0, 28, 29],  # 12 Neck-Nose
        [0, 14, 30, 31],  # 13 Nose-REye
        [14, 16, 34, 35],  # 14 REye-REar
        [0, 15, 32, 33],  # 15 Nose-LEye
        [15, 17, 36, 37],  # 16 LEye-LEar
        [2, 16, 18, 19],  # 17 RShoulder-REar
        [5, 17, 26, 27],  # 18 LShoulder-LEar
    ],
    dtype=np.int32,
)
LIMBS.setflags(write=False)

LIMB_NAMES: tuple[str, ...] = tuple(f"{PART_NAMES[a]}-{PART_NAMES[b]}" for a, b, _, _ in LIMBS)

#: Only limb rows below this index may start a new person in the PAF grouping; the two
#: shoulder-ear limbs (17, 18) only join people that exist (tf-pose-estimation's rule).
START_LIMBS = 17

#: Limbs drawn by default: all but the two shoulder-ear limbs (17, 18), as OpenPose does.
RENDER_LIMBS: tuple[int, ...] = tuple(range(17))

#: OpenPose's 18 colours, used as BGR triples on OpenCV images (so the first one is blue).
#: Keypoint i is drawn in COLORS_BGR[i]; limb k in COLORS_BGR[k].
COLORS_BGR: tuple[tuple[int, int, int], ...] = (
    (255, 0, 0),
    (255, 85, 0),
    (255, 170, 0),
    (255, 255, 0),
    (170, 255, 0),
    (85, 255, 0),
    (0, 255, 0),
    (0, 255, 85),
    (0, 255, 170),
    (0, 255, 255),
    (0, 170, 255),
    (0, 85, 255),
    (0, 0, 255),
    (85, 0, 255),
    (170, 0, 255),
    (255, 0, 255),
    (255, 0, 170),
    (255, 0, 85),
)
