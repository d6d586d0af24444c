"""``GroupingExplorer``: the PAF grouping limb by limb; threshold sliders re-run it on the stored fields."""

from __future__ import annotations

import dataclasses
import io
import time

from ..person import InferenceResult
from ..preprocess import DEFAULT_UPSAMPLE
from ..skeleton import LIMB_NAMES, LIMBS
from ._common import ImageSource, _count, _ipywidgets, _read
from ._still import still_bundle

__all__ = ["GroupingExplorer"]

#: Tallest rendered figure, inches at 80 dpi: a zoom on a tall box stays within a laptop's screen.
MAX_FIGURE_HEIGHT = 6.0


class GroupingExplorer:
    """Step through the PAF grouping of one image, limb after limb, in Jupyter.

    The figure shows one limb's candidates over the image — kept ones solid in the limb's colour,
    those that failed the criterion grey, those that lost the greedy matching dashed, each with its
    score — over the partial people assembled up to that limb (one colour per row). The table under
    it gives the limb's candidates with the parts of their score. The threshold sliders re-run
    ``posekit.paf_trace.trace`` on the stored fields (the network does not run again).

    Example:
        >>> gx = GroupingExplorer(estimator, "images/basketball1.png")
        >>> gx                                   # shows the UI in a notebook
        >>> gx.limb.value = 4                    # LShoulder-LElbow
        >>> gx.vector_count_threshold.value = 9  # stricter criterion: re-runs the grouping
        >>> len(gx.trace.keypoints)              # the people at these thresholds

    Args:
        estimator_or_result: a ``PoseEstimator`` (run once on ``image``) or the
            ``InferenceResult`` of ``image``.
        image: BGR uint8 (H, W, 3) or an image path.
        upsample: passed to ``estimator.inference`` (ignored for a result).
        params: thresholds to start from (default: the estimator's, or ``TFPOSE_DEFAULTS``).
        limb: the limb shown first (row of the limb table).
        figure_width: rendered figure width in inches (at 80 dpi).

    Attributes:
        limb: IntSlider over the limbs in assembly order; play: a Play button stepping it.
        heat_threshold, vector_score_threshold, vector_count_threshold, human_score_threshold:
            the threshold sliders (``PostprocessParams`` fields).
        show_people, zoom: Checkboxes (draw the partial people; zoom to the limb's kept candidates).
        view: ``ipywidgets.Image`` with the PNG (the rows the end filter drops are crossed out
            in red, so ``human_score_threshold`` shows what it removes); table: ``ipywidgets.HTML``
            with the limb's candidates, under the controls and the figure; status:
            ``ipywidgets.HTML``, the limb's outcome in words; ui: the VBox holding them.
        bgr, result: the image and its ``InferenceResult``; trace: the ``GroupingTrace`` at the
            current thresholds; current_params: those thresholds; current_limb: the limb shown;
            renders: number of renders so far; trace_ms: time of the last re-run.
    """

    def __init__(
        self,
        estimator_or_result,
        image: ImageSource,
        *,
        upsample: float = DEFAULT_UPSAMPLE,
        params=None,
        limb: int = 0,
        figure_width: float = 8.0,
    ) -> None:
        from ..params import TFPOSE_DEFAULTS

        w = _ipywidgets()
        self.bgr = _read(image)
        size = (int(self.bgr.shape[1]), int(self.bgr.shape[0]))
        if isinstance(estimator_or_result, InferenceResult):
            self.result = estimator_or_result
            if tuple(self.result.image_size) != size:
                raise ValueError(
                    f"the result is of a {self.result.image_size[0]}x{self.result.image_size[1]} image, "
                    f"the image is {size[0]}x{size[1]}: pass the image the result was computed from"
                )
            base = TFPOSE_DEFAULTS
        elif hasattr(estimator_or_result, "inference"):
            self.result = estimator_or_result.inference(self.bgr, upsample=upsample)
            base = estimator_or_result.params
        else:
            raise TypeError(
                "estimator_or_result must be a PoseEstimator or an InferenceResult, "
                f"got {type(estimator_or_result).__name__}"
            )
        self.params = params if params is not None else base
        self.figure_width = float(figure_width)
        self.renders = 0
        self.trace = None
        self.trace_ms = 0.0
        self.current_limb = int(limb)
        if not 0 <= self.current_limb < len(LIMBS):
            raise ValueError(f"limb must be in [0, {len(LIMBS)}), got {limb}")

        # Each threshold's name sits on its own line above a slider as wide as the controls column,
        # so the track gets ~280 px (a name beside it left 78 px: 1.3 px per step).
        style = {"description_width": "0px"}
        wide = w.Layout(width="340px")
        p = self.params
        self.limb = w.IntSlider(
            value=self.current_limb,
            min=0,
            max=len(LIMBS) - 1,
            style=style,
            layout=wide,
            continuous_update=False,
        )
        self.play = w.Play(
            value=self.current_limb,
            min=0,
            max=len(LIMBS) - 1,
            interval=1500,
            description="Step through the limbs",
        )
        w.jslink((self.play, "value"), (self.limb, "value"))
        self.limb_name = w.HTML()
        self.heat_threshold = w.FloatSlider(
            value=float(p.heat_threshold),
            min=0.01,
            max=0.6,
            step=0.01,
            readout_format=".2f",
            style=style,
            layout=wide,
            continuous_update=False,
        )
        self.vector_score_threshold = w.FloatSlider(
            value=float(p.vector_score_threshold),
            min=0.0,
            max=0.8,
            step=0.01,
            readout_format=".2f",
            style=style,
            layout=wide,
            continuous_update=False,
        )
        self.vector_count_threshold = w.IntSlider(
            value=int(p.vector_count_threshold),
            min=0,
            max=int(p.paf_steps),
            style=style,
            layout=wide,
            continuous_update=False,
        )
        self.human_score_threshold = w.FloatSlider(
            value=float(p.human_score_threshold),
            min=0.0,
            max=2.0,
            step=0.02,
            readout_format=".2f",
            style=style,
            layout=wide,
            continuous_update=False,
        )
        self.show_people = w.Checkbox(value=True, description="Partial people", indent=False)
        self.zoom = w.Checkbox(value=False, description="Zoom to the limb", indent=False)
        self.status = w.HTML(layout=w.Layout(width="340px"))
        self.summary = w.HTML(layout=w.Layout(width="340px"))
        # the table spans the whole width under the controls and the figure, and scrolls sideways
        # rather than being cut where the notebook is narrow
        self.table = w.HTML(layout=w.Layout(width="100%", overflow="auto"))
        self.view = w.Image(
            format="png",
            layout=w.Layout(
                width="auto",
                max_width=f"{int(self.figure_width * 80)}px",
                max_height=f"{int(MAX_FIGURE_HEIGHT * 80)}px",
                min_width="320px",
                object_fit="contain",
            ),
        )
        legend = w.HTML(
            "<small>solid colour: <b>kept</b> &middot; grey: <b>failed the criterion</b> "
            "&middot; dashed: <b>lost the matching</b> (a peak already taken by a better candidate) "
            "&middot; red cross: a row <b>dropped at the end</b> (too few parts or a score under "
            "human_score_threshold)</small>",
            layout=w.Layout(width="340px"),
        )
        controls = w.VBox(
            [
                w.HBox([self.play, self.limb_name]),
                w.HTML("<small>Limb (assembly order)</small>"),
                self.limb,
                self.status,
                legend,
                w.HTML("<b>Thresholds</b> (re-run the grouping, not the network)"),
                w.HTML("<small>heat_threshold: a part peak needs a heat above</small>"),
                self.heat_threshold,
                w.HTML("<small>vector_score_threshold: a PAF sample counts above</small>"),
                self.vector_score_threshold,
                w.HTML("<small>vector_count_threshold: a candidate needs more samples above</small>"),
                self.vector_count_threshold,
                w.HTML("<small>human_score_threshold: a person needs a mean score of</small>"),
                self.human_score_threshold,
                w.HBox([self.show_people, self.zoom]),
                self.summary,
            ],
            layout=w.Layout(width="350px", flex="0 0 350px"),
        )
        top = w.HBox(
            [controls, w.VBox([self.view], layout=w.Layout(flex="1 1 0%", min_width="320px"))],
            layout=w.Layout(flex_flow="row", align_items="flex-start", width="100%"),
        )
        self.ui = w.VBox([top, self.table], layout=w.Layout(width="100%"))
        self.ui.add_class("posekit-grouping")
        self.view.add_class("posekit-grouping-view")

        self.retrace()
        self.render()
        self.limb.observe(self._on_limb, names="value")
        for control in (
            self.heat_threshold,
            self.vector_score_threshold,
            self.vector_count_threshold,
            self.human_score_threshold,
        ):
            control.observe(self._on_threshold, names="value")
        for control in (self.show_people, self.zoom):
            control.observe(lambda change: self.render(), names="value")

    # ------------------------------------------------------------------ state

    @property
    def current_params(self):
        """The thresholds in use: ``params`` with the four sliders' values."""
        return dataclasses.replace(
            self.params,
            heat_threshold=float(self.heat_threshold.value),
            vector_score_threshold=float(self.vector_score_threshold.value),
            vector_count_threshold=int(self.vector_count_threshold.value),
            human_score_threshold=float(self.human_score_threshold.value),
        )

    @property
    def people(self):
        """The people at the current thresholds (``Person`` list, image pixels)."""
        from ..paf_trace_tables import trace_people

        return trace_people(self.trace, self.result.image_size)

    def retrace(self) -> None:
        """Re-run ``paf_trace.trace`` on the stored fields at the current thresholds."""
        from ..paf_trace import trace

        r = self.result
        t0 = time.perf_counter()
        self.trace = trace(r.peaks, r.heatmaps, r.pafs, params=self.current_params)
        self.trace_ms = (time.perf_counter() - t0) * 1e3
        tr = self.trace
        n_peaks = sum(len(p) for p in tr.peaks)
        dropped = [s for s in tr.row_status if s != "kept"]
        why = ""
        if dropped:
            counts = {s: dropped.count(s) for s in dict.fromkeys(dropped)}
            why = " (" + ", ".join(f"{n} {s}" for s, n in counts.items()) + ")"
        self.summary.value = (
            f"At these thresholds: {_count(n_peaks, 'peak')}, {_count(len(tr.row_status), 'row')} after the "
            f"last limb, {len(dropped)} dropped{why}: <b>{_people_words(len(tr.keypoints))}</b> "
            f"(grouping re-run in {self.trace_ms:.0f} ms)"
        )

    # ------------------------------------------------------------------ events

    def _on_limb(self, change) -> None:
        self.render()

    def _on_threshold(self, change) -> None:
        self.retrace()
        self.render()

    # ------------------------------------------------------------------ drawing

    def render(self) -> None:
        """Redraw the figure, the status line and the table for the current limb and thresholds."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        from ..paf_trace_tables import candidates_table, limb_summary
        from ..plot._base import _aspect
        from ..plot.grouping import plot_limb_candidates
        from ..plot.grouping_zoom import limb_zoom

        k = int(self.limb.value)
        tr = self.trace
        size = tuple(self.result.image_size)
        zoom = limb_zoom(tr, k, size) if self.zoom.value else None
        aspect = _aspect(size, zoom)
        fig = Figure(
            figsize=(self.figure_width, min(max(self.figure_width * aspect + 0.6, 3.5), MAX_FIGURE_HEIGHT)),
            layout="constrained",
        )
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        step = tr.limbs[k]
        title = (
            f"limb {k} of {len(tr.limbs) - 1}: {LIMB_NAMES[k]} ({_count(len(step.score), 'candidate')}, "
            f"{_people_words(len(step.people_after), 'partial ')} after it)"
        )
        plot_limb_candidates(
            self.bgr,
            tr,
            k,
            people=bool(self.show_people.value),
            dropped=True,
            zoom=zoom,
            ax=ax,
            title=title,
        )
        self.limb_name.value = f"<b>{k}: {LIMB_NAMES[k]}</b>"
        self.status.value = limb_summary(tr, k)
        self.table.value = (
            # a smaller font keeps the ten columns within a 1280 px window
            f"<div style='font-size:11px'>{candidates_table(tr, k, max_rows=6).to_html()}</div>"
            if len(step.score)
            else "<i>No candidates: a part has no peak.</i>"
        )
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80, bbox_inches="tight", pad_inches=0.1)
        self.view.value = buf.getvalue()
        self.current_limb = k
        self.renders += 1

    def _repr_mimebundle_(self, **kwargs):
        return still_bundle(
            self.ui._repr_mimebundle_(**kwargs),
            self.view.value,
            "GroupingExplorer: step through the limbs one by one; for each, the candidates, their PAF "
            "scores, the matching and the people assembled so far, with the thresholds as sliders",
        )


def _people_words(n: int, adjective: str = "") -> str:
    """ "1 person" / "3 people", optionally "1 partial person"."""
    return f"{n} {adjective}person" if n == 1 else f"{n} {adjective}people"
