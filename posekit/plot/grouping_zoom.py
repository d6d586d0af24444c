"""Boxes to zoom on in the PAF grouping's views, in image pixels, from a ``paf_trace.GroupingTrace``.

Around the final people, a limb's candidates or some partial people, never smaller than
``MIN_ZOOM`` of the image.
"""

from __future__ import annotations

import numpy as np

from ..paf_trace_tables import _limb, trace_people
from ..preprocess import FieldTransform
from ..skeleton import PART_NAMES
from ._base import Box, _image_size, people_box

__all__ = ["MIN_ZOOM", "limb_zoom", "people_zoom", "rows_zoom"]

#: Smallest zoom box, as a fraction of the image's longer side: a zoom on a few close parts (a
#: 4-part head) still shows the body and the neighbours around them.
MIN_ZOOM = 0.3


def _transform(trace, image, image_size) -> FieldTransform:
    """The grid -> image mapping of the trace's fields drawn over ``image`` (or ``image_size``)."""
    return FieldTransform(tuple(trace.grid_size), _image_size(image, image_size, trace.grid_size))


def _at_least(box: Box | None, size: tuple[int, int], min_zoom: float) -> Box | None:
    """``box`` grown about its centre to at least ``min_zoom`` of the image's longer side each way,
    shifted (not cut) to stay inside the image where it fits."""
    if box is None:
        return None
    w, h = size
    side = float(min_zoom) * max(w, h)
    out = list(box)
    for lo, hi, extent in ((0, 2, w), (1, 3, h)):
        need = min(side, extent)
        if out[hi] - out[lo] < need:
            c = (out[lo] + out[hi]) / 2
            out[lo], out[hi] = c - need / 2, c + need / 2
        if out[lo] < -0.5:
            out[lo], out[hi] = -0.5, out[hi] + (-0.5 - out[lo])
        if out[hi] > extent - 0.5:
            out[lo], out[hi] = out[lo] - (out[hi] - (extent - 0.5)), extent - 0.5
        out[lo], out[hi] = max(out[lo], -0.5), min(out[hi], extent - 0.5)
    return (float(out[0]), float(out[1]), float(out[2]), float(out[3]))


def people_zoom(
    trace, image_size: tuple[int, int], *, margin: float = 0.2, min_zoom: float = MIN_ZOOM
) -> Box | None:
    """A box (x0, y0, x1, y1) in image pixels around the trace's final people, or around all its
    peaks when there are none, at least ``min_zoom`` of the image's longer side each way (a small
    person keeps its surroundings); None without peaks."""
    size = (int(image_size[0]), int(image_size[1]))
    people = trace_people(trace, size)
    if people:
        return _at_least(people_box(people, margin=margin, image_size=size), size, min_zoom)
    line = trace.peak_table
    if not len(line):
        return None
    x, y = FieldTransform(tuple(trace.grid_size), size).to_image(line[:, 1], line[:, 2])
    kp = np.full((1, len(PART_NAMES), 3), np.nan, np.float32)
    box = [float(x.min()), float(y.min()), float(x.max()), float(y.max())]
    kp[0, :2] = [[box[0], box[1], 1.0], [box[2], box[3], 1.0]]
    return _at_least(people_box(kp, margin=margin, image_size=size), size, min_zoom)


def limb_zoom(
    trace, limb: int | str, image_size: tuple[int, int], *, margin: float = 0.3, min_zoom: float = MIN_ZOOM
) -> Box | None:
    """A box (x0, y0, x1, y1) in image pixels around a limb's kept candidates (all its candidates
    when none was kept), at least ``min_zoom`` of the image's longer side each way (a short limb is
    shown with its context, not as a patch of hair); None when it has none."""
    step = _limb(trace, limb)
    if not len(step.score):
        return None
    size = (int(image_size[0]), int(image_size[1]))
    sel = np.flatnonzero(step.kept) if np.any(step.kept) else np.arange(len(step.score))
    ends = np.concatenate([step.xy_a[sel], step.xy_b[sel]]).astype(float)
    x, y = FieldTransform(tuple(trace.grid_size), size).to_image(ends[:, 0], ends[:, 1])
    kp = np.full((1, len(PART_NAMES), 3), np.nan, np.float32)
    kp[0, :2] = [[x.min(), y.min(), 1.0], [x.max(), y.max(), 1.0]]
    return _at_least(people_box(kp, margin=margin, image_size=size), size, min_zoom)


def rows_zoom(
    trace,
    limb: int | str,
    rows,
    image_size: tuple[int, int],
    *,
    margin: float = 0.25,
    min_zoom: float = MIN_ZOOM,
) -> Box | None:
    """A box (x0, y0, x1, y1) in image pixels around some partial people after a limb (rows of
    ``LimbStep.people_after``), at least ``min_zoom`` of the image's longer side each way; None when
    they have no parts."""
    step = _limb(trace, limb)
    size = (int(image_size[0]), int(image_size[1]))
    kp = trace.keypoints_of(step.people_after)[list(rows)]
    kp = FieldTransform(tuple(trace.grid_size), size).keypoints_to_image(kp.astype(np.float32))
    return _at_least(people_box(kp, margin=margin, image_size=size), size, min_zoom)
