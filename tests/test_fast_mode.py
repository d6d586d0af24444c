"""The fast mode (precision "bf16") against the exact mode: people counts and keypoints on real images.

The goal (issue "speed, re-aimed"): on the bundled images and the anchor images, the same number of
people on all but at most one image, and >= 95% of the exact mode's keypoints within 1.5 network-grid
cells (1.5 * 8 input pixels, mapped to image pixels) of the fast mode's. ``benchmarks/bench_precision.py``
prints the same comparison per image with the speed.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ANCHORS, IMAGES, mode_agreement

from posekit.match import keypoints_kept
from posekit.network.engines import BF16_CPU_FLAGS, cpu_flags
from posekit.network.openvino import openvino_available

MIN_KEPT = 0.95
IMAGE_SUFFIXES = (".jpg", ".png")


def image_paths(folder):
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def test_agreement_counts_what_it_should():
    """The measure itself: a shift within the tolerance is kept, beyond it is not, a lost person costs all."""
    person = np.zeros((18, 3), np.float32)
    person[:10] = [[100 + 5 * k, 200, 0.9] for k in range(10)]
    exact = person[None]
    near, far = exact.copy(), exact.copy()
    near[0, :, 0] += 11.9  # image == input size: tolerance 12 px
    far[0, :5, 0] += 12.5
    assert keypoints_kept(exact, near, (432, 368), (432, 368)) == (10, 10)
    assert keypoints_kept(exact, far, (432, 368), (432, 368)) == (5, 10)
    assert keypoints_kept(exact, far, (864, 368), (432, 368)) == (10, 10)  # x tolerance doubles
    assert keypoints_kept(exact, np.zeros((0, 18, 3)), (432, 368), (432, 368)) == (0, 10)


@pytest.fixture(scope="module")
def modes():
    if not openvino_available():
        pytest.skip("precision 'bf16' needs OpenVINO: pip install 'posekit[openvino]'")
    if not set(BF16_CPU_FLAGS) & cpu_flags():
        pytest.skip(f"this CPU has none of {', '.join(BF16_CPU_FLAGS)}: 'bf16' runs fp32 here")
    from posekit import PoseEstimator

    exact = PoseEstimator("mobilenet_thin", input_size=(432, 368))
    fast = PoseEstimator("mobilenet_thin", input_size=(432, 368), precision="bf16")
    assert (fast.engine, fast.precision) == ("openvino", "bf16")
    return exact, fast


def test_bf16_keeps_the_bundled_images_people(modes):
    differs, kept, total = mode_agreement(image_paths(IMAGES), modes)
    assert total > 50  # the images do hold people
    assert len(differs) <= 1, differs
    assert kept / total >= MIN_KEPT, (kept, total)


def test_bf16_keeps_the_people_on_bundled_and_anchor_images(modes):
    if not ANCHORS.is_dir():
        pytest.skip(f"anchor images not available at {ANCHORS} (they are not part of the repo)")
    paths = image_paths(IMAGES) + image_paths(ANCHORS)
    differs, kept, total = mode_agreement(paths, modes)
    assert len(differs) <= 1, differs
    assert kept / total >= MIN_KEPT, (kept, total)
