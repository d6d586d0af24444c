"""OpenCV drawing: skeletons, keypoints and text overlays on BGR images.

Every image here is **BGR uint8 (H, W, 3)**, as OpenCV reads and shows it, and
coordinates are (x, y) in that image's pixels (``Person.keypoints``).

The look follows tf-pose-estimation's ``draw_humans``: for each person, every found
keypoint is drawn as a ``cv2.circle`` of radius 3 and thickness 3 (a small ring: the
centre pixel itself stays undrawn), then every limb of ``RENDER_LIMBS`` whose two ends
were found as a 3-pixel line over the circles. Keypoint i uses ``COLORS_BGR[i]`` and
limb k ``COLORS_BGR[k]``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import cv2
import numpy as np

from .person import Person
from .skeleton import COLORS_BGR, LIMBS, NUM_LIMBS, NUM_PARTS, RENDER_LIMBS

__all__ = ["draw_people", "draw_fps", "draw_text_lines", "person_color", "PERSON_COLORS_BGR"]

Color = tuple[int, int, int]

#: 20 well-separated colours for telling people apart, as BGR triples: Sasha Trubetskoy's
#: "20 simple distinct colours" without white and black, and with lavender, olive and
#: apricot (too close to pink, brown and beige) replaced; every pair differs by >= 60 in
#: at least one channel.
PERSON_COLORS_BGR: tuple[Color, ...] = tuple(
    (int(h[4:6], 16), int(h[2:4], 16), int(h[0:2], 16))
    for h in (
        "e6194b",  # red
        "3cb44b",  # green
        "ffe119",  # yellow
        "4363d8",  # blue
        "f58231",  # orange
        "911eb4",  # purple
        "42d4f4",  # cyan
        "f032e6",  # magenta
        "bfef45",  # lime
        "fabed4",  # pink
        "469990",  # teal
        "7f00ff",  # violet
        "9a6324",  # brown
        "fffac8",  # beige
        "800000",  # maroon
        "aaffc3",  # mint
        "ff8080",  # salmon
        "00ff80",  # spring green
        "000075",  # navy
        "a9a9a9",  # grey
    )
)


def person_color(i: int) -> Color:
    """BGR colour of person ``i`` (a person_id or list index >= 0), cycling through 20 colours."""
    i = int(i)
    if i < 0:
        raise ValueError(f"person index must be >= 0, got {i}")
    return PERSON_COLORS_BGR[i % len(PERSON_COLORS_BGR)]


def _check_image(image: np.ndarray) -> None:
    """Raise unless ``image`` is a uint8 BGR (H, W, 3) or gray (H, W) array."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image must be a numpy.ndarray, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise TypeError(f"image must have dtype uint8, got {image.dtype}")
    gray = image.ndim == 2
    if not (gray or (image.ndim == 3 and image.shape[2] == 3)) or 0 in image.shape:
        raise ValueError(f"image must be BGR (H, W, 3) or gray (H, W) with H, W > 0, got shape {image.shape}")


def _prepare(image: np.ndarray, in_place: bool) -> np.ndarray:
    """Validate ``image``; return it (``in_place``) or a BGR copy to draw on."""
    _check_image(image)
    gray = image.ndim == 2
    if in_place:
        if gray:
            raise ValueError("in_place=True needs a BGR (H, W, 3) image; in_place=False returns a BGR copy")
        if not image.flags.writeable:
            raise ValueError("in_place=True needs a writeable image")
        if not image.flags.c_contiguous:
            raise ValueError("in_place=True needs a C-contiguous image, not a strided view")
        return image
    if gray:
        return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_GRAY2BGR)
    return image.copy(order="C")


def _bgr(color: Sequence[int]) -> Color:
    """A colour as a tuple of three Python ints, as cv2 wants it."""
    b, g, r = (int(c) for c in color)
    return (b, g, r)


def draw_people(
    image: np.ndarray,
    people: Iterable[Person],
    *,
    skeleton_only: bool = False,
    in_place: bool = False,
    limbs: Sequence[int] = RENDER_LIMBS,
    colors: Sequence[Sequence[int]] = COLORS_BGR,
    keypoint_radius: int = 3,
    thickness: int = 3,
    color_by_person: bool = False,
) -> np.ndarray:
    """Draw people's keypoints and limbs.

    For each person, found keypoints are drawn first (circles), then the limbs whose
    two ends were both found (lines), as tf-pose-estimation does. Missing parts (score
    0 or NaN coordinates) and limbs touching them are skipped.

    Args:
        image: BGR uint8 (H, W, 3), or gray uint8 (H, W) which is converted to BGR in
            the returned copy. Not modified unless ``in_place``.
        people: the people to draw; keypoints are (x, y) in ``image`` pixels.
        skeleton_only: draw on a black (H, W, 3) image of the same size instead.
        in_place: draw on ``image`` itself (must be BGR, writeable and C-contiguous)
            and return it.
        limbs: indices into ``skeleton.LIMBS`` of the limbs to draw.
        colors: BGR triples; keypoint i uses ``colors[i]``, limb k ``colors[k]``
            (indices wrap around if the sequence is short).
        keypoint_radius: circle radius in pixels.
        thickness: circle and line thickness in pixels.
        color_by_person: draw each person in one colour, ``person_color(person_id)``,
            or ``person_color(list index)`` for untracked people (person_id -1).

    Returns:
        BGR uint8 (H, W, 3): a new image, or ``image`` itself when ``in_place``.

    Raises:
        TypeError: if ``image`` is not a uint8 numpy array.
        ValueError: on a bad image shape, ``in_place`` with ``skeleton_only`` or a gray
            / read-only / strided image, an unknown limb index or empty ``colors``.
    """
    if in_place and skeleton_only:
        raise ValueError("in_place=True cannot be combined with skeleton_only=True (which draws on black)")
    if skeleton_only:
        _check_image(image)
        canvas = np.zeros((image.shape[0], image.shape[1], 3), np.uint8)
    else:
        canvas = _prepare(image, in_place)
    limbs = [int(k) for k in limbs]
    bad = [k for k in limbs if not 0 <= k < NUM_LIMBS]
    if bad:
        raise ValueError(f"limb indices must be in [0, {NUM_LIMBS}), got {bad}")
    if len(colors) == 0:
        raise ValueError("colors must hold at least one BGR triple")
    palette = [_bgr(c) for c in colors]

    for index, person in enumerate(people):
        centers: list[tuple[int, int] | None] = [None] * NUM_PARTS
        for i, (x, y, s) in enumerate(person.keypoints.tolist()):
            if s > 0 and not (math.isnan(x) or math.isnan(y)):
                centers[i] = (int(x + 0.5), int(y + 0.5))
        own = person_color(person.person_id if person.person_id >= 0 else index) if color_by_person else None

        for i, center in enumerate(centers):
            if center is not None:
                color = own if own is not None else palette[i % len(palette)]
                cv2.circle(canvas, center, keypoint_radius, color, thickness=thickness)
        for k in limbs:
            a, b = centers[LIMBS[k, 0]], centers[LIMBS[k, 1]]
            if a is not None and b is not None:
                color = own if own is not None else palette[k % len(palette)]
                cv2.line(canvas, a, b, color, thickness)
    return canvas


_OUTLINE_OFFSETS = tuple((dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1) if dx or dy)


def draw_text_lines(
    image: np.ndarray,
    lines: Iterable[str],
    origin: tuple[int, int] = (10, 30),
    *,
    in_place: bool = True,
    color: Sequence[int] = (0, 255, 0),
    font_scale: float = 0.7,
    thickness: int = 2,
    outline: Sequence[int] | None = (0, 0, 0),
) -> np.ndarray:
    """Write lines of text one below the other, each with a dark outline for readability.

    Args:
        image: BGR uint8 (H, W, 3) (or gray (H, W) when not ``in_place``).
        lines: the text lines (keep to ASCII: OpenCV 4's Hershey fonts have no other glyphs).
        origin: (x, y) pixel of the first line's baseline start.
        in_place: draw on ``image`` itself (default) rather than on a copy.
        color: BGR text colour.
        font_scale: ``cv2.FONT_HERSHEY_SIMPLEX`` scale.
        thickness: stroke thickness.
        outline: BGR outline colour, or None for no outline.

    Returns:
        BGR uint8 (H, W, 3): ``image`` itself when ``in_place``, else a new image.
    """
    canvas = _prepare(image, in_place)
    font = cv2.FONT_HERSHEY_SIMPLEX
    (_, text_h), baseline = cv2.getTextSize("Ag", font, font_scale, thickness)
    step = text_h + baseline + 4
    x, y = int(origin[0]), int(origin[1])
    for n, line in enumerate(lines):
        pos = (x, y + n * step)
        if outline is not None:
            # The outline is the text stamped at 1-pixel offsets: OpenCV 5's putText no longer
            # widens strokes for thickness > 2, so a thicker underlay would not show.
            dark = _bgr(outline)
            for dx, dy in _OUTLINE_OFFSETS:
                cv2.putText(canvas, line, (pos[0] + dx, pos[1] + dy), font, font_scale, dark, thickness)
        cv2.putText(canvas, line, pos, font, font_scale, _bgr(color), thickness, cv2.LINE_AA)
    return canvas


def draw_fps(image: np.ndarray, fps: float, *, in_place: bool = True) -> np.ndarray:
    """Write ``"FPS: 12.3"`` in green with a dark outline at the top left of a BGR uint8 (H, W, 3) image."""
    return draw_text_lines(image, [f"FPS: {float(fps):.1f}"], in_place=in_place)
