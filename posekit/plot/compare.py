"""Two or more models' people on the same images, side by side."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..person import Person
from ..quantise import range_levels
from ..skeleton import LIMBS, RENDER_LIMBS
from ._base import FIGURE_WIDTH, _aspect, _mpl, _people, _people_list, _pyplot, people_box, show_image
from .people import plot_people


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
            (``MODEL_COLORS`` in the order of ``results``), to see where the keypoints differ; its title
            names the labels (models, modes or settings alike) and its legend sits under the image.
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
            ax.legend(  # under the image, never over a skeleton
                handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(len(labels), 2),
                fontsize=8, frameon=False,
            )  # fmt: skip
            ax.set_title(f"{' and '.join(labels)} together\none colour each", fontsize=10)
        for j in range(ncols):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel("")
            ax.set_ylabel(names[i] if j == 0 else "", fontsize=11)
    return fig


def plot_channel_ranges(ranges: Mapping[str, Any], *, title: str | None = None, fig=None):
    """Per-channel activation ranges of one tensor, each set sorted and divided by its largest, on a log axis.

    ``ranges``: label -> (C,) largest absolute value of each channel (``posekit.quantise.channel_ranges``),
    e.g. before and after equalisation. With one int8 scale for the whole tensor, a channel spanning a
    fraction f of the largest range gets about 255 f levels: the dotted lines mark 16 levels and 1 level.
    Returns the figure.
    """
    import numpy as np

    plt = _pyplot()
    if not ranges:
        raise ValueError("ranges is empty: give at least one label -> per-channel ranges")
    fig = fig or plt.figure(figsize=(FIGURE_WIDTH, 3.6))
    ax = fig.add_subplot(1, 1, 1)
    for i, (label, r) in enumerate(ranges.items()):
        r = np.asarray(r, np.float64).ravel()
        if r.size == 0 or not np.isfinite(r).all() or r.max() <= 0:
            raise ValueError(f"ranges[{label!r}] must be finite, non-empty and not all zero")
        share = np.sort(r)[::-1] / r.max()
        spread, few = range_levels(r)
        ax.plot(
            np.arange(1, r.size + 1),
            share,
            color=MODEL_COLORS[i % len(MODEL_COLORS)],
            lw=2,
            label=f"{label}: largest / median {spread:.0f}x, {few} of {r.size} under 16 levels",
        )
    for levels, style in ((16, ":"), (1, "--")):
        ax.axhline(levels / 255, color="grey", ls=style, lw=1)
        ax.text(1, levels / 255, f" {levels} level{'s' if levels > 1 else ''}", va="bottom", fontsize=8)
    ax.set_yscale("log")
    ax.set_xlabel("channels, widest first")
    ax.set_ylabel("range / the widest channel's")
    ax.legend(loc="lower left", fontsize=9)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
