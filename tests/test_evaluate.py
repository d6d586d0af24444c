"""COCO keypoint evaluation: pycocotools on synthesized ground truth, and `posekit evaluate` end to end."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from conftest import IMAGES

pytest.importorskip("pycocotools", reason="COCO evaluation needs pycocotools (pip install pycocotools)")

from posekit.cli import main  # noqa: E402
from posekit.evaluate import (  # noqa: E402
    METRICS,
    evaluate,
    evaluate_predictions,
    ground_truth_from_people,
    load_annotations,
)
from posekit.export import COCO_KEYPOINT_NAMES  # noqa: E402

CATEGORIES = [
    {
        "id": 1, "name": "person", "supercategory": "person",
        "keypoints": list(COCO_KEYPOINT_NAMES), "skeleton": [],
    }
]  # fmt: skip


def _person(rng, cx, cy, size):
    """A COCO ground-truth person: 17 keypoints around (cx, cy), some unlabelled."""
    xy = np.stack([cx + rng.uniform(-0.4, 0.4, 17) * size, cy + rng.uniform(-0.5, 0.5, 17) * size], axis=1)
    vis = np.where(rng.random(17) < 0.15, 0, 2)
    kp = np.concatenate([np.round(xy, 2), vis[:, None]], axis=1)
    kp[vis == 0, :2] = 0
    shown = xy[vis > 0]
    x0, y0 = shown.min(axis=0)
    x1, y1 = shown.max(axis=0)
    return kp, [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]


def synthetic_coco(seed=0, n_images=4, per_image=2):
    """(ground truth dict, perfect results list) with people of medium and large size."""
    rng = np.random.default_rng(seed)
    images, anns, results = [], [], []
    for img_id in range(1, n_images + 1):
        images.append({"id": img_id, "file_name": f"{img_id:012d}.jpg", "width": 640, "height": 480})
        for k in range(per_image):
            size = rng.uniform(60, 250)
            kp, bbox = _person(rng, 150 + 300 * k, 240, size)
            anns.append({
                "id": len(anns) + 1, "image_id": img_id, "category_id": 1, "iscrowd": 0,
                "keypoints": kp.ravel().tolist(), "num_keypoints": int((kp[:, 2] > 0).sum()),
                "bbox": bbox, "area": bbox[2] * bbox[3],
            })  # fmt: skip
            res = kp.copy()
            res[:, 2] = np.where(kp[:, 2] > 0, 1.0, 0.0)
            results.append(
                {"image_id": img_id, "category_id": 1, "keypoints": res.ravel().tolist(), "score": 0.9}
            )
    return {"images": images, "annotations": anns, "categories": CATEGORIES}, results


def _perturb(results, scale, seed=1):
    rng = np.random.default_rng(seed)
    out = []
    for r in results:
        kp = np.array(r["keypoints"]).reshape(17, 3)
        shown = kp[:, 2] > 0
        kp[shown, :2] += rng.normal(0, scale, (int(shown.sum()), 2))
        out.append({**r, "keypoints": kp.ravel().tolist()})
    return out


# --------------------------------------------------------------------------- evaluate_predictions


def test_perfect_predictions_give_ap_one():
    gt, results = synthetic_coco()
    before = json.dumps([gt, results])
    m = evaluate_predictions(gt, results)
    assert json.dumps([gt, results]) == before  # pycocotools worked on copies
    assert set(m) == set(METRICS)
    for k in ("AP", "AP50", "AP75", "AR", "AR50", "AR75"):
        assert m[k] == pytest.approx(1.0), k


def test_perturbed_predictions_lose_ap_with_the_error():
    gt, results = synthetic_coco()
    aps = [evaluate_predictions(gt, _perturb(results, s))["AP"] for s in (0.0, 2.0, 5.0, 12.0)]
    assert aps[0] == pytest.approx(1.0)
    assert 1.0 > aps[1] > aps[2] > aps[3] >= 0.0
    assert aps[3] < 0.5


def test_missing_people_and_false_positives():
    gt, results = synthetic_coco()
    half = evaluate_predictions(gt, results[::2])
    assert half["AR"] == pytest.approx(0.5) and half["AP"] < 0.6
    # a confident detection where nobody is, on every image: precision drops, recall stays
    junk = [
        {"image_id": img["id"], "category_id": 1, "keypoints": [600.0, 20.0, 1.0] * 17, "score": 5.0}
        for img in gt["images"]
    ]
    noisy = evaluate_predictions(gt, results + junk)
    assert noisy["AR"] == pytest.approx(1.0) and noisy["AP"] < 0.9


def test_left_right_swapped_is_penalised():
    """The 18 -> 17 mapping matters: swapping COCO's left and right parts costs AP."""
    gt, results = synthetic_coco()
    swap = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
    swapped = [
        {**r, "keypoints": np.array(r["keypoints"]).reshape(17, 3)[swap].ravel().tolist()} for r in results
    ]
    assert evaluate_predictions(gt, swapped)["AP"] < 0.5


def test_image_subset_and_empty_results():
    gt, results = synthetic_coco()
    only_first = [r for r in results if r["image_id"] == 1]
    assert evaluate_predictions(gt, only_first, image_ids=[1])["AP"] == pytest.approx(1.0)
    assert evaluate_predictions(gt, only_first)["AR"] == pytest.approx(0.25)
    assert evaluate_predictions(gt, []) == {k: 0.0 for k in METRICS}


def test_bad_annotations_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="annotation file not found: .*nope.json"):
        load_annotations(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json is not a JSON file"):
        load_annotations(bad)
    bad.write_text(json.dumps({"images": []}))
    with pytest.raises(ValueError, match="not a COCO annotation file"):
        load_annotations(bad)
    bad.write_text(json.dumps({"images": [], "annotations": []}))
    with pytest.raises(ValueError, match="no 'categories' list"):
        load_annotations(bad)


# --------------------------------------------------------------------------- end to end

FILES = ("basketball1.png", "person.jpg")


def annotations_from_predictions(estimator, folder):
    """Ground truth made of posekit's own predictions on bundled images (so AP must be 1.0)."""
    frames, info = [], {}
    for img_id, name in enumerate(FILES, start=1):
        shutil.copy(IMAGES / name, folder / name)
        result = estimator.inference(str(IMAGES / name))
        w, h = result.image_size
        info[img_id] = {"file_name": name, "width": w, "height": h}
        frames.append((img_id, result.people))
    return ground_truth_from_people(frames, images=info)


def test_evaluate_estimator_on_its_own_predictions(estimator, tmp_path):
    gt = annotations_from_predictions(estimator, tmp_path)
    assert len(gt["annotations"]) == 4  # 3 players + 1 person
    res = evaluate(gt, tmp_path, estimator)
    assert res["AP"] == pytest.approx(1.0) and res["AR"] == pytest.approx(1.0)
    assert res["images"] == 2 and res["detections"] == 4 and len(res["results"]) == 4
    first = evaluate(gt, tmp_path, estimator, max_images=1)
    assert first["images"] == 1 and first["detections"] == 3 and first["AP"] == pytest.approx(1.0)


def test_missing_image_is_named(estimator, tmp_path):
    gt = annotations_from_predictions(estimator, tmp_path)
    (tmp_path / "person.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="image person.jpg listed in the annotations is not in"):
        evaluate(gt, tmp_path, estimator)
    with pytest.raises(FileNotFoundError, match="image folder not found"):
        evaluate(gt, tmp_path / "nowhere", estimator)


def test_cli_evaluate(estimator, tmp_path, capsys, monkeypatch):
    import sys

    folder = tmp_path / "images"
    folder.mkdir()
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps(annotations_from_predictions(estimator, folder)))
    out, dets = tmp_path / "metrics.json", tmp_path / "dets.json"
    argv = ["evaluate", "--annotations", ann, "--images", folder, "--json", out, "--results", dets]
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # the progress bar shows on a terminal only
    assert main([str(a) for a in argv]) == 0
    text, err = capsys.readouterr()
    assert "posekit evaluate: 100%" in err and " 2/2 " in err  # tqdm's bar, over the images
    assert "2 images, 4 labelled people (with keypoints, not crowd), 4 people found" in text
    assert "AP    1.000" in text
    doc = json.loads(out.read_text())
    assert doc["AP"] == pytest.approx(1.0) and doc["model"] == "mobilenet_thin" and doc["images"] == 2
    assert len(json.loads(dets.read_text())) == 4


@pytest.mark.parametrize(
    "args, message",
    [
        (["--annotations", "no/such.json", "--images", "."], "annotation file not found: no/such.json"),
        (["--annotations", "{ann}", "--images", "no/such/dir"], "image folder not found: no/such/dir"),
        (["--annotations", "{ann}", "--images", ".", "--model", "cmu_xl"], "unknown model 'cmu_xl'"),
    ],
)
def test_cli_evaluate_errors(tmp_path, capsys, args, message):
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps(synthetic_coco()[0]))
    assert main(["evaluate", *(a.replace("{ann}", str(ann)) for a in args)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("posekit: error: ") and message in err[0]


def test_ground_truth_from_people_fields():
    from posekit import Person

    kp = np.full((18, 3), np.nan, np.float32)
    kp[:, 2] = 0
    kp[0] = (10, 20, 0.9)  # nose
    kp[5] = (30, 60, 0.8)  # left shoulder
    none = np.zeros((18, 3), np.float32)
    none[:, :2] = np.nan
    empty = Person(none, 0.5)
    gt = ground_truth_from_people([(7, [Person(kp, 1.2), empty])], images={7: {"file_name": "a.png"}})
    assert gt["images"] == [{"id": 7, "file_name": "a.png"}]
    (ann,) = gt["annotations"]  # the person without keypoints gives no annotation
    k = np.array(ann["keypoints"]).reshape(17, 3)
    assert k[0].tolist() == [10, 20, 2]
    assert k[COCO_KEYPOINT_NAMES.index("left_shoulder")].tolist() == [30, 60, 2]
    assert ann["num_keypoints"] == 2 and ann["bbox"] == [10.0, 20.0, 20.0, 40.0] and ann["area"] == 800.0


# --------------------------------------------------------------------------- the bundled labelled sample

COCO_SAMPLE = IMAGES / "coco_val2017"
SAMPLE_ANNOTATIONS = COCO_SAMPLE / "person_keypoints_val2017_sample.json"


@pytest.mark.slow
def test_cli_evaluate_on_the_labelled_sample_equals_pycocotools(tmp_path, capsys):
    """`posekit evaluate` on the 4 bundled COCO photos: its AP is pycocotools' on the same detections."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from posekit.evaluate import accumulate, match_results

    out, dets = tmp_path / "metrics.json", tmp_path / "dets.json"
    argv = ["evaluate", "--annotations", SAMPLE_ANNOTATIONS, "--images", COCO_SAMPLE, "--json", out,
            "--results", dets, "--bootstrap", "300"]  # fmt: skip
    assert main([str(a) for a in argv]) == 0
    text = capsys.readouterr().out
    doc = json.loads(out.read_text())
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools run directly, as its README shows
        gt = COCO(str(SAMPLE_ANNOTATIONS))
        ev = COCOeval(gt, gt.loadRes(str(dets)), iouType="keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert doc["AP"] == pytest.approx(ev.stats[0], abs=1e-12) and doc["AP50"] == pytest.approx(ev.stats[1])
    assert f"AP    {ev.stats[0]:.3f}  95% interval " in text
    results = json.loads(dets.read_text())
    assert accumulate(match_results(SAMPLE_ANNOTATIONS, results))["AP"] == pytest.approx(
        ev.stats[0], abs=1e-12
    )
    # 14 annotations: 12 people with keypoints count (2 have none); the default finds 12 people
    assert doc["images"] == 4 and doc["labelled"] == 12 and "12 labelled people" in text
    assert 0.4 < doc["AP"] < 0.8  # mobilenet_thin at 432x368 (0.555 when measured)
    lo, hi = doc["ap_interval"]
    assert lo < doc["AP"] < hi and hi - lo > 0.1  # four images: a wide interval
    errors = doc["keypoint_error"]
    assert len(errors) == 18 and errors["all"]["n"] > 100 and abs(errors["all"]["dx"]) < 5
    assert sum(line.startswith(("nose ", "left_ankle ", "all ")) for line in text.splitlines()) == 3


@pytest.mark.slow
def test_cli_evaluate_json_is_strict_without_people_that_count(tmp_path, capsys):
    """Only crowd labels: no AP interval and no keypoint errors, written as null (strict JSON), no NaN."""
    data = json.loads(SAMPLE_ANNOTATIONS.read_text())
    for a in data["annotations"]:
        a["iscrowd"] = 1
    ann, out = tmp_path / "crowd.json", tmp_path / "m.json"
    ann.write_text(json.dumps(data))
    argv = ["evaluate", "--annotations", ann, "--images", COCO_SAMPLE, "--max-images", "1", "--json", out]
    assert main([str(a) for a in argv]) == 0
    assert "0 labelled people" in capsys.readouterr().out
    doc = json.loads(out.read_text(), parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))
    assert doc["labelled"] == 0 and doc["AP"] == -1.0 and doc["ap_interval"] is None
    assert doc["keypoint_error"]["all"] == {"n": 0, "dx": None, "dy": None}


def test_cli_evaluate_bootstrap_must_be_a_count(tmp_path, capsys):
    argv = [
        "evaluate",
        "--annotations",
        str(SAMPLE_ANNOTATIONS),
        "--images",
        str(COCO_SAMPLE),
        "--bootstrap",
        "-3",
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["posekit: error: argument --bootstrap: expected an integer >= 0, got '-3'"]
