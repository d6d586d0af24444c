"""Shared fixtures. The real model comes from the cache that `make test` fills (posekit fetch)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
    from posekit.network.models import fetch

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
