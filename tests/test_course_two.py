"""Course part two: the views of posekit.plot.training and posekit.crowd draw what they claim."""

from __future__ import annotations

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402

from posekit import plot  # noqa: E402
from posekit.crowd import receptive_fields, tile  # noqa: E402
from posekit.train import History  # noqa: E402


def test_plot_stage_losses_draws_one_bar_per_stage_at_its_value():
    losses = [9.0, 7.5, 6.0, 5.5, 5.25, 5.0]
    ax = Figure().subplots()
    assert plot.plot_stage_losses(losses, ax=ax) is ax
    heights = [p.get_height() for p in ax.patches]
    np.testing.assert_allclose(heights, losses)
    assert [t.get_text() for t in ax.texts] == [f"{v:.1f}" for v in losses]


def test_plot_stage_losses_rejects_empty():
    with pytest.raises(ValueError, match="losses is empty"):
        plot.plot_stage_losses([], ax=Figure().subplots())


def test_plot_loss_curves_draws_each_stage_against_the_step():
    rng = np.random.default_rng(0)
    stages = rng.uniform(1, 10, size=(5, 6))
    history = History(total=list(stages.sum(1)), stages=stages.tolist())
    ax = plot.plot_loss_curves(history, ax=Figure().subplots())
    assert len(ax.lines) == 6
    for t, line in enumerate(ax.lines):
        np.testing.assert_array_equal(line.get_xdata(), np.arange(1, 6))
        np.testing.assert_allclose(line.get_ydata(), stages[:, t])
        assert line.get_label() == f"stage {t + 1}"


def test_plot_targets_vs_maps_shows_part_max_and_paf_length():
    h, w = 4, 5
    heat_t = np.zeros((h, w, 19), np.float32)
    heat_t[1, 2, 3] = 0.9
    paf_t = np.zeros((h, w, 38), np.float32)
    paf_t[2, 1, 0], paf_t[2, 1, 1] = 0.6, 0.8  # length 1 on limb 0
    heat_n, paf_n = heat_t * 0.5, paf_t * 0.5
    image = np.zeros((40, 50, 3), np.uint8)
    fig = plot.plot_targets_vs_maps(image, heat_t, paf_t, heat_n, paf_n, fig=Figure())
    fields = [ax.images[-1].get_array() for ax in fig.axes[:4]]
    assert fields[0][1, 2] == pytest.approx(0.9) and fields[1][1, 2] == pytest.approx(0.45)
    assert fields[2][2, 1] == pytest.approx(1.0) and fields[3][2, 1] == pytest.approx(0.5)
    assert fig.axes[0].images[-1].get_extent() == [0, 50, 40, 0]


def test_plot_targets_vs_maps_rejects_wrong_channels():
    z = np.zeros((4, 5, 19), np.float32)
    with pytest.raises(ValueError, match="paf_target must have shape"):
        plot.plot_targets_vs_maps(np.zeros((8, 8, 3), np.uint8), z, z, z, z, fig=Figure())


def test_plot_cost_vs_people_scatters_times_against_people():
    fig = plot.plot_cost_vs_people(
        [1, 4, 9], [100.0, 101.0, 99.0], [1.0, 3.0, 7.0], labels="abc", fig=Figure()
    )
    net, group = fig.axes[:2]
    np.testing.assert_allclose(net.collections[0].get_offsets(), [[1, 100], [4, 101], [9, 99]])
    np.testing.assert_allclose(group.collections[0].get_offsets(), [[1, 1], [4, 3], [9, 7]])
    assert [t.get_text() for t in net.texts] == ["a", "b", "c"]
    with pytest.raises(ValueError, match="same non-zero length"):
        plot.plot_cost_vs_people([1, 2], [1.0], [1.0], fig=Figure())


def test_tile_repeats_the_image():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (3, 4, 3), dtype=np.uint8)
    out = tile(image, 2, 3)
    assert out.shape == (6, 12, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[3:6, 8:12], image)
    with pytest.raises(ValueError, match="rows must be an integer >= 1"):
        tile(image, 0, 1)


def test_plot_targets_vs_maps_colour_scale_covers_the_largest_value():
    h, w = 4, 5
    heat = np.zeros((h, w, 19), np.float32)
    paf_t = np.zeros((h, w, 38), np.float32)
    paf_t[1, 1, 0] = 1.0
    paf_n = paf_t.copy()
    paf_n[1, 1, 0] = 1.15  # the network's PAF vectors are not unit vectors
    fig = plot.plot_targets_vs_maps(np.zeros((40, 50, 3), np.uint8), heat, paf_t, heat, paf_n, fig=Figure())
    assert fig.axes[3].images[-1].get_clim() == pytest.approx((0.0, 1.15))
    assert "0..1.15" in fig.axes[-1].get_ylabel()
    assert fig.axes[3].get_title().endswith("max 1.15")


def test_plot_max_vs_sum_counts_two_peaks_for_max_one_for_a_close_sum():
    fig = plot.training.plot_max_vs_sum(8.0, (1.5, 3.0), fig=Figure())
    close, far = fig.axes[:2]
    assert close.peaks == {"max": 2, "sum": 1} and far.peaks == {"max": 2, "sum": 2}
    lines = {ln.get_label(): ln for ln in close.lines}
    np.testing.assert_allclose(
        lines["sum"].get_ydata(), lines["person 1"].get_ydata() + lines["person 2"].get_ydata()
    )
    assert lines["max"].get_ydata().max() == pytest.approx(1.0, abs=1e-4)
    with pytest.raises(ValueError, match="sigma must be"):
        plot.training.plot_max_vs_sum(0.0)


def test_plot_paf_overlap_averages_two_crossing_limbs():
    from posekit.targets import paf_targets

    people = np.full((2, 18, 3), np.nan, np.float32)
    people[..., 2] = 0
    people[0, 1], people[0, 8] = (20, 10, 1), (20, 70, 1)  # Neck-RHip (limb 6) straight down
    people[1, 1], people[1, 8] = (0, 40, 1), (40, 40, 1)  # ... and straight across: they cross at (20, 40)
    size, grid = (40, 80), (5, 10)
    each = [paf_targets(people[i : i + 1], size, grid) for i in range(2)]
    both = paf_targets(people, size, grid)
    ax = plot.training.plot_paf_overlap(
        np.zeros((80, 40, 3), np.uint8), people, each, both, 6, limb_width=8.0, ax=Figure().subplots()
    )
    assert ax.shared >= 1
    np.testing.assert_allclose(ax.shared_length, np.sqrt(0.5), rtol=1e-5)  # (0, 1) and (1, 0) averaged


def test_receptive_fields_of_stacked_convolutions():
    tf = pytest.importorskip("tensorflow")
    keras = tf.keras
    inp = keras.Input((None, None, 3))
    a = keras.layers.Conv2D(4, 3, padding="same", kernel_initializer="ones", name="a")(inp)
    b = keras.layers.Conv2D(4, 3, strides=2, padding="same", kernel_initializer="ones", name="b")(a)
    c = keras.layers.Conv2D(4, 3, padding="same", kernel_initializer="ones", name="c")(b)
    model = keras.Model(inp, c)
    fields = receptive_fields(model, {"a": "a", "b": "b", "c": "c"}, (64, 64))
    assert fields == {"a": 3, "b": 5, "c": 9}  # 3; +2 at stride 1; +2 cells of 2 px after the stride
