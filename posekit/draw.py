"""OpenCV drawing: skeletons, keypoints, id labels and text overlays on BGR images; video frames.

Every image here is **BGR uint8 (H, W, 3)**, as OpenCV reads and shows it, and
coordinates are (x, y) in that image's pixels (``Person.keypoints``).

How people are drawn is one frozen ``DrawingSpec`` (as in MediaPipe's drawing utils):
limbs, colours, line thickness, keypoint radius, background, colours by person id and id
labels. ``DEFAULT_SPEC`` is tf-pose-estimation's ``draw_humans`` look: for each person,
every found keypoint is a ``cv2.circle`` of radius 3 and thickness 3 (a small ring: the
centre pixel itself stays undrawn), then every limb of ``RENDER_LIMBS`` whose two ends
were found is a 3-pixel line over the circles. Keypoint i uses ``COLORS_BGR[i]`` and
limb k ``COLORS_BGR[k]``. ``VIDEO_SPEC`` is what annotated videos use
(``compose_frame``): one colour per tracked person and ``#id`` labels.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence

import cv2
import numpy as np

from .person import Person
from .preprocess import as_bgr
from .skeleton import COLORS_BGR, LIMBS, NUM_LIMBS, NUM_PARTS, RENDER_LIMBS

__all__ = [
    "DrawingSpec",
    "DEFAULT_SPEC",
    "VIDEO_SPEC",
    "draw_people",
    "compose_frame",
    "label_ids",
    "draw_fps",
    "draw_text_lines",
    "PERSON_COLORS_BGR",
]

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


def _bgr(color: Sequence[int]) -> Color:
    """A colour as a tuple of three Python ints, as cv2 wants it."""
    b, g, r = (int(c) for c in color)
    return (b, g, r)


def _palette(name: str, colors: Sequence[Sequence[int]]) -> tuple[Color, ...]:
    if len(colors) == 0:
        raise ValueError(f"{name} must hold at least one BGR triple")
    return tuple(_bgr(c) for c in colors)


@dataclasses.dataclass(frozen=True)
class DrawingSpec:
    """How ``draw_people`` and ``compose_frame`` draw people (BGR colours, sizes in pixels).

    Attributes:
        limbs: indices into ``skeleton.LIMBS`` of the limbs drawn.
        part_colors: keypoint i is drawn in ``part_colors[i]`` (indices wrap around).
        limb_colors: limb k is drawn in ``limb_colors[k]`` (indices wrap around).
        keypoint_radius: circle radius of a keypoint.
        thickness: thickness of the keypoint circles and of the limb lines.
        background: draw on the image (True) or on a black image of its size (False).
        color_by_person: draw each person in one colour from ``person_colors``, chosen by
            ``person_id`` (or the list index for untracked people, person_id -1); None: only
            when some person is tracked (person_id >= 0); False: the part and limb colours.
        person_colors: the colours people are drawn in with ``color_by_person``.
        label_ids: write ``#id`` above each tracked person's bounding box, in its colour.
        label_scale: font scale of those labels.
    """

    limbs: tuple[int, ...] = RENDER_LIMBS
    part_colors: tuple[Color, ...] = COLORS_BGR
    limb_colors: tuple[Color, ...] = COLORS_BGR
    keypoint_radius: int = 3
    thickness: int = 3
    background: bool = True
    color_by_person: bool | None = False
    person_colors: tuple[Color, ...] = PERSON_COLORS_BGR
    label_ids: bool = False
    label_scale: float = 0.5

    def __post_init__(self) -> None:
        limbs = tuple(int(k) for k in self.limbs)
        bad = [k for k in limbs if not 0 <= k < NUM_LIMBS]
        if bad:
            raise ValueError(f"limb indices must be in [0, {NUM_LIMBS}), got {bad}")
        object.__setattr__(self, "limbs", limbs)
        for name in ("part_colors", "limb_colors", "person_colors"):
            object.__setattr__(self, name, _palette(name, getattr(self, name)))
        if self.keypoint_radius < 0 or self.thickness < 1:
            got = f"{self.keypoint_radius}, {self.thickness}"
            raise ValueError(f"keypoint_radius must be >= 0 and thickness >= 1, got {got}")
        if not self.label_scale > 0:
            raise ValueError(f"label_scale must be positive, got {self.label_scale}")

    def part_color(self, part: int) -> Color:
        """The colour of keypoint ``part`` (``part_colors``, indices wrapping around)."""
        return self.part_colors[int(part) % len(self.part_colors)]

    def limb_color(self, limb: int) -> Color:
        """The colour of limb ``limb`` (``limb_colors``, indices wrapping around)."""
        return self.limb_colors[int(limb) % len(self.limb_colors)]

    def person_color(self, person: Person | int, index: int = -1) -> Color:
        """The colour a person is drawn in by person: the one rule for people's colours.

        Args:
            person: a ``Person`` or its ``person_id`` (an int).
            index: the person's place in its frame, used when it is untracked (person_id -1).

        Returns:
            ``person_colors[i % len(person_colors)]``, i the person_id when >= 0, else ``index``.

        Raises:
            ValueError: an untracked person without an index >= 0.
        """
        i = person.person_id if isinstance(person, Person) else int(person)
        if i < 0:
            i = int(index)
        if i < 0:
            raise ValueError(f"an untracked person (person_id -1) needs its index >= 0, got {index}")
        return self.person_colors[i % len(self.person_colors)]


#: tf-pose-estimation's look: part and limb colours, 3-pixel rings and lines, no labels.
DEFAULT_SPEC = DrawingSpec()
#: Annotated videos: one colour per tracked person and ``#id`` labels (``compose_frame``).
VIDEO_SPEC = DrawingSpec(color_by_person=None, label_ids=True)


def _prepare(image: np.ndarray, in_place: bool) -> np.ndarray:
    """Validate ``image`` (``preprocess.as_bgr``); return it (``in_place``) or a BGR copy to draw on."""
    if in_place:
        if isinstance(image, np.ndarray) and image.ndim == 2:
            raise ValueError("in_place=True needs a BGR (H, W, 3) image; in_place=False returns a BGR copy")
        bgr = as_bgr(image)
        if bgr is not image:
            raise ValueError("in_place=True needs a BGR (H, W, 3) image; in_place=False returns a BGR copy")
        if not image.flags.writeable:
            raise ValueError("in_place=True needs a writeable image")
        if not image.flags.c_contiguous:
            raise ValueError("in_place=True needs a C-contiguous image, not a strided view")
        return image
    bgr = as_bgr(image)
    return np.array(bgr, order="C", copy=True) if bgr is image else np.ascontiguousarray(bgr)


def draw_people(
    image: np.ndarray,
    people: Iterable[Person],
    spec: DrawingSpec = DEFAULT_SPEC,
    *,
    in_place: bool = False,
) -> np.ndarray:
    """Draw people's keypoints and limbs as ``spec`` says.

    For each person, found keypoints are drawn first (circles), then the limbs whose
    two ends were both found (lines), as tf-pose-estimation does. Missing parts (score
    0 or NaN coordinates) and limbs touching them are skipped. Another style is another
    spec: ``DrawingSpec(background=False)`` draws on black, ``dataclasses.replace(spec,
    color_by_person=True)`` one colour per person.

    Args:
        image: BGR uint8 (H, W, 3); gray (H, W) or BGRA (H, W, 4) uint8 are converted to
            BGR in the returned copy. Not modified unless ``in_place``.
        people: the people to draw; keypoints are (x, y) in ``image`` pixels.
        spec: the drawing style (``DEFAULT_SPEC``: tf-pose-estimation's).
        in_place: draw on ``image`` itself (must be BGR, writeable and C-contiguous)
            and return it.

    Returns:
        BGR uint8 (H, W, 3): a new image, or ``image`` itself when ``in_place``.

    Raises:
        ImageError: if ``image`` is not a uint8 BGR, gray or BGRA array (``preprocess.as_bgr``).
        ValueError: ``in_place`` with a black background (``spec.background`` False) or a gray /
            read-only / strided image.
    """
    if in_place and not spec.background:
        raise ValueError("in_place=True cannot be combined with spec.background=False (which draws on black)")
    if spec.background:
        canvas = _prepare(image, in_place)
    else:
        shape = as_bgr(image).shape
        canvas = np.zeros((shape[0], shape[1], 3), np.uint8)
    people = list(people)
    by_person = spec.color_by_person
    if by_person is None:
        by_person = any(p.person_id >= 0 for p in people)

    for index, person in enumerate(people):
        centers: list[tuple[int, int] | None] = [None] * NUM_PARTS
        for i, (x, y, s) in enumerate(person.keypoints.tolist()):
            if s > 0 and not (math.isnan(x) or math.isnan(y)):
                centers[i] = (int(x + 0.5), int(y + 0.5))
        own = spec.person_color(person, index) if by_person else None
        for i, center in enumerate(centers):
            if center is not None:
                color = own or spec.part_color(i)
                cv2.circle(canvas, center, spec.keypoint_radius, color, thickness=spec.thickness)
        for k in spec.limbs:
            a, b = centers[LIMBS[k, 0]], centers[LIMBS[k, 1]]
            if a is not None and b is not None:
                color = own or spec.limb_color(k)
                cv2.line(canvas, a, b, color, spec.thickness)
    if spec.label_ids:
        label_ids(canvas, people, spec)
    return canvas


def label_ids(canvas: np.ndarray, people: Iterable[Person], spec: DrawingSpec = VIDEO_SPEC) -> np.ndarray:
    """Write ``#id`` above each tracked person's bounding box on ``canvas`` (BGR uint8, in place).

    A label that would overlap one already written moves up (down at the top edge) until it is free.
    """
    placed: list[tuple[int, int, int, int]] = []  # x0, y0, x1, y1 of the labels written
    for index, p in enumerate(people):
        box = p.bbox()
        if p.person_id < 0 or box is None:
            continue
        text = f"#{p.person_id}"
        (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, spec.label_scale, 1)
        x, y = int(box[0]), max(12, int(box[1]) - 8)
        step = -(h + base + 2)
        for _ in range(2 * len(placed) + 2):
            rect = (x - 1, y - h - 1, x + w + 1, y + base + 1)
            if not any(
                r[0] < rect[2] and rect[0] < r[2] and r[1] < rect[3] and rect[1] < r[3] for r in placed
            ):
                break
            if y + step < h + 1:
                step = -step  # no room above: go down instead
            y += step
        placed.append(rect)
        origin = (x, y)
        color = spec.person_color(p, index)
        draw_text_lines(canvas, [text], origin, color=color, font_scale=spec.label_scale, thickness=1)
    return canvas


def compose_frame(
    frame: np.ndarray,
    people: list[Person],
    *,
    spec: DrawingSpec = VIDEO_SPEC,
    side_by_side: bool = False,
    fps: float | None = None,
) -> np.ndarray:
    """Draw one output frame of an annotated video.

    Args:
        frame: BGR uint8 (H, W, 3), not modified.
        people: the people of the frame, keypoints in ``frame`` pixels.
        spec: the drawing style (``VIDEO_SPEC``: one colour and an ``#id`` per tracked person;
            ``dataclasses.replace(VIDEO_SPEC, background=False)`` draws on black).
        side_by_side: the original frame on the left and the skeletons on black on the
            right: BGR uint8 (H, 2 W, 3). ``spec.background`` is ignored.
        fps: write ``FPS: ...`` at the top left, or None for no FPS text.

    Returns:
        BGR uint8 (H, W, 3), or (H, 2 W, 3) when ``side_by_side``.
    """
    frame = as_bgr(frame, "frame")
    if side_by_side:
        skeleton = draw_people(frame, people, dataclasses.replace(spec, background=False))
        canvas = np.concatenate([frame, skeleton], axis=1)
    else:
        canvas = draw_people(frame, people, spec)
    if fps is not None:
        draw_fps(canvas, fps)
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
