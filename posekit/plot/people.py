"""Views of the people found: keypoints, skeletons, trajectories over frames."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..person import Person
from ..skeleton import LIMBS, NUM_PARTS, PART_NAMES, RENDER_LIMBS
from ._base import (
    Box,
    _image_or_canvas,
    _label_image_axes,
    _mpl,
    _new_figure,
    _part_index,
    _part_rgb,
    _people,
    _people_list,
    _person_rgb,
    to_rgb,
)


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
            ax.scatter([x], [y], s=40, color=_part_rgb(i), edgecolors="black", linewidths=0.6, zorder=3)
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

    Colours are ``DEFAULT_SPEC.person_color`` of the person's id (or list index when
    untracked), so they match ``draw_people`` with a ``DrawingSpec(color_by_person=True)``.

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
    people = _people_list(people)
    ax = _image_or_canvas(image, image_size, zoom, ax)
    for index, person in enumerate(people):
        color = _person_rgb(person, index)
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
    if people and legend:  # under the image and its x label, never over a person
        below = _mpl().transforms.offset_copy(ax.transAxes, fig=ax.figure, y=-0.45, units="inches")
        ax.legend(
            loc="upper center", bbox_to_anchor=(0.5, 0.0), bbox_transform=below, ncol=min(len(people), 2),
            fontsize=9, frameon=False,
        )  # fmt: skip
    _label_image_axes(ax, title if title is not None else f"{_people(len(people))}, one colour each")
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
        color = _person_rgb(pid)
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
    if tracks:  # at the foot of the figure, never over a path (constrained layout makes room)
        fig.legend(
            *ax_path.get_legend_handles_labels(), loc="outside lower center", ncol=min(len(tracks), 5),
            fontsize=9, frameon=False,
        )  # fmt: skip
    fig.suptitle(f"Trajectory of the {name} ({_people(len(tracks))}, {len(data)} frames)", fontsize=13)
    return fig
