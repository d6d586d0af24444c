"""pafprocess_cpp/ as a standalone C++ library: the CMake build, its ctest, and the example program
giving the same people as posekit on a bundled image's network fields."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "pafprocess_cpp"


def _cmake() -> str:
    """cmake from the environment's scripts (the `cmake` package of the test extra) or the PATH."""
    here = shutil.which("cmake", path=str(Path(sys.executable).parent))
    found = here or shutil.which("cmake")
    if found is None:
        pytest.skip("cmake not found: pip install cmake (it is in posekit's test extra)")
    return found


def _run(args, cwd=None, timeout=600) -> subprocess.CompletedProcess:
    env = {**os.environ, "CTEST_OUTPUT_ON_FAILURE": "1"}
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> Path:
    """Configure and build pafprocess_cpp/ with CMake in a temporary folder (no Python involved)."""
    cmake = _cmake()
    out = tmp_path_factory.mktemp("pafprocess_build")
    configure = _run([cmake, "-S", str(SOURCE), "-B", str(out), "-DCMAKE_BUILD_TYPE=Release"])
    assert configure.returncode == 0, configure.stdout + configure.stderr
    built = _run([cmake, "--build", str(out), "--parallel", "2"])
    assert built.returncode == 0, built.stdout + built.stderr
    return out


def _example(build: Path) -> Path:
    exe = build / ("pafprocess_example.exe" if os.name == "nt" else "pafprocess_example")
    if not exe.exists():  # multi-configuration generators put it in a folder per configuration
        exe = next(build.rglob(exe.name))
    return exe


def test_ctest_passes(build):
    ctest = shutil.which("ctest", path=str(Path(_cmake()).parent)) or "ctest"
    proc = _run([ctest, "--test-dir", str(build), "-C", "Release"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # CMake 3.25: "100% tests passed, 0 tests failed out of 1"; newer: "100% tests passed out of 1"
    assert re.search(r"100% tests passed(, 0 tests failed)? out of 1\b", proc.stdout), proc.stdout


def test_example_bad_input_is_one_line(build, tmp_path):
    exe = _example(build)
    np.save(tmp_path / "heat64.npy", np.zeros((4, 5, 19), np.float64))
    np.save(tmp_path / "pafs.npy", np.zeros((4, 5, 38), np.float32))
    np.save(tmp_path / "heat.npy", np.zeros((4, 5, 19), np.float32))
    cases = [
        ([tmp_path / "missing.npy", tmp_path / "pafs.npy"], "missing.npy: cannot open"),
        ([tmp_path / "heat64.npy", tmp_path / "pafs.npy"], "dtype <f8 not supported"),
        ([tmp_path / "pafs.npy", tmp_path / "heat.npy"], "pafs must have at least 38 channels"),
        ([tmp_path / "heat.npy", tmp_path / "pafs.npy", "0"], "UPSAMPLE must be an integer in 1..25"),
    ]
    for args, message in cases:
        proc = _run([str(exe), *map(str, args)])
        assert proc.returncode == 2, proc.stdout
        lines = proc.stderr.strip().splitlines()
        assert (
            len(lines) == 1 and lines[0].startswith("pafprocess_example: error:") and message in lines[0]
        ), lines
    empty = _run([str(exe), str(tmp_path / "heat.npy"), str(tmp_path / "pafs.npy")])
    assert empty.returncode == 0 and empty.stdout.startswith("0 people (grid 20 x 16;"), empty.stdout


def _parse(stdout: str) -> tuple[np.ndarray, np.ndarray]:
    """The example's people: keypoints (P, 18, 3) with missing = NaN, NaN, 0; scores (P,)."""
    lines = stdout.splitlines()
    n = int(lines[0].split()[0])
    kps, scores, i = [], [], 1
    for _ in range(n):
        scores.append(float(lines[i].split()[3]))
        person = []
        for line in lines[i + 1 : i + 19]:
            x, y, s = (float(v) for v in line.split()[1:])
            person.append((np.nan, np.nan, 0.0) if x == -1 else (x, y, s))
        kps.append(person)
        i += 19
    assert i == len(lines)
    return np.array(kps, np.float64).reshape(n, 18, 3), np.array(scores)


@pytest.mark.slow
def test_example_prints_the_libraries_people(build, tmp_path, estimator, bgr):
    """On every bundled image's network fields the C++ example finds posekit's people: the same count,
    the same grid cells, scores to float32 printing."""
    from posekit import paf
    from posekit.preprocess import prepare

    exe = _example(build)
    total = 0
    for name in ("basketball1.png", "kite.jpg", "person.jpg", "astronaut.png", "camera.png"):
        image = bgr(name)
        heat, pafs = (a[0] for a in estimator.network(prepare(image, estimator.input_size)[None]))
        np.save(tmp_path / "heatmaps.npy", heat)
        np.save(tmp_path / "pafs.npy", pafs)
        proc = _run([str(exe), str(tmp_path / "heatmaps.npy"), str(tmp_path / "pafs.npy"), "4"])
        assert proc.returncode == 0, proc.stderr
        got, got_scores = _parse(proc.stdout)
        result = estimator.inference(image, upsample=4.0)
        want, want_scores = paf.group_people(result.peaks, result.heatmaps, result.pafs)
        assert got.shape == want.shape, (name, proc.stdout)
        np.testing.assert_array_equal(
            got[:, :, :2], want[:, :, :2], err_msg=name
        )  # grid cells, NaN = missing
        np.testing.assert_allclose(got[:, :, 2], want[:, :, 2], atol=2e-6, err_msg=name)
        np.testing.assert_allclose(got_scores, want_scores, atol=2e-6, err_msg=name)
        total += len(want)
    assert total >= 8  # 3 + 2 + 1 + 1 + 1 people
