"""Options off by default: sub-pixel keypoint refinement and multi-scale inference."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import IMAGES

from posekit import PoseEstimator, multiscale, refine
from posekit.params import TFPOSE_DEFAULTS
from posekit.peaks import gaussian_kernel_1d, nms, smooth
from posekit.person import Person

# --------------------------------------------------------------------------- sub-pixel peaks


@pytest.mark.parametrize("size", [25, 8, 1])
def test_smoothed_patch_equals_full_smoothing(size):
    rng = np.random.default_rng(0)
    heat = rng.random((40, 50)).astype(np.float32)
    full = smooth(heat[:, :, None], size, 3.0)[:, :, 0] if size > 1 else heat
    g = gaussian_kernel_1d(size, 3.0) if size > 1 else np.ones(1)
    for row, col in [(20, 25), (1, 1), (38, 48), (0, 30), (39, 0)]:
        patch = refine._smoothed_patch(heat, row, col, g)
        for i in range(3):
            for j in range(3):
                r, c = row - 1 + i, col - 1 + j
                if 0 <= r < 40 and 0 <= c < 50:
                    assert patch[i, j] == pytest.approx(full[r, c], abs=1e-5)


def test_parabola_offset():
    for a in (-0.5, -0.3, 0.0, 0.12, 0.5):
        f = [-((x - a) ** 2) for x in (-1, 0, 1)]
        assert refine._parabola_offset(*f) == pytest.approx(a)
    assert refine._parabola_offset(1.0, 1.0, 1.0) == 0.0  # plateau
    assert refine._parabola_offset(0.0, 1.0, 0.99) == pytest.approx(0.5 * 0.99 / 1.01)
    assert refine._parabola_offset(2.0, 1.0, 0.0) == 0.0  # no maximum here: stays put
    assert refine._parabola_offset(0.0, 1.0, 1.5) == 0.5  # clipped (the neighbour is higher)


def _blob(shape, centres, sigma=2.5):
    """float32 (H, W, 19) heatmaps with one Gaussian per (part, row, col) at sub-pixel centres."""
    H, W = shape
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    heat = np.zeros((H, W, 19), np.float32)
    for part, (r, c) in centres.items():
        heat[:, :, part] += np.exp(-((yy - r) ** 2 + (xx - c) ** 2) / (2 * sigma**2)).astype(np.float32)
    return heat


def test_refined_keypoints_land_near_the_true_maximum():
    rng = np.random.default_rng(1)
    H, W = 92, 108
    centres = {p: (rng.uniform(10, H - 10), rng.uniform(10, W - 10)) for p in range(0, 18, 2)}
    heat = _blob((H, W), centres)
    peaks = nms(smooth(heat, 25, 3.0), 3)
    kp = np.full((18, 3), np.nan, np.float32)
    kp[:, 2] = 0
    width, height = 2 * W, 3 * H  # image pixels per grid pixel: 2 across, 3 down
    for part in centres:
        r, c = np.unravel_index(np.argmax(peaks[:, :, part]), (H, W))
        kp[part] = (c * width / W, r * height / H, heat[r, c, part])
    person = Person(kp, 1.25, person_id=7)
    (out,) = refine.refine_keypoints([person], heat, (width, height))
    assert out.score == 1.25 and out.person_id == 7
    np.testing.assert_array_equal(out.keypoints[:, 2], kp[:, 2])
    assert np.isnan(out.keypoints[1, :2]).all()  # missing parts stay missing
    truth = np.array([(c * 2, r * 3) for r, c in centres.values()])
    before = np.abs(kp[list(centres), :2] - truth).max(axis=0)
    after = np.abs(out.keypoints[list(centres), :2] - truth).max(axis=0)
    assert (before > 0.3 * np.array([2, 3])).all()  # integer peaks are off by up to half a grid pixel
    assert (after < 0.1 * np.array([2, 3])).all()
    shift = np.abs(out.keypoints[:, :2] - kp[:, :2])
    assert (np.nan_to_num(shift) <= 0.5 * np.array([2, 3]) + 1e-4).all()


def test_refine_without_smoothing_and_on_the_border():
    heat = _blob((30, 40), {3: (0.2, 20.3), 5: (12.6, 39.0)}, sigma=1.5)
    kp = np.zeros((18, 3), np.float32)
    kp[:, :2] = np.nan
    kp[3] = (20.0, 0.0, 0.9)  # top row: y is not refined, x is
    kp[5] = (39.0, 13.0, 0.9)  # last column: x is not refined, y is
    params = TFPOSE_DEFAULTS.__class__(smooth_size=0)
    (out,) = refine.refine_keypoints([Person(kp, 1.0)], heat, (40, 30), params=params)
    assert out.keypoints[3, 1] == 0.0 and out.keypoints[3, 0] == pytest.approx(20.3, abs=0.05)
    assert out.keypoints[5, 0] == 39.0 and out.keypoints[5, 1] == pytest.approx(12.6, abs=0.05)


def test_estimator_refine_peaks_moves_keypoints_only(estimator, bgr):
    refined = PoseEstimator(refine_peaks=True, warmup=False)
    assert estimator.refine_peaks is False and estimator.scales is None  # off by default
    for name in ("basketball1.png", "kite.jpg"):
        image = bgr(name)
        a, b = estimator.inference(image), refined.inference(image)
        assert len(a.people) == len(b.people) > 0
        grid = np.array([image.shape[1] / a.heatmaps.shape[1], image.shape[0] / a.heatmaps.shape[0]])
        for p, q in zip(a.people, b.people):
            np.testing.assert_array_equal(p.keypoints[:, 2], q.keypoints[:, 2])
            assert p.score == q.score
            shift = np.abs(p.keypoints[p.present, :2] - q.keypoints[q.present, :2])
            assert (shift <= 0.5 * grid + 1e-3).all()
            assert shift.max() > 0.05 * grid.min()  # something moved


# --------------------------------------------------------------------------- multi-scale


def test_check_scales_and_sizes():
    assert multiscale.check_scales(None) is None
    assert multiscale.check_scales([1, 0.5]) == (1.0, 0.5)
    for bad in ((), (1.0, -0.5), (float("nan"),), "abc", 3):
        with pytest.raises(ValueError, match="scales must be"):
            multiscale.check_scales(bad)
    assert multiscale.scaled_size((432, 368), 1.0) == (432, 368)
    assert multiscale.scaled_size((300, 203), 1.0) == (300, 203)
    assert multiscale.scaled_size((432, 368), 0.75) == (328, 280)  # 324, 276 round half up
    assert multiscale.scaled_size((432, 368), 1.25) == (544, 464)  # 540, 460 round half up
    assert multiscale.scaled_size((64, 48), 0.1) == (16, 16)


def test_resize_fields():
    rng = np.random.default_rng(2)
    f = rng.random((6, 8, 38)).astype(np.float32)
    np.testing.assert_array_equal(multiscale.resize_fields(f, (8, 6)), f)  # (width, height)
    out = multiscale.resize_fields(f, (32, 24))
    assert out.shape == (24, 32, 38) and out.dtype == np.float32
    const = np.full((5, 7, 19), 0.25, np.float32)
    np.testing.assert_allclose(multiscale.resize_fields(const, (31, 23)), 0.25, atol=1e-6)


def test_multiscale_fields_averages_every_scale():
    sizes = []

    def runner_for(size):
        def run(batch):
            w, h = size
            assert batch.shape == (1, h, w, 3)
            sizes.append(size)
            value = w / 1000.0
            return (np.full((1, -(-h // 8), -(-w // 8), 19), value, np.float32),
                    np.full((1, -(-h // 8), -(-w // 8), 38), -value, np.float32))  # fmt: skip

        return run

    image = np.zeros((120, 160, 3), np.uint8)
    heat, paf, t = multiscale.multiscale_fields(image, (160, 120), (1.0, 0.5, 1.5), (80, 60), runner_for)
    assert sizes == [(160, 120), (80, 64), (240, 184)]
    assert heat.shape == (60, 80, 19) and paf.shape == (60, 80, 38)
    np.testing.assert_allclose(heat, (0.16 + 0.08 + 0.24) / 3, atol=1e-6)
    np.testing.assert_allclose(paf, -(0.16 + 0.08 + 0.24) / 3, atol=1e-6)
    assert set(t) == {"preprocess", "network", "postprocess"}


def test_estimator_multiscale_finds_the_same_people(estimator, bgr):
    image = bgr("basketball1.png")
    base = estimator.inference(image)
    ms = PoseEstimator(scales=(1.0, 0.75, 1.25), engine="tf", warmup=False)
    result = ms.inference(image)
    assert result.heatmaps.shape == base.heatmaps.shape  # averaged on the single-scale grid
    assert abs(len(result.people) - len(base.people)) <= 1  # the two 4-part players are marginal
    assert result.timings["network"] > 0 and result.timings["total"] >= result.timings["network"]
    clear = [p for p in base.people if p.num_parts >= 8]
    assert clear
    for p in clear:  # every clearly visible person has a multi-scale twin within a few pixels
        gaps = [np.linalg.norm(p.keypoints[:, :2] - q.keypoints[:, :2], axis=1) for q in result.people]
        dist = [np.nanmedian(g) for g in gaps]
        assert min(dist) < 6.0
    batch = ms.inference_batch([image, image])
    assert [len(r.people) for r in batch] == [len(result.people)] * 2


def test_estimator_multiscale_tflite_converts_each_size(tmp_path, monkeypatch, graph_path):
    import shutil

    monkeypatch.setenv("POSEKIT_HOME", str(tmp_path))
    shutil.copytree(graph_path.parent, tmp_path / "mobilenet_thin", ignore=shutil.ignore_patterns("tflite"))
    est = PoseEstimator(input_size=(128, 96), scales=(1.0, 0.5), engine="tflite", warmup=False)
    result = est.inference(str(IMAGES / "person.jpg"))
    assert set(est.network_sizes()) == {(128, 96), (64, 48)}
    assert sorted(p.name for p in (tmp_path / "mobilenet_thin" / "tflite").glob("*.tflite")) == [
        "128x96.tflite", "64x48.tflite",
    ]  # fmt: skip
    assert result.heatmaps.shape == (48, 64, 19)


def test_bad_options_are_clear_errors():
    with pytest.raises(ValueError, match="scales must be a non-empty sequence of positive numbers"):
        PoseEstimator(scales=(), warmup=False)
    with pytest.raises(ValueError, match="scales must be a non-empty sequence of positive numbers"):
        PoseEstimator(scales=(1.0, 0.0), warmup=False)
