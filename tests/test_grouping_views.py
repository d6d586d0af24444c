"""posekit.plot's grouping views and widgets.GroupingExplorer draw what the trace says, on a real image."""

from __future__ import annotations

import dataclasses

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402

from posekit import paf, paf_trace  # noqa: E402
from posekit import plot as g  # noqa: E402
from posekit.preprocess import FieldTransform  # noqa: E402
from posekit.skeleton import COLORS_BGR, LIMB_NAMES  # noqa: E402

pytestmark = pytest.mark.slow  # the fixtures run the network once


@pytest.fixture(scope="module")
def image(bgr):
    return bgr("basketball1.png")


@pytest.fixture(scope="module")
def result(estimator, image):
    return estimator.inference(image, upsample=4.0)


@pytest.fixture(scope="module")
def trace(result, estimator):
    return paf_trace.trace(result.peaks, result.heatmaps, result.pafs, params=estimator.params)


def _ax():
    return Figure(figsize=(6, 4)).add_subplot()


def _lines(ax, gid):
    return [ln for ln in ax.get_lines() if ln.get_gid() == gid]


def _rgb(k):
    b, gg, r = COLORS_BGR[k % len(COLORS_BGR)]  # 18 colours for 19 limbs, as the module does
    return (r / 255, gg / 255, b / 255)


def test_the_image_has_every_fate_somewhere(trace):
    kinds = np.concatenate([g.candidate_kinds(s) for s in trace.limbs])
    assert {"kept", "lost the matching", "failed the criterion"} <= set(kinds.tolist())


@pytest.mark.parametrize("k", range(19))
def test_candidate_segments_are_styled_by_their_fate(image, trace, k):
    step = trace.limbs[k]
    ax = g.plot_limb_candidates(image, trace, k, ax=_ax())
    kept, lost, failed = (_lines(ax, f"candidate-{s}") for s in ("kept", "lost", "failed"))
    assert len(kept) == int(step.kept.sum())
    assert len(lost) == int((step.passed & ~step.kept).sum())
    assert len(failed) == int((~step.passed).sum())
    for ln in kept:
        assert ln.get_linestyle() == "-" and np.allclose(matplotlib.colors.to_rgb(ln.get_color()), _rgb(k))
    for ln in lost:
        assert ln.get_linestyle() == "--" and np.allclose(matplotlib.colors.to_rgb(ln.get_color()), _rgb(k))
    for ln in failed:
        assert ln.get_linestyle() == "-" and np.allclose(matplotlib.colors.to_rgb(ln.get_color()), g.GREY)
    # the kept segments join the kept candidates' peaks, in image pixels
    tf = FieldTransform(trace.grid_size, (image.shape[1], image.shape[0]))
    want = set()
    for c in np.flatnonzero(step.kept):
        xa, ya = tf.to_image(float(step.xy_a[c, 0]), float(step.xy_a[c, 1]))
        xb, yb = tf.to_image(float(step.xy_b[c, 0]), float(step.xy_b[c, 1]))
        want.add((round(xa, 3), round(ya, 3), round(xb, 3), round(yb, 3)))
    got = set()
    for ln in kept:
        (x0, x1), (y0, y1) = ln.get_xdata(), ln.get_ydata()
        got.add(tuple(round(float(v), 3) for v in (x0, y0, x1, y1)))
    want = {tuple(float(v) for v in w) for w in want}
    assert got == want


def test_limb_summary_counts_in_words(trace):
    step = trace.limbs[4]
    text = g.limb_summary(trace, "LShoulder-LElbow")
    n_lost = int((step.passed & ~step.kept).sum())
    assert text.startswith("limb 4 LShoulder-LElbow: ")
    assert f"{len(step.score)} candidates, {int(step.kept.sum())} kept" in text
    assert f"{int((~step.passed).sum())} failed the criterion, {n_lost} lost the matching" in text
    assert text.endswith(f"{len(step.people_after)} partial people")


def test_sample_dot_curve_is_the_traced_line_integral(trace):
    step = trace.limbs[4]
    for c in range(len(step.score)):
        ax = g.plot_sample_dots(trace, 4, c, ax=_ax())
        (curve,) = _lines(ax, "sample-dot")
        assert len(curve.get_ydata()) == trace.params.paf_steps
        np.testing.assert_array_equal(curve.get_ydata(), step.sample_dot[c])
        (threshold,) = _lines(ax, "threshold")
        assert threshold.get_ydata()[0] == pytest.approx(trace.params.vector_score_threshold)
        assert ax.get_title().startswith(f"{int(step.count_above[c])} of {trace.params.paf_steps} above")
        assert ("passed" if step.passed[c] else "failed") in ax.get_title()


def test_paf_arrows_sit_on_the_samples_in_image_pixels(image, result, trace):
    step = trace.limbs[4]
    c = int(np.flatnonzero(step.match_rank == 0)[0])
    ax = g.plot_paf_samples(image, result.pafs, trace, 4, ax=_ax())  # default: the best candidate
    (quiver,) = [q for q in ax.collections if isinstance(q, matplotlib.quiver.Quiver)]
    tf = FieldTransform(trace.grid_size, result.image_size)
    x, y = tf.to_image(step.sample_xy[c, :, 0].astype(float), step.sample_xy[c, :, 1].astype(float))
    np.testing.assert_allclose(quiver.get_offsets(), np.stack([x, y], 1))
    fig = g.plot_line_integral(image, result.pafs, trace, 4, c, fig=Figure())
    assert len(fig.axes) == 2 and "candidate" in fig._suptitle.get_text()


def test_candidates_table_lists_kept_first_and_the_trace_values(trace):
    step = trace.limbs[4]
    table = g.candidates_table(trace, 4, max_rows=4)
    assert len(table) == min(4, len(step.score))
    n_kept = int(step.kept.sum())
    assert [r[8] for r in table.rows[:n_kept]] == ["kept"] * n_kept
    assert [r[9] for r in table.rows[:n_kept]] == sorted(r[9] for r in table.rows[:n_kept])
    for row in table.rows:
        c = row[0]
        assert row[1:3] == (step.peak_a[c], step.peak_b[c])
        assert row[3] == pytest.approx(step.mean_dot[c]) and row[6] == pytest.approx(step.score[c])
        assert row[5] == step.count_above[c] and row[8] == step.match_status[c]
    assert "showing 4 of 6" in table.caption
    assert len(g.candidates_table(trace, 4, max_rows=0)) == n_kept  # never cut before the last kept


def test_matching_table_names_the_better_candidate_that_took_the_peak(trace):
    lost_somewhere = 0
    for step in trace.limbs:
        for rank, c, _pa, _pb, score, outcome, winner, win_score in g.matching_table(trace, step.index).rows:
            assert step.match_rank[c] == rank
            if outcome == "kept":
                assert winner == "-"
                continue
            lost_somewhere += 1
            assert step.kept[winner] and step.match_rank[winner] < rank and win_score >= score
            shared = step.peak_a if outcome == "part A already used" else step.peak_b
            assert shared[winner] == shared[c]
    assert lost_somewhere >= 1


def test_rows_table_says_why_rows_are_dropped(result, estimator):
    params = dataclasses.replace(estimator.params, human_score_threshold=0.5, part_count_threshold=5)
    tr = paf_trace.trace(result.peaks, result.heatmaps, result.pafs, params=params)
    table = g.rows_table(tr)
    assert [r[4] for r in table.rows] == list(tr.row_status)
    assert {"too few parts", "kept"} <= {r[4] for r in table.rows}
    for r in table.rows:
        if r[4] == "too few parts":
            assert r[5] == f"{r[1]} parts < 5"
    assert sum(r[6] != "-" for r in table.rows) == len(tr.keypoints)


@pytest.mark.parametrize("k", [0, 4, 12, 18])
def test_partial_people_after_a_limb(image, trace, k):
    step = trace.limbs[k]
    ax = g.plot_partial_people(image, trace, k, ax=_ax())
    ids = step.people_after.peak_ids
    n_peaks = sum(len(p) for p in trace.peaks)
    present = (ids >= 0) & (ids < n_peaks)
    assert len(ax.collections) == int((present.sum(axis=1) > 0).sum())  # one scatter per row
    table = trace.limb_table
    links = sum(
        int(present[r, table[j, 0]] and present[r, table[j, 1]])
        for r in range(len(ids))
        for j in range(k + 1)
    )
    assert len(_lines(ax, "partial-limb")) == links
    assert ax.get_title().endswith(f"{len(step.people_after)} partial people")


def test_assembly_grid_has_a_panel_per_limb(image, trace):
    fig = g.plot_assembly(image, trace, [0, 3, 12, 18], ncols=2, fig=Figure())
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == [
        f"after {k} {LIMB_NAMES[k]}: {len(trace.limbs[k].people_after)} rows" for k in (0, 3, 12, 18)
    ]


def test_trace_people_are_the_estimators(result, trace, image):
    people = g.trace_people(trace, result.image_size)
    np.testing.assert_array_equal(np.stack([p.keypoints for p in people]), result.keypoints)
    np.testing.assert_allclose([p.score for p in people], [p.score for p in result.people], rtol=1e-6)
    fig = g.plot_trace_vs_people(image, trace, result, fig=Figure())
    assert [ax.get_title() for ax in fig.axes] == [
        f"paf_trace.trace: {len(people)} people",
        f"estimator.inference: {len(result.people)} people",
    ]


def test_bad_limb_and_candidate_are_refused(trace, result):
    with pytest.raises(ValueError, match="limb must be"):
        g.limb_summary(trace, "Nose-Tail")
    with pytest.raises(ValueError, match=r"limb must be in \[0, 19\)"):
        g.candidates_table(trace, 19)
    with pytest.raises(ValueError, match="candidate must be in"):
        g.plot_sample_dots(trace, 4, 99, ax=_ax())
    with pytest.raises(ValueError, match="on the trace's grid"):
        g.plot_paf_samples(None, result.pafs[:10], trace, 4, image_size=result.image_size, ax=_ax())


# --------------------------------------------------------------------------- the widget


@pytest.fixture()
def explorer(result, image):
    pytest.importorskip("ipywidgets")
    from posekit.widgets import GroupingExplorer

    return GroupingExplorer(result, image, limb=0)


def test_limb_slider_changes_the_limb_and_the_picture(explorer):
    first, renders = explorer.view.value, explorer.renders
    assert explorer.current_limb == 0 and first[:8] == b"\x89PNG\r\n\x1a\n"
    explorer.limb.value = 4
    assert explorer.current_limb == 4 and explorer.renders == renders + 1
    assert explorer.view.value != first
    assert explorer.status.value == g.limb_summary(explorer.trace, 4)
    assert "LShoulder-LElbow" in explorer.limb_name.value
    assert "part A already used" in explorer.table.value


def test_threshold_sliders_rerun_the_grouping(explorer, result):
    assert len(explorer.trace.keypoints) == len(result.people) == 3
    before = explorer.view.value
    explorer.human_score_threshold.value = 0.5  # the ball's 4-part row scores about 0.34
    assert explorer.current_params.human_score_threshold == 0.5
    assert len(explorer.trace.keypoints) == 2 and "low score" in explorer.trace.row_status
    assert "1 dropped (1 low score)" in explorer.summary.value
    explorer.vector_count_threshold.value = explorer.params.paf_steps  # no candidate can pass
    assert len(explorer.trace.keypoints) == 0 and len(explorer.people) == 0
    assert not any(s.passed.any() for s in explorer.trace.limbs)
    explorer.limb.value = 1
    explorer.heat_threshold.value = 0.6
    assert sum(len(p) for p in explorer.trace.peaks) < sum(
        len(p) for p in paf.find_peak_list(result.peaks, result.heatmaps)
    )
    assert explorer.view.value != before


def test_zoom_and_people_checkboxes_rerender(explorer):
    explorer.limb.value = 4
    before = explorer.view.value
    explorer.zoom.value = True
    assert explorer.view.value != before
    zoomed = explorer.view.value
    explorer.show_people.value = False
    assert explorer.view.value != zoomed


def test_explorer_runs_an_estimator_once_and_checks_its_inputs(estimator, image, result):
    pytest.importorskip("ipywidgets")
    from posekit.widgets import GroupingExplorer

    gx = GroupingExplorer(estimator, image, limb=3)
    np.testing.assert_array_equal(gx.result.keypoints, result.keypoints)
    assert gx.params == estimator.params and gx.current_limb == 3
    with pytest.raises(ValueError, match="pass the image the result was computed from"):
        GroupingExplorer(result, image[:100])
    with pytest.raises(TypeError, match="PoseEstimator or an InferenceResult"):
        GroupingExplorer(object(), image)
    with pytest.raises(ValueError, match="limb must be in"):
        GroupingExplorer(result, image, limb=19)


def test_human_score_threshold_changes_the_figure_and_crosses_out_the_dropped_row(result, image):
    pytest.importorskip("ipywidgets")
    from posekit.widgets import GroupingExplorer

    gx = GroupingExplorer(result, image, limb=4)
    before = gx.view.value
    assert "kept" in gx.trace.row_status and "low score" not in gx.trace.row_status
    gx.human_score_threshold.value = 0.5  # the ball's 4-part row scores about 0.34
    assert gx.view.value != before, "human_score_threshold must change the picture, not only the summary"
    ax = _ax()
    g.plot_limb_candidates(image, gx.trace, 4, dropped=True, ax=ax)
    dropped = int(np.flatnonzero(np.asarray(gx.trace.row_status) == "low score")[0])
    crosses = [c for c in ax.collections if c.get_gid() == "dropped-row"]
    assert len(crosses) == 1 and len(crosses[0].get_offsets()) == int(
        gx.trace.people_before_filter.counts[dropped]
    )
    labels = [t.get_text() for t in ax.texts if t.get_gid() == "dropped-row"]
    assert labels == [f"row {dropped} dropped: score 0.34 < 0.5"]
    # at the default threshold nothing is crossed out
    ax = _ax()
    g.plot_limb_candidates(
        image, paf_trace.trace(result.peaks, result.heatmaps, result.pafs), 4, dropped=True, ax=ax
    )
    assert not [c for c in ax.collections if c.get_gid() == "dropped-row"]


def test_explorer_sliders_are_wide_and_the_table_spans_the_width(explorer):
    for slider in (
        explorer.limb,
        explorer.heat_threshold,
        explorer.vector_score_threshold,
        explorer.vector_count_threshold,
        explorer.human_score_threshold,
    ):
        assert slider.description == "" and slider.layout.width == "340px"
        steps = (slider.max - slider.min) / slider.step
        assert 280 / steps >= 2.5, f"{steps:.0f} steps on a ~280 px track"
    top, table = explorer.ui.children
    assert table is explorer.table and explorer.table.layout.overflow == "auto"
    assert explorer.view.layout.max_height == "480px"


def test_limb_zoom_keeps_context_around_a_short_limb(trace, image):
    size = (image.shape[1], image.shape[0])
    k = LIMB_NAMES.index("REye-REar")
    tight = g.limb_zoom(trace, k, size, min_zoom=0.0)
    box = g.limb_zoom(trace, k, size)
    side = g.MIN_ZOOM * max(size)
    assert tight[2] - tight[0] < side and tight[3] - tight[1] < side  # a patch of hair without the minimum
    assert box[2] - box[0] >= side - 1e-6 and box[3] - box[1] >= side - 1e-6
    assert box[0] <= tight[0] and box[1] <= tight[1] and box[2] >= tight[2] and box[3] >= tight[3]
    assert box[0] >= -0.5 and box[1] >= -0.5 and box[2] <= size[0] - 0.5 and box[3] <= size[1] - 0.5


def test_optimal_matching_is_the_maximum_weight_one(trace):
    pytest.importorskip("scipy")
    step = trace.limbs[LIMB_NAMES.index("LShoulder-LElbow")]
    best = g.optimal_matching(step)
    # three passed candidates: #12-#14 0.570, #10-#13 0.284, #10-#14 0.241: greedy and optimal agree
    assert sorted(zip(step.peak_a[best].tolist(), step.peak_b[best].tolist())) == [(10, 13), (12, 14)]
    np.testing.assert_array_equal(best, step.kept)
    table = g.matching_comparison(trace)
    assert table.differ == [] and len(table.rows) == 19


def test_optimal_matching_beats_greedy_where_greedy_blocks_two_peaks(trace):
    pytest.importorskip("scipy")
    step = trace.limbs[LIMB_NAMES.index("LShoulder-LElbow")]
    # the same step with scores where taking the best first blocks both other connections:
    # #10-#13 0.9 first leaves #10-#14 and #12-#13 out; the optimum #10-#14 + #12-#13 = 1.5
    score = np.full(len(step.score), -1.0)
    a, b = step.peak_a, step.peak_b
    score[(a == 10) & (b == 13)] = 0.9
    score[(a == 10) & (b == 14)] = 0.8
    score[(a == 12) & (b == 13)] = 0.7
    fake = dataclasses.replace(step, score=score, passed=score > 0)
    best = g.optimal_matching(fake)
    assert sorted(zip(a[best].tolist(), b[best].tolist())) == [(10, 14), (12, 13)]
    assert score[best].sum() == pytest.approx(1.5)


def test_peak_ids_are_labelled_as_in_the_candidate_view(image, trace):
    ax = _ax()
    g.plot_peak_ids(image, trace, ax=ax)
    texts = {t.get_text() for t in ax.texts}
    n = sum(len(p) for p in trace.peaks)
    assert texts == {f"#{i}" for i in range(n)}
    ax2 = _ax()
    g.plot_limb_candidates(image, trace, 4, ax=ax2)
    shown = {t.get_text() for t in ax2.texts if t.get_text().startswith("#")}
    assert shown and shown <= texts


def test_assembly_table_lists_the_part_b_already_there_steps(trace):
    table = g.assembly_table(trace, {"part B already there"})
    assert [r[0].split()[0] for r in table.rows] == ["17", "18"]
    assert all(r[4] == "part B already there" for r in table.rows)
    everything = g.assembly_table(trace)
    assert len(everything.rows) == sum(len(s.assembly) for s in trace.limbs)


def test_partial_people_table_names_each_rows_parts(trace):
    k = LIMB_NAMES.index("Neck-Nose")
    table = g.partial_people_table(trace, k)
    snap = trace.limbs[k].people_after
    assert [r[0] for r in table.rows] == list(range(len(snap)))
    assert [r[1] for r in table.rows] == [int(c) for c in snap.counts]
    assert all(len(r[3].split()) == r[1] for r in table.rows)
    assert g.partial_people_table(trace, k, rows=[1]).rows == [table.rows[1]]


def test_person_connections_are_the_links_that_built_the_person(trace, image):
    size = (image.shape[1], image.shape[0])
    ball = int(np.argmin(trace.scores))  # the 4-part row on the ball
    table = g.person_connections(trace, ball, size)
    assert table.limbs == [0, 1, 4]  # Neck-RShoulder, Neck-LShoulder, LShoulder-LElbow
    np.testing.assert_allclose(table.scores, [0.123, 0.195, 0.284], atol=5e-4)
    assert [r[7] for r in table.rows] == ["new person", "added part B", "added part B"]
    ax = g.plot_person_connections(image, trace, ball, ax=_ax())
    assert len(_lines(ax, "connection")) == 3
    with pytest.raises(ValueError, match="person must be in"):
        g.person_connections(trace, len(trace.keypoints))
