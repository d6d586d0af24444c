"""Tests for posekit.export: OpenPose JSON, COCO results and CSV."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from posekit.export import (
    COCO_FROM_POSEKIT,
    COCO_KEYPOINT_NAMES,
    CSV_HEADER,
    CocoWriter,
    CsvWriter,
    coco_partial_path,
    coco_results,
    csv_rows,
    openpose_json_name,
    read_coco_partial,
    recover_coco_results,
    to_coco_keypoints,
    to_openpose_dict,
    write_coco_results,
    write_openpose_json,
)
from posekit.person import Person
from posekit.skeleton import PART_NAMES, CocoPart


def make_person(
    parts: dict[int, tuple[float, float, float]], score: float = 0.8, person_id: int = -1
) -> Person:
    """A Person with the given parts present and every other part missing (NaN, NaN, 0)."""
    kp = np.full((18, 3), np.nan, np.float32)
    kp[:, 2] = 0
    for i, xyz in parts.items():
        kp[i] = xyz
    return Person(kp, score, person_id)


# Values exactly representable in float32 so expected output is exact.
ALICE = make_person(
    {
        CocoPart.Nose: (50.0, 60.0, 0.75),
        CocoPart.Neck: (52.0, 80.0, 0.5),
        CocoPart.RShoulder: (40.5, 82.0, 0.25),
        CocoPart.LShoulder: (64.25, 81.0, 0.625),
        CocoPart.LEar: (58.0, 55.0, 0.125),
    },
    score=0.5,
    person_id=3,
)
BOB = make_person({CocoPart.RAnkle: (200.0, 300.0, 0.875)}, score=0.25)


# ------------------------------------------------------------------ OpenPose


def test_openpose_dict_exact_content():
    d = to_openpose_dict([ALICE, BOB])
    expected_alice = [0.0] * 54
    expected_alice[0:3] = [50.0, 60.0, 0.75]
    expected_alice[3:6] = [52.0, 80.0, 0.5]
    expected_alice[6:9] = [40.5, 82.0, 0.25]
    expected_alice[15:18] = [64.25, 81.0, 0.625]
    expected_alice[51:54] = [58.0, 55.0, 0.125]
    expected_bob = [0.0] * 54
    expected_bob[30:33] = [200.0, 300.0, 0.875]
    assert d == {
        "version": 1.3,
        "people": [
            {"person_id": [3], "pose_keypoints_2d": expected_alice},
            {"person_id": [-1], "pose_keypoints_2d": expected_bob},
        ],
    }


def test_openpose_dict_no_people():
    assert to_openpose_dict([]) == {"version": 1.3, "people": []}


def test_openpose_json_round_trip(tmp_path):
    path = write_openpose_json(tmp_path / openpose_json_name("clip", 7), [ALICE, BOB])
    assert path.name == "clip_000000000007_keypoints.json"
    with open(path, encoding="utf-8") as f:
        loaded = json.load(f)
    assert loaded == to_openpose_dict([ALICE, BOB])
    kp = np.array(loaded["people"][0]["pose_keypoints_2d"]).reshape(18, 3)
    np.testing.assert_array_equal(kp[CocoPart.LShoulder], [64.25, 81.0, 0.625])
    np.testing.assert_array_equal(kp[CocoPart.LWrist], [0, 0, 0])
    assert all(len(p["pose_keypoints_2d"]) == 54 for p in loaded["people"])


def test_openpose_json_is_strict_json_without_nan(tmp_path):
    path = write_openpose_json(tmp_path / "f.json", [BOB])
    text = path.read_text(encoding="utf-8")
    assert "NaN" not in text
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))


def test_openpose_json_name():
    assert openpose_json_name("video", 0) == "video_000000000000_keypoints.json"
    assert openpose_json_name("a_b", 123456) == "a_b_000000123456_keypoints.json"
    assert openpose_json_name("photo") == openpose_json_name("photo", None) == "photo_keypoints.json"


def test_openpose_json_name_rejects_negative_frame():
    with pytest.raises(ValueError, match="frame_index must be >= 0, got -1"):
        openpose_json_name("video", -1)


# ------------------------------------------------------------------ COCO


def test_coco_names_and_mapping():
    assert len(COCO_KEYPOINT_NAMES) == 17
    assert COCO_FROM_POSEKIT.shape == (17,)
    assert COCO_FROM_POSEKIT.dtype.kind == "i"
    # Every posekit part but the neck is used exactly once.
    assert sorted(COCO_FROM_POSEKIT.tolist()) == [i for i in range(18) if i != CocoPart.Neck]
    # Specific parts: COCO left_shoulder <- posekit LShoulder (5), right_eye <- REye (14).
    assert COCO_FROM_POSEKIT[COCO_KEYPOINT_NAMES.index("left_shoulder")] == 5
    assert COCO_FROM_POSEKIT[COCO_KEYPOINT_NAMES.index("right_shoulder")] == 2
    assert COCO_FROM_POSEKIT[COCO_KEYPOINT_NAMES.index("right_eye")] == 14
    assert COCO_FROM_POSEKIT[COCO_KEYPOINT_NAMES.index("left_ankle")] == 13


def test_coco_mapping_matches_part_names():
    # "left_knee" <-> "LKnee", "nose" <-> "Nose", ...
    for coco_name, part in zip(COCO_KEYPOINT_NAMES, COCO_FROM_POSEKIT):
        side, _, body = coco_name.partition("_")
        expected = "Nose" if coco_name == "nose" else side[0].upper() + body.capitalize()
        assert PART_NAMES[part] == expected


def test_coco_mapping_is_read_only():
    with pytest.raises(ValueError):
        COCO_FROM_POSEKIT[0] = 1


def test_to_coco_keypoints_values():
    kp = to_coco_keypoints(ALICE.keypoints)
    assert len(kp) == 51
    triples = np.array(kp).reshape(17, 3)
    np.testing.assert_array_equal(triples[0], [50.0, 60.0, 0.75])  # nose
    np.testing.assert_array_equal(triples[3], [58.0, 55.0, 0.125])  # left_ear <- LEar
    np.testing.assert_array_equal(triples[5], [64.25, 81.0, 0.625])  # left_shoulder <- LShoulder
    np.testing.assert_array_equal(triples[6], [40.5, 82.0, 0.25])  # right_shoulder <- RShoulder
    # Everything else is missing -> 0, 0, 0; the neck (52, 80) appears nowhere.
    others = np.delete(triples, [0, 3, 5, 6], axis=0)
    np.testing.assert_array_equal(others, np.zeros((13, 3)))
    assert 52.0 not in kp and 80.0 not in kp


def test_to_coco_keypoints_missing_part_with_coordinates_is_zeroed():
    # A part with score 0 but finite x, y (e.g. from another tool) is still missing.
    kp = np.zeros((18, 3), np.float32)
    kp[CocoPart.Nose] = (10, 20, 0)
    assert to_coco_keypoints(kp) == [0.0] * 51


def test_to_coco_keypoints_rejects_bad_shape():
    with pytest.raises(ValueError, match=r"keypoints18 must have shape \(18, 3\), got \(17, 3\)"):
        to_coco_keypoints(np.zeros((17, 3)))


def test_coco_results_and_round_trip(tmp_path):
    results = coco_results([(42, [ALICE, BOB]), (43, []), (44, [BOB])])
    assert [r["image_id"] for r in results] == [42, 42, 44]
    assert all(r["category_id"] == 1 for r in results)
    assert [r["score"] for r in results] == [0.5, 0.25, 0.25]
    assert results[0]["keypoints"] == to_coco_keypoints(ALICE.keypoints)
    # BOB's right ankle is COCO keypoint 16 (last).
    assert results[1]["keypoints"][48:51] == [200.0, 300.0, 0.875]
    assert results[1]["keypoints"][:48] == [0.0] * 48

    path = write_coco_results(tmp_path / "results.json", results)
    with open(path, encoding="utf-8") as f:
        assert json.load(f) == results


def test_coco_results_accepts_generator():
    frames = ((i, [BOB]) for i in range(3))
    assert [r["image_id"] for r in coco_results(frames)] == [0, 1, 2]


# ------------------------------------------------------------------ CSV


def test_csv_rows_one_per_present_part():
    rows = list(csv_rows(5, [ALICE, BOB]))
    assert rows == [
        (5, 3, "Nose", 50.0, 60.0, 0.75),
        (5, 3, "Neck", 52.0, 80.0, 0.5),
        (5, 3, "RShoulder", 40.5, 82.0, 0.25),
        (5, 3, "LShoulder", 64.25, 81.0, 0.625),
        (5, 3, "LEar", 58.0, 55.0, 0.125),
        (5, 1, "RAnkle", 200.0, 300.0, 0.875),  # untracked BOB: his index in the frame
    ]
    assert all(len(r) == len(CSV_HEADER) for r in rows)


def test_csv_header_is_exactly_the_documented_columns():
    assert CSV_HEADER == ("frame", "person_id", "part", "x", "y", "score")


def test_csv_rows_untracked_people_get_frame_indices():
    rows = list(csv_rows(0, [BOB, BOB]))
    assert [r[1] for r in rows] == [0, 1]


def test_csv_rows_rejects_ambiguous_person_ids():
    # Untracked BOB at index 3 would collide with ALICE's person_id 3.
    with pytest.raises(ValueError, match=r"frame 2: person_id values \[0, 1, 2, 3, 3\] are not unique"):
        list(csv_rows(2, [BOB, BOB, BOB, BOB, ALICE]))


def test_csv_rows_no_people():
    assert list(csv_rows(0, [])) == []


def test_csv_writer_parse_back(tmp_path):
    path = tmp_path / "poses.csv"
    with CsvWriter(path) as out:
        assert out.write(0, [ALICE, BOB]) == 6
        assert out.write(1, []) == 0
        assert out.write(2, [BOB]) == 1
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == CSV_HEADER
    assert len(rows) == 1 + 7
    assert rows[1] == ["0", "3", "Nose", "50.0", "60.0", "0.75"]
    assert rows[-1] == ["2", "0", "RAnkle", "200.0", "300.0", "0.875"]
    with open(path, newline="", encoding="utf-8") as f:
        parsed = list(csv.DictReader(f))
    lshoulder = [r for r in parsed if r["part"] == "LShoulder"]
    assert len(lshoulder) == 1
    assert (float(lshoulder[0]["x"]), float(lshoulder[0]["y"])) == (64.25, 81.0)
    # Rows group back into bodies by (frame, person_id).
    bodies = {(r["frame"], r["person_id"]) for r in parsed}
    assert bodies == {("0", "3"), ("0", "1"), ("2", "0")}


def test_csv_writer_flushes_each_frame(tmp_path):
    # Read the file while the writer is still open: an interrupted run leaves this.
    path = tmp_path / "poses.csv"
    out = CsvWriter(path)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            assert list(csv.reader(f)) == [list(CSV_HEADER)]
        out.write(0, [BOB])
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        assert rows[1] == ["0", "0", "RAnkle", "200.0", "300.0", "0.875"]
    finally:
        out.close()


def test_csv_writer_write_after_close(tmp_path):
    out = CsvWriter(tmp_path / "poses.csv")
    out.close()
    out.close()  # idempotent
    with pytest.raises(ValueError, match="is closed"):
        out.write(0, [BOB])


def test_csv_values_are_finite():
    for row in csv_rows(0, [ALICE, BOB]):
        assert all(math.isfinite(v) for v in row[3:])


# ------------------------------------------------------------------ frame by frame, whole frames only


def test_coco_writer_writes_lines_then_the_file(tmp_path):
    path = tmp_path / "c.json"
    with CocoWriter(path) as out:
        assert out.write(0, [ALICE, BOB]) == 2
        assert out.write(1, []) == 0
        assert out.write(2, [BOB]) == 1
        assert not path.exists()  # only complete files under the final name
        assert [r["image_id"] for r in read_coco_partial(out.partial)] == [0, 0, 2]
    expected = coco_results([(0, [ALICE, BOB]), (2, [BOB])])
    assert json.loads(path.read_text()) == expected
    assert not coco_partial_path(path).exists()
    with pytest.raises(ValueError, match="is closed"):
        out.write(3, [BOB])


def test_coco_recovery_skips_a_cut_line(tmp_path):
    path = tmp_path / "c.json"
    out = CocoWriter(path)
    out.write(0, [ALICE])
    out.write(1, [BOB])
    with open(out.partial, "ab") as f:
        f.write(b'[{"image_id": 2, "categ')  # a kill in the middle of frame 2
    out._lines.close()  # the process is gone: nothing else closes it
    assert recover_coco_results(path) == path
    assert json.loads(path.read_text()) == coco_results([(0, [ALICE]), (1, [BOB])])
    with pytest.raises(
        FileNotFoundError, match=r"no partial COCO results to recover: .*c\.json\.partial\.jsonl"
    ):
        recover_coco_results(path)


def test_rollback_drops_whole_frames(tmp_path):
    with CsvWriter(tmp_path / "p.csv") as out, CocoWriter(tmp_path / "c.json") as coco:
        out.write(0, [ALICE])
        coco.write(0, [ALICE])
        csv_size, coco_size = out.size, coco.size
        out.write(1, [BOB])
        coco.write(1, [BOB])
        out.rollback(csv_size)
        coco.rollback(coco_size)
        out.write(2, [BOB])
        with pytest.raises(ValueError, match="cannot roll .* back to 99999 bytes"):
            out.rollback(99999)
    with open(tmp_path / "p.csv", newline="", encoding="utf-8") as f:
        assert sorted({r["frame"] for r in csv.DictReader(f)}) == ["0", "2"]
    assert [r["image_id"] for r in json.loads((tmp_path / "c.json").read_text())] == [0]


def test_csv_writer_cuts_a_frame_that_does_not_fit(tmp_path):
    out = CsvWriter(tmp_path / "p.csv")
    out.write(0, [ALICE])
    good = (tmp_path / "p.csv").read_bytes()
    out._file._file = DiskFillsUp(out._file._file)  # the disk fills in the middle of frame 1
    with pytest.raises(OSError, match="No space left"):
        out.write(1, [BOB])
    out.close()
    assert (tmp_path / "p.csv").read_bytes() == good and out.size == len(good)


class DiskFillsUp:
    """A raw file that takes 10 more bytes, then fails with ENOSPC."""

    def __init__(self, raw):
        self.raw, self.room = raw, 10

    def write(self, data):
        if not self.room:
            raise OSError(28, "No space left on device")
        n = self.raw.write(bytes(data[: self.room]))
        self.room -= n
        return n

    def __getattr__(self, name):
        return getattr(self.raw, name)
