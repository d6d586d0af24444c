"""``PoseExplorer``: heatmaps, PAFs, peaks and people of an image, with controls that re-run the grouping."""

from __future__ import annotations

import dataclasses
import io
import os
import time
from collections.abc import Mapping, Sequence

import numpy as np

from ..person import InferenceResult, Person
from ..preprocess import DEFAULT_UPSAMPLE
from ..skeleton import LIMBS, NUM_PARTS, PART_NAMES, RENDER_LIMBS
from ._common import ImageSource, _count, _ipywidgets, _read, channel_options
from ._still import still_bundle


class PoseExplorer:
    """Interactive heatmap / PAF / peaks / people explorer for Jupyter.

    Example:
        >>> explorer = PoseExplorer(estimator, {"person": "../images/person.jpg"})
        >>> explorer            # shows the UI in a notebook
        >>> explorer.channel.value = ("heatmap", 4)   # RWrist heatmap
        >>> explorer.current_array is explorer.result.heatmaps[..., 4]

    The network runs once per image (results are cached); moving the threshold slider
    re-runs only peak finding and PAF grouping on the stored fields
    (``posekit.postprocess.fields_to_people``).

    Args:
        estimator: a ``PoseEstimator``.
        images: {name: image path or BGR uint8 array}, or a sequence of paths (named by file name).
        upsample: upsample factor passed to ``estimator.inference``.
        params: post-processing parameters to start from (default: the estimator's).
        figure_width: rendered figure width in inches (at 80 dpi).

    Attributes:
        image, channel, opacity, threshold, show_people, zoom, person: the controls
            (ipywidgets Dropdown / FloatSlider / Checkbox); set ``.value`` to drive them.
        view: ``ipywidgets.Image`` holding the rendered PNG.
        table: ``ipywidgets.HTML`` with the chosen person's keypoints.
        status: ``ipywidgets.HTML`` summary line.
        ui: the whole ``ipywidgets.VBox``.
        bgr: the current image; result: its ``InferenceResult`` at the estimator's params.
        people: the people at the current threshold.
        peaks: the peaks at the current threshold.
        current_kind ("heatmap" | "paf"), current_index (int or "max"), current_title,
        current_array: what is displayed: the (H, W) heatmap channel (or max), or the limb's
            (H, W, 2) PAF x, y components.
        renders: number of renders so far.
    """

    def __init__(
        self,
        estimator,
        images: Mapping[str, ImageSource] | Sequence[ImageSource],
        *,
        upsample: float = DEFAULT_UPSAMPLE,
        params=None,
        figure_width: float = 9.0,
    ) -> None:
        w = _ipywidgets()
        if not isinstance(images, Mapping):
            images = {
                os.path.basename(os.fspath(p)) if not isinstance(p, np.ndarray) else f"image {i}": p
                for i, p in enumerate(images)
            }
        if not images:
            raise ValueError("images must name at least one image")
        self.estimator = estimator
        self.upsample = float(upsample)
        self.params = params if params is not None else estimator.params
        self.figure_width = float(figure_width)
        self._sources = dict(images)
        self._cache: dict[str, tuple[np.ndarray, InferenceResult]] = {}
        self.renders = 0
        self._quiet = False
        self.current_kind = "heatmap"
        self.current_index: int | str = "max"
        self.current_title = ""
        self.current_array: np.ndarray | None = None
        self.people: list[Person] = []
        self.peaks: np.ndarray | None = None

        style = {"description_width": "120px"}  # "Overlay opacity" whole, in Lab and Notebook 7
        wide = w.Layout(width="340px")
        self.image = w.Dropdown(options=list(self._sources), description="Image", style=style, layout=wide)
        self.channel = w.Dropdown(
            options=channel_options(), value=("heatmap", "max"), description="Show", style=style, layout=wide
        )
        self.opacity = w.FloatSlider(
            value=0.5, min=0.0, max=1.0, step=0.05, description="Overlay opacity", style=style, layout=wide
        )
        self.threshold = w.FloatSlider(
            value=float(self.params.heat_threshold),
            min=0.01,
            max=0.6,
            step=0.01,
            readout_format=".2f",
            description="Peak threshold",
            style=style,
            layout=wide,
            continuous_update=False,
        )
        self.show_people = w.Checkbox(value=True, description="Draw skeletons", indent=False)
        self.zoom = w.Checkbox(value=False, description="Zoom to the person", indent=False)
        self.person = w.Dropdown(options=[], description="Person", style=style, layout=wide)
        self.table = w.HTML()
        self.status = w.HTML(layout=w.Layout(width="340px"))
        # The figure sits right of the controls so both are on screen together; the person's
        # keypoint table (18 rows) is folded away in an accordion under the controls.
        self.view = w.Image(
            format="png",
            layout=w.Layout(width="auto", max_width=f"{int(self.figure_width * 80)}px", flex="1 1 0%",
                            min_width="320px", max_height="72vh", object_fit="contain"),
        )  # fmt: skip
        self.table_box = w.Accordion(
            children=[self.table], selected_index=None, layout=w.Layout(width="340px")
        )
        self.table_box.set_title(0, "Keypoints of the person")
        controls = w.VBox(
            [
                self.image,
                self.channel,
                self.opacity,
                self.threshold,
                w.HBox([self.show_people, self.zoom]),
                self.person,
                self.status,
                self.table_box,
            ],
            layout=w.Layout(width="350px", flex="0 0 350px"),
        )
        self.ui = w.HBox(
            [controls, self.view], layout=w.Layout(flex_flow="row", align_items="flex-start", width="100%")
        )
        # CSS classes name the parts for the browser tests (and for users' own styling)
        self.ui.add_class("posekit-explorer")
        self.view.add_class("posekit-explorer-view")

        self._load()
        self._regroup()
        self.render()
        self.image.observe(self._on_image, names="value")
        self.threshold.observe(self._on_threshold, names="value")
        self.person.observe(self._on_person, names="value")
        for control in (self.channel, self.opacity, self.show_people, self.zoom):
            control.observe(lambda change: self.render(), names="value")

    # ------------------------------------------------------------------ state

    @property
    def bgr(self) -> np.ndarray:
        """The current image, BGR uint8 (H, W, 3)."""
        return self._cache[self.image.value][0]

    @property
    def result(self) -> InferenceResult:
        """The current image's InferenceResult (network fields, people at the estimator's params)."""
        return self._cache[self.image.value][1]

    @property
    def current_params(self):
        """The post-processing params in use: ``params`` with the slider's heat_threshold."""
        return dataclasses.replace(self.params, heat_threshold=float(self.threshold.value))

    def select(self, *, channel: int | str | None = None, limb: int | None = None) -> None:
        """Show a heatmap channel (0..18 or "max") or a limb's PAF (0..18)."""
        if (channel is None) == (limb is None):
            raise ValueError("give exactly one of channel= or limb=")
        self.channel.value = ("heatmap", channel) if limb is None else ("paf", int(limb))

    def _load(self) -> None:
        name = self.image.value
        if name not in self._cache:
            bgr = _read(self._sources[name])
            self._cache[name] = (bgr, self.estimator.inference(bgr, upsample=self.upsample))

    def _regroup(self) -> None:
        from ..plot._base import _people
        from ..postprocess import fields_to_people

        r = self.result
        t0 = time.perf_counter()
        self.people, self.peaks, _ = fields_to_people(
            r.heatmaps,
            r.pafs,
            r.image_size,
            params=self.current_params,
            paf_backend=self.estimator.paf_backend,
        )
        ms = (time.perf_counter() - t0) * 1e3
        n_peaks = int((self.peaks[:, :, :NUM_PARTS] > self.threshold.value).sum())
        self.status.value = (
            f"<b>{_people(len(self.people))}</b> from {_count(n_peaks, 'peak')} "
            f"above {self.threshold.value:.2f} "
            f"(peaks + grouping re-run in {ms:.0f} ms; "
            f"network {r.timings['network']:.0f} ms, run once per image)"
        )
        opts = [
            (f"person {i}: {p.num_parts}/18 parts, score {p.score:.2f}", i) for i, p in enumerate(self.people)
        ]
        self._quiet = True  # the person list changes: no re-render per intermediate value
        try:
            self.person.options = opts
            self.person.value = 0 if opts else None
        finally:
            self._quiet = False
        self._update_table()

    def _update_table(self) -> None:
        from ..plot import keypoints_table

        i = self.person.value
        if i is None or not self.people:
            self.table.value = "<i>No person found at this threshold.</i>"
        else:
            self.table.value = keypoints_table(self.people[i]).to_html()

    # ------------------------------------------------------------------ events

    def _on_image(self, change) -> None:
        self._load()
        self._regroup()
        self.render()

    def _on_threshold(self, change) -> None:
        self._regroup()
        self.render()

    def _on_person(self, change) -> None:
        if self._quiet:
            return
        self._update_table()
        self.render()

    # ------------------------------------------------------------------ drawing

    def render(self) -> None:
        """Redraw the view for the current controls."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        from .. import plot
        from ..plot._base import _aspect, _people

        r, bgr = self.result, self.bgr
        kind, index = self.channel.value
        size = r.image_size
        chosen = self.person.value
        zoom = None
        if self.zoom.value and self.people:
            # the chosen person (all people when none is chosen): a box around everyone is often
            # the whole image (e.g. two players at both edges), which would zoom to nothing
            who = [self.people[chosen]] if chosen is not None else self.people
            zoom = plot.people_box(who, image_size=size)
        aspect = _aspect(size, zoom)
        fig = Figure(
            # at most 7 in (560 px at dpi 80): a tall zoom box stays above the fold of a 1280x800 screen
            figsize=(self.figure_width, min(max(self.figure_width * 0.8 * aspect + 0.8, 3.5), 7.0)),
            layout="constrained",
        )
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        alpha = float(self.opacity.value)
        threshold = float(self.threshold.value)
        if kind == "heatmap":
            self.current_array = plot.heatmap_channel(r.heatmaps, index)
            self.current_title = plot.channel_title(index)
            plot.show_heatmap_overlay(bgr, r.heatmaps, index, alpha=alpha, zoom=zoom, ax=ax)
            parts = list(range(NUM_PARTS)) if index == "max" else ([index] if index < NUM_PARTS else [])
        else:
            k = int(index)
            self.current_array = r.pafs[:, :, LIMBS[k, 2:]]
            a, b = LIMBS[k, 0], LIMBS[k, 1]
            self.current_title = f"PAF limb {k}: {PART_NAMES[a]} -> {PART_NAMES[b]}"
            plot.show_paf_arrows(
                bgr, r.pafs, k, background_alpha=alpha, zoom=zoom, ax=ax, title=self.current_title
            )
            parts = [int(a), int(b)]
        if parts:
            plot.show_peaks(
                None,
                self.peaks,
                threshold=threshold,
                parts=parts,
                legend=False,
                image_size=size,
                zoom=zoom,
                ax=ax,
                title=self.current_title,
            )
        if self.show_people.value and self.people:
            limbs = [int(index)] if kind == "paf" else RENDER_LIMBS
            plot.plot_people(
                None,
                self.people,
                limbs=limbs,
                highlight=self.person.value,
                legend=False,
                image_size=size,
                zoom=zoom,
                ax=ax,
                title=self.current_title,
            )
        self.current_kind, self.current_index = kind, index
        n_peaks = sum(int((self.peaks[:, :, p] > threshold).sum()) for p in parts)
        ax.set_title(
            f"{self.image.value}: {self.current_title} ({_count(n_peaks, 'peak')} > {threshold:.2f}, "
            f"{_people(len(self.people))})"
        )
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80, bbox_inches="tight", pad_inches=0.1)
        self.view.value = buf.getvalue()
        self.renders += 1

    def _repr_mimebundle_(self, **kwargs):
        return still_bundle(
            self.ui._repr_mimebundle_(**kwargs),
            self.view.value,
            "PoseExplorer: choose an image, a heatmap or PAF channel, the overlay opacity, the peak "
            "threshold and a person; the figure redraws with the peaks and people at that threshold",
        )
