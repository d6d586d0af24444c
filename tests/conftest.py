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
    from posekit.models import fetch

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
