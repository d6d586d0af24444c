"""Writing results to files: OpenPose-style JSON, COCO keypoint results JSON and CSV.

All coordinates written are (x, y) in original-image pixels, as in ``Person.keypoints``.

OpenPose JSON
    One file per image or frame, named like OpenPose's ``--write_json`` output
    (``openpose_json_name``) and written by ``write_openpose_json`` (the one writer of
    these files: ``posekit image``, ``process_video`` and ``posekit batch`` call it).
    ``pose_keypoints_2d`` holds 18 x (x, y, c) = 54 floats in
    posekit's order, which is the order of OpenPose's own 18-keypoint COCO model, so
    tools that read that model's output read these files too. A missing part is written
    as ``0, 0, 0``; ``person_id`` is ``[-1]`` for untracked people, as in OpenPose.
    Only the body is written: there are no face or hand keys.

COCO keypoint results
    The list-of-dicts results format accepted by ``pycocotools`` ``COCO.loadRes``:
    17 keypoints in COCO order (``COCO_KEYPOINT_NAMES``). COCO has **no neck**, so
    posekit's part 1 (Neck) is dropped; the other 17 parts map one to one
    (``COCO_FROM_POSEKIT``). In results files the third value of each keypoint is the
    keypoint's score (COCO's evaluation ignores it); a missing part is ``0, 0, 0``.
    Note the left/right order differs: COCO lists left before right, posekit right
    before left.

COCO results of a video are written frame by frame (``CocoWriter``): each frame's results
    go as one JSON line to ``<file>.partial.jsonl`` beside the final file, flushed at once, and
    are assembled into the COCO file when the run ends (normally, on Ctrl-C or on an error).
    After a hard kill the lines written so far stay in that file; ``recover_coco_results``
    turns them into the COCO file.

Every file is written atomically (``posekit._files``): under its final name it is complete
or absent. Files written frame by frame (CSV, the COCO lines) hold whole frames only: a
frame that cannot be written completely (disk full) is cut off again.

CSV
    One row per *found* part: ``frame, person_id, part, x, y, score`` (``CSV_HEADER``),
    so missing parts are simply absent. Rows with the same frame and person_id belong
    to one body: ``person_id`` is the tracking identity, unique within a frame; an
    untracked person (person_id -1) is written with its index in the frame instead.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Union

import numpy as np

from ._files import atomic_write, write_text_atomic
from .person import Person
from .skeleton import NUM_PARTS, PART_NAMES, CocoPart

__all__ = [
    "OPENPOSE_JSON_VERSION",
    "to_openpose_dict",
    "write_openpose_json",
    "openpose_json_name",
    "COCO_KEYPOINT_NAMES",
    "COCO_FROM_POSEKIT",
    "COCO_PERSON_CATEGORY_ID",
    "to_coco_keypoints",
    "coco_results",
    "write_coco_results",
    "CocoWriter",
    "coco_partial_path",
    "read_coco_partial",
    "recover_coco_results",
    "CSV_HEADER",
    "csv_rows",
    "row_person_ids",
    "CsvWriter",
    "BODY_25_NAMES",
    "BODY_25_FROM_POSEKIT",
    "to_body25",
    "to_keypoint_arrays",
]

PathLike = Union[str, "os.PathLike[str]"]

# --------------------------------------------------------------------------- OpenPose

OPENPOSE_JSON_VERSION = 1.3  #: value of the "version" key, as written by OpenPose 1.3+


def to_openpose_dict(people: Iterable[Person]) -> dict[str, Any]:
    """Build the OpenPose ``--write_json`` dict for one frame.

    Args:
        people: the people found in the frame.

    Returns:
        ``{"version": 1.3, "people": [{"person_id": [id], "pose_keypoints_2d": [54 floats]}]}``;
        keypoints are x, y in original-image pixels and the score, in posekit's 18-part
        order, with missing parts as 0, 0, 0. ``person_id`` is ``[-1]`` when untracked.
    """
    return {
        "version": OPENPOSE_JSON_VERSION,
        "people": [
            {"person_id": [int(p.person_id)], "pose_keypoints_2d": p.flat_keypoints()} for p in people
        ],
    }


def write_openpose_json(path: PathLike, people: Iterable[Person]) -> Path:
    """Write one frame's people as an OpenPose JSON file, atomically (complete or absent); returns it."""
    return write_text_atomic(path, json.dumps(to_openpose_dict(people)))


def openpose_json_name(stem: str, frame_index: int | None = None) -> str:
    """OpenPose's file name for a video frame, ``("video", 7)`` -> ``video_000000000007_keypoints.json``,
    or for an image (``frame_index`` None), ``("photo",)`` -> ``photo_keypoints.json``."""
    if frame_index is None:
        return f"{stem}_keypoints.json"
    if frame_index < 0:
        raise ValueError(f"frame_index must be >= 0, got {frame_index}")
    return f"{stem}_{frame_index:012d}_keypoints.json"


# --------------------------------------------------------------------------- COCO

#: The 17 COCO person keypoints, in COCO's order.
COCO_KEYPOINT_NAMES: tuple[str, ...] = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)

#: int (17,): for each COCO keypoint, the posekit part index it comes from
#: (``keypoints18[COCO_FROM_POSEKIT]`` reorders to COCO). Neck (1) is not used.
COCO_FROM_POSEKIT = np.array(
    [
        CocoPart.Nose,
        CocoPart.LEye,
        CocoPart.REye,
        CocoPart.LEar,
        CocoPart.REar,
        CocoPart.LShoulder,
        CocoPart.RShoulder,
        CocoPart.LElbow,
        CocoPart.RElbow,
        CocoPart.LWrist,
        CocoPart.RWrist,
        CocoPart.LHip,
        CocoPart.RHip,
        CocoPart.LKnee,
        CocoPart.RKnee,
        CocoPart.LAnkle,
        CocoPart.RAnkle,
    ],
    dtype=np.intp,
)
COCO_FROM_POSEKIT.setflags(write=False)

COCO_PERSON_CATEGORY_ID = 1  #: COCO's category id for "person"


def _keypoint_values(x: float, y: float, s: float) -> list[float]:
    """[x, y, score] rounded like ``Person.flat_keypoints``; [0, 0, 0] for a missing part."""
    if not s > 0 or math.isnan(x) or math.isnan(y):
        return [0.0, 0.0, 0.0]
    return [round(x, 3), round(y, 3), round(s, 5)]


def to_coco_keypoints(keypoints18: np.ndarray) -> list[float]:
    """Convert one person's keypoints to a COCO results keypoint list.

    Args:
        keypoints18: float (18, 3) x, y in original-image pixels and score, posekit order
            (``Person.keypoints``); missing parts have score 0 (and x = y = NaN).

    Returns:
        51 floats: x, y, score for the 17 COCO keypoints in COCO order. The neck is
        dropped; a missing part is 0, 0, 0.

    Raises:
        ValueError: if ``keypoints18`` is not (18, 3).
    """
    kp = np.asarray(keypoints18, dtype=np.float64)
    if kp.shape != (NUM_PARTS, 3):
        raise ValueError(f"keypoints18 must have shape (18, 3), got {kp.shape}")
    out: list[float] = []
    for x, y, s in kp[COCO_FROM_POSEKIT].tolist():
        out += _keypoint_values(x, y, s)
    return out


def coco_results(frames: Iterable[tuple[Any, Iterable[Person]]]) -> list[dict[str, Any]]:
    """Build a COCO keypoint results list (the ``COCO.loadRes`` format).

    Args:
        frames: (image_id, people) pairs; image_id is passed through unchanged
            (COCO's own ids are ints).

    Returns:
        One dict per person: ``{"image_id", "category_id": 1, "keypoints": [51 floats],
        "score": person.score}``, in input order.
    """
    results = []
    for image_id, people in frames:
        for p in people:
            results.append(
                {
                    "image_id": image_id,
                    "category_id": COCO_PERSON_CATEGORY_ID,
                    "keypoints": to_coco_keypoints(p.keypoints),
                    "score": round(float(p.score), 5),
                }
            )
    return results


def write_coco_results(path: PathLike, results: Iterable[dict[str, Any]]) -> Path:
    """Write ``coco_results`` output as a JSON list, atomically (complete or absent); returns the path."""
    with atomic_write(path) as f:
        f.write("[")
        for n, r in enumerate(results):
            f.write(", " if n else "")
            json.dump(r, f)
        f.write("]")
    return Path(path)


def coco_partial_path(path: PathLike) -> Path:
    """The file of JSON lines ``CocoWriter`` appends to while writing ``path``."""
    path = Path(path)
    return path.with_name(path.name + ".partial.jsonl")


def read_coco_partial(partial: PathLike) -> list[dict[str, Any]]:
    """The COCO results held by a ``.partial.jsonl`` file; an incomplete last line (hard kill) is skipped."""
    results: list[dict[str, Any]] = []
    with open(partial, encoding="utf-8") as f:
        for line in f:
            if not line.endswith("\n"):
                break  # cut off by a kill in the middle of a frame
            results.extend(json.loads(line))
    return results


def recover_coco_results(path: PathLike) -> Path:
    """Assemble the COCO file ``path`` from the ``.partial.jsonl`` a killed run left beside it; remove that.

    Raises:
        FileNotFoundError: no ``.partial.jsonl`` beside ``path``.
    """
    partial = coco_partial_path(path)
    if not partial.exists():
        raise FileNotFoundError(f"no partial COCO results to recover: {partial} does not exist")
    write_coco_results(path, read_coco_partial(partial))
    partial.unlink()
    return Path(path)


class _AppendFile:
    """A file written by whole records: each ``append`` lands completely or not at all.

    After a failed write (disk full) the file is cut back to the end of the last complete record
    and the error is raised; ``size`` is the bytes of complete records.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = open(path, "wb", buffering=0)  # noqa: SIM115 - closed by close()
        self.size = 0

    @property
    def closed(self) -> bool:
        return self._file.closed

    def append(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                n = self._file.write(view)
                view = view[n:]
        except BaseException:
            os.ftruncate(self._file.fileno(), self.size)
            self._file.seek(self.size)
            raise
        self.size += len(data)

    def rollback(self, size: int) -> None:
        """Cut the file back to ``size`` bytes (a ``size`` read earlier), dropping what followed."""
        if not 0 <= size <= self.size:
            raise ValueError(f"cannot roll {self.path} back to {size} bytes: it holds {self.size}")
        os.ftruncate(self._file.fileno(), size)
        self._file.seek(size)
        self.size = size

    def close(self) -> None:
        self._file.close()


class CocoWriter:
    """Write COCO keypoint results frame by frame, so an interrupted run keeps what it processed.

    Each ``write`` appends the frame's results as one JSON line to ``coco_partial_path(path)``;
    ``close`` assembles them into ``path`` (atomically) and removes the lines file. After a
    hard kill, ``recover_coco_results(path)`` does that assembly.

    Example::

        with CocoWriter("results.json") as out:
            for i, frame in enumerate(frames):
                out.write(i, estimator.inference(frame).people)
    """

    def __init__(self, path: PathLike) -> None:
        self.path = Path(path)
        self.partial = coco_partial_path(self.path)
        self._lines = _AppendFile(self.partial)
        self.written: Path | None = None

    @property
    def size(self) -> int:
        """Bytes of the results so far (about the size of the final file)."""
        return self._lines.size

    def write(self, image_id: Any, people: Iterable[Person]) -> int:
        """Append one frame's results; returns their number."""
        if self._lines.closed:
            raise ValueError(f"CocoWriter for {self.path} is closed")
        results = coco_results([(image_id, people)])
        self._lines.append((json.dumps(results) + "\n").encode("utf-8"))
        return len(results)

    def rollback(self, size: int) -> None:
        """Drop the frames written after ``size`` (read earlier), e.g. when a frame's other outputs failed."""
        self._lines.rollback(size)

    def close(self) -> Path | None:
        """Write the COCO file and remove the lines file (safe to call twice); returns the path.

        If the COCO file cannot be written (disk full) the lines file is kept, the error raised.
        """
        if not self._lines.closed:
            self._lines.close()
            write_coco_results(self.path, read_coco_partial(self.partial))
            self.partial.unlink()
            self.written = self.path
        return self.written

    def __enter__(self) -> CocoWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------- CSV

#: Columns of the CSV export: one row per found part.
CSV_HEADER: tuple[str, ...] = ("frame", "person_id", "part", "x", "y", "score")


def row_person_ids(people: list[Person], where: str) -> list[int]:
    """The person_id of each person in a table of rows (CSV, Parquet): the tracking id, else its index.

    Raises:
        ValueError: two people of the frame end up with the same id (rows of different bodies could
            not be told apart); ``where`` names the frame in the message.
    """
    ids = [int(p.person_id) if p.person_id >= 0 else index for index, p in enumerate(people)]
    if len(set(ids)) != len(ids):
        raise ValueError(
            f"{where}: person_id values {ids} are not unique (mixing tracked and untracked people?)"
        )
    return ids


def csv_rows(frame_index: int, people: Iterable[Person]) -> Iterator[tuple[Any, ...]]:
    """Yield one ``CSV_HEADER`` row per found part of each person in one frame.

    Args:
        frame_index: the frame (or image) number written in the ``frame`` column.
        people: the people found in the frame.

    Yields:
        (frame, person_id, part name, x, y, score): x, y are in original-image pixels
        (rounded to 3 decimals), score to 5. Missing parts yield no row. An untracked
        person (person_id -1) gets its index in ``people`` as person_id.

    Raises:
        ValueError: if two people of the frame end up with the same person_id (rows
            of different bodies could not be told apart).
    """
    people = list(people)
    ids = row_person_ids(people, f"frame {frame_index}")
    for pid, p in zip(ids, people):
        for part in range(NUM_PARTS):
            x, y, s = (float(v) for v in p.keypoints[part])
            if not s > 0 or math.isnan(x) or math.isnan(y):
                continue
            yield (int(frame_index), pid, PART_NAMES[part], round(x, 3), round(y, 3), round(s, 5))


class CsvWriter:
    """Append people frame by frame to a CSV file (``CSV_HEADER`` columns).

    The header is written on opening and every frame is written in one piece, so an
    interrupted run leaves a valid CSV holding every frame written so far; a frame that
    cannot be written completely (disk full) is cut off again and the error raised.

    Example::

        with CsvWriter("poses.csv") as out:
            for i, frame in enumerate(frames):
                out.write(i, estimator.inference(frame).people)
    """

    def __init__(self, path: PathLike) -> None:
        self.path = Path(path)
        self._file = _AppendFile(self.path)
        self._file.append(self._encode([CSV_HEADER]))

    @property
    def size(self) -> int:
        """Bytes written so far."""
        return self._file.size

    @staticmethod
    def _encode(rows: Iterable[Iterable[Any]]) -> bytes:
        text = io.StringIO()
        csv.writer(text).writerows(rows)
        return text.getvalue().encode("utf-8")

    def write(self, frame_index: int, people: Iterable[Person]) -> int:
        """Write one frame's rows in one piece; returns the number of rows written."""
        if self._file.closed:
            raise ValueError(f"CsvWriter for {self.path} is closed")
        rows = list(csv_rows(frame_index, people))
        self._file.append(self._encode(rows))
        return len(rows)

    def rollback(self, size: int) -> None:
        """Drop the rows written after ``size`` (read earlier), e.g. when a frame's other outputs failed."""
        self._file.rollback(max(size, len(self._encode([CSV_HEADER]))))

    def close(self) -> None:
        """Close the file (safe to call twice)."""
        self._file.close()

    def __enter__(self) -> CsvWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------- other tools' layouts

#: OpenPose's BODY_25 keypoints, in its order (``poseParameters.cpp`` of CMU's OpenPose).
BODY_25_NAMES: tuple[str, ...] = (
    "Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "MidHip",
    "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar",
    "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel",
)  # fmt: skip

#: int (25,): for each BODY_25 keypoint, the posekit part it comes from; -1 where posekit has none
#: (MidHip, derived from the two hips by ``to_body25``; the six foot points, always missing).
BODY_25_FROM_POSEKIT = np.array(
    [CocoPart[name].value if name in CocoPart.__members__ else -1 for name in BODY_25_NAMES], np.int64
)
BODY_25_FROM_POSEKIT.setflags(write=False)


def _stack(people: Iterable[Person] | np.ndarray) -> np.ndarray:
    """People or a (P, 18, 3) array -> float32 (P, 18, 3)."""
    if isinstance(people, np.ndarray):
        arr = np.asarray(people, np.float32)
    else:
        from .person import people_to_array

        arr = people_to_array(list(people))
    if arr.ndim != 3 or arr.shape[1:] != (NUM_PARTS, 3):
        raise ValueError(f"keypoints must have shape (P, {NUM_PARTS}, 3), got {arr.shape}")
    return arr


def to_body25(people: Iterable[Person] | np.ndarray) -> np.ndarray:
    """Keypoints in OpenPose's BODY_25 order, as OpenPose's own arrays hold them.

    Args:
        people: a list of ``Person`` or float (P, 18, 3) keypoints (x, y, score; missing = NaN, NaN, 0).

    Returns:
        float32 (P, 25, 3): x, y in image pixels and score. Missing parts are ``0, 0, 0`` (OpenPose's
        convention): the six foot points always (posekit's 18-part model has no feet); MidHip is the
        midpoint of the two hips with the lower of their scores when both are found, else missing.
    """
    arr = _stack(people)
    out = np.zeros((len(arr), len(BODY_25_NAMES), 3), np.float32)
    has = BODY_25_FROM_POSEKIT >= 0
    out[:, has] = arr[:, BODY_25_FROM_POSEKIT[has]]
    hips = arr[:, [CocoPart.RHip, CocoPart.LHip]]
    both = (hips[:, :, 2] > 0).all(axis=1)
    mid = BODY_25_NAMES.index("MidHip")
    out[both, mid, :2] = hips[both, :, :2].mean(axis=1)
    out[both, mid, 2] = hips[both, :, 2].min(axis=1)
    out[out[:, :, 2] <= 0] = 0.0  # missing: 0, 0, 0 (never NaN)
    return out


def to_keypoint_arrays(
    people: Iterable[Person] | np.ndarray, layout: str = "coco17"
) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints as the (xy, scores) pair MMPose and supervision use.

    MMPose's ``PoseDataSample.pred_instances`` holds ``keypoints`` (P, K, 2) and ``keypoint_scores`` (P, K);
    supervision's ``KeyPoints`` takes ``xy`` (P, K, 2) and ``confidence`` (P, K): this is that pair.

    Args:
        people: a list of ``Person`` or float (P, 18, 3) keypoints.
        layout: ``"coco17"`` (COCO's 17 keypoints, the order both libraries use for COCO models),
            ``"body25"`` (``to_body25``) or ``"posekit18"`` (posekit's own order).

    Returns:
        (xy float32 (P, K, 2) in image pixels, scores float32 (P, K)); missing parts are at 0, 0 with
        score 0, as both libraries mark them.
    """
    arr = _stack(people)
    if layout == "coco17":
        arr = arr[:, COCO_FROM_POSEKIT]
    elif layout == "body25":
        arr = to_body25(arr)
    elif layout != "posekit18":
        raise ValueError(f"unknown layout {layout!r}: valid layouts are coco17, body25, posekit18")
    arr = arr.copy()
    arr[arr[:, :, 2] <= 0] = 0.0
    return np.ascontiguousarray(arr[:, :, :2]), np.ascontiguousarray(arr[:, :, 2])
