"""ipywidgets explorers and live views for Jupyter.

* ``PoseExplorer``: pick an image, a heatmap channel or a limb's PAF, the overlay
  opacity and the peak threshold; see the field over the image, the peaks and the
  people grouped at that threshold, and a table of one person's keypoints.
* ``LiveView``: an Image widget updated frame by frame from a loop (video file or
  camera), with a Stop button and a frame budget.
* ``VideoPlayer``: play / scrub through frames that were already processed.
* ``open_camera``: a camera at a chosen capture size, or a bundled video as a stand-in.

Every control is a public attribute and every view keeps what it shows (``current_kind``,
``current_index``, ``current_array``, ``current_title``, the PNG/JPEG bytes in ``view.value``),
so code and tests can drive the widgets by setting ``control.value`` and read back the result.

Images in are **BGR uint8 (H, W, 3)** like everywhere in posekit. ipywidgets and matplotlib
are imported on first use, with an install hint when missing. The explorer renders with a
``matplotlib.figure.Figure`` that pyplot does not manage, so it never leaks into cell output.
"""

from __future__ import annotations

import dataclasses
import io
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Union

import numpy as np

from .person import InferenceResult, Person
from .skeleton import LIMB_NAMES, LIMBS, NUM_HEATMAPS, NUM_LIMBS, NUM_PARTS, PART_NAMES, RENDER_LIMBS

__all__ = ["LiveView", "PoseExplorer", "VideoPlayer", "channel_options", "encode_image", "open_camera"]

_INSTALL_HINT = (
    "posekit.widgets needs ipywidgets: pip install ipywidgets (or pip install 'posekit[notebooks]')"
)

ImageSource = Union[str, os.PathLike, np.ndarray]
ChannelValue = tuple  # ("heatmap", 0..18 | "max") or ("paf", 0..18)


def _ipywidgets():
    try:
        import ipywidgets
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    return ipywidgets


def encode_image(image: np.ndarray, fmt: str = "jpeg", *, quality: int = 85) -> bytes:
    """Encode a BGR uint8 (H, W, 3) image as JPEG or PNG bytes for an ``ipywidgets.Image``."""
    import cv2

    if fmt not in ("jpeg", "png"):
        raise ValueError(f"fmt must be 'jpeg' or 'png', got {fmt!r}")
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if fmt == "jpeg" else []
    ok, buf = cv2.imencode(".jpg" if fmt == "jpeg" else ".png", np.ascontiguousarray(image), params)
    if not ok:
        raise ValueError(f"could not encode an image of shape {np.shape(image)} as {fmt}")
    return buf.tobytes()


def _count(n: int, noun: str) -> str:
    """ "1 peak" / "3 peaks"."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _ui_event_poller():
    """``jupyter_ui_poll.ui_events`` when running in a Jupyter kernel, else None (plain Python, tests)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None:
        return None
    try:
        from jupyter_ui_poll import ui_events
    except ImportError:
        import warnings

        warnings.warn(
            "LiveView.join cannot hear the Stop button while it waits: pip install jupyter-ui-poll "
            "(or pip install 'posekit[notebooks]')",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    return ui_events


def channel_options() -> list[tuple[str, ChannelValue]]:
    """(label, value) pairs of the explorer's channel selector.

    Values are ``("heatmap", c)`` for heatmap channel c in 0..18 (18 = background),
    ``("heatmap", "max")`` for the maximum over the 18 parts, and ``("paf", k)`` for
    limb k's PAF (row k of ``LIMBS``).
    """
    opts: list[tuple[str, ChannelValue]] = [("Heatmap: max over the 18 parts", ("heatmap", "max"))]
    names = [*PART_NAMES, "Background"]
    opts += [(f"Heatmap {c}: {names[c]}", ("heatmap", c)) for c in range(NUM_HEATMAPS)]
    opts += [
        (f"PAF limb {k}: {LIMB_NAMES[k]} (ch {LIMBS[k, 2]}, {LIMBS[k, 3]})", ("paf", k))
        for k in range(NUM_LIMBS)
    ]
    return opts


def _read(source: ImageSource) -> np.ndarray:
    from .preprocess import as_bgr, read_image

    if isinstance(source, np.ndarray):
        return as_bgr(source)
    return read_image(source)


class PoseExplorer:
    """Interactive heatmap / PAF / peaks / people explorer for Jupyter.

    Example:
        >>> explorer = PoseExplorer(estimator, {"person": "../images/person.jpg"})
        >>> explorer            # shows the UI in a notebook
        >>> explorer.channel.value = ("heatmap", 4)   # RWrist heatmap
        >>> explorer.current_array is explorer.result.heatmaps[..., 4]

    The network runs once per image (results are cached); moving the threshold slider
    re-runs only peak finding and PAF grouping on the stored fields
    (``posekit.estimator.fields_to_people``).

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
        people, peaks: people and peaks at the current threshold.
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
        upsample: float = 4.0,
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

        style = {"description_width": "100px"}
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
                            min_width="320px", object_fit="contain"),
        )  # fmt: skip
        self.table_box = w.Accordion(children=[self.table], selected_index=None, layout=w.Layout(width="340px"))
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
        from .plot._base import _people
        from .estimator import fields_to_people

        r = self.result
        t0 = time.perf_counter()
        self.people, self.peaks, _ = fields_to_people(
            r.heatmaps, r.pafs, r.image_size, params=self.current_params, backend=self.estimator.paf_backend
        )
        ms = (time.perf_counter() - t0) * 1e3
        n_peaks = int((self.peaks[:, :, :NUM_PARTS] > self.threshold.value).sum())
        self.status.value = (
            f"<b>{_people(len(self.people))}</b> from {_count(n_peaks, 'peak')} above {self.threshold.value:.2f} "
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
        from .plot import keypoints_table

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

        from . import plot
        from .plot._base import _aspect, _people

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
            figsize=(self.figure_width, min(max(self.figure_width * 0.8 * aspect + 0.8, 3.5), 9.0)),
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
        return self.ui._repr_mimebundle_(**kwargs)


class LiveView:
    """Frames shown live in an ``ipywidgets.Image``, with a Stop button and a frame budget.

    Example:
        >>> view = LiveView(max_frames=100)
        >>> display(view)
        >>> view.run(iter_frames("clip.mp4"), lambda i, frame: annotate(frame))   # returns at once
        >>> view.join()                                                             # wait for the end

    ``run`` works through the frames in a background thread by default, so the notebook
    stays responsive and the Stop button is heard (a loop running inside a cell blocks the
    kernel from receiving button clicks until the cell ends).

    Args:
        max_frames: frame budget: stop after this many frames (None: no budget).
        width: display width in pixels.
        quality: JPEG quality of the displayed frames.

    Attributes:
        image: the ``ipywidgets.Image``; stop_button: the Stop ``ToggleButton``;
        status: ``ipywidgets.HTML`` line under the image; ui: the whole ``VBox``.
        frames_shown: frames displayed so far; last_frame: the last BGR frame shown.
        stop_reason: None while running, then "button", "budget", "end" or "error".
        error: the exception that ended the loop, if any.
        fps: frames per second achieved by the last ``run`` (display included).
        frames: (frame_index, people) of every frame shown by ``run_video`` (tracked ids).
        last_source_frame: the last frame ``run_video`` processed, as decoded (not drawn on).
        summary: the ``posekit.video.VideoSummary`` of the last ``run_video``.
    """

    def __init__(self, *, max_frames: int | None = None, width: int = 640, quality: int = 80) -> None:
        w = _ipywidgets()
        if max_frames is not None and int(max_frames) < 1:
            raise ValueError(f"max_frames must be >= 1 or None, got {max_frames}")
        self.max_frames = None if max_frames is None else int(max_frames)
        self.quality = int(quality)
        self.image = w.Image(format="jpeg", layout=w.Layout(width=f"{int(width)}px"))
        self.stop_button = w.ToggleButton(
            value=False,
            description="Stop",
            icon="stop",
            button_style="danger",
            tooltip="Stop the loop after the current frame",
        )
        self.status = w.HTML("ready")
        self.ui = w.VBox([w.HBox([self.stop_button, self.status]), self.image])
        self.frames_shown = 0
        self.last_frame: np.ndarray | None = None
        self.stop_reason: str | None = None
        self.error: BaseException | None = None
        self.fps = 0.0
        self.frames: list[tuple[int, list[Person]]] = []
        self.last_source_frame: np.ndarray | None = None
        self.summary = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def stop_requested(self) -> bool:
        """True once the Stop button was pressed or ``stop()`` called."""
        return bool(self.stop_button.value) or self._stop.is_set()

    @property
    def running(self) -> bool:
        """True while a background ``run`` is working."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        """Ask the loop to stop after the current frame (as the Stop button does)."""
        self._stop.set()

    def show(self, frame: np.ndarray, status: str | None = None) -> None:
        """Display one BGR uint8 frame (and optionally a status line)."""
        self.image.value = encode_image(frame, "jpeg", quality=self.quality)
        self.last_frame = frame
        self.frames_shown += 1
        if status is not None:
            self.status.value = status

    def run(
        self,
        frames: Iterable[np.ndarray],
        process: Callable[[int, np.ndarray], Any] | None = None,
        *,
        background: bool = True,
    ) -> None:
        """Show ``process(i, frame)`` for each frame until Stop, the budget or the end of the frames.

        Args:
            frames: BGR uint8 frames (e.g. ``posekit.video.iter_frames(...)``), or
                (index, frame) pairs.
            process: called with (frame index, frame); returns the BGR frame to show, or
                (frame, status text). None shows the frames as they are.
            background: work in a daemon thread and return at once (``join`` waits);
                False runs in the caller (the Stop button cannot be heard then).
        """
        if self.running:
            raise RuntimeError("this LiveView is already running; call stop() and join() first")
        self._stop.clear()
        self.stop_button.value = False
        self.stop_button.disabled = False
        self.stop_button.description = "Stop"
        self.stop_reason = None
        self.error = None
        if background:
            self._thread = threading.Thread(target=self._loop, args=(frames, process), daemon=True)
            self._thread.start()
        else:
            self._loop(frames, process)

    def run_video(self, source, estimator, *, thread: bool = True, **options) -> None:
        """Run ``posekit.video.process_video`` on a source and show every annotated frame live.

        Tracking, the FPS overlay and any outputs (``out=``, ``csv=``, ``json_dir=`` ...) are
        process_video's; this view adds the display, the Stop button (which ends the run
        like Ctrl-C, with every output file complete) and the frame budget (``max_frames``).

        Args:
            source: a video path, camera index, URL or open ``FrameSource`` (left open).
            estimator: a ``PoseEstimator``.
            thread: work in a daemon thread and return at once (``join`` waits); False
                runs in the caller (then the Stop button cannot be heard).
            **options: more ``process_video`` keyword arguments: ``out``, ``csv``,
                ``background=False`` (skeletons on black), ``side_by_side``, ``every`` ...
        """
        from .video import FrameSource, open_source, process_video

        if self.running:
            raise RuntimeError("this LiveView is already running; call stop() and join() first")
        reopened = None
        if isinstance(source, FrameSource) and source.kind == "file" and source.frames_read > 0:
            # a file already played (e.g. the cell is run a second time): play it again from the start
            source = reopened = open_source(source.name)
        if "max_frames" in options:
            raise TypeError("set the frame budget with LiveView(max_frames=...)")
        self.frames = []
        self.summary = None

        def on_frame(index, frame, result, drawn):
            if self.stop_requested:
                raise KeyboardInterrupt  # process_video stops as on Ctrl-C, outputs complete
            self.frames.append((index, list(result.people)))
            self.last_source_frame = frame
            self.show(
                drawn,
                f"frame {index}: {len(result.people)} people, network {result.timings['network']:.0f} ms",
            )

        self._stop.clear()
        self.stop_button.value = False
        self.stop_button.disabled = False
        self.stop_reason = None
        self.error = None

        def target():
            t0 = time.perf_counter()
            reason = "end"
            try:
                self.summary = process_video(
                    source, estimator, max_frames=self.max_frames, on_frame=on_frame, **options
                )
                if self.summary.interrupted and self.stop_requested:
                    reason = "button"
                elif self.max_frames is not None and self.summary.frames_processed >= self.max_frames:
                    reason = "budget"
            except Exception as exc:  # noqa: BLE001 - shown in the status line and kept in .error
                reason, self.error = "error", exc
            finally:
                if reopened is not None:
                    reopened.close()
            self._finish(reason, len(self.frames), time.perf_counter() - t0)

        if thread:
            self._thread = threading.Thread(target=target, daemon=True)
            self._thread.start()
        else:
            target()

    def _finish(self, reason: str, shown: int, elapsed: float) -> None:
        self.fps = shown / elapsed if elapsed > 0 and shown else 0.0
        self.stop_reason = reason
        why = {
            "button": "stopped by the Stop button",
            "budget": f"frame budget of {self.max_frames} reached",
            "end": "end of the frames",
            "error": f"error: {self.error!r}",
        }[reason]
        if reason == "end" and shown == 0:
            why = "the source gave no frames (a camera closed with source.close()? re-run the cell that opens it)"
        self.status.value = f"done: {shown} frames in {elapsed:.1f} s ({self.fps:.1f} FPS), {why}"
        self.stop_button.disabled = True

    def _loop(self, frames, process) -> None:
        t0 = time.perf_counter()
        shown = 0
        reason = "end"
        try:
            for n, item in enumerate(frames):
                if self.stop_requested:
                    reason = "button"
                    break
                if self.max_frames is not None and shown >= self.max_frames:
                    reason = "budget"
                    break
                index, frame = item if isinstance(item, tuple) else (n, item)
                out = process(index, frame) if process is not None else frame
                status = None
                if isinstance(out, tuple):
                    out, status = out
                self.show(out, status)
                shown += 1
            else:
                if self.max_frames is not None and shown >= self.max_frames:
                    reason = "budget"
        except Exception as exc:  # noqa: BLE001 - reported in the status line and kept in .error
            reason = "error"
            self.error = exc
        self._finish(reason, shown, time.perf_counter() - t0)

    def join(self, timeout: float | None = None) -> str | None:
        """Wait for a background run to end; return ``stop_reason`` (None if still running).

        Inside a Jupyter kernel the wait keeps handling widget events (with ``jupyter_ui_poll``),
        so a click on Stop while a cell waits here — e.g. after Run All — ends the loop within a
        frame; a plain ``thread.join`` would keep the kernel busy and the click unheard.
        """
        if self._thread is None:
            return self.stop_reason
        deadline = None if timeout is None else time.monotonic() + float(timeout)
        poll_events = _ui_event_poller()
        if poll_events is None:
            self._thread.join(timeout)
            return self.stop_reason
        with poll_events() as poll:
            while self._thread.is_alive() and (deadline is None or time.monotonic() < deadline):
                poll(20)  # deliver pending comm messages (button clicks) to the widgets
                self._thread.join(0.02)
        return self.stop_reason

    def _repr_mimebundle_(self, **kwargs):
        return self.ui._repr_mimebundle_(**kwargs)


class VideoPlayer:
    """Play and scrub through frames already processed (e.g. annotated video frames).

    Args:
        frames: BGR uint8 frames, all the same size.
        fps: playback speed in frames per second.
        width: display width in pixels.
        captions: optional text per frame shown under the image.

    Attributes:
        slider: ``IntSlider`` of the frame index (set ``.value`` to jump); play: the
        ``Play`` widget linked to it; image: the ``Image`` shown; caption: ``HTML``;
        ui: the whole ``VBox``; current_index: the frame shown.
    """

    def __init__(
        self,
        frames: Sequence[np.ndarray],
        *,
        fps: float = 10.0,
        width: int = 640,
        captions: Sequence[str] | None = None,
        quality: int = 80,
    ) -> None:
        w = _ipywidgets()
        frames = list(frames)
        if not frames:
            raise ValueError("frames must hold at least one frame")
        if captions is not None and len(captions) != len(frames):
            raise ValueError(f"captions must have one entry per frame: {len(captions)} != {len(frames)}")
        self._jpegs = [encode_image(f, "jpeg", quality=quality) for f in frames]
        self._captions = list(captions) if captions is not None else None
        n = len(frames)
        self.play = w.Play(
            value=0, min=0, max=n - 1, step=1, interval=max(1, int(1000 / float(fps))), description="Play"
        )
        self.slider = w.IntSlider(
            value=0, min=0, max=n - 1, description="Frame", layout=w.Layout(width="500px")
        )
        w.jslink((self.play, "value"), (self.slider, "value"))
        self.image = w.Image(value=self._jpegs[0], format="jpeg", layout=w.Layout(width=f"{int(width)}px"))
        self.caption = w.HTML()
        self.ui = w.VBox([w.HBox([self.play, self.slider]), self.image, self.caption])
        self.current_index = -1
        self._show(0)
        self.slider.observe(lambda change: self._show(change["new"]), names="value")

    def __len__(self) -> int:
        return len(self._jpegs)

    def _show(self, i: int) -> None:
        i = int(i)
        self.image.value = self._jpegs[i]
        self.caption.value = self._captions[i] if self._captions else f"frame {i + 1} / {len(self._jpegs)}"
        self.current_index = i

    def _repr_mimebundle_(self, **kwargs):
        return self.ui._repr_mimebundle_(**kwargs)


def open_camera(index: int = 0, *, size: tuple[int, int] | None = None, fallback=None):
    """Open a camera at a capture size, or a video file when no camera opens.

    Args:
        index: camera index (0 is the default webcam).
        size: (width, height) to ask the camera for (it may pick the nearest size it
            supports; the source's ``size`` says what it delivers), or None for its default.
        fallback: a video file to open instead when the camera cannot be opened, or None
            to raise.

    Returns:
        (source, message): an open ``posekit.video.FrameSource`` (``source.kind`` is
        "camera" or "file"), and None, or the message saying that the fallback is used.

    Raises:
        posekit.video.VideoError: no camera (and no fallback), or the fallback cannot be opened.
    """
    import sys
    from pathlib import Path

    import cv2

    from .video import FrameSource, VideoError, open_source

    index = int(index)
    try:
        if size is None:
            return open_source(index), None
        if sys.platform.startswith("linux") and not Path(f"/dev/video{index}").exists():
            raise VideoError(f"cannot open camera {index}: /dev/video{index} does not exist")
        cap = cv2.VideoCapture(index)
        if not cap.isOpened():
            cap.release()
            raise VideoError(f"cannot open camera {index}: no camera at this index, or it is in use")
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, int(size[0]))
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, int(size[1]))
        ok, frame = cap.read()
        if not ok or frame is None:
            cap.release()
            raise VideoError(f"cannot read from camera {index}: it opened but delivered no frame")
        return FrameSource(
            cap, name=f"camera {index}", kind="camera", stem=f"camera{index}", first_frame=frame
        ), None
    except VideoError:
        if fallback is None:
            raise
        p = Path(fallback)
        label = f"{p.parent.name}/{p.name}" if p.parent.name else p.name
        message = f"No camera could be opened (index {index}): running the same loop on {label} instead"
        return open_source(p), message
