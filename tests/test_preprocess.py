"""Preprocessing: the input-size check, size parsing, the network input, FieldTransform."""

from __future__ import annotations

import numpy as np
import pytest

from posekit.preprocess import (
    MAX_INPUT_SIDE,
    MIN_INPUT_SIDE,
    FieldTransform,
    ImageError,
    check_input_size,
    network_input_size,
    parse_size,
    prepare,
)


def test_check_input_size_accepts_whole_sides_within_bounds():
    assert (MIN_INPUT_SIDE, MAX_INPUT_SIDE) == (16, 4096)
    assert check_input_size((432, 368)) == (432, 368)
    assert check_input_size([24.0, np.int64(4096)]) == (24, 4096)  # 3 cells wide: not thin
    assert check_input_size((16, 64)) == (16, 64)  # 2x8 cells: the thin side's longest partner
    assert all(type(v) is int for v in check_input_size((np.float32(64), 48)))


@pytest.mark.parametrize(
    "size,match",
    [
        ((100000, 100000), "input_size 100000x100000 exceeds the limit of 4096 pixels per side"),
        ((4097, 16), "input_size 4097x16 exceeds the limit"),
        ((15, 368), "at least 16x16 pixels, got 15x368"),
        ((16, 4096), "input_size 16x4096 gives a stride-8 grid of 2x512 cells, too thin to hold a person"),
        ((16, 65), "grid of 2x9 cells, too thin"),
        ((368, 16), "grid of 46x2 cells, too thin"),
        ((None, 368), r"must be a fixed .*\(-1xH\)"),
        ((-1, 368), r"must be a fixed .*\(-1xH\)"),
        ((432, 368, 3), r"must be \(width, height\)"),
        (None, r"must be \(width, height\)"),
        ("432x368", r"must be \(width, height\)"),
        ((432.5, 368), "whole pixels"),
        ((float("nan"), 368), "whole pixels"),
        ((432, float("inf")), "whole pixels"),
    ],
)
def test_check_input_size_errors(size, match):
    with pytest.raises(ValueError, match=match):
        check_input_size(size)


def test_parse_size():
    assert parse_size("432x368") == (432, 368)
    assert parse_size("320*240") == (320, 240)
    assert parse_size("4096X4096") == (4096, 4096)
    with pytest.raises(ValueError, match="size 100000x100000 exceeds the limit of 4096 pixels per side"):
        parse_size("100000x100000")
    with pytest.raises(ValueError, match="size must be at least 16x16"):
        parse_size("8x8")
    for bad in ("big", "432", "432x368x3", "nanxnan", "1e3x500", ""):
        with pytest.raises(ValueError, match="size must look like WIDTHxHEIGHT"):
            parse_size(bad)


def test_network_input_and_prepare():
    image = np.full((20, 30, 3), 7, np.uint8)
    assert network_input_size(image, (64, 48)) == (64, 48)
    assert network_input_size(image, None) == (30, 20)
    out = prepare(image, (64, 48))
    assert out.shape == (48, 64, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(prepare(image, None), image.astype(np.float32))
    wide = np.zeros((2, MAX_INPUT_SIDE + 1, 3), np.uint8)
    with pytest.raises(
        ImageError, match="image 4097x2 exceeds the limit of 4096 pixels per side .* input_size"
    ):
        prepare(wide, None)
    assert prepare(wide, (32, 16)).shape == (16, 32, 3)  # resized: no limit on the image itself


def test_field_transform_is_tfposes_mapping():
    t = FieldTransform((216, 184), (640, 480))
    assert t.scale == pytest.approx((640 / 216, 480 / 184))
    x, y = t.to_image(np.float32(10), np.float32(20))
    assert x.dtype == np.float32 and x == np.float32(10) * np.float32(640 / 216)
    assert y == np.float32(20) * np.float32(480 / 184)
    assert t.cell(*t.to_image(10, 20)) == (10, 20)
    assert t.cell(-5, 0) is None and t.cell(640, 0) is None
    kps = np.full((1, 18, 3), np.nan, np.float32)
    kps[0, :, 2] = 0
    kps[0, 3] = (10, 20, 0.8)
    out = t.keypoints_to_image(kps)
    assert out is not kps and np.isnan(out[0, 0, :2]).all() and out[0, 0, 2] == 0
    np.testing.assert_array_equal(out[0, 3], [np.float32(10) * np.float32(640 / 216), y, np.float32(0.8)])
    assert FieldTransform.for_field(np.zeros((184, 216, 19)), (640, 480)) == t
    with pytest.raises(ValueError, match="grid_size must be"):
        FieldTransform((0, 184), (640, 480))
