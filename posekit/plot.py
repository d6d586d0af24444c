"""matplotlib views of what the network sees: heatmaps, PAFs, peaks and people.

Conventions shared by every function here:

* Images in are **BGR uint8 (H, W, 3)** (or gray (H, W)), as OpenCV reads them; they are
  converted to RGB for display.
* Plots are drawn in **original-image pixel coordinates** (x right, y down). A field pixel
  (col, row) of an (H, W, C) heatmap or PAF lies at image pixel (col / W * width,
  row / H * height), the mapping ``fields_to_people`` uses for keypoints, so peaks and
  keypoints sit exactly on the heatmap maxima they came from.
* Single-panel functions take ``ax=`` (an Axes to draw into) and return the Axes;
  multi-panel functions take ``fig=`` (a Figure to fill) and return the Figure. Without
  them a new pyplot figure is made, 10 inches wide. Passing a ``matplotlib.figure.Figure``
  built without pyplot (as ``posekit.widgets`` does) keeps the figure out of notebook output.
* Tables (``keypoints_table``) are small ``Table`` objects that print as text and show as
  HTML in Jupyter; there is no pandas dependency.

matplotlib is imported on first use; without it these functions raise an ImportError with
the install hint.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Union

import numpy as np

from .person import Person
from .skeleton import (
    COLORS_BGR,
    LIMB_NAMES,
    LIMBS,
    NUM_HEATMAPS,
    NUM_LIMBS,
    NUM_PAFS,
    NUM_PARTS,
    PART_NAMES,
    RENDER_LIMBS,
)

__all__ = [
    "FIGURE_WIDTH",
    "MODEL_COLORS",
    "Table",
    "channel_title",
    "compare_stages",
    "field_extent",
    "heatmap_channel",
    "keypoints_table",
    "peak_list",
    "people_box",
    "people_distance_table",
    "plot_keypoints_scatter",
    "plot_models_side_by_side",
    "plot_people",
    "plot_speed_comparison",
    "plot_timings",
    "plot_trajectories",
    "show_heatmap_channels",
    "show_heatmap_overlay",
    "show_image",
    "show_paf_arrows",
    "show_paf_components",
    "show_peaks",
    "to_rgb",
]

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


def _new_figure(fig, height: float):
    """``fig`` itself (cleared), or a new pyplot figure ``FIGURE_WIDTH`` wide."""
    if fig is not None:
        fig.clear()
        return fig
    plt = _pyplot()
    return plt.figure(figsize=(FIGURE_WIDTH, height), layout="constrained")


def _people(n: int) -> str:
    """ "1 person" / "3 people"."""
    return f"{n} person" if n == 1 else f"{n} people"


def _rgb01(bgr: Sequence[int]) -> tuple[float, float, float]:
    """A BGR 0..255 triple as a matplotlib RGB 0..1 colour."""
    b, g, r = (int(c) for c in bgr)
    return (r / 255.0, g / 255.0, b / 255.0)


def to_rgb(image: np.ndarray) -> np.ndarray:
    """BGR uint8 (H, W, 3), BGRA (H, W, 4) or gray (H, W) -> RGB uint8 (H, W, 3) for display."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise TypeError(f"image must be uint8 (BGR 0..255), got {image.dtype}")
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim == 3 and image.shape[2] in (3, 4):
        return np.ascontiguousarray(image[:, :, 2::-1])
    raise ValueError(f"image must be BGR (H, W, 3) or gray (H, W), got shape {image.shape}")


def _image_size(
    image: np.ndarray | None, image_size: tuple[int, int] | None, field: np.ndarray
) -> tuple[int, int]:
    """(width, height) of the plot: the image's, else ``image_size``, else the field's own."""
    if image is not None:
        return int(image.shape[1]), int(image.shape[0])
    if image_size is not None:
        return int(image_size[0]), int(image_size[1])
    return int(field.shape[1]), int(field.shape[0])


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
    H, W = int(field_shape[0]), int(field_shape[1])
    sx, sy = image_size[0] / W, image_size[1] / H
    return (-0.5 * sx, (W - 0.5) * sx, (H - 0.5) * sy, -0.5 * sy)


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


def show_heatmap_overlay(
    image: np.ndarray | None,
    heatmaps: np.ndarray,
    channel: Channel = "max",
    *,
    alpha: float = 0.5,
    cmap: str = HEATMAP_CMAP,
    vmax: float | None = 1.0,
    colorbar: bool = True,
    title: str | None = None,
    image_size: tuple[int, int] | None = None,
    zoom: Box | None = None,
    ax=None,
):
    """One heatmap channel (or the max over the parts) drawn over the image.

    Args:
        image: BGR uint8 (H, W, 3), or None to show the heatmap alone (in ``image_size``
            coordinates, or field pixels).
        heatmaps: float32 (h, w, 19) upsampled heatmaps (``InferenceResult.heatmaps``).
        channel: 0..17 a part, 18 the background, a part name, or "max" for the
            per-pixel maximum over the 18 parts (background excluded).
        alpha: opacity of the heatmap over the image, 0..1.
        cmap: matplotlib colormap.
        vmax: top of the colour scale (heat values are probabilities, so 1 by default;
            None for the channel's own maximum).
        colorbar: add a colour bar.
        title: Axes title (default: the channel's name).
        image_size: (width, height) to map the field to when ``image`` is None.
        zoom: (x0, y0, x1, y1) region to show in image pixels, or None for all.
        ax: Axes to draw into, or None for a new figure.

    Returns:
        The Axes.
    """
    field = heatmap_channel(heatmaps, channel)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    size = _image_size(image, image_size, field)
    ax = _new_axes(ax, _aspect(size, zoom))
    if image is not None:
        ax.imshow(to_rgb(image))
    im = ax.imshow(
        field,
        cmap=cmap,
        vmin=0.0,
        vmax=vmax,
        alpha=alpha if image is not None else 1.0,
        extent=field_extent(field.shape, size),
        interpolation="nearest",
    )
    _set_view(ax, size, zoom)
    if colorbar:
        cb = ax.figure.colorbar(im, ax=ax, shrink=0.85, pad=0.02)
        cb.set_label("heatmap value (probability)")
        cb.solids.set_alpha(1.0)
    _label_image_axes(ax, title if title is not None else channel_title(channel))
    return ax


def show_heatmap_channels(
    heatmaps: np.ndarray,
    *,
    channels: Sequence[Channel] | None = None,
    image: np.ndarray | None = None,
    alpha: float = 0.6,
    ncols: int = 5,
    cmap: str = HEATMAP_CMAP,
    zoom: Box | None = None,
    fig=None,
):
    """A grid of heatmap channels with their part names and one shared colour bar.

    Args:
        heatmaps: float32 (h, w, 19).
        channels: the channels to show (default all 19).
        image: optional BGR uint8 image drawn under every panel.
        alpha: heatmap opacity over ``image``.
        ncols: panels per row.
        cmap: matplotlib colormap.
        zoom: (x0, y0, x1, y1) region to show in image pixels, or None for all.
        fig: Figure to fill, or None for a new one.

    Returns:
        The Figure.
    """
    heatmaps = _check_field(heatmaps, NUM_HEATMAPS, "heatmaps")
    channels = list(range(NUM_HEATMAPS)) if channels is None else list(channels)
    if not channels:
        raise ValueError("channels must not be empty")
    ncols = max(1, min(int(ncols), len(channels)))
    nrows = math.ceil(len(channels) / ncols)
    size = _image_size(image, None, heatmaps)
    panel_h = FIGURE_WIDTH / ncols * _aspect(size, zoom)
    fig = _new_figure(fig, nrows * (panel_h + 0.45) + 0.8)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    im = None
    for ax, ch in zip(axes.flat, channels):
        field = heatmap_channel(heatmaps, ch)
        if image is not None:
            ax.imshow(to_rgb(image))
        im = ax.imshow(
            field,
            cmap=cmap,
            vmin=0,
            vmax=1,
            alpha=alpha if image is not None else 1.0,
            extent=field_extent(field.shape, size),
            interpolation="nearest",
        )
        c = _part_index(ch)
        name = "max of parts" if c == "max" else ("Background" if c == NUM_PARTS else PART_NAMES[c])
        ax.set_title(f"{c}: {name}" if c != "max" else name, fontsize=10)
        _set_view(ax, size, zoom)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in list(axes.flat)[len(channels) :]:
        ax.set_axis_off()
    cb = fig.colorbar(im, ax=axes, shrink=0.6, pad=0.01)
    cb.set_label("heatmap value (probability)")
    cb.solids.set_alpha(1.0)
    fig.suptitle("Heatmap channels (one per body part, 18 = background)", fontsize=13)
    return fig


def _limb_components(pafs: np.ndarray, limb: int | str) -> tuple[int, np.ndarray, np.ndarray]:
    pafs = _check_field(pafs, NUM_PAFS, "pafs")
    k = _limb_index(limb)
    return k, pafs[:, :, LIMBS[k, 2]], pafs[:, :, LIMBS[k, 3]]


def show_paf_components(
    pafs: np.ndarray,
    limb: int | str,
    *,
    image_size: tuple[int, int] | None = None,
    cmap: str = PAF_CMAP,
    zoom: Box | None = None,
    fig=None,
):
    """A limb's PAF x and y components side by side, on a symmetric diverging scale.

    Args:
        pafs: float32 (h, w, 38) upsampled PAFs.
        limb: limb index 0..18 (row of ``LIMBS``) or name like "RShoulder-RElbow".
        image_size: (width, height) of the image, for axes in image pixels (default: field pixels).
        cmap: a diverging colormap: 0 is white, +x / +y (right / down) red, - blue.
        zoom: (x0, y0, x1, y1) region to show (in image pixels when ``image_size`` is given).
        fig: Figure to fill, or None for a new one.

    Returns:
        The Figure (two Axes, each with its colour bar).
    """
    k, px, py = _limb_components(pafs, limb)
    size = _image_size(None, image_size, px)
    lim = max(float(np.abs(px).max()), float(np.abs(py).max()), 1e-6)
    panel_h = (FIGURE_WIDTH / 2 - 1.3) * _aspect(size, zoom)
    fig = _new_figure(fig, panel_h + 1.0)
    axes = fig.subplots(1, 2)
    ch = LIMBS[k, 2:]
    unit = "image pixels" if image_size is not None else "field pixels"
    for ax, comp, name, c in zip(axes, (px, py), ("x", "y"), ch):
        im = ax.imshow(
            comp,
            cmap=cmap,
            vmin=-lim,
            vmax=lim,
            extent=field_extent(comp.shape, size),
            interpolation="nearest",
        )
        _set_view(ax, size, zoom)
        ax.set_title(f"{name} component (PAF channel {c})")
        ax.set_xlabel(f"x ({unit})")
        ax.set_ylabel(f"y ({unit})")
        cb = fig.colorbar(im, ax=ax, shrink=0.8, pad=0.02)
        cb.set_label(f"PAF {name} (+ = {'right' if name == 'x' else 'down'})")
    fig.suptitle(f"PAF of limb {k}: {LIMB_NAMES[k]}", fontsize=13)
    return fig


def show_paf_arrows(
    image: np.ndarray | None,
    pafs: np.ndarray,
    limb: int | str,
    *,
    step: int | None = None,
    min_magnitude: float = 0.1,
    image_size: tuple[int, int] | None = None,
    background_alpha: float = 0.0,
    cmap: str = "viridis",
    colorbar: bool = True,
    title: str | None = None,
    zoom: Box | None = None,
    ax=None,
):
    """A limb's PAF as arrows over the image, in image coordinates.

    One arrow every ``step`` field pixels where the field's magnitude is at least
    ``min_magnitude``, pointing from the limb's first part towards its second (e.g. from
    the shoulder to the elbow), coloured by magnitude. The field was predicted on the
    stretched network input, so its vectors are stretched back by (width / W, height / H)
    to point the right way in the original image.

    Args:
        image: BGR uint8 (H, W, 3), or None to draw the arrows alone.
        pafs: float32 (h, w, 38) upsampled PAFs.
        limb: limb index 0..18 or name.
        step: field pixels between arrows (>= 1); None for about 25 arrows across the view.
        min_magnitude: hide arrows shorter than this.
        image_size: (width, height) when ``image`` is None.
        background_alpha: opacity of the PAF magnitude drawn under the arrows (0 = none).
        cmap: colormap of the arrows' magnitude.
        colorbar: add a colour bar for the magnitude.
        title: Axes title (default: the limb's name).
        zoom: (x0, y0, x1, y1) region to show in image pixels, or None for all.
        ax: Axes to draw into, or None for a new figure.

    Returns:
        The Axes.
    """
    k, px, py = _limb_components(pafs, limb)
    size = _image_size(image, image_size, px)
    H, W = px.shape
    sx, sy = size[0] / W, size[1] / H
    view = _view(size, zoom)
    if step is None:
        step = max(1, round((view[2] - view[0]) / sx / 25))
    step = int(step)
    if step < 1:
        raise ValueError(f"step must be >= 1, got {step}")
    ax = _new_axes(ax, _aspect(size, zoom))
    if image is not None:
        ax.imshow(to_rgb(image))
    mag = np.hypot(px, py)
    if background_alpha > 0:
        ax.imshow(
            mag, cmap="gray", vmin=0, vmax=1, alpha=background_alpha, extent=field_extent(mag.shape, size)
        )
    rows, cols = np.mgrid[0:H:step, 0:W:step]
    u, v, m = px[rows, cols] * sx, py[rows, cols] * sy, mag[rows, cols]
    xs, ys = cols * sx, rows * sy
    keep = (m >= min_magnitude) & (xs >= view[0]) & (xs <= view[2]) & (ys >= view[1]) & (ys <= view[3])
    # Arrows of PAF magnitude 1 are drawn ~0.9 * step field pixels long, in image pixels.
    length = np.hypot(u, v)
    norm = np.where(length > 0, m / np.maximum(length, 1e-9), 0) * 0.9 * step * min(sx, sy)
    q = ax.quiver(
        xs[keep],
        ys[keep],
        u[keep] * norm[keep],
        v[keep] * norm[keep],
        m[keep],
        cmap=cmap,
        clim=(0, 1),
        angles="xy",
        scale_units="xy",
        scale=1.0,
        width=0.0035,
        headwidth=4,
        headlength=4.5,
        headaxislength=4,
    )
    _set_view(ax, size, zoom)
    ax.set_aspect("equal")
    if colorbar:
        cb = ax.figure.colorbar(q, ax=ax, shrink=0.85, pad=0.02)
        cb.set_label("PAF magnitude")
    a, b = LIMBS[k, 0], LIMBS[k, 1]
    default = (
        f"PAF of limb {k}: {PART_NAMES[a]} -> {PART_NAMES[b]} "
        f"({int(keep.sum())} arrows, |PAF| >= {min_magnitude})"
    )
    _label_image_axes(ax, title if title is not None else default)
    return ax


def compare_stages(
    outputs: Sequence[np.ndarray],
    *,
    stages: Sequence[int] = (1, 6),
    channel: Channel = "max",
    limb: int | str | None = None,
    difference: bool = True,
    image: np.ndarray | None = None,
    alpha: float = 0.55,
    zoom: Box | None = None,
    fig=None,
):
    """Heatmaps and PAFs of several refinement stages side by side, plus their difference.

    Args:
        outputs: the network's stage outputs ``[heat_1, paf_1, ..., heat_6, paf_6]`` as
            ``load_model(..., all_stages=True)`` returns them, each (1, h, w, C) or (h, w, C).
        stages: 1-based stage numbers to show, one column each.
        channel: heatmap channel for the top row (index, part name or "max").
        limb: limb whose PAF magnitude fills the bottom row; None for the maximum
            magnitude over all 19 limbs.
        difference: add a last column with the last stage minus the first (red: the later
            stage is more confident there, blue: less), on a symmetric scale.
        image: optional BGR uint8 image drawn under the fields.
        alpha: field opacity over ``image``.
        zoom: (x0, y0, x1, y1) region to show in image pixels, or None for all.
        fig: Figure to fill, or None for a new one.

    Returns:
        The Figure: row 1 heatmaps, row 2 PAF magnitudes; one colour bar per row for the
        stages and one for the difference.
    """
    outputs = [np.asarray(o) for o in outputs]
    if len(outputs) % 2 or not outputs:
        raise ValueError(f"outputs must be [heat_1, paf_1, ..., heat_n, paf_n], got {len(outputs)} arrays")
    n = len(outputs) // 2
    stages = [int(s) for s in stages]
    bad = [s for s in stages if not 1 <= s <= n]
    if bad or not stages:
        raise ValueError(f"stages must be numbers in 1..{n}, got {list(stages)}")
    difference = difference and len(stages) > 1
    heats = [_check_field(outputs[2 * (s - 1)], NUM_HEATMAPS, f"heat_{s}") for s in stages]
    pafs = [_check_field(outputs[2 * (s - 1) + 1], NUM_PAFS, f"paf_{s}") for s in stages]
    size = _image_size(image, None, heats[0])
    ncols = len(stages) + int(difference)
    panel_h = (FIGURE_WIDTH - 1.4 * (1 + int(difference))) / ncols * _aspect(size, zoom)
    fig = _new_figure(fig, 2 * (panel_h + 0.4) + 0.6)
    axes = fig.subplots(2, ncols, squeeze=False)

    def magnitude(p: np.ndarray) -> np.ndarray:
        if limb is None:
            return np.hypot(p[:, :, LIMBS[:, 2]], p[:, :, LIMBS[:, 3]]).max(axis=2)
        _, x, y = _limb_components(p, limb)
        return np.hypot(x, y)

    paf_name = "max |PAF| over 19 limbs" if limb is None else f"|PAF| of {LIMB_NAMES[_limb_index(limb)]}"
    c = _part_index(channel)
    heat_name = "max of the part heatmaps" if c == "max" else f"{[*PART_NAMES, 'Background'][c]} heatmap"
    rows = [
        ([heatmap_channel(h, channel) for h in heats], HEATMAP_CMAP, heat_name, "heatmap value"),
        ([magnitude(p) for p in pafs], "viridis", paf_name, "PAF magnitude"),
    ]

    def panel(ax, field, cmap, vmin, vmax, title):
        if image is not None:
            ax.imshow(to_rgb(image))
        im = ax.imshow(
            field,
            cmap=cmap,
            vmin=vmin,
            vmax=vmax,
            alpha=alpha if image is not None else 1.0,
            extent=field_extent(field.shape, size),
            interpolation="nearest",
        )
        _set_view(ax, size, zoom)
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        return im

    for r, (fields, cmap, name, label) in enumerate(rows):
        vmax = max(1.0, max(float(f.max()) for f in fields)) if r else 1.0
        im = None
        for c, (s, field) in enumerate(zip(stages, fields)):
            im = panel(axes[r, c], field, cmap, 0, vmax, f"stage {s}: {name}")
        cb = fig.colorbar(im, ax=axes[r, : len(stages)], shrink=0.85, pad=0.01)
        cb.set_label(label)
        cb.solids.set_alpha(1.0)
        if difference:
            diff = fields[-1] - fields[0]
            lim = max(float(np.abs(diff).max()), 1e-6)
            im = panel(axes[r, -1], diff, PAF_CMAP, -lim, lim, f"stage {stages[-1]} - stage {stages[0]}")
            cb = fig.colorbar(im, ax=axes[r, -1], shrink=0.85, pad=0.01)
            cb.set_label("difference")
            cb.solids.set_alpha(1.0)
    fig.suptitle("Refinement stages: " + " vs ".join(f"stage {s}" for s in stages), fontsize=13)
    return fig


def peak_list(
    peaks: np.ndarray, *, threshold: float = 0.05, image_size: tuple[int, int] | None = None
) -> list[tuple[int, float, float, float]]:
    """The peaks above ``threshold`` as (part, x, y, smoothed value), parts 0..17, in image pixels.

    Args:
        peaks: float32 (h, w, 19), the smoothed heatmap kept at local maxima (``InferenceResult.peaks``).
        threshold: a peak needs a value above this (``PostprocessParams.heat_threshold``).
        image_size: (width, height) to map field pixels to (default: field pixels).
    """
    peaks = _check_field(peaks, NUM_HEATMAPS, "peaks")
    H, W = peaks.shape[:2]
    sx, sy = (image_size[0] / W, image_size[1] / H) if image_size else (1.0, 1.0)
    out = []
    for part in range(NUM_PARTS):
        rows, cols = np.nonzero(peaks[:, :, part] > threshold)
        for r, c in zip(rows.tolist(), cols.tolist()):
            out.append((part, c * sx, r * sy, float(peaks[r, c, part])))
    return out


def show_peaks(
    image: np.ndarray | None,
    peaks: np.ndarray,
    *,
    threshold: float = 0.05,
    parts: Sequence[int] | None = None,
    annotate: bool = False,
    legend: bool = True,
    title: str | None = None,
    image_size: tuple[int, int] | None = None,
    zoom: Box | None = None,
    ax=None,
):
    """Every part's peaks above ``threshold`` as coloured dots over the image, with a legend.

    Args:
        image: BGR uint8 (H, W, 3), or None to draw the dots only (onto ``ax``, in
            ``image_size`` coordinates).
        peaks: float32 (h, w, 19) (``InferenceResult.peaks``).
        threshold: the peak threshold (``PostprocessParams.heat_threshold``, 0.05 by default).
        parts: the parts to show (default all 18).
        annotate: write each peak's part index beside it.
        legend: add a legend of the parts and their peak counts.
        title: Axes title.
        image_size: (width, height) when ``image`` is None.
        zoom: (x0, y0, x1, y1) region to show in image pixels, or None for all.
        ax: Axes to draw into, or None for a new figure.

    Returns:
        The Axes.
    """
    size = _image_size(image, image_size, peaks)
    found = peak_list(peaks, threshold=threshold, image_size=size)
    wanted = set(range(NUM_PARTS) if parts is None else (int(p) for p in parts))
    found = [p for p in found if p[0] in wanted]
    if image is not None:
        ax = show_image(image, zoom=zoom, ax=ax)
    else:
        ax = _new_axes(ax, _aspect(size, zoom))
        _set_view(ax, size, zoom)
    for part in sorted(wanted):
        pts = [(x, y) for q, x, y, _ in found if q == part]
        if not pts:
            continue
        xs, ys = zip(*pts)
        ax.scatter(
            xs,
            ys,
            s=50,
            color=_rgb01(COLORS_BGR[part]),
            edgecolors="black",
            linewidths=0.8,
            label=f"{part} {PART_NAMES[part]} ({len(pts)})",
            zorder=3,
        )
        if annotate:
            for x, y in pts:
                ax.annotate(
                    str(part),
                    (x, y),
                    xytext=(4, -4),
                    textcoords="offset points",
                    fontsize=8,
                    color="white",
                    bbox={"boxstyle": "round,pad=0.1", "fc": "black", "alpha": 0.5, "lw": 0},
                )
    if found and legend:
        ax.legend(
            loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, title="part (peaks)", borderaxespad=0
        )
    default = f"{len(found)} peaks above {threshold:g} (smoothed heatmap local maxima)"
    _label_image_axes(ax, title if title is not None else default)
    return ax


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


def plot_keypoints_scatter(
    image: np.ndarray | None,
    people,
    *,
    annotate: bool = True,
    title: str | None = None,
    image_size: tuple[int, int] | None = None,
    zoom: Box | None = None,
    ax=None,
):
    """The found keypoints as dots coloured by part, each labelled with its part index.

    Args:
        image: BGR uint8 (H, W, 3), or None for a blank plot of ``image_size``.
        people: list of Person, an InferenceResult, or keypoints (N, 18, 3).
        annotate: write the part index (0..17) beside every keypoint.
        title: Axes title.
        image_size: (width, height) when ``image`` is None.
        zoom: (x0, y0, x1, y1) region to show in image pixels, or None for all.
        ax: Axes to draw into, or None for a new figure.

    Returns:
        The Axes.
    """
    people = _people_list(people)
    ax = _image_or_canvas(image, image_size, zoom, ax)
    n = 0
    for person in people:
        for i in np.flatnonzero(person.present):
            x, y, _ = person.keypoints[i]
            ax.scatter(
                [x], [y], s=40, color=_rgb01(COLORS_BGR[i]), edgecolors="black", linewidths=0.6, zorder=3
            )
            n += 1
            if annotate:
                ax.annotate(
                    str(i),
                    (x, y),
                    xytext=(4, 3),
                    textcoords="offset points",
                    fontsize=9,
                    color="black",
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "alpha": 0.75, "lw": 0},
                )
    default = f"{n} keypoints of {_people(len(people))}, labelled with their part index"
    _label_image_axes(ax, title if title is not None else default)
    return ax


def plot_people(
    image: np.ndarray | None,
    people,
    *,
    limbs: Sequence[int] = RENDER_LIMBS,
    title: str | None = None,
    linewidth: float = 2.5,
    highlight: int | None = None,
    legend: bool = True,
    image_size: tuple[int, int] | None = None,
    zoom: Box | None = None,
    ax=None,
):
    """Each person's skeleton in one colour, with a legend naming the people.

    Colours are ``posekit.draw.person_color`` of the person's id (or list index when
    untracked), so they match ``draw_people(..., color_by_person=True)``.

    Args:
        image: BGR uint8 (H, W, 3), or None to draw the skeletons only (onto ``ax``, in
            ``image_size`` coordinates).
        people: list of Person or an InferenceResult.
        limbs: the limbs to draw (default: all but the two shoulder-ear limbs).
        title: Axes title.
        linewidth: limb line width in points.
        highlight: list index of a person to draw twice as thick.
        legend: add a legend naming the people.
        image_size: (width, height) when ``image`` is None.
        zoom: (x0, y0, x1, y1) region to show in image pixels, or None for all.
        ax: Axes to draw into, or None for a new figure.

    Returns:
        The Axes.
    """
    from .draw import person_color

    people = _people_list(people)
    ax = _image_or_canvas(image, image_size, zoom, ax)
    for index, person in enumerate(people):
        pid = person.person_id if person.person_id >= 0 else index
        color = _rgb01(person_color(pid))
        kp = person.keypoints
        lw = linewidth * (2 if index == highlight else 1)
        for k in limbs:
            a, b = LIMBS[int(k), 0], LIMBS[int(k), 1]
            if person.present[a] and person.present[b]:
                ax.plot(
                    [kp[a, 0], kp[b, 0]],
                    [kp[a, 1], kp[b, 1]],
                    color=color,
                    lw=lw,
                    solid_capstyle="round",
                    zorder=2,
                )
        drawn = np.zeros(NUM_PARTS, bool)
        drawn[LIMBS[[int(k) for k in limbs], :2].ravel()] = True
        pts = kp[person.present & drawn]
        name = f"person {person.person_id}" if person.person_id >= 0 else f"person {index}"
        ax.scatter(
            pts[:, 0],
            pts[:, 1],
            s=28,
            color=color,
            edgecolors="black",
            linewidths=0.7,
            zorder=3,
            label=f"{name}: {person.num_parts}/18 parts, score {person.score:.2f}",
        )
    if people and legend:
        ax.legend(loc="best", fontsize=9, framealpha=0.85)
    _label_image_axes(ax, title if title is not None else f"{_people(len(people))}, one colour each")
    return ax


class Table:
    """A small table that prints as aligned text and shows as HTML in Jupyter.

    Attributes:
        columns: column names.
        rows: list of row tuples (numbers or strings; NaN shows as "-").
        caption: optional caption.
    """

    def __init__(self, columns: Sequence[str], rows: Iterable[Sequence[Any]], caption: str = "") -> None:
        self.columns = list(columns)
        self.rows = [tuple(r) for r in rows]
        self.caption = caption

    @staticmethod
    def _cell(v: Any) -> str:
        if isinstance(v, float):
            return "-" if math.isnan(v) else f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"
        return str(v)

    def __len__(self) -> int:
        return len(self.rows)

    def __str__(self) -> str:
        cells = [self.columns] + [[self._cell(v) for v in r] for r in self.rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(self.columns))]
        lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in cells]
        lines.insert(1, "  ".join("-" * w for w in widths))
        if self.caption:
            lines.insert(0, self.caption)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def to_html(self) -> str:
        """The table as an HTML ``<table>``."""
        esc = html.escape
        head = "".join(f"<th style='text-align:right;padding:2px 8px'>{esc(c)}</th>" for c in self.columns)
        body = "".join(
            "<tr>"
            + "".join(f"<td style='text-align:right;padding:2px 8px'>{esc(self._cell(v))}</td>" for v in r)
            + "</tr>"
            for r in self.rows
        )
        cap = (
            f"<caption style='caption-side:top;text-align:left'>{esc(self.caption)}</caption>"
            if self.caption
            else ""
        )
        style = "border-collapse:collapse;font-family:monospace"
        return f"<table style='{style}'>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def _repr_html_(self) -> str:
        return self.to_html()


def keypoints_table(people, *, missing: bool = True) -> Table:
    """A person's keypoints (or several people's) as a table of part, x, y, score.

    Args:
        people: one Person (18 rows, one per part), or a list of Person / an
            InferenceResult / an (N, 18, 3) array (one row per person and part, with a
            ``person`` column: the person_id when tracked, else the list index).
        missing: include missing parts (shown as "-"); False keeps only the found ones.

    Returns:
        A ``Table``; ``.rows`` holds tuples (part index, part name, x, y, score) with a
        leading person index for several people.
    """
    if isinstance(people, Person):
        rows = [
            (i, PART_NAMES[i], float(x), float(y), float(s))
            for i, (x, y, s) in enumerate(people.keypoints.tolist())
            if missing or s > 0
        ]
        cap = f"{people.num_parts}/18 parts found, person score {people.score:.2f}"
        return Table(["part", "name", "x", "y", "score"], rows, cap)
    plist = _people_list(people)
    rows = []
    for n, p in enumerate(plist):
        who = p.person_id if p.person_id >= 0 else n
        for i, (x, y, s) in enumerate(p.keypoints.tolist()):
            if missing or s > 0:
                rows.append((who, i, PART_NAMES[i], float(x), float(y), float(s)))
    return Table(["person", "part", "name", "x", "y", "score"], rows, _people(len(plist)))


_TIMING_LABELS = {
    "preprocess": "preprocess (stretch to input size)",
    "network": "network (CNN forward pass)",
    "postprocess": "upsample + smooth + peaks",
    "paf": "PAF grouping into people",
}


def plot_timings(
    timings: Mapping[str, float] | Sequence[Mapping[str, float]], *, title: str | None = None, ax=None
):
    """Where the time goes: a horizontal bar per stage in milliseconds.

    Args:
        timings: one ``InferenceResult.timings`` dict, or a list of them (e.g. one per
            video frame): bars then show the median, with a whisker from the 10th to the
            90th percentile. The "total" key is shown in the title, not as a bar.
        title: Axes title.
        ax: Axes to draw into, or None for a new figure.

    Returns:
        The Axes.
    """
    many = not isinstance(timings, Mapping)
    runs = list(timings) if many else [timings]
    if not runs:
        raise ValueError("timings is empty")
    stages = [k for k in runs[0] if k != "total"]
    values = np.array([[float(r[k]) for k in stages] for r in runs])
    med = np.median(values, axis=0)
    ax = _new_axes(ax, 0.0, extra_height=0.5 * len(stages) + 1.0)
    labels = [_TIMING_LABELS.get(k, k) for k in stages]
    ypos = np.arange(len(stages))[::-1]
    hi = med
    if many and len(runs) > 1:
        lo, hi = np.percentile(values, 10, axis=0), np.percentile(values, 90, axis=0)
        ax.barh(ypos, med, xerr=[med - lo, hi - med], color="#4363d8", capsize=4)
    else:
        ax.barh(ypos, med, color="#4363d8")
    ax.set_yticks(ypos, labels)
    total = np.median([float(r.get("total", sum(r[k] for k in stages))) for r in runs])
    pad = 0.01 * float(hi.max())
    for y, v, right in zip(ypos, med, hi):
        ax.text(right + pad, y, f" {v:.1f} ms ({100 * v / total:.0f}%)", va="center", fontsize=10)
    ax.set_xlim(0, float(hi.max()) * 1.35)
    ax.set_xlabel("milliseconds" + (" (median over runs, whiskers 10th-90th percentile)" if many else ""))
    what = f"median of {len(runs)} runs" if many else "one image"
    ax.set_title(
        title
        if title is not None
        else f"Where the time goes ({what}): total {total:.0f} ms = {1000 / total:.1f} FPS"
    )
    return ax


def _frames(frames) -> list[tuple[int, list[Person]]]:
    """Normalise per-frame people into [(frame_index, people)]."""
    out = []
    items = frames.items() if isinstance(frames, Mapping) else enumerate(frames)
    for i, item in items:
        if isinstance(item, tuple) and len(item) == 2 and not isinstance(item[0], Person):
            idx, people = item
        else:
            idx, people = i, item
        out.append((int(idx), _people_list(people)))
    return out


def plot_trajectories(
    frames,
    part: int | str = "Nose",
    *,
    image: np.ndarray | None = None,
    image_size: tuple[int, int] | None = None,
    fps: float | None = None,
    fig=None,
):
    """One keypoint's path per person over time: in the image plane and as x(t), y(t).

    Args:
        frames: per-frame people, as a list whose item i is frame i's people (list of
            Person or InferenceResult), a list of (frame_index, people) pairs, or a dict
            {frame_index: people}. People are told apart by ``person_id`` (set by
            tracking); untracked people (id -1) fall back to their index in the frame.
        part: part index 0..17 or name, e.g. "Nose" or "RWrist".
        image: optional BGR uint8 frame to draw the paths over (e.g. the first frame).
        image_size: (width, height) of the frames when ``image`` is None.
        fps: frames per second, to label the time axis in seconds instead of frames.
        fig: Figure to fill, or None for a new one.

    Returns:
        The Figure: left the paths in image pixels (a dot marks each start), right x
        (top) and y (bottom, downwards as in the image) over time, one colour per person.
    """
    from .draw import person_color

    p = _part_index(part)
    if p == "max" or p == NUM_PARTS:
        raise ValueError(f"part must be one of the 18 keypoints, got {part!r}")
    data = _frames(frames)
    tracks: dict[int, list[tuple[int, float, float]]] = {}
    for idx, people in data:
        for n, person in enumerate(people):
            if person.present[p]:
                pid = person.person_id if person.person_id >= 0 else n
                x, y, _ = person.keypoints[p]
                tracks.setdefault(pid, []).append((idx, float(x), float(y)))
    fig = _new_figure(fig, 5.5)
    grid = fig.add_gridspec(2, 2, width_ratios=[1.15, 1])
    ax_path = fig.add_subplot(grid[:, 0])
    ax_x = fig.add_subplot(grid[0, 1])
    ax_y = fig.add_subplot(grid[1, 1], sharex=ax_x)
    if image is not None:
        ax_path.imshow(to_rgb(image))
        width, height = image.shape[1], image.shape[0]
    elif image_size is not None:
        width, height = image_size
    else:
        pts = [(x, y) for t in tracks.values() for _, x, y in t] or [(1.0, 1.0)]
        width, height = max(x for x, _ in pts) * 1.05, max(y for _, y in pts) * 1.05
    ax_path.set_xlim(0, width)
    ax_path.set_ylim(height, 0)
    ax_path.set_aspect("equal")
    for pid in sorted(tracks):
        arr = np.array(tracks[pid])
        color = _rgb01(person_color(pid))
        t = arr[:, 0] / fps if fps else arr[:, 0]
        ax_path.plot(arr[:, 1], arr[:, 2], "-", color=color, lw=2, label=f"person {pid} ({len(arr)} frames)")
        ax_path.scatter(arr[:1, 1], arr[:1, 2], s=40, color=color, edgecolors="black", zorder=3)
        ax_x.plot(t, arr[:, 1], ".-", color=color, lw=2, ms=4)
        ax_y.plot(t, arr[:, 2], ".-", color=color, lw=2, ms=4)
    name = PART_NAMES[p]
    _label_image_axes(ax_path, f"{name} path per person")
    ax_x.set_title(f"{name} x and y over time")
    ax_x.set_ylabel("x (image pixels)")
    ax_y.set_ylabel("y (image pixels)")
    ax_y.invert_yaxis()  # as in the image: up is up
    ax_y.set_xlabel("time (s)" if fps else "frame index")
    ax_x.tick_params(labelbottom=False)
    for ax in (ax_x, ax_y):
        ax.grid(alpha=0.3)
    if tracks:
        ax_path.legend(loc="upper left", fontsize=9)
    fig.suptitle(f"Trajectory of the {name} ({_people(len(tracks))}, {len(data)} frames)", fontsize=13)
    return fig


# --------------------------------------------------------------------------- comparing models


def _skeleton_lines(
    ax, person: Person, color, limbs: Sequence[int], linewidth: float, linestyle: str = "-"
) -> None:
    """One person's limbs and keypoints in a single colour."""
    kp = person.keypoints
    for k in limbs:
        a, b = LIMBS[int(k), 0], LIMBS[int(k), 1]
        if person.present[a] and person.present[b]:
            ax.plot(
                [kp[a, 0], kp[b, 0]], [kp[a, 1], kp[b, 1]], color=color, lw=linewidth, ls=linestyle, zorder=2
            )
    pts = kp[person.present]
    ax.scatter(pts[:, 0], pts[:, 1], s=16, color=color, edgecolors="black", linewidths=0.5, zorder=3)


#: colours of the models in the overlay column of ``plot_models_side_by_side``
MODEL_COLORS = ("#e6194b", "#4363d8", "#3cb44b", "#f58231", "#911eb4", "#42d4f4")


def plot_models_side_by_side(
    images,
    results: Mapping[str, Sequence[Any]],
    *,
    zoom: bool = True,
    overlay: bool = True,
    limbs: Sequence[int] = RENDER_LIMBS,
    linewidth: float = 2.0,
    fig=None,
):
    """The same images under several models: one row per image, one column per model.

    Args:
        images: BGR uint8 images (H, W, 3), as a list or a {name: image} mapping (names label the rows).
        results: {model label: one entry per image}, each entry a list of Person or an InferenceResult.
        zoom: zoom each row on the people all models found together (``people_box`` of their union),
            the same region in every column; False shows whole images.
        overlay: add a last column with every model's skeletons on the image, one colour per model
            (``MODEL_COLORS`` in the order of ``results``), to see where the keypoints differ.
        limbs: the limbs to draw.
        linewidth: limb line width in points.
        fig: Figure to fill, or None for a new one.

    Returns:
        The Figure. In the model columns each person has its own colour (by list index, as
        ``plot_people``); the title gives the people count and each person's number of parts.
    """
    if isinstance(images, Mapping):
        names, imgs = list(images), list(images.values())
    else:
        imgs = list(images)
        names = [f"image {i}" for i in range(len(imgs))]
    labels = list(results)
    if not labels:
        raise ValueError("results is empty: give at least one model's people")
    people = {m: [_people_list(r) for r in results[m]] for m in labels}
    for m in labels:
        if len(people[m]) != len(imgs):
            raise ValueError(f"results[{m!r}] has {len(people[m])} entries for {len(imgs)} images")
    ncols = len(labels) + (1 if overlay and len(labels) > 1 else 0)
    views = []
    for i, img in enumerate(imgs):
        size = (int(img.shape[1]), int(img.shape[0]))
        box = people_box([p for m in labels for p in people[m][i]], image_size=size) if zoom else None
        views.append((size, box))
    col_width = min(FIGURE_WIDTH / ncols, 5.0) if ncols > 1 else 6.0
    heights = [col_width * _aspect(size, box) + 0.55 for size, box in views]
    if fig is None:
        plt = _pyplot()
        fig = plt.figure(figsize=(col_width * ncols + 0.4, sum(heights)), layout="constrained")
    else:
        fig.clear()
    axes = fig.subplots(len(imgs), ncols, squeeze=False, gridspec_kw={"height_ratios": heights})
    for i, img in enumerate(imgs):
        size, box = views[i]
        for j, m in enumerate(labels):
            ax = axes[i, j]
            found = people[m][i]
            plot_people(img, found, limbs=limbs, linewidth=linewidth, legend=False, zoom=box, ax=ax)
            parts = ", ".join(str(p.num_parts) for p in found)
            second = f"parts per person: {parts}" if found else " "
            ax.set_title(f"{m}: {_people(len(found))}\n{second}", fontsize=10)
        if ncols > len(labels):
            ax = show_image(img, zoom=box, ax=axes[i, -1])
            for j, m in enumerate(labels):
                color = MODEL_COLORS[j % len(MODEL_COLORS)]
                for p in people[m][i]:
                    _skeleton_lines(ax, p, color, limbs, linewidth, "-" if j == 0 else "--")
            line = _mpl().lines.Line2D
            handles = [
                line([], [], color=MODEL_COLORS[j % len(MODEL_COLORS)], lw=2, ls="-" if j == 0 else "--")
                for j in range(len(labels))
            ]
            ax.legend(handles, labels, loc="best", fontsize=8, framealpha=0.85)
            ax.set_title("all models, one colour each\n ", fontsize=10)
        for j in range(ncols):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel("")
            ax.set_ylabel(names[i] if j == 0 else "", fontsize=11)
    return fig


def people_distance_table(
    reference, other, *, min_shared: int = 3, names: tuple[str, str] = ("a", "b")
) -> Table:
    """Match two detections of one image person to person and measure how far apart their keypoints lie.

    People are paired greedily, closest first, by their mean keypoint distance over the parts both
    found; a pair needs ``min_shared`` such parts.

    Args:
        reference: the people of one model (list of Person, InferenceResult or (N, 18, 3) keypoints).
        other: the people of the other model on the same image, same coordinates (image pixels).
        min_shared: fewest common parts for two people to be matched.
        names: short names of the two models for the column headings.

    Returns:
        A ``Table`` with a row per matched pair: (person in ``reference``, person in ``other``,
        parts found by both, only by the first, only by the second, median and maximum distance in
        image pixels, the part at the maximum); then a row per unmatched person, with "-" for the
        other side and NaN distances.
    """
    a, b = _people_list(reference), _people_list(other)
    pairs = []
    for i, pa in enumerate(a):
        for j, pb in enumerate(b):
            both = pa.present & pb.present
            if both.sum() >= min_shared:
                d = np.hypot(*(pa.keypoints[both, :2] - pb.keypoints[both, :2]).T)
                pairs.append((float(d.mean()), i, j))
    used_a, used_b, rows = set(), set(), []
    for _, i, j in sorted(pairs):
        if i in used_a or j in used_b:
            continue
        used_a.add(i)
        used_b.add(j)
        pa, pb = a[i], b[j]
        both = pa.present & pb.present
        d = np.full(NUM_PARTS, np.nan)
        d[both] = np.hypot(*(pa.keypoints[both, :2] - pb.keypoints[both, :2]).T)
        worst = int(np.nanargmax(d))
        only_a, only_b = int((pa.present & ~pb.present).sum()), int((pb.present & ~pa.present).sum())
        median, worst_d = float(np.nanmedian(d)), float(d[worst])
        rows.append((i, j, int(both.sum()), only_a, only_b, median, worst_d, PART_NAMES[worst]))
    nan = math.nan
    rows += [(i, "-", 0, a[i].num_parts, 0, nan, nan, "-") for i in range(len(a)) if i not in used_a]
    rows += [("-", j, 0, 0, b[j].num_parts, nan, nan, "-") for j in range(len(b)) if j not in used_b]
    na, nb = names
    columns = [
        f"person ({na})", f"person ({nb})", "parts in both", f"only {na}", f"only {nb}",
        "median dist (px)", "max dist (px)", "part at max",
    ]  # fmt: skip
    unmatched_a, unmatched_b = len(a) - len(used_a), len(b) - len(used_b)
    caption = f"{len(used_a)} matched, {unmatched_a} only in {na}, {unmatched_b} only in {nb}"
    return Table(columns, rows, caption)


def plot_speed_comparison(
    timings: Mapping[str, Sequence[Mapping[str, float]]], *, title: str | None = None, ax=None
):
    """Milliseconds per image of several models or settings: one stacked bar each, split by stage.

    Args:
        timings: {label: list of ``InferenceResult.timings`` dicts} (several runs each); every
            segment is that stage's median over the runs.
        title: Axes title.
        ax: Axes to draw into, or None for a new figure.

    Returns:
        The Axes; each bar is labelled with the median of the runs' totals (which may differ a little from
        the sum of the stage medians) and the frames per second it allows.
    """
    labels = list(timings)
    if not labels or any(len(timings[k]) == 0 for k in labels):
        raise ValueError("timings needs at least one run per label")
    stages = [k for k in timings[labels[0]][0] if k != "total"]
    med = np.array([[np.median([float(r[s]) for r in timings[k]]) for s in stages] for k in labels])
    totals = [
        float(np.median([float(r["total"]) if "total" in r else sum(r[s] for s in stages) for r in runs]))
        for runs in timings.values()
    ]
    ax = _new_axes(ax, 0.0, extra_height=0.55 * len(labels) + 1.6)
    ypos = np.arange(len(labels))[::-1]
    left = np.zeros(len(labels))
    stage_colors = ("#a9a9a9", "#4363d8", "#f58231", "#3cb44b", "#911eb4", "#42d4f4")
    for s, stage in enumerate(stages):
        color = stage_colors[s % len(stage_colors)]
        ax.barh(ypos, med[:, s], left=left, color=color, label=_TIMING_LABELS.get(stage, stage))
        left += med[:, s]
    right = float(max(left))
    for y, end, total in zip(ypos, left, totals):
        label = f" total {total:.0f} ms = {1000 / total:.1f} FPS"
        ax.text(end + 0.01 * right, y, label, va="center", fontsize=10)
    ax.set_yticks(ypos, labels)
    ax.set_xlim(0, right * 1.35)
    ax.set_xlabel("milliseconds per image (median of each stage over the runs)")
    below = _mpl().transforms.offset_copy(ax.transAxes, fig=ax.figure, y=-0.5, units="inches")
    ax.legend(
        loc="upper center", bbox_to_anchor=(0.5, 0.0), bbox_transform=below, ncol=min(len(stages), 4),
        fontsize=8, frameon=False,
    )  # fmt: skip
    ax.set_title(title if title is not None else "Time per image by stage (medians over the runs)")
    return ax
