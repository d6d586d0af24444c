"""Shared helpers of the plotting modules: matplotlib import, axes, views, channels, colours."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import numpy as np

from ..draw import DEFAULT_SPEC, DrawingSpec
from ..person import Person
from ..preprocess import FieldTransform, as_bgr
from ..skeleton import (
    LIMB_NAMES,
    NUM_HEATMAPS,
    NUM_LIMBS,
    NUM_PARTS,
    PART_NAMES,
)

FIGURE_WIDTH = 10.0  #: default figure width in inches
HEATMAP_CMAP = "jet"  #: colormap of heatmap overlays (0 blue .. 1 red, as in the article)
PAF_CMAP = "RdBu_r"  #: diverging colormap of PAF components (negative blue, positive red)

Channel = Union[int, str]

_INSTALL_HINT = "posekit.plot needs matplotlib: pip install matplotlib (or pip install 'posekit[notebooks]')"


def _mpl():
    """Import matplotlib (with an install hint when it is missing)."""
    try:
        import matplotlib
    except ImportError as exc:  # pragma: no cover - matplotlib is a dependency
        raise ImportError(_INSTALL_HINT) from exc
    return matplotlib


def _pyplot():
    _mpl()
    import matplotlib.pyplot as plt

    return plt


def _new_axes(ax, aspect: float, extra_height: float = 0.6):
    """``ax`` itself, or the Axes of a new pyplot figure for an image of height / width ``aspect``."""
    if ax is not None:
        return ax
    plt = _pyplot()
    height = min(max(FIGURE_WIDTH * aspect + extra_height, 3.0), 8.0)
    width = (
        FIGURE_WIDTH if aspect <= 0 else min(FIGURE_WIDTH, max(6.0, (height - extra_height) / aspect + 3.0))
    )
    _fig, ax = plt.subplots(figsize=(width, height), layout="constrained")
    return ax


def _new_figure(fig, height: float, width: float = FIGURE_WIDTH):
    """``fig`` itself (cleared), or a new pyplot figure ``width`` inches wide."""
    if fig is not None:
        fig.clear()
        return fig
    plt = _pyplot()
    return plt.figure(figsize=(float(width), height), layout="constrained")


def _people(n: int) -> str:
    """ "1 person" / "3 people"."""
    return f"{n} person" if n == 1 else f"{n} people"


def _rgb01(bgr: Sequence[int]) -> tuple[float, float, float]:
    """A BGR 0..255 triple as a matplotlib RGB 0..1 colour."""
    b, g, r = (int(c) for c in bgr)
    return (r / 255.0, g / 255.0, b / 255.0)


def _part_rgb(part: int, spec: DrawingSpec = DEFAULT_SPEC) -> tuple[float, float, float]:
    """Keypoint ``part``'s colour in ``spec`` (``DrawingSpec.part_color``), for matplotlib."""
    return _rgb01(spec.part_color(part))


def _limb_rgb(limb: int, spec: DrawingSpec = DEFAULT_SPEC) -> tuple[float, float, float]:
    """Limb ``limb``'s colour in ``spec`` (``DrawingSpec.limb_color``), for matplotlib."""
    return _rgb01(spec.limb_color(limb))


def _person_rgb(person, index: int = -1, spec: DrawingSpec = DEFAULT_SPEC) -> tuple[float, float, float]:
    """A person's colour in ``spec`` (``DrawingSpec.person_color``: a Person or an id), for matplotlib."""
    return _rgb01(spec.person_color(person, index))


def to_rgb(image: np.ndarray) -> np.ndarray:
    """BGR uint8 (H, W, 3), BGRA (H, W, 4) or gray (H, W) -> RGB uint8 (H, W, 3) for display.

    Raises:
        ImageError: not such an image (``posekit.preprocess.as_bgr``, the one image check).
    """
    return np.ascontiguousarray(as_bgr(image)[:, :, ::-1])


def _image_size(
    image: np.ndarray | None, image_size: tuple[int, int] | None, field: np.ndarray | tuple[int, int]
) -> tuple[int, int]:
    """(width, height) of the plot: the image's, else ``image_size``, else the field's own (a
    channels-last field, or its grid's (width, height)). The one precedence of every view."""
    if image is not None:
        return int(image.shape[1]), int(image.shape[0])
    if image_size is not None:
        return int(image_size[0]), int(image_size[1])
    if isinstance(field, np.ndarray):
        return int(field.shape[1]), int(field.shape[0])
    return int(field[0]), int(field[1])


def field_extent(
    field_shape: Sequence[int], image_size: tuple[int, int]
) -> tuple[float, float, float, float]:
    """``imshow`` extent putting field pixel (col, row) at image pixel (col / W * width, row / H * height).

    Args:
        field_shape: (H, W, ...) of the field.
        image_size: (width, height) of the image the field is drawn over.

    Returns:
        (left, right, bottom, top) in image pixels.
    """
    return FieldTransform((int(field_shape[1]), int(field_shape[0])), image_size).extent()


Box = tuple[float, float, float, float]


def people_box(people, *, margin: float = 0.2, image_size: tuple[int, int] | None = None) -> Box | None:
    """(x0, y0, x1, y1) around all found keypoints, grown by ``margin`` of its size on each side.

    Pass it as ``zoom=`` to the plotting functions to look closely at small people.

    Args:
        people: list of Person, an InferenceResult or keypoints (N, 18, 3).
        margin: fraction of the box's larger side added on every side.
        image_size: (width, height) to clip the box to.

    The shorter side is widened so the box is at most 4:3 either way (thin boxes plot badly).

    Returns:
        The box in image pixels, or None when nobody was found.
    """
    people = _people_list(people)
    pts = [p.keypoints[p.present, :2] for p in people]
    pts = np.concatenate(pts) if pts else np.zeros((0, 2), np.float32)
    if len(pts) == 0:
        return None
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    pad = margin * max(x1 - x0, y1 - y0, 20.0)
    box = [float(x0 - pad), float(y0 - pad), float(x1 + pad), float(y1 + pad)]
    w, h = box[2] - box[0], box[3] - box[1]
    if h > 4 / 3 * w:
        grow = (0.75 * h - w) / 2
        box[0], box[2] = box[0] - grow, box[2] + grow
    elif w > 4 / 3 * h:
        grow = (0.75 * w - h) / 2
        box[1], box[3] = box[1] - grow, box[3] + grow
    if image_size is not None:
        box = [
            max(box[0], -0.5),
            max(box[1], -0.5),
            min(box[2], image_size[0] - 0.5),
            min(box[3], image_size[1] - 0.5),
        ]
    return (box[0], box[1], box[2], box[3])


def _view(size: tuple[int, int], zoom: Box | None) -> Box:
    """The visible region (x0, y0, x1, y1) in image pixels: ``zoom`` or the whole image."""
    if zoom is None:
        return (-0.5, -0.5, size[0] - 0.5, size[1] - 0.5)
    x0, y0, x1, y1 = (float(v) for v in zoom)
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"zoom must be (x0, y0, x1, y1) with x1 > x0 and y1 > y0, got {zoom}")
    return (x0, y0, x1, y1)


def _aspect(size: tuple[int, int], zoom: Box | None) -> float:
    x0, y0, x1, y1 = _view(size, zoom)
    return (y1 - y0) / (x1 - x0)


def _image_or_canvas(image, image_size, zoom, ax):
    """Axes showing ``image``, or an empty canvas in ``image_size`` pixel coordinates when it is None."""
    if image is not None:
        return show_image(image, zoom=zoom, ax=ax)
    if image_size is None:
        raise ValueError("give an image or image_size=(width, height)")
    size = (int(image_size[0]), int(image_size[1]))
    ax = _new_axes(ax, _aspect(size, zoom))
    _set_view(ax, size, zoom)
    ax.set_aspect("equal")
    return ax


def _outlined(width: float):
    """matplotlib path effects drawing a line of ``width`` points with a black outline."""
    from matplotlib import patheffects

    return [patheffects.Stroke(linewidth=width + 2.0, foreground="black"), patheffects.Normal()]


def _faded_image(ax, image, image_size, zoom, image_alpha: float = 1.0):
    """Axes showing ``image`` at ``image_alpha`` over white (so coloured lines stand out) in its pixel
    coordinates, or a blank canvas of ``image_size`` when it is None."""
    if image is None:
        return _image_or_canvas(None, image_size, zoom, ax)
    size = (image.shape[1], image.shape[0])
    ax = _image_or_canvas(None, size, zoom, ax)
    ax.imshow(to_rgb(image), alpha=None if image_alpha == 1 else float(image_alpha), zorder=0)
    _set_view(ax, size, zoom)
    return ax


def _set_view(ax, size: tuple[int, int], zoom: Box | None) -> None:
    x0, y0, x1, y1 = _view(size, zoom)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y1, y0)


def _check_field(field: np.ndarray, channels: int, name: str) -> np.ndarray:
    field = np.asarray(field)
    if field.ndim == 4 and field.shape[0] == 1:
        field = field[0]
    if field.ndim != 3 or field.shape[2] != channels:
        raise ValueError(f"{name} must have shape (H, W, {channels}), got {field.shape}")
    return field


def _part_index(channel: Channel) -> int | str:
    """A heatmap channel given as an index, a part name or "max" -> int 0..18 or "max"."""
    if isinstance(channel, str):
        if channel == "max":
            return "max"
        names = [*PART_NAMES, "Background"]
        if channel in names:
            return names.index(channel)
        raise ValueError(f"channel must be 0..18, a part name ({', '.join(names)}) or 'max', got {channel!r}")
    c = int(channel)
    if not 0 <= c < NUM_HEATMAPS:
        raise ValueError(f"heatmap channel must be in [0, {NUM_HEATMAPS}), got {channel}")
    return c


def _limb_index(limb: int | str) -> int:
    """A limb given as an index 0..18 or a name like "RShoulder-RElbow" -> int."""
    if isinstance(limb, str):
        if limb in LIMB_NAMES:
            return LIMB_NAMES.index(limb)
        raise ValueError(f"limb must be 0..18 or one of {', '.join(LIMB_NAMES)}, got {limb!r}")
    k = int(limb)
    if not 0 <= k < NUM_LIMBS:
        raise ValueError(f"limb must be in [0, {NUM_LIMBS}), got {limb}")
    return k


def heatmap_channel(heatmaps: np.ndarray, channel: Channel = "max") -> np.ndarray:
    """One heatmap channel (H, W): index 0..18, a part name, or "max" over the 18 parts (no background)."""
    heatmaps = _check_field(heatmaps, NUM_HEATMAPS, "heatmaps")
    c = _part_index(channel)
    if c == "max":
        return heatmaps[:, :, :NUM_PARTS].max(axis=2)
    return heatmaps[:, :, c]


def channel_title(channel: Channel) -> str:
    """Human-readable name of a heatmap channel, e.g. "heatmap 4: RWrist"."""
    c = _part_index(channel)
    if c == "max":
        return "max over the 18 part heatmaps"
    name = "Background" if c == NUM_PARTS else PART_NAMES[c]
    return f"heatmap {c}: {name}"


def _label_image_axes(ax, title: str | None) -> None:
    ax.set_xlabel("x (image pixels)")
    ax.set_ylabel("y (image pixels)")
    if title:
        ax.set_title(title)


def _people_list(people) -> list[Person]:
    """Accept a list of Person, an InferenceResult, or an (N, 18, 3) array."""
    if hasattr(people, "people"):
        people = people.people
    if isinstance(people, np.ndarray):
        if people.ndim != 3 or people.shape[1:] != (NUM_PARTS, 3):
            raise ValueError(f"keypoints must have shape (N, 18, 3), got {people.shape}")
        return [Person(k, 0.0) for k in people]
    people = list(people)
    for p in people:
        if not isinstance(p, Person):
            raise TypeError(f"people must be Person objects, got {type(p).__name__}")
    return people


def show_image(
    image: np.ndarray, *, title: str | None = None, zoom: Box | None = None, ax=None, axes_off: bool = False
):
    """Show a BGR uint8 image with pixel axes.

    Args:
        image: BGR uint8 (H, W, 3) or gray (H, W).
        title: Axes title.
        zoom: (x0, y0, x1, y1) region to show in image pixels (see ``people_box``), or None.
        ax: Axes to draw into, or None for a new figure.
        axes_off: hide the pixel axes.

    Returns:
        The Axes.
    """
    rgb = to_rgb(image)
    size = (rgb.shape[1], rgb.shape[0])
    ax = _new_axes(ax, _aspect(size, zoom))
    ax.imshow(rgb)
    _set_view(ax, size, zoom)
    _label_image_axes(ax, title)
    if axes_off:
        ax.set_axis_off()
    return ax
