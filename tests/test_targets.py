"""Training targets: confidence maps and PAFs (posekit.targets), checked by their defining properties."""

from __future__ import annotations

import numpy as np
import pytest

from posekit.preprocess import FieldTransform
from posekit.skeleton import LIMBS, CocoPart
from posekit.targets import cell_positions, confidence_maps, grid_mask, paf_targets

IMAGE = (64, 48)  # (W, H)
GRID = (8, 6)  # stride 8: cell (col, row) stands for image pixel (8 col, 8 row)


def person(**parts) -> np.ndarray:
    """One person (18, 3) with the named parts at (x, y), score 1; the others missing (NaN, 0)."""
    kp = np.full((18, 3), np.nan, np.float32)
    kp[:, 2] = 0
    for name, (x, y) in parts.items():
        kp[CocoPart[name]] = (x, y, 1.0)
    return kp


def limb_channels(a: CocoPart, b: CocoPart) -> tuple[int, int]:
    row = LIMBS[(LIMBS[:, 0] == a) & (LIMBS[:, 1] == b)][0]
    return int(row[2]), int(row[3])


def test_cell_positions_are_the_field_transform_of_the_grid():
    xs, ys = cell_positions(IMAGE, GRID)
    np.testing.assert_allclose(xs, [0, 8, 16, 24, 32, 40, 48, 56])
    np.testing.assert_allclose(ys, [0, 8, 16, 24, 32, 40])
    t = FieldTransform(GRID, IMAGE)
    assert t.cell(xs[5], ys[2]) == (5, 2)


def test_confidence_map_is_one_on_a_keypoint_at_a_cell_position():
    heat = confidence_maps(person(Nose=(16, 24))[None], IMAGE, GRID, sigma=8.0)
    assert heat.shape == (6, 8, 19) and heat.dtype == np.float32
    nose = heat[:, :, CocoPart.Nose]
    assert nose[3, 2] == pytest.approx(1.0, abs=1e-6)
    assert np.unravel_index(nose.argmax(), nose.shape) == (3, 2)
    # a neighbouring cell, 8 px away: exp(-64 / (2 * 64))
    assert nose[3, 3] == pytest.approx(np.exp(-0.5), rel=1e-5)
    assert nose[2, 2] == pytest.approx(np.exp(-0.5), rel=1e-5)
    assert np.all(heat[:, :, [p for p in range(18) if p != CocoPart.Nose]] == 0)


def test_confidence_map_takes_the_max_over_people_not_the_sum():
    a = person(Nose=(16, 24))
    b = person(Nose=(32, 24))  # two cells to the right: overlapping tails
    both = confidence_maps(np.stack([a, b]), IMAGE, GRID, 8.0)[:, :, 0]
    one = confidence_maps(a[None], IMAGE, GRID, 8.0)[:, :, 0]
    two = confidence_maps(b[None], IMAGE, GRID, 8.0)[:, :, 0]
    np.testing.assert_allclose(both, np.maximum(one, two), atol=1e-7)
    assert both[3, 3] == pytest.approx(np.exp(-0.5), rel=1e-5)  # between the two: max, not 2x
    assert both.max() == pytest.approx(1.0, abs=1e-6)


def test_background_is_one_minus_the_max_over_parts():
    kp = person(Nose=(16, 24), Neck=(24, 32), RShoulder=(36, 32))
    heat = confidence_maps(kp[None], IMAGE, GRID, 6.0)
    want = np.clip(1 - heat[:, :, :18].max(axis=2), 0, 1)
    np.testing.assert_allclose(heat[:, :, 18], want, atol=1e-6)
    assert heat[3, 2, 18] == pytest.approx(0.0, abs=1e-6)  # on the nose
    assert heat[0, 7, 18] > 0.99  # far from everyone


def test_missing_parts_and_no_people_produce_nothing():
    kp = person(Nose=(16, 24))
    kp[CocoPart.Neck] = (30, 30, 0.0)  # score 0: missing even with coordinates
    kp[CocoPart.RShoulder] = (np.nan, 10, 1.0)  # NaN coordinate: missing
    heat = confidence_maps(kp[None], IMAGE, GRID, 8.0)
    assert np.all(heat[:, :, [1, 2]] == 0)
    paf = paf_targets(kp[None], IMAGE, GRID, 8.0)
    assert np.all(paf == 0)  # no limb has both ends labelled
    empty = np.zeros((0, 18, 3), np.float32)
    assert np.all(confidence_maps(empty, IMAGE, GRID, 8.0)[:, :, :18] == 0)
    assert np.all(confidence_maps(empty, IMAGE, GRID, 8.0)[:, :, 18] == 1)
    assert np.all(paf_targets(empty, IMAGE, GRID, 8.0) == 0)


def test_paf_is_the_unit_vector_on_the_limb_axis():
    # Neck -> RHip (limb 6): from (8, 0) to (8, 40), straight down column 1
    kp = person(Neck=(8, 0), RHip=(8, 40))
    paf = paf_targets(kp[None], IMAGE, GRID, limb_width=3.0)
    assert paf.shape == (6, 8, 38) and paf.dtype == np.float32
    cx, cy = limb_channels(CocoPart.Neck, CocoPart.RHip)
    np.testing.assert_allclose(paf[:, 1, cx], 0.0, atol=1e-7)
    np.testing.assert_allclose(paf[:, 1, cy], 1.0, atol=1e-6)  # every row on the axis, ends included
    assert np.all(paf[:, [0, 2, 3, 4, 5, 6, 7], :] == 0)  # 8 px off the axis > width 3
    others = [c for c in range(38) if c not in (cx, cy)]
    assert np.all(paf[:, :, others] == 0)


def test_paf_diagonal_has_unit_norm_and_respects_width_and_ends():
    a, b = (0.0, 0.0), (32.0, 32.0)  # diagonal through cells (0, 0) .. (4, 4)
    paf = paf_targets(person(RShoulder=a, RElbow=b)[None], IMAGE, GRID, limb_width=6.0)
    cx, cy = limb_channels(CocoPart.RShoulder, CocoPart.RElbow)
    vec = paf[:, :, [cx, cy]]
    for i in range(5):
        np.testing.assert_allclose(vec[i, i], [np.sqrt(0.5), np.sqrt(0.5)], atol=1e-6)
    norm = np.linalg.norm(vec, axis=2)
    # neighbours (i, i+1) are 8 / sqrt(2) = 5.66 px off the axis: inside width 6
    assert norm[0, 1] == pytest.approx(1.0, abs=1e-6)
    # (row 0, col 2) is 11.3 px off the axis: beyond the width
    assert norm[0, 2] == 0
    assert norm[5, 5] == 0  # (40, 40) lies on the line, beyond part B
    assert set(np.round(norm[norm > 0], 5)) == {1.0}  # unit vectors or nothing


def test_paf_stops_at_the_ends_of_the_limb():
    cx, cy = limb_channels(CocoPart.LHip, CocoPart.LKnee)
    paf = paf_targets(person(LHip=(16, 24), LKnee=(40, 24))[None], IMAGE, GRID, limb_width=8.0)
    np.testing.assert_allclose(paf[3, 2:6, cx], 1.0, atol=1e-6)  # x = 16 .. 40
    assert np.all(paf[3, [0, 1, 6, 7]][:, [cx, cy]] == 0)  # on the line, before A and after B
    np.testing.assert_allclose(paf[[2, 4], 2:6, cx], 1.0, atol=1e-6)  # 8 px off: the width is inclusive
    assert np.all(paf[[0, 1, 5], :][:, :, [cx, cy]] == 0)  # 16 px off and more


def test_paf_averages_where_limbs_of_two_people_cross():
    cx, cy = limb_channels(CocoPart.RElbow, CocoPart.RWrist)
    one = person(RElbow=(0, 24), RWrist=(56, 24))  # horizontal through row 3
    two = person(RElbow=(24, 0), RWrist=(24, 40))  # vertical through column 3
    paf = paf_targets(np.stack([one, two]), IMAGE, GRID, limb_width=2.0)
    np.testing.assert_allclose(paf[3, 3, [cx, cy]], [0.5, 0.5], atol=1e-6)  # mean of (1,0) and (0,1)
    np.testing.assert_allclose(paf[3, 1, [cx, cy]], [1.0, 0.0], atol=1e-6)  # only person one
    np.testing.assert_allclose(paf[1, 3, [cx, cy]], [0.0, 1.0], atol=1e-6)  # only person two
    # opposite directions on the same cells cancel to the mean, zero
    back = person(RElbow=(56, 24), RWrist=(0, 24))
    paf2 = paf_targets(np.stack([one, back]), IMAGE, GRID, limb_width=2.0)
    np.testing.assert_allclose(paf2[3, :, [cx, cy]], 0.0, atol=1e-6)


def test_targets_scale_with_the_image_to_grid_ratio():
    # a 128x96 image on the same 8x6 grid: cells at 0, 16, 32, ...
    heat = confidence_maps(person(Nose=(32, 48))[None], (128, 96), GRID, 16.0)
    assert heat[3, 2, 0] == pytest.approx(1.0, abs=1e-6)
    assert heat[3, 3, 0] == pytest.approx(np.exp(-0.5), rel=1e-5)


def test_grid_mask_zeroes_cells_mostly_ignored():
    ignore = np.zeros((48, 64), bool)
    ignore[:16, :16] = True  # cells (0..1, 0..1)
    ignore[44:, 60:] = True  # a quarter of cell (5, 7): kept
    ignore[32:40, 32:36] = True  # half of cell (4, 4): ignored (area average 0.5)
    m = grid_mask(ignore, GRID)
    assert m.shape == (6, 8) and m.dtype == np.float32
    assert np.all(m[:2, :2] == 0)
    assert m[5, 7] == 1 and m[4, 4] == 0
    assert m.sum() == 48 - 5


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: confidence_maps(np.zeros((18, 3)), IMAGE, GRID, 8.0), ValueError, "people_keypoints"),
        (lambda: confidence_maps(np.zeros((1, 17, 3)), IMAGE, GRID, 8.0), ValueError, "people_keypoints"),
        (lambda: confidence_maps(np.zeros((1, 18, 3)), IMAGE, GRID, 0.0), ValueError, "sigma"),
        (lambda: confidence_maps(np.zeros((1, 18, 3)), IMAGE, GRID, float("nan")), ValueError, "sigma"),
        (lambda: confidence_maps(np.zeros((1, 18, 3)), IMAGE, GRID, "8"), TypeError, "sigma"),
        (lambda: confidence_maps(np.zeros((1, 18, 3)), (64,), GRID, 8.0), ValueError, "image_size"),
        (lambda: confidence_maps(np.zeros((1, 18, 3)), IMAGE, (0, 6), 8.0), ValueError, "grid_size"),
        (lambda: confidence_maps(np.zeros((1, 18, 3)), IMAGE, (8.5, 6), 8.0), TypeError, "grid_size"),
        (lambda: paf_targets(np.zeros((1, 18, 2)), IMAGE, GRID, 8.0), ValueError, "people_keypoints"),
        (lambda: paf_targets(np.zeros((1, 18, 3)), IMAGE, GRID, -1.0), ValueError, "limb_width"),
        (lambda: paf_targets(np.zeros((1, 18, 3)), (64, -48), GRID, 1.0), ValueError, "image_size"),
        (lambda: grid_mask(np.zeros((4,), bool), GRID), ValueError, "ignore"),
    ],
)
def test_bad_inputs_raise_naming_the_argument(call, error, message):
    with pytest.raises(error, match=message):
        call()
