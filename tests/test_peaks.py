"""Upsampling, smoothing and peak suppression against their definitions."""

from __future__ import annotations

import numpy as np
import pytest

from posekit import peaks


def test_kernel_matches_tfpose_construction():
    k2 = peaks.gaussian_kernel_2d(25, 3.0)
    g = peaks.gaussian_kernel_1d(25, 3.0)
    np.testing.assert_allclose(np.outer(g, g), k2, atol=1e-15)
    assert k2.shape == (25, 25)
    assert k2[12, 12] == pytest.approx(0.00527, abs=1e-5)
    assert k2.sum() == pytest.approx(1.0)


def _dense_same_conv(x, k):
    """Reference: zero-padded SAME 2-D convolution per channel, in float64."""
    r = k.shape[0] // 2
    pad = np.pad(x.astype(np.float64), ((r, r), (r, r), (0, 0)))
    out = np.zeros(x.shape, np.float64)
    for dy in range(k.shape[0]):
        for dx in range(k.shape[1]):
            out += k[dy, dx] * pad[dy : dy + x.shape[0], dx : dx + x.shape[1]]
    return out


def test_separable_smoothing_equals_dense_kernel():
    x = np.random.default_rng(1).random((40, 52, 19)).astype(np.float32)
    np.testing.assert_allclose(peaks.smooth(x), _dense_same_conv(x, peaks.gaussian_kernel_2d()), atol=2e-6)


def test_smoothing_off():
    x = np.random.default_rng(2).random((8, 9, 2)).astype(np.float32)
    np.testing.assert_array_equal(peaks.smooth(x, size=0), x)


def test_upsample_integer_factor_is_block_replication():
    x = np.arange(2 * 3 * 2, dtype=np.float32).reshape(2, 3, 2)
    up = peaks.upsample(x, (12, 8))  # (width, height)
    assert up.shape == (8, 12, 2)
    np.testing.assert_array_equal(up[0:4, 0:4, 1], np.full((4, 4), x[0, 0, 1]))
    np.testing.assert_array_equal(up[4:8, 8:12, 0], np.full((4, 4), x[1, 2, 0]))


def test_upsample_fractional_factor_is_area():
    import tensorflow as tf

    x = np.random.default_rng(3).random((4, 6, 2)).astype(np.float32)
    ref = tf.compat.v1.image.resize_area(x[None], (10, 15)).numpy()[0]
    np.testing.assert_allclose(peaks.upsample(x, (15, 10)), ref, atol=1e-6)


def test_nms_keeps_local_maxima_and_plateaus():
    x = np.zeros((7, 7, 1), np.float32)
    x[1, 1, 0] = 0.9
    x[1, 2, 0] = 0.5  # neighbour of a bigger value: suppressed
    x[5, 4, 0] = x[5, 5, 0] = 0.7  # plateau: both kept
    out = peaks.nms(x)
    assert set(zip(*np.nonzero(out[:, :, 0]))) == {(1, 1), (5, 4), (5, 5)}
    assert out[1, 1, 0] == np.float32(0.9)


def test_nms_matches_tensorflow_maxpool():
    import tensorflow as tf

    x = (np.random.default_rng(4).random((30, 20, 19)) - 0.7).astype(
        np.float32
    )  # mostly negative, like heatmaps
    x[0, :, 5] = 2.0  # maxima on the border rows/columns
    x[:, -1, 7] = 3.0
    mp = tf.nn.max_pool2d(x[None], 3, 1, "SAME").numpy()[0]
    np.testing.assert_array_equal(peaks.nms(x), np.where(x == mp, x, 0))


@pytest.mark.parametrize("size", [(216, 184), (54, 92), (108, 46), (81, 69), (540, 460)])  # (width, height)
def test_smooth_upsampled_equals_smoothing_the_upsampled_grid(size):
    """The phase kernels on the network's grid give the full-grid smoothing to float32 rounding
    (factors 4, 1x2, 2x1, non-integer 1.5 and 10 = about smooth_size / 2)."""
    x = (np.random.default_rng(5).random((46, 54, 19)) - 0.3).astype(np.float32)
    up = peaks.upsample(x, size)
    got = peaks.smooth_upsampled(x, size)
    assert got.shape == up.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, peaks.smooth(up), atol=1e-6, rtol=0)
    if size[0] <= 216:
        dense = _dense_same_conv(up, peaks.gaussian_kernel_2d())
        np.testing.assert_allclose(got, dense, atol=2e-6, rtol=0)


def test_phase_kernels_split_the_gaussian():
    """Per phase the merged taps hold the whole kernel; phase 0 at factor 1 is the kernel itself."""
    g = peaks.gaussian_kernel_1d(25, 3.0)
    for factor in (1, 2, 3, 4, 8):
        kernels = peaks._phase_kernels(25, 3.0, factor)
        assert len(kernels) == factor
        for k, anchor in kernels:
            assert k.dtype == np.float32 and 0 <= anchor < len(k) <= 25 // factor + 2
            assert float(k.sum(dtype=np.float64)) == pytest.approx(1.0, abs=1e-6)
    k, anchor = peaks._phase_kernels(25, 3.0, 1)[0]
    np.testing.assert_array_equal(k, g.astype(np.float32))
    assert anchor == 12


def _blobs(rng, h, w, c, n):
    """Heatmap-like fields: n Gaussian blobs per channel at random places, float32 (h, w, c)."""
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.zeros((h, w, c), np.float32)
    for ch in range(c):
        for _ in range(n):
            cy, cx, s, a = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(0.8, 2.5), rng.uniform(0.2, 1)
            out[:, :, ch] += (a * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))).astype(np.float32)
    return out


def test_smooth_upsampled_keeps_the_peaks():
    """Peaks found after the phase-kernel smoothing are those of the full-grid smoothing."""
    rng = np.random.default_rng(7)
    x = _blobs(rng, 46, 54, 18, 4)
    grid = (216, 184)
    a = peaks.nms(peaks.smooth_upsampled(x, grid)) > 0.05
    b = peaks.nms(peaks.smooth(peaks.upsample(x, grid))) > 0.05
    assert a.sum() >= 18 * 2
    np.testing.assert_array_equal(a, b)


def test_smooth_upsampled_reuses_workspace_arrays():
    x = (np.random.default_rng(8).random((46, 54, 19))).astype(np.float32)
    ws = peaks.Workspace()
    first = peaks.smooth_upsampled(x, (216, 184), workspace=ws)
    ref = first.copy()
    address = first.__array_interface__["data"][0]
    del first
    again = peaks.smooth_upsampled(x, (216, 184), workspace=ws)
    assert again.__array_interface__["data"][0] == address  # recycled once the caller dropped it
    np.testing.assert_array_equal(again, ref)
    kept = peaks.smooth_upsampled(x, (216, 184), workspace=ws)
    assert kept.__array_interface__["data"][0] != again.__array_interface__["data"][0]  # held: a new one
