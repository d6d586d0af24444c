"""PAF grouping on hostile input: the peak cap bounds the work, Ctrl-C interrupts the C++ grouping,
and the binding checks every shape before it reads memory."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import binding_kwargs

from posekit import paf
from posekit.params import TFPOSE_DEFAULTS, PostprocessParams
from posekit.skeleton import LIMBS, NUM_PARTS
from posekit.synthetic import smooth_random_paf

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = paf.available_backends()
HAVE_CPP = "cpp" in BACKENDS
NEED_CPP = pytest.mark.skipif(
    not HAVE_CPP, reason="posekit._pafprocess is not built (run `pip install -e .`)"
)
H, W = 184, 216


def all_peaks_frame(seed: int = 0, *, ties: bool = False):
    """Every pixel a peak of every part (184 x 216), random heat and block-random PAFs."""
    rng = np.random.default_rng(seed)
    if ties:  # few distinct values: the cap's tie order decides
        peaks = rng.choice(np.float32([0.2, 0.5, 0.9]), (H, W, 19)).astype(np.float32)
    else:
        peaks = rng.uniform(0.06, 1.0, (H, W, 19)).astype(np.float32)
    heat = rng.uniform(0.0, 1.0, (H, W, 19)).astype(np.float32)
    return peaks, heat, np.ascontiguousarray(smooth_random_paf(rng, (W, H)))


def test_cap_is_a_validated_param():
    assert TFPOSE_DEFAULTS.max_peaks_per_part == 127
    assert dataclasses.replace(TFPOSE_DEFAULTS, max_peaks_per_part=1).max_peaks_per_part == 1
    for bad in (0, -3, 2.5, "10", True, None):
        with pytest.raises(ValueError, match="max_peaks_per_part must be a positive integer"):
            PostprocessParams(max_peaks_per_part=bad)


def test_cap_keeps_the_strongest_peaks_in_scan_order():
    peaks, heat, _ = all_peaks_frame(1)
    lists = paf.find_peak_list(peaks, heat, 0.05)
    assert [len(p) for p in lists] == [127] * NUM_PARTS
    np.testing.assert_array_equal(np.concatenate(lists)[:, 0], np.arange(127 * NUM_PARTS))
    for part, arr in enumerate(lists):
        x, y = arr[:, 1].astype(int), arr[:, 2].astype(int)
        scan = y * W + x
        assert np.all(np.diff(scan) > 0)  # scan order: row, then column
        values = peaks[:, :, part].ravel()
        # exactly the 127 highest values (they are distinct here)
        assert set(scan.tolist()) == set(np.argsort(-values, kind="stable")[:127].tolist())
        np.testing.assert_array_equal(arr[:, 3], heat[y, x, part])
    small = paf.find_peak_list(peaks, heat, 0.05, max_peaks_per_part=5)
    assert [len(p) for p in small] == [5] * NUM_PARTS


def test_cap_ties_go_to_the_earlier_scan_position():
    peaks = np.zeros((4, 6, 19), np.float32)
    peaks[:, :, 3] = 0.5  # 24 equal peaks of part 3
    peaks[3, 5, 3] = 0.7  # one stronger, last in scan order
    lists = paf.find_peak_list(peaks, peaks, 0.05, max_peaks_per_part=4)
    got = [(int(x), int(y)) for x, y in lists[3][:, 1:3]]
    assert got == [(0, 0), (1, 0), (2, 0), (5, 3)]


def test_cap_leaves_normal_frames_unchanged(four_people):
    """Below the cap nothing changes; a cap of 1 changes the people (so the cap is applied)."""
    peaks, heat, pafs = four_people.fields
    for backend in BACKENDS:
        ref = paf.group_people(peaks, heat, pafs, backend=backend)
        assert len(ref[0]) == 4
        same = paf.group_people(
            peaks,
            heat,
            pafs,
            params=dataclasses.replace(TFPOSE_DEFAULTS, max_peaks_per_part=4),
            backend=backend,
        )
        np.testing.assert_array_equal(same[0], ref[0])
        np.testing.assert_array_equal(same[1], ref[1])
        one = paf.group_people(
            peaks,
            heat,
            pafs,
            params=dataclasses.replace(TFPOSE_DEFAULTS, max_peaks_per_part=1),
            backend=backend,
        )
        assert len(one[0]) == 1


@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
def test_all_peaks_frame_is_fast_and_backends_agree(ties):
    peaks, heat, pafs = all_peaks_frame(2, ties=ties)
    results = {}
    for backend in BACKENDS:
        t0 = time.perf_counter()
        results[backend] = paf.group_people(peaks, heat, pafs, backend=backend)
        elapsed = time.perf_counter() - t0
        assert elapsed < 10.0, f"{backend}: {elapsed:.1f} s"
    kps, scores = results[BACKENDS[0]]
    assert kps.shape[1:] == (18, 3) and len(kps) > 0  # random PAFs still connect some pairs
    # every keypoint is one of the 127 kept peaks of its part
    lists = paf.find_peak_list(peaks, heat, TFPOSE_DEFAULTS.heat_threshold)
    for part in range(NUM_PARTS):
        kept = {(int(x), int(y)) for x, y in lists[part][:, 1:3]}
        have = ~np.isnan(kps[:, part, 0])
        assert {(int(x), int(y)) for x, y in kps[have, part, :2]} <= kept
    if len(results) == 2:
        np.testing.assert_array_equal(results["cpp"][0], results["numpy"][0])
        np.testing.assert_array_equal(results["cpp"][1], results["numpy"][1])


_SLOW_GROUPING = """
    import sys, time
    import numpy as np
    from posekit import paf
    from posekit.params import PostprocessParams
    H, W = 184, 216
    peaks = np.full((H, W, 19), 0.5, np.float32)   # every pixel a peak of every part
    pafs = np.zeros((H, W, 38), np.float32)        # no candidate passes: no memory grows
    params = PostprocessParams(max_peaks_per_part=H * W)  # no cap: minutes of work
    print("start", flush=True)
    t0 = time.perf_counter()
    try:
        paf.group_people(peaks, peaks, pafs, params=params, backend="cpp")
    except KeyboardInterrupt:
        print(f"interrupted {time.perf_counter() - t0:.3f}", flush=True)
        # the extension still works after an interrupted call
        small, flat = np.zeros((32, 32, 19), np.float32), np.zeros((32, 32, 38), np.float32)
        print("after", len(paf.group_people(small, small, flat, backend="cpp")[0]))
        raise
    print("returned", flush=True)
"""


@NEED_CPP
@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
def test_ctrl_c_interrupts_a_long_cpp_grouping():
    env = {k: v for k, v in os.environ.items() if k != "POSEKIT_PURE_PYTHON"}
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_SLOW_GROUPING)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "start"
        time.sleep(1.0)  # well inside the C++ call (it would run for minutes)
        assert proc.poll() is None, proc.stderr.read()
        sent = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        waited = time.perf_counter() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert waited < 5.0, waited
    lines = out.split("\n")
    assert lines[0].startswith("interrupted "), (out, err)
    assert float(lines[0].split()[1]) < 6.0
    assert lines[1] == "after 0"
    assert "returned" not in out
    assert proc.returncode != 0
    assert err.rstrip().endswith("KeyboardInterrupt"), err


@NEED_CPP
def test_binding_checks_shapes_before_reading():
    """Mismatched sizes fail in the binding with the argument's name, never read out of bounds."""
    from posekit import _pafprocess

    peaks, heat, pafs = all_peaks_frame(3)
    base = binding_kwargs(max_peaks_per_part=5)
    small = np.ascontiguousarray(pafs[:10, :10])
    cases = [
        ("pafs must have the same height and width", (peaks, heat, small, LIMBS), {}),
        ("heatmaps must have the same height", (peaks, np.ascontiguousarray(heat[:, :5]), pafs, LIMBS), {}),
        ("peaks must have at least 30 channels", (peaks, heat, pafs, LIMBS), {"num_parts": 30}),
        ("limbs\\[0\\] has part index 1 outside 0..0", (peaks, heat, pafs, LIMBS), {"num_parts": 1}),
        (
            "limbs\\[1\\] has PAF channel 99",
            (peaks, heat, pafs, np.array([[0, 1, 0, 1], [0, 1, 99, 1]], np.int32)),
            {},
        ),
        ("max_peaks_per_part must be >= 1", (peaks, heat, pafs, LIMBS), {"max_peaks_per_part": -1}),
    ]
    for message, args, change in cases:
        with pytest.raises(ValueError, match=message):
            _pafprocess.group(*args, **{**base, **change})
    # The same mistakes through the public function, on every backend, name the argument too.
    for backend in BACKENDS:
        with pytest.raises(ValueError, match="pafs"):
            paf.group_people(peaks, heat, small, backend=backend)
        with pytest.raises(ValueError, match="num_parts"):
            paf.group_people(peaks, heat, pafs, num_parts=0, backend=backend)
        with pytest.raises(ValueError, match="limbs"):
            paf.group_people(peaks, heat, pafs, num_parts=5, backend=backend)


def test_numpy_candidate_memory_is_bounded():
    """Without a cap the NumPy twin scores candidates in chunks: 2 parts x 2000 peaks (4 M pairs)
    finish without allocating (pairs x steps) arrays."""
    rng = np.random.default_rng(5)
    h, w = 100, 40
    peaks = np.zeros((h, w, 19), np.float32)
    peaks[:50, :, 1] = rng.uniform(0.1, 1, (50, w))  # Neck: 2000 peaks
    peaks[50:, :, 2] = rng.uniform(0.1, 1, (50, w))  # RShoulder: 2000 peaks
    pafs = np.zeros((h, w, 38), np.float32)
    params = dataclasses.replace(TFPOSE_DEFAULTS, max_peaks_per_part=10**6)
    table = np.ascontiguousarray(LIMBS[:1])
    t0 = time.perf_counter()
    kps, _ = paf.group_people(peaks, peaks, pafs, params=params, limbs=table, backend="numpy")
    assert len(kps) == 0 and time.perf_counter() - t0 < 60
    assert paf._paf_numpy._PAIRS_PER_CHUNK < 2000 * 2000 // 10


@pytest.mark.parametrize("backend", BACKENDS)
def test_peak_threshold_compares_in_double(backend):
    """The C++ peak scan compares float32 values with a float32 bound; a value is a peak exactly when
    it is above the double threshold, also for the float next to the threshold and the threshold itself."""
    limbs = np.array([[0, 1, 0, 1]], np.int32)
    params = dataclasses.replace(TFPOSE_DEFAULTS, part_count_threshold=2, human_score_threshold=0.0)
    pafs = np.zeros((8, 8, 38), np.float32)
    pafs[1, :, 0] = 1.0  # the limb 0 -> 1 along row 1: found iff part 0's peak is found
    f32 = np.float32
    cases = [
        (0.05, f32(0.05), True),  # float32(0.05) = 0.0500000007 > 0.05
        (0.05, np.nextafter(f32(0.05), f32(0)), False),
        (0.25, f32(0.25), False),  # a threshold float32 holds: equal is not above
        (0.25, np.nextafter(f32(0.25), f32(1)), True),
        (float("inf"), f32(np.inf), False),
        (float("-inf"), f32(-3e38), True),
        (1e300, f32(3e38), False),
    ]
    for thr, value, found in cases:
        peaks = np.zeros((8, 8, 19), np.float32)
        peaks[1, 1, 0], peaks[1, 6, 1] = value, f32(3e38)
        if thr == float("-inf"):
            peaks[:, :, :2] = f32(-3e38)  # every pixel: keep one peak per part (the cap)
            peaks[1, 1, 0], peaks[1, 6, 1] = f32(1), f32(1)
        params_t = dataclasses.replace(params, heat_threshold=thr, max_peaks_per_part=1)
        kps, _ = paf.group_people(
            peaks, peaks, pafs, params=params_t, limbs=limbs, num_parts=2, start_limbs=1, backend=backend
        )
        assert len(kps) == int(found), (thr, value)
        assert len(paf.find_peak_list(peaks, peaks, thr, max_peaks_per_part=1, num_parts=2)[0]) == int(found)
