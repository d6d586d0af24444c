"""posekit.widgets driven programmatically: setting a control changes what is shown."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

pytest.importorskip("ipywidgets")
matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from posekit.params import TFPOSE_DEFAULTS
from posekit.person import InferenceResult
from posekit.postprocess import fields_to_people
from posekit.skeleton import LIMBS
from posekit.widgets import LiveView, PoseExplorer, VideoPlayer, channel_options, encode_image

H, W = 46, 54


def blob(field: np.ndarray, row: int, col: int, value: float, sigma: float = 1.5) -> None:
    r, c = np.mgrid[0 : field.shape[0], 0 : field.shape[1]]
    field[...] = np.maximum(field, value * np.exp(-((r - row) ** 2 + (c - col) ** 2) / (2 * sigma**2)))


class FakeEstimator:
    """Fixed fields: part c peaks at (row 5 + 2c, col 5 + 2c) with height 0.1 + 0.04 c; PAF j = j / 100.

    Every part's peak has a different height, so the number of peaks above a threshold
    tells which parts survive it; the PAFs are constant, so no limb connects and no person forms.
    """

    params = TFPOSE_DEFAULTS
    paf_backend = None

    def __init__(self) -> None:
        self.calls = 0

    def inference(self, image, upsample=4.0):
        self.calls += 1
        heat = np.zeros((H, W, 19), np.float32)
        for c in range(18):
            blob(heat[:, :, c], 5 + 2 * c, 5 + 2 * c, 0.1 + 0.04 * c)
        heat[:, :, 18] = 1 - heat[:, :, :18].max(axis=2)
        pafs = np.broadcast_to(np.arange(38, dtype=np.float32) / 100, (H, W, 38)).copy()
        size = (image.shape[1], image.shape[0])
        people, peaks, _ = fields_to_people(heat, pafs, size)
        timings = {"preprocess": 1.0, "network": 2.0, "postprocess": 3.0, "paf": 0.5, "total": 6.5}
        return InferenceResult(people, heat, pafs, peaks, size, timings)


@pytest.fixture
def explorer():
    images = {
        "a": np.full((92, 108, 3), 60, np.uint8),
        "b": np.full((184, 216, 3), 200, np.uint8),
    }
    return PoseExplorer(FakeEstimator(), images, figure_width=5)


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_channel_options_cover_19_heatmaps_and_19_limbs():
    values = [v for _, v in channel_options()]
    assert ("heatmap", "max") in values
    assert [v for v in values if v[0] == "heatmap" and v[1] != "max"] == [("heatmap", c) for c in range(19)]
    assert [v for v in values if v[0] == "paf"] == [("paf", k) for k in range(19)]
    labels = {v: label for label, v in channel_options()}
    assert "Background" in labels[("heatmap", 18)] and "RShoulder-RElbow" in labels[("paf", 2)]


def test_explorer_starts_with_the_max_heatmap(explorer):
    assert explorer.current_kind == "heatmap" and explorer.current_index == "max"
    np.testing.assert_array_equal(explorer.current_array, explorer.result.heatmaps[:, :, :18].max(axis=2))
    assert png_size(explorer.view.value)[0] > 200
    assert explorer.renders == 1


@pytest.mark.parametrize("c", [0, 5, 18])
def test_selecting_a_heatmap_channel_shows_that_channel(explorer, c):
    before = explorer.view.value
    explorer.channel.value = ("heatmap", c)
    np.testing.assert_array_equal(explorer.current_array, explorer.result.heatmaps[:, :, c])
    assert explorer.current_title.startswith(f"heatmap {c}:")
    assert explorer.view.value != before


@pytest.mark.parametrize("k", [0, 2, 18])
def test_selecting_a_limb_shows_its_two_paf_channels(explorer, k):
    explorer.select(limb=k)
    assert explorer.current_kind == "paf" and explorer.current_index == k
    shown = explorer.current_array
    assert shown.shape == (H, W, 2)
    np.testing.assert_array_equal(shown[:, :, 0], explorer.result.pafs[:, :, LIMBS[k, 2]])
    np.testing.assert_array_equal(shown[:, :, 1], explorer.result.pafs[:, :, LIMBS[k, 3]])
    # the fake PAF channel j is j / 100: the displayed components are the limb's, not its neighbours'
    assert shown[0, 0, 0] == pytest.approx(LIMBS[k, 2] / 100)
    assert shown[0, 0, 1] == pytest.approx(LIMBS[k, 3] / 100)


def test_select_needs_exactly_one_target(explorer):
    with pytest.raises(ValueError, match="exactly one"):
        explorer.select()
    with pytest.raises(ValueError, match="exactly one"):
        explorer.select(channel=1, limb=1)


def test_opacity_rerenders(explorer):
    n = explorer.renders
    before = explorer.view.value
    explorer.opacity.value = 1.0
    assert explorer.renders == n + 1 and explorer.view.value != before


def test_threshold_reruns_peak_finding_without_the_network(explorer):
    est = explorer.estimator
    calls = est.calls
    # The fake part c has a smoothed peak that grows with c; count the parts with a peak above t.
    counts = []
    for t in (0.01, 0.05, 0.1, 0.3):
        explorer.threshold.value = t
        counts.append(sum(int((explorer.peaks[:, :, p] > t).any()) for p in range(18)))
        assert explorer.current_params.heat_threshold == t
        assert f"above {t:.2f}" in explorer.status.value
    assert counts == sorted(counts, reverse=True) and counts[0] >= 12 and counts[-1] < counts[0]
    assert est.calls == calls  # fields are reused: no new inference
    assert explorer.params.heat_threshold == TFPOSE_DEFAULTS.heat_threshold  # the original is untouched


def test_image_chooser_runs_the_network_once_per_image(explorer):
    est = explorer.estimator
    assert est.calls == 1
    explorer.image.value = "b"
    assert explorer.bgr.shape == (184, 216, 3) and explorer.result.image_size == (216, 184)
    explorer.image.value = "a"
    explorer.image.value = "b"
    assert est.calls == 2
    assert explorer.ui.children  # the layout exists


def test_no_person_gives_a_plain_table_message(explorer):
    assert explorer.people == [] and explorer.person.options == ()
    assert "No person" in explorer.table.value


@pytest.mark.slow
def test_explorer_on_a_real_image_lists_people_and_their_keypoints(estimator):
    from conftest import IMAGES

    ex = PoseExplorer(estimator, {"basketball": IMAGES / "basketball1.png"})
    assert len(ex.people) == len(ex.result.people) >= 2
    assert len(ex.person.options) == len(ex.people)
    assert "Neck" in ex.table.value and "<table" in ex.table.value
    ex.person.value = 1
    assert f"{ex.people[1].num_parts}/18 parts" in ex.table.value
    ex.threshold.value = 0.6  # almost every peak gone
    assert len(ex.people) < len(ex.result.people)
    ex.zoom.value = True
    ex.select(limb=3)
    assert ex.current_title.startswith("PAF limb 3: RElbow -> RWrist")


# ---------------------------------------------------------------------- LiveView


def frames(n: int):
    for i in range(n):
        yield np.full((24, 32, 3), i, np.uint8)


def test_liveview_stops_on_the_frame_budget():
    view = LiveView(max_frames=3)
    seen = []
    view.run(frames(10), lambda i, f: (seen.append(i), f)[1], background=False)
    assert seen == [0, 1, 2] and view.frames_shown == 3
    assert view.stop_reason == "budget" and "budget of 3" in view.status.value
    assert view.image.value[:2] == b"\xff\xd8"  # a JPEG


def test_liveview_runs_to_the_end_and_shows_status_text():
    view = LiveView()
    view.run(frames(4), lambda i, f: (f, f"frame {i}"), background=False)
    assert view.stop_reason == "end" and view.frames_shown == 4
    assert int(view.last_frame[0, 0, 0]) == 3


def test_liveview_stop_button_ends_a_background_loop():
    view = LiveView(max_frames=10_000)
    started = threading.Event()

    def slow(i, f):
        started.set()
        time.sleep(0.01)
        return f

    view.run(frames(10_000), slow)
    assert started.wait(5) and view.running
    view.stop_button.value = True  # what a click does
    assert view.join(timeout=5) == "button"
    assert not view.running and view.frames_shown < 10_000
    assert view.stop_button.disabled


def test_liveview_stop_is_final_whatever_the_clicks():
    """A double click toggles the button back off; the run still stops."""
    view = LiveView(max_frames=10_000)
    started = threading.Event()

    def slow(i, f):
        started.set()
        time.sleep(0.01)
        return f

    view.run(frames(10_000), slow)
    assert started.wait(5)
    view.stop_button.value = True  # first click
    assert view.stop_button.disabled and view.stop_requested
    view.stop_button.value = False  # second click: the toggle goes back off
    assert view.stop_requested
    assert view.join(timeout=5) == "button" and view.frames_shown < 10_000
    assert view.stop_button.description == "Stopped"
    view.run(frames(3), background=False)  # a new run starts un-stopped
    assert view.stop_reason == "end" and not view.stop_requested and view.frames_shown >= 3


def test_liveview_counts_one_frame_and_one_person_in_the_singular():
    view = LiveView()
    view.run(frames(1), background=False)
    assert view.status.value.startswith("done: 1 frame in "), view.status.value


def test_frames_skipped_counts_only_frames_before_the_last_one_shown():
    """Frames read ahead after Stop (frames_read) are not "skipped while the network was busy"."""
    from posekit.video.pipeline import VideoSummary

    view = LiveView()
    view.summary = VideoSummary(source="cam", frames_read=12, frames_processed=3, frame_indices=[0, 3, 7])
    assert view.frames_skipped == 5  # frames 1, 2, 4, 5, 6; not the 4 read after frame 7


def test_liveview_reports_errors_in_the_status_line():
    def boom(i, f):
        raise RuntimeError("camera unplugged")

    view = LiveView()
    view.run(frames(2), boom, background=False)
    assert view.stop_reason == "error" and "camera unplugged" in view.status.value
    assert isinstance(view.error, RuntimeError)


def test_liveview_rejects_a_bad_budget():
    with pytest.raises(ValueError, match="max_frames"):
        LiveView(max_frames=0)


def test_video_player_slider_selects_the_frame():
    fr = list(frames(5))
    player = VideoPlayer(fr, captions=[f"cap {i}" for i in range(5)])
    assert len(player) == 5 and player.slider.max == 4
    player.slider.value = 3
    assert player.current_index == 3 and bytes(player.image.value) == encode_image(fr[3], quality=80)
    assert player.caption.value == "cap 3"
    with pytest.raises(ValueError, match="at least one"):
        VideoPlayer([])


def test_encode_image_formats():
    img = np.zeros((8, 8, 3), np.uint8)
    assert encode_image(img, "png")[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="jpeg"):
        encode_image(img, "gif")


# ---------------------------------------------------------------------- run_video / open_camera


class CountingEstimator:
    """Stands in for PoseEstimator in process_video: no people, fixed timings, counts calls."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls = 0
        self.delay = delay

    def inference(self, image, upsample=4.0):
        self.calls += 1
        time.sleep(self.delay)
        h, w = image.shape[:2]
        z = np.zeros((8, 8, 19), np.float32)
        timings = {"preprocess": 0.0, "network": 1.0, "postprocess": 0.0, "paf": 0.0, "total": 1.0}
        return InferenceResult([], z, np.zeros((8, 8, 38), np.float32), z, (w, h), timings)


def test_run_video_shows_annotated_frames_within_the_budget():
    from conftest import VIDEOS

    view = LiveView(max_frames=3)
    est = CountingEstimator()
    lines = []
    view.status.observe(lambda change: lines.append(change["new"]), names="value")
    view.run_video(VIDEOS / "vtest_pair.mp4", est, thread=False, pipelined=False)
    assert lines[:3] == [f"frame {n}/3: 0 people, network 1 ms" for n in (1, 2, 3)]
    assert view.stop_reason == "budget", view.status.value
    assert view.status.value.startswith("done: 3 frames in "), view.status.value
    assert view.frames_shown == 3 and est.calls == 3
    assert [i for i, _ in view.frames] == [0, 1, 2]
    assert view.summary.frames_processed == 3
    assert view.last_frame.shape == (576, 768, 3) and view.last_source_frame.shape == (576, 768, 3)


def test_run_video_stop_button_ends_the_run():
    from conftest import VIDEOS

    view = LiveView(max_frames=None)
    view.run_video(VIDEOS / "vtest_pair.mp4", CountingEstimator(delay=0.02), pipelined=False)
    deadline = time.time() + 10
    while view.frames_shown < 2 and time.time() < deadline:
        time.sleep(0.01)
    view.stop_button.value = True
    assert view.join(timeout=10) == "button", view.status.value
    assert view.summary.interrupted and view.summary.frames_processed < 100


def test_run_video_budget_belongs_to_the_view():
    with pytest.raises(TypeError, match="LiveView\\(max_frames"):
        LiveView().run_video("x.mp4", CountingEstimator(), max_frames=3)


def test_open_camera_falls_back_to_the_video():
    from conftest import VIDEOS

    from posekit.widgets import open_camera

    source, message = open_camera(99, size=(320, 240), fallback=VIDEOS / "vtest_pair.mp4")
    try:
        assert source.kind == "file" and source.size == (768, 576)
        assert (
            message
            == "No camera could be opened (index 99): running the same loop on videos/vtest_pair.mp4 instead"
        )
    finally:
        source.close()
    from posekit.video import VideoError

    with pytest.raises(VideoError, match="camera 99"):
        open_camera(99)
