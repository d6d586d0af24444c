"""Pixel-level tests for posekit.draw."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from posekit.draw import (
    DEFAULT_SPEC,
    PERSON_COLORS_BGR,
    VIDEO_SPEC,
    DrawingSpec,
    compose_frame,
    draw_fps,
    draw_people,
    draw_text_lines,
)
from posekit.person import Person
from posekit.preprocess import ImageError
from posekit.skeleton import COLORS_BGR, LIMBS, CocoPart


def make_person(parts: dict[int, tuple[float, float]], person_id: int = -1) -> Person:
    """A Person with the given parts at score 0.9 and every other part missing (NaN, NaN, 0)."""
    kp = np.full((18, 3), np.nan, np.float32)
    kp[:, 2] = 0
    for i, (x, y) in parts.items():
        kp[i] = (x, y, 0.9)
    return Person(kp, 0.5, person_id)


def black(h: int = 200, w: int = 240) -> np.ndarray:
    return np.zeros((h, w, 3), np.uint8)


def noise(h: int = 200, w: int = 240) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)


def drawn(img: np.ndarray) -> np.ndarray:
    """bool (H, W): pixels that are not black."""
    return img.any(axis=2)


# ------------------------------------------------------------------ keypoints


def test_keypoint_colour_and_position():
    out = draw_people(black(), [make_person({CocoPart.Nose: (50, 60)})])
    # cv2.circle(radius 3, thickness 3) draws a ring around (x=50, y=60), i.e. row 60, col 50.
    for row, col in [(60, 52), (60, 53), (60, 47), (57, 50), (63, 50), (62, 52)]:
        assert tuple(out[row, col]) == COLORS_BGR[0], (row, col)
    # The ring's centre pixel is left undrawn, as in tf-pose-estimation.
    assert tuple(out[60, 50]) == (0, 0, 0)
    # Nothing is drawn further than 5.5 pixels from the keypoint.
    rows, cols = np.nonzero(drawn(out))
    assert np.hypot(rows - 60, cols - 50).max() <= 5.5


def test_keypoint_index_selects_colour():
    out = draw_people(black(), [make_person({CocoPart.LEar: (100, 100)})])
    assert tuple(out[100, 103]) == COLORS_BGR[17]


def test_keypoint_is_rounded_half_up():
    ref = draw_people(black(), [make_person({CocoPart.Nose: (50, 60)})])
    out = draw_people(black(), [make_person({CocoPart.Nose: (49.5, 59.6)})])
    np.testing.assert_array_equal(out, ref)
    moved = draw_people(black(), [make_person({CocoPart.Nose: (50.5, 60)})])
    assert not np.array_equal(moved, ref)


# ------------------------------------------------------------------ limbs


def test_limb_colour_at_midpoint_and_drawn_over_circles():
    # Limb 7 is RHip-RKnee, drawn in COLORS_BGR[7]; its ends in COLORS_BGR[8] and [9].
    assert tuple(LIMBS[7, :2]) == (CocoPart.RHip, CocoPart.RKnee)
    out = draw_people(black(), [make_person({CocoPart.RHip: (100, 100), CocoPart.RKnee: (100, 160)})])
    assert tuple(out[130, 100]) == COLORS_BGR[7]  # midpoint
    assert tuple(out[130, 99]) == COLORS_BGR[7] and tuple(out[130, 101]) == COLORS_BGR[7]  # 3 px wide
    assert tuple(out[130, 103]) == (0, 0, 0)
    # Off the line, the ring keeps the keypoint colour; on the line, the limb wins (lines last).
    assert tuple(out[100, 103]) == COLORS_BGR[8]
    assert tuple(out[160, 97]) == COLORS_BGR[9]
    assert tuple(out[103, 100]) == COLORS_BGR[7]


def test_limb_needs_both_ends():
    # RKnee missing: only the RHip ring is drawn, no line towards NaN.
    hip_only = make_person({CocoPart.RHip: (100, 100)})
    out = draw_people(black(), [hip_only])
    rows, cols = np.nonzero(drawn(out))
    assert np.hypot(rows - 100, cols - 100).max() <= 5.5
    assert {tuple(c) for c in out[drawn(out)]} == {COLORS_BGR[8]}


def test_limbs_argument_and_default_render_limbs():
    # Limb 17 (RShoulder-REar) is not in RENDER_LIMBS, as in OpenPose.
    person = make_person({CocoPart.RShoulder: (60, 150), CocoPart.REar: (60, 50)})
    default = draw_people(black(), [person])
    assert tuple(default[100, 60]) == (0, 0, 0)
    with_17 = draw_people(black(), [person], DrawingSpec(limbs=(17,)))
    assert tuple(with_17[100, 60]) == COLORS_BGR[17]
    leg = make_person({CocoPart.RHip: (100, 100), CocoPart.RKnee: (100, 160)})
    no_limbs = draw_people(black(), [leg], DrawingSpec(limbs=()))
    assert tuple(no_limbs[130, 100]) == (0, 0, 0)


def test_custom_colors_radius_and_thickness():
    person = make_person({CocoPart.Nose: (50, 60), CocoPart.Neck: (50, 120)})
    one = [(1, 2, 3)]
    out = draw_people(
        black(), [person], DrawingSpec(part_colors=one, limb_colors=one, keypoint_radius=6, thickness=1)
    )
    assert {tuple(c) for c in out[drawn(out)]} == {(1, 2, 3)}
    assert tuple(out[60, 56]) == (1, 2, 3)  # radius 6
    assert tuple(out[90, 50]) == (1, 2, 3) and tuple(out[90, 51]) == (0, 0, 0)  # 1-px line


# ------------------------------------------------------------------ missing parts and people


def test_missing_parts_draw_nothing():
    img = noise()
    nobody = make_person({})
    zero_score = Person(np.tile(np.float32([[40, 40, 0]]), (18, 1)), 0.0)  # coordinates but score 0
    for people in ([], [nobody], [zero_score]):
        np.testing.assert_array_equal(draw_people(img, people), img)


def test_two_people_both_drawn():
    a = make_person({CocoPart.Nose: (30, 30)})
    b = make_person({CocoPart.Nose: (150, 150)})
    out = draw_people(black(), [a, b])
    assert tuple(out[30, 33]) == COLORS_BGR[0] and tuple(out[150, 153]) == COLORS_BGR[0]


# ------------------------------------------------------------------ copies, in place, skeleton only


def test_input_not_modified_by_default():
    img = noise()
    before = img.copy()
    out = draw_people(img, [make_person({CocoPart.Nose: (50, 60)})])
    np.testing.assert_array_equal(img, before)
    assert out is not img and not np.shares_memory(out, img)
    assert tuple(out[60, 53]) == COLORS_BGR[0]


def test_in_place_draws_on_input():
    img = noise()
    out = draw_people(img, [make_person({CocoPart.Nose: (50, 60)})], in_place=True)
    assert out is img
    assert tuple(img[60, 53]) == COLORS_BGR[0]


def test_no_background_is_black_where_nothing_drawn():
    img = noise()
    before = img.copy()
    person = make_person({CocoPart.RHip: (100, 100), CocoPart.RKnee: (100, 160)})
    out = draw_people(img, [person], DrawingSpec(background=False))
    np.testing.assert_array_equal(img, before)
    assert out.shape == img.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out, draw_people(black(), [person]))
    assert tuple(out[0, 0]) == (0, 0, 0) and tuple(out[130, 100]) == COLORS_BGR[7]


def test_gray_input_returns_bgr_copy():
    gray = np.full((50, 60), 77, np.uint8)
    out = draw_people(gray, [make_person({CocoPart.Nose: (20, 20)})])
    assert out.shape == (50, 60, 3)
    assert tuple(out[0, 0]) == (77, 77, 77)
    assert tuple(out[20, 23]) == COLORS_BGR[0]
    assert (gray == 77).all()


def test_strided_input_is_copied():
    img = noise()[:, ::2]
    out = draw_people(img, [make_person({CocoPart.Nose: (50, 60)})])
    assert out.flags.c_contiguous and tuple(out[60, 53]) == COLORS_BGR[0]


# ------------------------------------------------------------------ colour by person


def test_color_by_person():
    tracked = make_person({CocoPart.RHip: (50, 50), CocoPart.RKnee: (50, 110)}, person_id=5)
    untracked = make_person({CocoPart.RHip: (150, 50), CocoPart.RKnee: (150, 110)})  # list index 1
    out = draw_people(black(), [tracked, untracked], dataclasses.replace(DEFAULT_SPEC, color_by_person=True))
    assert tuple(out[80, 50]) == PERSON_COLORS_BGR[5]  # limb
    assert tuple(out[50, 53]) == PERSON_COLORS_BGR[5]  # keypoint
    assert tuple(out[80, 150]) == PERSON_COLORS_BGR[1]
    assert tuple(out[50, 153]) == PERSON_COLORS_BGR[1]
    assert {tuple(c) for c in out[drawn(out)]} == {PERSON_COLORS_BGR[5], PERSON_COLORS_BGR[1]}


def test_person_color_palette():
    assert len(PERSON_COLORS_BGR) == 20
    assert len(set(PERSON_COLORS_BGR)) == 20
    person_color = DEFAULT_SPEC.person_color
    assert person_color(0) == PERSON_COLORS_BGR[0]
    assert person_color(23) == person_color(3)
    assert person_color(-1, 4) == person_color(4)  # untracked: by its index in the frame
    assert person_color(make_person({}, person_id=7), 2) == person_color(7)
    assert all(isinstance(v, int) and 0 <= v <= 255 for c in PERSON_COLORS_BGR for v in c)
    # Well separated: every pair differs by at least 60 in some channel.
    for a, b in itertools.combinations(PERSON_COLORS_BGR, 2):
        assert max(abs(x - y) for x, y in zip(a, b)) >= 60, (a, b)
    # First colour is red (#e6194b) as BGR.
    assert person_color(0) == (0x4B, 0x19, 0xE6)


def test_person_color_of_an_untracked_person_needs_its_index():
    with pytest.raises(
        ValueError, match=r"an untracked person \(person_id -1\) needs its index >= 0, got -1"
    ):
        DEFAULT_SPEC.person_color(-1)


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ([[0, 0, 0]], r"image must be a numpy array \(BGR uint8 as from cv2.imread\), got list"),
        (np.zeros((10, 10, 3), np.float32), r"image must have dtype uint8 \(BGR 0..255\), got float32"),
        (np.zeros((10, 10, 2), np.uint8), r"got \(10, 10, 2\)"),
        (np.zeros((10, 10, 3, 1), np.uint8), r"got \(10, 10, 3, 1\)"),
        (np.zeros((0, 10, 3), np.uint8), r"image is empty: shape \(0, 10, 3\)"),
    ],
)
def test_bad_image(image, message):
    # One image check for the whole package (preprocess.as_bgr), with one error text.
    with pytest.raises(ImageError, match=message):
        draw_people(image, [])
    with pytest.raises(ImageError, match=message):
        draw_people(image, [], DrawingSpec(background=False))
    with pytest.raises(ImageError, match=message):
        draw_fps(image, 10.0)


def test_in_place_without_background_is_an_error():
    with pytest.raises(ValueError, match="in_place=True cannot be combined with spec.background=False"):
        draw_people(black(), [], DrawingSpec(background=False), in_place=True)


def test_in_place_needs_writeable_contiguous_bgr():
    with pytest.raises(ValueError, match=r"in_place=True needs a BGR \(H, W, 3\) image"):
        draw_people(np.zeros((10, 10), np.uint8), [], in_place=True)
    read_only = black()
    read_only.setflags(write=False)
    with pytest.raises(ValueError, match="in_place=True needs a writeable image"):
        draw_people(read_only, [], in_place=True)
    with pytest.raises(ValueError, match="in_place=True needs a C-contiguous image"):
        draw_people(black()[:, ::2], [], in_place=True)


def test_bad_limbs_and_colors():
    with pytest.raises(ValueError, match=r"limb indices must be in \[0, 19\), got \[19, -1\]"):
        DrawingSpec(limbs=(0, 19, -1))
    with pytest.raises(ValueError, match="part_colors must hold at least one BGR triple"):
        DrawingSpec(part_colors=[])


# ------------------------------------------------------------------ text


def test_draw_fps_in_place_green_with_dark_outline():
    img = np.full((100, 200, 3), 128, np.uint8)
    out = draw_fps(img, 12.34)
    assert out is img
    region = img[:45, :150].reshape(-1, 3)
    assert (region == (0, 255, 0)).all(axis=1).sum() > 20  # green text
    assert (region < 40).all(axis=1).sum() > 20  # dark outline (anti-aliased at its edges)
    assert (img[60:, :] == 128).all()  # only the top-left is touched
    # Same pixels as writing the formatted string directly.
    ref = draw_text_lines(np.full((100, 200, 3), 128, np.uint8), ["FPS: 12.3"])
    np.testing.assert_array_equal(img, ref)


def test_draw_fps_copy():
    img = black(100, 200)
    out = draw_fps(img, 30, in_place=False)
    assert out is not img and not img.any() and out.any()


def test_draw_text_lines_stacks_lines():
    one = draw_text_lines(black(120, 200), ["Hello"])
    two = draw_text_lines(black(120, 200), ["Hello", "World"])
    rows_one = np.nonzero(drawn(one).any(axis=1))[0]
    rows_two = np.nonzero(drawn(two).any(axis=1))[0]
    assert rows_two.max() > rows_one.max() + 10
    np.testing.assert_array_equal(two[: rows_one.max() + 1], one[: rows_one.max() + 1])
    assert drawn(draw_text_lines(black(120, 200), [])).sum() == 0


# ------------------------------------------------------------------ DrawingSpec


def test_spec_fields_and_replace():
    people = [
        make_person({CocoPart.Neck: (60, 50), CocoPart.RShoulder: (40, 52), CocoPart.Nose: (61, 30)}, 4)
    ]
    spec = DrawingSpec(
        keypoint_radius=5, thickness=2, limbs=(0,), part_colors=[(1, 2, 3)], limb_colors=[(1, 2, 3)]
    )
    by_spec = draw_people(noise(), people, spec)
    by_replace = draw_people(
        noise(), people, dataclasses.replace(DEFAULT_SPEC, keypoint_radius=5, thickness=2, limbs=(0,),
                                             part_colors=[(1, 2, 3)], limb_colors=[(1, 2, 3)])
    )  # fmt: skip
    np.testing.assert_array_equal(by_spec, by_replace)
    assert (by_spec == (1, 2, 3)).all(axis=2).sum() > 20
    np.testing.assert_array_equal(draw_people(noise(), people), draw_people(noise(), people, DEFAULT_SPEC))
    on_black = draw_people(noise(), people, DrawingSpec(background=False))
    np.testing.assert_array_equal(on_black, draw_people(black(), people))
    assert on_black[199, 239].tolist() == [0, 0, 0]


def test_spec_person_colours_and_labels():
    tracked = make_person({CocoPart.Neck: (60, 80), CocoPart.RShoulder: (40, 82)}, person_id=2)
    mine = ((10, 20, 30), (40, 50, 60), (70, 80, 90))
    out = draw_people(black(), [tracked], DrawingSpec(color_by_person=True, person_colors=mine))
    colours = {tuple(c) for c in out.reshape(-1, 3)} - {(0, 0, 0)}
    assert colours == {(70, 80, 90)}  # person_id 2 -> third colour, nothing else
    auto = draw_people(black(), [tracked], VIDEO_SPEC)  # tracked: by person, with a #2 label above
    assert tuple(auto[80, 50]) == PERSON_COLORS_BGR[2]
    assert drawn(auto[:70]).sum() > 10 and not drawn(draw_people(black(), [tracked])[:70]).any()
    untracked = make_person({CocoPart.Neck: (60, 80), CocoPart.RShoulder: (40, 82)})
    parts = draw_people(black(), [untracked], VIDEO_SPEC)  # none tracked: part colours, no label
    assert tuple(parts[80, 50]) == COLORS_BGR[0] and not drawn(parts[:70]).any()


def test_spec_is_frozen_and_validated():
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_SPEC.thickness = 1
    assert hash(DrawingSpec(part_colors=[[1, 2, 3]])) == hash(DrawingSpec(part_colors=((1, 2, 3),)))
    with pytest.raises(ValueError, match=r"limb indices must be in \[0, 19\), got \[19\]"):
        DrawingSpec(limbs=(0, 19))
    with pytest.raises(ValueError, match="person_colors must hold at least one BGR triple"):
        DrawingSpec(person_colors=())
    with pytest.raises(ValueError, match="keypoint_radius must be >= 0 and thickness >= 1, got 3, 0"):
        DrawingSpec(thickness=0)


def test_compose_frame_follows_the_spec():
    frame = noise(120, 160)
    people = [make_person({CocoPart.Neck: (60, 80), CocoPart.RShoulder: (40, 82)}, person_id=1)]
    plain = DrawingSpec(label_ids=False, color_by_person=False)
    np.testing.assert_array_equal(compose_frame(frame, people, spec=plain), draw_people(frame, people))
    plain_video = dataclasses.replace(VIDEO_SPEC, label_ids=False, color_by_person=False)
    np.testing.assert_array_equal(compose_frame(frame, people, spec=plain_video), draw_people(frame, people))
    sbs = compose_frame(frame, people, side_by_side=True)
    assert sbs.shape == (120, 320, 3)
    np.testing.assert_array_equal(sbs[:, :160], frame)
    on_black = dataclasses.replace(VIDEO_SPEC, background=False)
    np.testing.assert_array_equal(sbs[:, 160:], draw_people(frame, people, on_black))
