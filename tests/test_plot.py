"""posekit.plot: what each view draws, on synthetic fields (no network)."""

from __future__ import annotations

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt

from posekit import plot
from posekit.draw import DEFAULT_SPEC
from posekit.person import Person
from posekit.preprocess import ImageError
from posekit.skeleton import LIMBS, PART_NAMES

H, W = 46, 54  # field grid
WIDTH, HEIGHT = 216, 184  # image: 4x the field


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def image():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    img[..., 0] = 255  # pure blue in BGR
    img[..., 1:] = 0
    return img


@pytest.fixture
def heatmaps():
    """Channel c is c / 20 everywhere except a 1.0 spike at field pixel (row=c + 2, col=2c + 1)."""
    h = np.zeros((H, W, 19), np.float32)
    for c in range(19):
        h[:, :, c] = c / 20
        h[c + 2, 2 * c + 1, c] = 1.0
    return h


@pytest.fixture
def pafs():
    """PAF channel j is the constant (j + 1) / 40 (x components) or -(j + 1) / 40 (odd: y)."""
    p = np.zeros((H, W, 38), np.float32)
    for j in range(38):
        p[:, :, j] = (j + 1) / 40 * (1 if j % 2 == 0 else -1)
    return p


def person(parts: dict[int, tuple[float, float]], pid: int = -1) -> Person:
    kp = np.full((18, 3), np.nan, np.float32)
    kp[:, 2] = 0
    for i, (x, y) in parts.items():
        kp[i] = (x, y, 0.8)
    return Person(kp, 1.0, pid)


def displayed(ax, n: int = -1) -> np.ndarray:
    """The array of the n-th image drawn on ``ax``."""
    return np.asarray(ax.get_images()[n].get_array())


def test_to_rgb_swaps_channels_and_expands_gray():
    bgr = np.zeros((2, 3, 3), np.uint8)
    bgr[..., 0] = 200
    assert plot.to_rgb(bgr)[0, 0].tolist() == [0, 0, 200]
    assert plot.to_rgb(np.full((2, 3), 7, np.uint8)).shape == (2, 3, 3)
    with pytest.raises(ImageError, match=r"image must have dtype uint8 \(BGR 0..255\), got float32"):
        plot.to_rgb(np.zeros((2, 3, 3), np.float32))


def test_show_image_is_rgb_with_pixel_axes(image):
    ax = plot.show_image(image, title="blue")
    np.testing.assert_array_equal(displayed(ax)[..., 2], 255)  # blue shown in the B of RGB
    assert ax.get_title() == "blue"
    assert "pixels" in ax.get_xlabel() and "pixels" in ax.get_ylabel()
    assert ax.figure.get_size_inches()[0] == pytest.approx(plot.FIGURE_WIDTH)


def test_field_extent_puts_field_pixels_on_image_coordinates():
    left, right, bottom, top = plot.field_extent((H, W), (WIDTH, HEIGHT))
    sx = WIDTH / W
    # pixel centre of column c is at c * sx: the left edge is half a field pixel before 0
    assert left == pytest.approx(-0.5 * sx)
    assert (right - left) / W == pytest.approx(sx)
    assert top < bottom  # y grows downwards


@pytest.mark.parametrize("channel", [0, 5, 18, "RWrist"])
def test_heatmap_overlay_shows_the_chosen_channel(image, heatmaps, channel):
    ax = plot.show_heatmap_overlay(image, heatmaps, channel, alpha=0.3)
    c = PART_NAMES.index(channel) if isinstance(channel, str) else channel
    np.testing.assert_array_equal(displayed(ax), heatmaps[:, :, c])
    assert ax.get_images()[-1].get_alpha() == 0.3
    assert str(c) in ax.get_title()
    assert len(ax.figure.axes) == 2  # the image axes and its colour bar
    assert "score" in ax.figure.axes[1].get_ylabel()


def test_heatmap_overlay_colour_bar_says_what_is_drawn(image, heatmaps):
    ax = plot.show_heatmap_overlay(image, heatmaps, "max", vmax=None, label="difference of two heatmaps")
    assert ax.figure.axes[1].get_ylabel() == "difference of two heatmaps"


def test_heatmap_max_excludes_background(image, heatmaps):
    ax = plot.show_heatmap_overlay(image, heatmaps, "max")
    np.testing.assert_array_equal(displayed(ax), heatmaps[:, :, :18].max(axis=2))
    assert displayed(ax).max() == 1.0 and displayed(ax).min() == pytest.approx(17 / 20)


def test_heatmap_overlay_rejects_bad_channel(image, heatmaps):
    with pytest.raises(ValueError, match=r"\[0, 19\)"):
        plot.show_heatmap_overlay(image, heatmaps, 19)
    with pytest.raises(ValueError, match="part name"):
        plot.show_heatmap_overlay(image, heatmaps, "Elbow")
    with pytest.raises(ValueError, match=r"\(H, W, 19\)"):
        plot.show_heatmap_overlay(image, heatmaps[:, :, :18])


def test_heatmap_channels_grid_names_every_channel(heatmaps):
    fig = plot.show_heatmap_channels(heatmaps)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[0] == "0: Nose" and titles[18] == "18: Background"
    first = next(ax for ax in fig.axes if ax.get_title() == "4: RWrist")
    np.testing.assert_array_equal(displayed(first), heatmaps[:, :, 4])


def test_paf_components_are_the_limbs_channels_on_a_symmetric_scale(pafs):
    limb = 3
    fig = plot.show_paf_components(pafs, limb, image_size=(WIDTH, HEIGHT))
    axes = [ax for ax in fig.axes if ax.get_images()]
    assert len(axes) == 2
    cx, cy = LIMBS[limb, 2], LIMBS[limb, 3]
    np.testing.assert_array_equal(displayed(axes[0]), pafs[:, :, cx])
    np.testing.assert_array_equal(displayed(axes[1]), pafs[:, :, cy])
    vmin, vmax = axes[0].get_images()[0].get_clim()
    assert vmin == -vmax
    assert f"channel {cx}" in axes[0].get_title() and f"channel {cy}" in axes[1].get_title()
    assert "RElbow-RWrist" in fig.get_suptitle()
    assert len(fig.axes) == 4  # two colour bars


def test_paf_components_over_the_image_in_grey_with_small_values_hidden(image, pafs):
    p = pafs.copy()
    cx = LIMBS[3, 2]
    p[:, :, cx] = 0.01  # below min_magnitude: transparent
    p[5:9, 5:9, cx] = 0.7
    fig = plot.show_paf_components(p, 3, image=image, zoom=(0, 0, 100, 80))
    axes = [ax for ax in fig.axes if ax.get_images()]
    assert len(axes) == 2
    for ax in axes:
        under, over = ax.get_images()
        gray = np.asarray(under.get_array())
        assert gray.ndim == 2 and gray.max() == pytest.approx(0.114 * 255, rel=1e-3)  # pure blue, in grey
        assert under.get_cmap().name == "gray"
        assert under.get_extent() == [-0.5, WIDTH - 0.5, HEIGHT - 0.5, -0.5]
    shown = axes[0].get_images()[-1].get_array()
    assert np.ma.is_masked(shown) and shown.mask.sum() == H * W - 16
    np.testing.assert_array_equal(shown.compressed(), np.full(16, 0.7, np.float32))
    assert "image pixels" in axes[0].get_xlabel()
    assert axes[0].get_xlim() == (0, 100)


def test_paf_arrows_point_along_the_field_in_image_coordinates(image):
    p = np.zeros((H, W, 38), np.float32)
    cx, cy = LIMBS[0, 2], LIMBS[0, 3]
    p[10:20, 10:20, cx] = 0.6  # right
    p[10:20, 10:20, cy] = 0.8  # and down
    ax = plot.show_paf_arrows(image, p, 0, step=1)
    q = ax.collections[0]
    offsets = q.get_offsets()
    assert len(offsets) == 100
    sx, sy = WIDTH / W, HEIGHT / H
    assert offsets[:, 0].min() == pytest.approx(10 * sx) and offsets[:, 1].max() == pytest.approx(19 * sy)
    assert np.all(q.U > 0) and np.all(q.V > 0)
    np.testing.assert_allclose(q.V / q.U, (0.8 * sy) / (0.6 * sx), rtol=1e-5)
    assert ax.yaxis_inverted()  # +y is down, as in the image
    with pytest.raises(ValueError, match="step"):
        plot.show_paf_arrows(image, p, 0, step=0)


def test_compare_stages_shows_each_stage(heatmaps, pafs):
    outs = []
    for s in range(6):
        outs += [heatmaps[None] * (s + 1) / 6, pafs[None]]
    fig = plot.compare_stages(outs, stages=(1, 6), channel=2)
    panels = [ax for ax in fig.axes if ax.get_images()]
    assert [ax.get_title().split(":")[0] for ax in panels] == ["stage 1", "stage 6", "stage 6 - stage 1"] * 2
    np.testing.assert_allclose(displayed(panels[0]), heatmaps[:, :, 2] / 6)
    np.testing.assert_allclose(displayed(panels[1]), heatmaps[:, :, 2])
    np.testing.assert_allclose(displayed(panels[2]), heatmaps[:, :, 2] * 5 / 6, rtol=1e-6)  # 6 minus 1
    assert "RShoulder heatmap" in panels[0].get_title()
    with pytest.raises(ValueError, match="1..6"):
        plot.compare_stages(outs, stages=(0, 7))


def test_compare_stages_difference_over_the_image_in_grey(image, heatmaps, pafs):
    outs = []
    for s in range(6):
        outs += [heatmaps[None] * (s + 1) / 6, pafs[None]]
    fig = plot.compare_stages(outs, stages=(1, 6), channel=0, image=image)
    panels = [ax for ax in fig.axes if ax.get_images()]
    stage_under = np.asarray(panels[0].get_images()[0].get_array())
    assert stage_under.ndim == 3  # the stages over the photo in colour
    under, diff = panels[2].get_images()
    assert np.asarray(under.get_array()).ndim == 2 and under.get_cmap().name == "gray"
    shown = diff.get_array()
    full = heatmaps[:, :, 0] * 5 / 6  # 0 everywhere but the spike
    hidden = np.abs(full) < 0.05 * np.abs(full).max()
    assert hidden.any() and (shown.mask == hidden).all()


def test_peaks_are_plotted_at_image_coordinates(image):
    peaks = np.zeros((H, W, 19), np.float32)
    peaks[10, 20, 4] = 0.5  # RWrist
    peaks[30, 5, 4] = 0.02  # below threshold
    peaks[3, 3, 18] = 0.9  # background: never a peak
    found = plot.peak_list(peaks, threshold=0.05, image_size=(WIDTH, HEIGHT))
    assert found == [(4, 20 * WIDTH / W, 10 * HEIGHT / H, 0.5)]
    ax = plot.show_peaks(image, peaks)
    assert len(ax.collections) == 1
    np.testing.assert_allclose(ax.collections[0].get_offsets(), [[80.0, 40.0]])
    assert "1 peaks" in ax.get_title()
    assert "RWrist" in ax.get_legend().get_texts()[0].get_text()


def test_keypoints_scatter_labels_part_indices(image):
    people = [person({0: (10, 20), 4: (30, 40)}), person({4: (50, 60)})]
    ax = plot.plot_keypoints_scatter(image, people)
    assert sorted(t.get_text() for t in ax.texts) == ["0", "4", "4"]
    assert len(ax.collections) == 3


def test_plot_people_one_colour_per_person_with_legend(image):
    people = [person({1: (10, 20), 2: (30, 20), 3: (30, 40)}), person({1: (100, 20), 5: (80, 20)}, pid=7)]
    ax = plot.plot_people(image, people)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0].startswith("person 0: 3/18") and labels[1].startswith("person 7: 2/18")
    rgb0 = tuple(c / 255 for c in DEFAULT_SPEC.person_color(0)[::-1])
    rgb7 = tuple(c / 255 for c in DEFAULT_SPEC.person_color(7)[::-1])
    lines = ax.get_lines()
    assert len(lines) == 3  # Neck-RShoulder, RShoulder-RElbow, Neck-LShoulder
    assert matplotlib.colors.to_rgb(lines[0].get_color()) == pytest.approx(rgb0)
    assert matplotlib.colors.to_rgb(lines[2].get_color()) == pytest.approx(rgb7)
    # the legend sits under the image, never over a person
    ax.figure.canvas.draw()
    legend_box = ax.get_legend().get_window_extent()
    assert legend_box.y1 <= ax.get_window_extent().y0 + 1


def test_plot_trajectories_legend_sits_under_the_paths():
    frames = [[person({1: (10 + i, 20)}, pid=3), person({1: (100, 50 + 2 * i)}, pid=1)] for i in range(4)]
    fig = plot.plot_trajectories(frames, "Neck", image_size=(WIDTH, HEIGHT))
    fig.canvas.draw()
    legend = fig.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == ["person 1 (4 frames)", "person 3 (4 frames)"]
    for ax in fig.axes:  # under every axes and its tick labels: over no path
        assert legend.get_window_extent().y1 <= ax.get_tightbbox().y0 + 1


def test_people_box_surrounds_the_keypoints():
    box = plot.people_box([person({0: (100, 100), 4: (120, 160)})], margin=0.0)
    x0, y0, x1, y1 = box
    assert x0 <= 100 and x1 >= 120 and y0 == pytest.approx(100) and y1 == pytest.approx(160)
    assert (y1 - y0) <= 4 / 3 * (x1 - x0) + 1e-6  # widened to at most 4:3
    assert plot.people_box([]) is None


def test_zoom_sets_the_visible_region(image, heatmaps):
    ax = plot.show_heatmap_overlay(image, heatmaps, 0, zoom=(10, 20, 110, 120))
    assert ax.get_xlim() == (10, 110) and ax.get_ylim() == (120, 20)
    with pytest.raises(ValueError, match="zoom"):
        plot.show_image(image, zoom=(10, 20, 5, 30))


def test_keypoints_table_for_one_person_and_many():
    p = person({0: (10.5, 20.25), 4: (30, 40)})
    t = plot.keypoints_table(p)
    assert t.columns == ["part", "name", "x", "y", "score"]
    assert len(t) == 18 and t.rows[0][:4] == (0, "Nose", 10.5, 20.25)
    assert "<table" in t._repr_html_() and "RWrist" in t.to_html()
    text = str(t)
    assert "Nose" in text and " - " in text.splitlines()[4]  # missing Neck shown as "-"
    assert len(plot.keypoints_table(p, missing=False)) == 2
    many = plot.keypoints_table([p, p], missing=False)
    assert many.columns[0] == "person" and [r[0] for r in many.rows] == [0, 0, 1, 1]
    tracked = plot.keypoints_table([person({1: (1, 1)}, pid=7)], missing=False)
    assert tracked.rows[0][0] == 7  # the person_id, not the list index
    arr = plot.keypoints_table(np.stack([p.keypoints]), missing=False)
    assert len(arr) == 2


def test_table_max_rows_shows_the_first_rows_and_folds_the_rest():
    p = person({i: (i, 2 * i) for i in range(10)}, pid=3)
    t = plot.keypoints_table([p, p], missing=False, max_rows=4)
    assert len(t) == 20 and t.hidden_rows == 16  # .rows keeps everything
    text = str(t).splitlines()
    assert len(text) == 1 + 2 + 4 + 1  # caption, header, rule, 4 rows, the count line
    assert text[-1] == "... 16 more rows (.rows holds all 20)"
    assert "Nose" in text[3] and "RKnee" not in str(t)
    html = t.to_html()
    visible, folded = html.split("<details", 1)
    assert visible.count("<tr>") == 1 + 4 and "16 more rows</summary>" in folded
    assert folded.count("<tr>") == 1 + 16 and "RKnee" in folded
    whole = plot.keypoints_table([p, p], missing=False)
    assert whole.hidden_rows == 0 and "<details" not in whole.to_html() and "more rows" not in str(whole)
    assert "<details" not in plot.keypoints_table(p, max_rows=18).to_html()
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="max_rows must be a positive integer or None"):
            plot.Table(["a"], [(1,)], max_rows=bad)


def test_plot_timings_bars_in_stage_order():
    t = {"preprocess": 2.0, "network": 150.0, "postprocess": 20.0, "paf": 1.0, "total": 173.0}
    ax = plot.plot_timings(t)
    widths = [b.get_width() for b in ax.patches]
    assert widths == [2.0, 150.0, 20.0, 1.0]
    assert "173 ms" in ax.get_title()
    ax = plot.plot_timings([t, {**t, "network": 100.0, "total": 123.0}, {**t, "network": 200.0}])
    assert [b.get_width() for b in ax.patches][1] == 150.0  # median
    assert "medians of 3" in ax.get_title()


def test_plot_timings_bars_add_up_to_the_total():
    """What the total holds beyond the named stages is a bar of its own ("other"), not missing."""
    t = {"preprocess": 2.0, "network": 150.0, "postprocess": 20.0, "paf": 1.0, "total": 181.0}
    ax = plot.plot_timings(t)
    widths = [b.get_width() for b in ax.patches]
    assert widths == [2.0, 150.0, 20.0, 1.0, 8.0] and sum(widths) == 181.0
    assert [t.get_text() for t in ax.get_yticklabels()][-1].startswith("other")
    assert "total 181 ms" in ax.get_title()
    runs = [{**t, "network": n, "total": n + 31.0} for n in (100.0, 150.0, 130.0)]
    ax = plot.plot_timings(runs)
    widths = [b.get_width() for b in ax.patches]
    assert widths[-1] == pytest.approx(8.0)
    assert f"total {sum(widths):.0f} ms" in ax.get_title()
    ax = plot.plot_speed_comparison({"a": runs, "b": [{**r, "total": r["total"] - 8.0} for r in runs]})
    assert ax.containers[-1].get_label().startswith("other")
    assert [b.get_width() for b in ax.containers[-1]] == pytest.approx([8.0, 0.0])
    assert [t.get_text() for t in ax.texts] == [" total 161 ms = 6.2 FPS", " total 153 ms = 6.5 FPS"]


def test_plot_trajectories_one_line_per_person_id():
    frames = []
    for i in range(5):
        frames.append([person({0: (10 + i, 20)}, pid=3), person({0: (100, 50 + 2 * i)}, pid=1)])
    frames.append([person({4: (1, 1)}, pid=3)])  # no Nose: nothing added
    fig = plot.plot_trajectories(frames, "Nose", image_size=(WIDTH, HEIGHT), fps=10)
    path_ax, x_ax, y_ax = fig.axes[:3]
    assert len(path_ax.get_lines()) == 2 and len(x_ax.get_lines()) == 2 and len(y_ax.get_lines()) == 2
    xs = sorted(tuple(line.get_xdata()) for line in path_ax.get_lines())
    assert xs[0] == (10, 11, 12, 13, 14)
    assert y_ax.get_xlabel() == "time (s)"
    # person ids sorted: id 1 first; its y grows by 2 per frame
    np.testing.assert_allclose(y_ax.get_lines()[0].get_xdata(), np.arange(5) / 10)
    np.testing.assert_allclose(y_ax.get_lines()[0].get_ydata(), 50 + 2 * np.arange(5))
    np.testing.assert_allclose(x_ax.get_lines()[1].get_ydata(), 10 + np.arange(5))
    with pytest.raises(ValueError, match="18 keypoints"):
        plot.plot_trajectories(frames, 18)


def test_ax_argument_draws_into_the_given_axes(image, heatmaps):
    _fig, axes = plt.subplots(1, 2)
    out = plot.show_heatmap_overlay(image, heatmaps, 1, ax=axes[1], colorbar=False)
    assert out is axes[1] and len(axes[1].get_images()) == 2 and not axes[0].get_images()


def test_models_side_by_side_one_row_per_image_one_column_per_model(image):
    left = [person({1: (10, 20), 2: (30, 20), 3: (30, 40)})]
    right = [person({1: (12, 20), 2: (30, 24), 3: (30, 40)}), person({0: (100, 50), 1: (100, 60)})]
    fig = plot.plot_models_side_by_side(
        {"first": image, "second": image}, {"model a": [left, []], "model b": [right, right]}
    )
    axes = fig.axes
    assert len(axes) == 6  # 2 images x (2 models + the overlay column)
    assert axes[0].get_ylabel() == "first" and axes[3].get_ylabel() == "second"
    assert axes[0].get_title() == "model a: 1 person\nparts per person: 3"
    assert axes[1].get_title().startswith("model b: 2 people\nparts per person: 3, 2")
    assert axes[3].get_title().startswith("model a: 0 people")
    overlay = axes[2]
    assert [t.get_text() for t in overlay.get_legend().get_texts()] == ["model a", "model b"]
    assert overlay.get_title() == "model a and model b together\none colour each"  # not "all models"
    styles = {line.get_linestyle() for line in overlay.get_lines()}
    assert styles == {"-", "--"}  # first model solid, second dashed
    x0, x1 = axes[0].get_xlim()
    assert axes[1].get_xlim() == (x0, x1) and x1 - x0 < WIDTH  # same zoom in every column of a row
    one = plot.plot_models_side_by_side([image], {"only": [left]}, zoom=False)
    assert len(one.axes) == 1 and one.axes[0].get_xlim() == (-0.5, WIDTH - 0.5)
    with pytest.raises(ValueError, match="2 entries for 1 images"):
        plot.plot_models_side_by_side([image], {"a": [left, left]})
    with pytest.raises(ValueError, match="empty"):
        plot.plot_models_side_by_side([image], {})


def test_people_distance_table_matches_closest_people_first():
    a = [person({1: (10, 10), 2: (20, 10), 3: (30, 10), 4: (40, 10)}), person({1: (200, 10), 2: (210, 10)})]
    b = [
        person({1: (500, 10), 2: (500, 20), 3: (500, 30)}),  # shares 3 parts with a[0], but far away
        person({1: (13, 14), 2: (20, 10), 3: (30, 10), 5: (50, 50)}),  # a[0] again, Neck 5 px away
    ]
    t = plot.people_distance_table(a, b, names=("x", "y"))
    assert t.columns[:2] == ["person (x)", "person (y)"]
    first = t.rows[0]
    assert first[:5] == (0, 1, 3, 1, 1)  # 3 parts in both, RWrist only in a[0], LShoulder only in b[1]
    assert first[5] == pytest.approx(0.0) and first[6] == pytest.approx(5.0) and first[7] == "Neck"
    # b[1] is closer to a[0] than b[0] is; a[1] shares only 2 parts with anyone
    assert t.rows[1][:5] == (1, "-", 0, 2, 0) and np.isnan(t.rows[1][5]) and t.rows[1][7] == "-"
    assert t.rows[2][:5] == ("-", 0, 0, 0, 3)
    assert t.caption == "1 matched, 1 only in x, 1 only in y"
    assert len(plot.people_distance_table(a, b, min_shared=4)) == 4  # nobody shares 4 parts: all unmatched
    assert len(plot.people_distance_table([], [])) == 0


def test_plot_speed_comparison_stacks_stage_medians():
    runs = [
        {"preprocess": 1.0, "network": n, "postprocess": 10.0, "paf": 1.0, "total": n + 12.0}
        for n in (100.0, 140.0, 120.0)
    ]
    small = [{**r, "network": 30.0, "total": 42.0} for r in runs]
    ax = plot.plot_speed_comparison({"big": runs, "small": small})
    assert len(ax.patches) == 8  # 2 labels x 4 stages
    assert [c.get_label() for c in ax.containers] == [
        "preprocess (stretch to input size)", "network (CNN forward pass)", "upsample + smooth + peaks",
        "PAF grouping into people",
    ]  # fmt: skip
    network = ax.containers[1]
    assert [b.get_width() for b in network] == [120.0, 30.0]  # medians, "big" on top
    assert [b.get_x() for b in network] == [1.0, 1.0]  # stacked after preprocess
    ticks = dict(zip(ax.get_yticks(), (t.get_text() for t in ax.get_yticklabels())))
    assert ticks[network[0].get_y() + network[0].get_height() / 2] == "big"
    texts = [t.get_text() for t in ax.texts]
    assert texts == [" total 132 ms = 7.6 FPS", " total 42 ms = 23.8 FPS"]
    with pytest.raises(ValueError, match="at least one run"):
        plot.plot_speed_comparison({"a": []})


def test_plot_channel_ranges_draws_each_set_sorted_and_divided_by_its_widest():
    import matplotlib.pyplot as plt

    before = np.array([1.0, 400.0, 4.0, 0.04])
    after = np.array([2.0, 3.0, 1.0, 0.5])
    fig = plot.plot_channel_ranges({"before": before, "after": after}, title="junction")
    ax = fig.axes[0]
    lines = [line for line in ax.get_lines() if len(line.get_xdata()) == 4]
    assert np.allclose(lines[0].get_ydata(), [1.0, 0.01, 0.0025, 0.0001])
    assert np.allclose(lines[1].get_ydata(), [1.0, 2 / 3, 1 / 3, 1 / 6])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0].startswith("before: largest / median 160x, 3 of 4 under 16 levels")
    assert labels[1].startswith("after: largest / median 2x, 0 of 4 under 16 levels")
    assert ax.get_yscale() == "log" and ax.get_title() == "junction"
    plt.close(fig)
    for bad in ({}, {"x": np.array([np.nan, 1.0])}, {"x": np.zeros(3)}):
        with pytest.raises(ValueError, match="ranges"):
            plot.plot_channel_ranges(bad)
