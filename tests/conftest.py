"""Shared fixtures. The real model comes from the cache that `make test` fills (posekit fetch)."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

# A runner started in the background by a shell without job control (`cmd &`, nohup) hands its children
# SIGINT ignored, and Python then leaves it ignored: the Ctrl-C tests (which send real SIGINTs to this
# process and to the commands it starts) would test nothing. Ctrl-C is Python's default here, and the
# processes the tests start inherit a handled, hence default, SIGINT.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "images"
VIDEOS = ROOT / "videos"
# ../shared/ sits beside the clone for developers and CI; tests that use it skip without it.
SHARED = ROOT.parent / "shared"
ANCHORS = SHARED / "anchor-images"
REFERENCE = SHARED / "reference" / "tfpose-outputs"


@pytest.fixture(scope="session")
def graph_path() -> Path:
    from posekit.network.weights import fetch

    return fetch("mobilenet_thin")


@pytest.fixture(scope="session")
def estimator(graph_path):
    from posekit import PoseEstimator

    return PoseEstimator("mobilenet_thin", input_size=(432, 368))


@pytest.fixture(scope="session")
def bgr():
    """Read a bundled image by file name (BGR uint8)."""
    import cv2

    def read(name: str):
        img = cv2.imread(str(IMAGES / name))
        assert img is not None, name
        return img

    return read


def need_anchors():
    if not ANCHORS.is_dir() or not REFERENCE.is_dir():
        pytest.skip(f"reference images not available at {SHARED} (they are not part of the repo)")


def one_line_error(proc, *fragments) -> str:
    """Assert a finished ``posekit`` subprocess failed with exit 2 and ONE ``posekit: error:`` line holding
    every fragment; returns that line."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-3000:])
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("posekit: error: "), proc.stderr[-3000:]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def small_disk(tmp_path):
    """``small_disk(size)``: a new folder on a tmpfs of ``size`` (mount's syntax: "2m", "1536k"), unmounted
    at the end: a real full disk. Skips where mounting is not allowed (it needs root)."""
    import subprocess

    mounted = []

    def mount(size: str) -> Path:
        if os.geteuid() != 0:
            pytest.skip("mounting a size-limited tmpfs needs root")
        d = tmp_path / f"small{len(mounted)}"
        d.mkdir()
        proc = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(d)], capture_output=True
        )
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode().strip()}")
        mounted.append(d)
        return d

    yield mount
    for d in mounted:
        subprocess.run(["umount", str(d)], check=True)


def run_cli(*args, timeout: float = 300, env=None, peak_memory: bool = False):
    """``posekit ARGS`` in a subprocess (``posekit.cli.main``), output captured as text.

    With ``peak_memory`` the child's stdout ends with ``maxrss KB``: its own peak resident memory
    (``VmHWM``; ``ru_maxrss`` would be inherited across exec from a large pytest process).
    """
    import subprocess
    import sys

    code = "import sys\nfrom posekit.cli import main\nrc = main(sys.argv[1:])\n"
    if peak_memory:
        code += (
            "import re\n"
            "status = open('/proc/self/status').read()\n"
            "print('maxrss', re.search(r'VmHWM:\\s+(\\d+) kB', status).group(1))\n"
        )
    code += "sys.exit(rc)\n"
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


# --------------------------------------------------------------------------- PAF grouping's fields
# The painted fields come from posekit.synthetic (the benchmarks use the same builders); the scenes
# below are those several test files share, on the grid of a 432x368 input upsampled x4.

GRID = (216, 184)  #: (width, height) in cells


class Scene(NamedTuple):
    """Stick people ({part: (x, y) cell} each) and the fields painted for them."""

    people: list
    peaks: np.ndarray
    heatmaps: np.ndarray
    pafs: np.ndarray

    @property
    def fields(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.peaks, self.heatmaps, self.pafs


def _scene(people) -> Scene:
    from posekit.synthetic import make_fields

    return Scene(people, *make_fields(people, GRID))


@pytest.fixture
def one_person() -> Scene:
    from posekit.synthetic import stick_person

    return _scene([stick_person(100, 92, 140)])


@pytest.fixture
def two_people() -> Scene:
    from posekit.synthetic import stick_person

    return _scene([stick_person(60, 92, 140), stick_person(150, 95, 130)])


@pytest.fixture
def four_people() -> Scene:
    from posekit.synthetic import stick_person

    return _scene([stick_person(40 + 45 * i, 95, 120) for i in range(4)])


@pytest.fixture
def merge_quirk():
    """``posekit.synthetic.merge_quirk_scene()``: peaks, heatmaps, pafs, limb table."""
    from posekit.synthetic import merge_quirk_scene

    return merge_quirk_scene()


@pytest.fixture
def three_rows():
    """``posekit.synthetic.three_rows_scene()``: peaks, heatmaps, pafs, limb table."""
    from posekit.synthetic import three_rows_scene

    return three_rows_scene()


#: The kinds of ``random_case``, by seed modulo 6.
RANDOM_KINDS = ("empty", "one_peak", "random_peaks", "people", "touching", "nan")


def random_case(seed: int):
    """(kind, peaks, heatmaps, pafs, params) for one seeded random case of the grouping: no peak, one
    peak, random peaks, stick people with noise and clutter (apart or touching), NaN anywhere."""
    import dataclasses

    from posekit.params import TFPOSE_DEFAULTS
    from posekit.synthetic import make_fields, smooth_random_paf, stick_person

    rng = np.random.default_rng(seed)
    kind = RANDOM_KINDS[seed % len(RANDOM_KINDS)]
    h, w = int(rng.integers(24, 120)), int(rng.integers(24, 140))
    params = TFPOSE_DEFAULTS
    if rng.random() < 0.3:
        params = dataclasses.replace(
            TFPOSE_DEFAULTS,
            vector_count_threshold=int(rng.integers(3, 9)),
            part_count_threshold=int(rng.integers(2, 6)),
            human_score_threshold=float(rng.uniform(0.0, 0.8)),
            paf_steps=int(rng.integers(5, 15)),
        )
    heat = rng.uniform(-0.05, 1.0, (h, w, 19)).astype(np.float32)
    peaks = np.zeros((h, w, 19), np.float32)
    pafs = smooth_random_paf(rng, (w, h))
    if kind == "empty":
        peaks[:] = rng.uniform(-1, TFPOSE_DEFAULTS.heat_threshold, peaks.shape).astype(np.float32)
    elif kind == "one_peak":
        peaks[rng.integers(h), rng.integers(w), rng.integers(18)] = 0.5
    elif kind in ("random_peaks", "nan"):
        n = int(rng.integers(1, 15))
        for part in range(18):
            k = int(rng.integers(0, n + 1))
            peaks[rng.integers(0, h, k), rng.integers(0, w, k), part] = rng.uniform(0.01, 1, k)
        if kind == "nan":
            for arr in (peaks, heat, pafs):
                m = rng.random(arr.shape) < rng.choice([0.001, 0.02, 0.2])
                arr[m] = np.nan
            # NaN exactly on some peaks' heat values and on the PAF of whole blocks
            ys, xs, cs = np.nonzero(peaks[:, :, :18] > 0.05)
            pick = rng.random(len(ys)) < 0.2
            heat[ys[pick], xs[pick], cs[pick]] = np.nan
    else:  # people / touching: synthetic stick people plus noise and clutter
        n = int(rng.integers(1, 7))
        scale = float(rng.uniform(0.5, 0.9)) * h
        xs0 = w / 2 + rng.normal(0, 0.08 * scale, n) if kind == "touching" else rng.uniform(0, w, n)
        people = []
        for cx in xs0:
            person = stick_person(cx, h / 2 + rng.normal(0, 0.05 * h), scale * rng.uniform(0.8, 1.1))
            person = {
                p: xy for p, xy in person.items() if 0 <= xy[0] < w and 0 <= xy[1] < h and rng.random() > 0.1
            }
            people.append(person)
        skip = tuple(int(k) for k in np.flatnonzero(rng.random(19) < 0.1))
        peaks, heat, pafs = make_fields(people, (w, h), sigma=float(rng.uniform(1.0, 3.0)), skip_limbs=skip)
        pafs += rng.normal(0, 0.2, pafs.shape).astype(np.float32)
        heat += rng.normal(0, 0.02, heat.shape).astype(np.float32)
        k = int(rng.integers(0, 30))
        peaks[rng.integers(0, h, k), rng.integers(0, w, k), rng.integers(0, 18, k)] = rng.uniform(0.06, 1, k)
    return kind, peaks, heat, pafs, params


def binding_kwargs(**change) -> dict:
    """The keyword arguments of the extension's ``_pafprocess.group`` for ``TFPOSE_DEFAULTS`` and the
    full skeleton, with ``change`` applied (the thresholds are read from the params, never copied)."""
    from posekit.params import TFPOSE_DEFAULTS
    from posekit.skeleton import NUM_PARTS, START_LIMBS

    names = (
        "heat_threshold",
        "vector_score_threshold",
        "vector_count_threshold",
        "part_count_threshold",
        "human_score_threshold",
        "paf_steps",
        "max_peaks_per_part",
    )
    kwargs = {name: getattr(TFPOSE_DEFAULTS, name) for name in names}
    return {**kwargs, "num_parts": NUM_PARTS, "start_limbs": START_LIMBS, **change}


def mode_agreement(paths, modes):
    """An exact estimator against a faster mode on ``paths``: (images whose people count differs, keypoints
    kept within 1.5 grid cells, keypoints of the exact mode) — ``posekit.match.keypoints_kept`` summed."""
    import cv2

    from posekit.match import keypoints_kept

    exact, fast = modes
    count_differs, kept, total = [], 0, 0
    for path in paths:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        a, b = exact.inference(image), fast.inference(image)
        if len(a) != len(b):
            count_differs.append(path.name)
        k, t = keypoints_kept(a.keypoints, b.keypoints, a.image_size, exact.input_size)
        kept, total = kept + k, total + t
    return count_differs, kept, total
