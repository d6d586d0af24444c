"""posekit.paf_trace.trace: the grouping's decisions as data, equal to what group_people does.

The final people of a trace must equal ``group_people`` on both backends exactly; the recorded
criterion parts must recompute the scores; the kept candidates must be a matching; the partial
people must evolve as the recorded assembly actions say.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from conftest import random_case

from posekit import paf, paf_trace
from posekit.params import TFPOSE_DEFAULTS
from posekit.skeleton import LIMBS, NUM_PARTS
from posekit.synthetic import make_fields

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = paf.available_backends()


def assert_people_equal(got, want, context=""):
    (gk, gs), (wk, ws) = got, want
    assert gk.dtype == wk.dtype == np.float32 and gs.dtype == ws.dtype == np.float32, context
    np.testing.assert_array_equal(gk, wk, err_msg=context)  # NaNs in the same places
    np.testing.assert_array_equal(gs, ws, err_msg=context)


def check_trace(t: paf_trace.GroupingTrace, peaks, heatmaps, pafs, *, context="") -> None:
    """Every invariant of a trace against the fields it was computed from."""
    p = t.params
    S = int(p.paf_steps)
    height = peaks.shape[0]
    assert t.grid_size == (peaks.shape[1], peaks.shape[0])
    assert len(t.peaks) == t.num_parts
    np.testing.assert_array_equal(
        np.concatenate([a for a in t.peaks]) if t.peaks else np.zeros((0, 4)),
        np.concatenate(
            paf.find_peak_list(peaks, heatmaps, p.heat_threshold, max_peaks_per_part=p.max_peaks_per_part)
        ),
    )
    assert [s.index for s in t.limbs] == list(range(len(t.limb_table)))
    prev_rows = 0
    for step in t.limbs:
        ctx = f"{context} limb {step.index}"
        assert (step.part_a, step.part_b, step.paf_x, step.paf_y) == tuple(t.limb_table[step.index].tolist())
        C = len(step.peak_a)
        pa, pb = t.peaks[step.part_a], t.peaks[step.part_b]
        same_pixel = sum(1 for a in pa[:, 1:3].tolist() for b in pb[:, 1:3].tolist() if a == b)
        want_c = len(pa) * len(pb) - same_pixel  # pairs at the same pixel are not candidates
        assert want_c == C, ctx
        for name, shape in (
            ("peak_b", (C,)),
            ("xy_a", (C, 2)),
            ("xy_b", (C, 2)),
            ("sample_xy", (C, S, 2)),
            ("sample_dot", (C, S)),
            ("mean_dot", (C,)),
            ("distance_penalty", (C,)),
            ("count_above", (C,)),
            ("score", (C,)),
            ("passed", (C,)),
            ("match_rank", (C,)),
            ("kept", (C,)),
        ):
            assert getattr(step, name).shape == shape, (ctx, name)
        assert len(step.match_status) == C
        if C == 0:
            assert step.assembly == ()
        else:
            # candidate ends are the listed peaks
            line = np.concatenate(t.peaks)
            np.testing.assert_array_equal(line[step.peak_a, 1:3], step.xy_a)
            np.testing.assert_array_equal(line[step.peak_b, 1:3], step.xy_b)
            assert set(step.peak_a.tolist()) <= set(pa[:, 0].astype(int).tolist())
            # sample points: a + i * d / S rounded half up, clamped to the grid
            d = step.xy_b - step.xy_a
            i = np.arange(S)
            want_xy = np.floor(step.xy_a[:, None, :] + i[None, :, None] * d[:, None, :] / S + 0.5 + 1e-9)
            want_xy[..., 0] = np.clip(want_xy[..., 0], 0, peaks.shape[1] - 1)
            want_xy[..., 1] = np.clip(want_xy[..., 1], 0, peaks.shape[0] - 1)
            np.testing.assert_array_equal(step.sample_xy, want_xy.astype(np.int64), err_msg=ctx)
            # dots: the PAF at the samples along the unit vector
            df = d.astype(np.float64)
            norm = np.sqrt(df[:, 0] * df[:, 0] + df[:, 1] * df[:, 1])  # |b - a|, as C++ computes it
            u = d / norm[:, None]
            sx, sy = step.sample_xy[..., 0], step.sample_xy[..., 1]
            v = np.stack([pafs[sy, sx, step.paf_x], pafs[sy, sx, step.paf_y]], axis=-1).astype(np.float64)
            with np.errstate(all="ignore"):
                dots = u[:, None, 0] * v[..., 0] + u[:, None, 1] * v[..., 1]
            np.testing.assert_array_equal(step.sample_dot, dots, err_msg=ctx)
            # criterion parts recompute the score, exactly
            total = np.zeros(C)
            for k in range(S):
                total = total + step.sample_dot[:, k]
            np.testing.assert_array_equal(step.mean_dot, total / S, err_msg=ctx)
            np.testing.assert_array_equal(step.distance_penalty, np.minimum(0.0, 0.5 * height / norm - 1.0))
            np.testing.assert_array_equal(step.score, step.mean_dot + step.distance_penalty, err_msg=ctx)
            np.testing.assert_array_equal(
                step.count_above, (step.sample_dot > p.vector_score_threshold).sum(axis=1), err_msg=ctx
            )
            np.testing.assert_array_equal(
                step.passed, (step.count_above > p.vector_count_threshold) & (step.score > 0), err_msg=ctx
            )
        # matching: statuses, ranks, a matching, and every rejection explained
        status = np.array(step.match_status, dtype=object)
        assert set(step.match_status) <= set(paf_trace.MATCH_STATUSES)
        np.testing.assert_array_equal(status == "failed criterion", ~step.passed)
        np.testing.assert_array_equal(step.kept, status == "kept")
        assert np.all(step.match_rank[~step.passed] == -1)
        ranks = step.match_rank[step.passed]
        assert sorted(ranks.tolist()) == list(range(len(ranks)))
        by_rank = np.argsort(np.where(step.passed, step.match_rank, C))[: len(ranks)]
        assert np.all(np.diff(step.score[by_rank]) <= 0)  # greedy order: best first
        assert len(set(step.peak_a[step.kept].tolist())) == int(step.kept.sum())
        assert len(set(step.peak_b[step.kept].tolist())) == int(step.kept.sum())
        for c in np.flatnonzero(step.passed & ~step.kept).tolist():
            end = "peak_a" if step.match_status[c] == "part A already used" else "peak_b"
            same = (getattr(step, end) == getattr(step, end)[c]) & step.kept
            winners = np.flatnonzero(same & (step.match_rank < step.match_rank[c]))
            assert len(winners) == 1, (ctx, c)
            assert step.score[winners[0]] >= step.score[c]
            if end == "peak_b":  # A was free: no earlier kept candidate holds it
                assert not np.any(
                    (step.peak_a == step.peak_a[c]) & step.kept & (step.match_rank < step.match_rank[c])
                )
        # assembly: the kept connections in matching order, people change as the actions say
        kept_in_order = np.flatnonzero(step.kept)[np.argsort(step.match_rank[step.kept])]
        assert [(a.peak_a, a.peak_b, a.score) for a in step.assembly] == [
            (int(step.peak_a[c]), int(step.peak_b[c]), float(step.score[c])) for c in kept_in_order
        ]
        rows = prev_rows
        for a in step.assembly:
            assert a.action in paf_trace.ACTIONS
            n_found = {
                "new person": 0,
                "not started": 0,
                "added part B": 1,
                "part B already there": 1,
                "merged": 2,
                "added part B to the first": 2,
            }.get(a.action)
            if n_found is None:
                assert len(a.rows) >= 3
            else:
                assert len(a.rows) == n_found, (ctx, a)
            if a.action == "not started":
                assert step.index >= t.start_limbs
            if a.action == "new person":
                assert step.index < t.start_limbs
            rows += {"new person": 1, "merged": -1}.get(a.action, 0)
        people = step.people_after
        assert len(people) == rows == people.peak_ids.shape[0] == len(people.totals)
        assert people.peak_ids.shape[1:] == (t.num_parts,)
        prev_rows = rows
    # the end: filter reasons and the people
    rows = t.people_before_filter
    assert rows is (t.limbs[-1].people_after if t.limbs else rows)
    assert len(t.row_status) == len(rows)
    with np.errstate(all="ignore"):
        mean = rows.totals / rows.counts
    for r, st in enumerate(t.row_status):
        if rows.counts[r] < p.part_count_threshold:
            assert st == "too few parts"
        elif mean[r] < p.human_score_threshold:
            assert st == "low score"
        else:
            assert st == "kept"
    np.testing.assert_array_equal(t.scores, mean[t.kept_rows].astype(np.float32))
    assert t.keypoints.shape == (len(t.kept_rows), t.num_parts, 3)


def check_against_group_people(t, peaks, heatmaps, pafs, context="", **kw):
    for backend in BACKENDS:
        want = paf.group_people(peaks, heatmaps, pafs, backend=backend, params=t.params, **kw)
        assert_people_equal((t.keypoints, t.scores), want, f"{context} ({backend})")


# ---------------------------------------------------------------------------------------------
# Hand-built fields: one person, and each assembly action
# ---------------------------------------------------------------------------------------------


def test_one_person_step_by_step(one_person):
    peaks, heat, pafs = one_person.fields
    t = paf_trace.trace(peaks, heat, pafs)
    check_trace(t, peaks, heat, pafs)
    check_against_group_people(t, peaks, heat, pafs)
    assert len(t.limbs) == len(LIMBS) and t.num_parts == NUM_PARTS and t.start_limbs == 17
    # one peak per part: one candidate per limb, kept; the person grows limb by limb
    assert [len(s.peak_a) for s in t.limbs] == [1] * 19
    assert all(s.kept.tolist() == [True] for s in t.limbs)
    assert t.limbs[0].assembly[0].action == "new person"
    assert [s.assembly[0].action for s in t.limbs[1:17]] == ["added part B"] * 16
    assert [s.assembly[0].action for s in t.limbs[17:]] == ["part B already there"] * 2
    assert [int(s.people_after.counts[0]) for s in t.limbs] == [2, *range(3, 19), 18, 18]
    assert t.row_status == ("kept",)
    # a unit PAF along every limb: every dot is 1 and there is no length penalty
    np.testing.assert_allclose(t.limbs[0].sample_dot, 1.0, atol=1e-6)
    assert t.limbs[0].distance_penalty.tolist() == [0.0]
    # frozen, read-only
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.scores = None
    with pytest.raises(ValueError):
        t.limbs[0].score[0] = 5.0
    with pytest.raises(ValueError):
        t.people_before_filter.peak_ids[0, 0] = 3


def test_two_people_matching_rejections(two_people):
    peaks, heat, pafs = two_people.fields
    t = paf_trace.trace(peaks, heat, pafs)
    check_trace(t, peaks, heat, pafs)
    check_against_group_people(t, peaks, heat, pafs)
    first = t.limbs[0]
    assert len(first.peak_a) == 4 and int(first.kept.sum()) == 2
    # the cross pairs fail the criterion (the PAF points elsewhere) or lose to the straight ones
    assert [a.action for a in first.assembly] == ["new person", "new person"]
    assert t.row_status == ("kept", "kept")


def test_merge_ignore_not_started_and_drop_reasons(merge_quirk, three_rows, one_person):
    # limb 2 merges two rows (tf-pose's "peak id 0 counts as absent" case)
    peaks, heat, pafs, limbs = merge_quirk
    t = paf_trace.trace(peaks, heat, pafs, limbs=limbs)
    check_trace(t, peaks, heat, pafs)
    check_against_group_people(t, peaks, heat, pafs, limbs=limbs)
    assert [a.action for a in t.limbs[2].assembly] == ["merged"]
    assert t.limbs[2].assembly[0].rows == (0, 1)
    assert len(t.limbs[1].people_after) == 2 and len(t.limbs[2].people_after) == 1

    # three rows: ignored (test_paf's test_connection_found_in_three_rows_is_ignored)
    peaks, heat, pafs, table = three_rows
    params = dataclasses.replace(TFPOSE_DEFAULTS, part_count_threshold=3)
    t = paf_trace.trace(peaks, heat, pafs, limbs=table, params=params)
    check_trace(t, peaks, heat, pafs)
    check_against_group_people(t, peaks, heat, pafs, limbs=table)
    assert [a.action for a in t.limbs[3].assembly] == ["added part B to the first"]
    assert [a.action for a in t.limbs[4].assembly] == ["ignored"]
    assert t.limbs[4].assembly[0].rows == (0, 1, 2)
    assert t.row_status == ("too few parts", "kept", "too few parts")

    # a shoulder-ear pair alone: not started; a low-score person is dropped with that reason
    pair = {2: (40, 40), 16: (60, 20)}
    peaks, heat, pafs = make_fields([pair], (96, 64))
    t = paf_trace.trace(
        peaks, heat, pafs, params=dataclasses.replace(TFPOSE_DEFAULTS, part_count_threshold=2)
    )
    check_trace(t, peaks, heat, pafs)
    assert [a.action for a in t.limbs[17].assembly] == ["not started"]
    assert len(t.people_before_filter) == 0 and t.keypoints.shape == (0, 18, 3)
    peaks, heat, pafs = one_person.fields
    picky = dataclasses.replace(TFPOSE_DEFAULTS, human_score_threshold=2.0)
    t = paf_trace.trace(peaks, heat, pafs, params=picky)
    check_trace(t, peaks, heat, pafs)
    assert t.row_status == ("low score",) and len(t.scores) == 0


def test_no_peaks_and_bad_input():
    peaks, heat, pafs = make_fields([], (54, 46))
    t = paf_trace.trace(peaks, heat, pafs)
    check_trace(t, peaks, heat, pafs)
    assert all(len(s.peak_a) == 0 and s.sample_xy.shape == (0, 10, 2) for s in t.limbs)
    assert t.keypoints.shape == (0, 18, 3) and t.row_status == ()
    with pytest.raises(TypeError, match="pafs"):
        paf_trace.trace(peaks, heat, pafs.astype(np.float64))
    with pytest.raises(ValueError, match="limbs"):
        paf_trace.trace(peaks, heat, pafs, limbs=np.array([[0, 18, 0, 1]], np.int32))


def test_trace_honours_the_peak_cap(four_people):
    peaks, heat, pafs = four_people.fields
    params = dataclasses.replace(TFPOSE_DEFAULTS, max_peaks_per_part=2)
    t = paf_trace.trace(peaks, heat, pafs, params=params)
    check_trace(t, peaks, heat, pafs)
    check_against_group_people(t, peaks, heat, pafs)
    assert all(len(p) == 2 for p in t.peaks)


# ---------------------------------------------------------------------------------------------
# Seeded random fields and real network output
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk", range(4))
def test_random_fields(chunk):
    found = 0
    for seed in range(chunk, 60, 4):
        kind, peaks, heat, pafs, params = random_case(seed)
        t = paf_trace.trace(peaks, heat, pafs, params=params)
        check_trace(t, peaks, heat, pafs, context=f"seed {seed} ({kind})")
        check_against_group_people(t, peaks, heat, pafs, context=f"seed {seed} ({kind})")
        found += len(t.scores)
    assert found > 0


@pytest.mark.slow
def test_bundled_images(estimator, bgr):
    names = sorted(p.name for p in (ROOT / "images").iterdir() if p.suffix.lower() in (".jpg", ".png"))
    assert names
    total = 0
    for name in names:
        result = estimator.inference(bgr(name))
        t = paf_trace.trace(result.peaks, result.heatmaps, result.pafs)
        check_trace(t, result.peaks, result.heatmaps, result.pafs, context=name)
        check_against_group_people(t, result.peaks, result.heatmaps, result.pafs, context=name)
        assert len(t.scores) == len(result.people), name
        total += len(t.scores)
    assert total > 0
