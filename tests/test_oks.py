"""OKS, COCO's matching and AP as posekit.evaluate writes them, against pycocotools on random seeded cases."""

from __future__ import annotations

import contextlib
import copy
import io

import numpy as np
import pytest

pytest.importorskip("pycocotools", reason="the comparison needs pycocotools (pip install pycocotools)")

from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402

from posekit.evaluate import (  # noqa: E402
    COCO_SIGMAS,
    METRICS,
    accumulate,
    bootstrap_ap,
    bootstrap_ap_difference,
    evaluate_predictions,
    keypoint_errors,
    keypoint_similarity,
    match_results,
    oks,
    tolerance_radius,
)
from posekit.export import COCO_KEYPOINT_NAMES  # noqa: E402

CATEGORY = {"id": 1, "name": "person", "supercategory": "person", "keypoints": list(COCO_KEYPOINT_NAMES)}


def random_case(seed: int, n_images: int = 6):
    """(annotations, results): people of every size, crowds, labels without keypoints, missing keypoints,
    noisy, swapped and junk detections, tied scores and more than 20 detections on one image."""
    rng = np.random.default_rng(seed)
    images, anns, results = [], [], []
    for img_id in range(1, n_images + 1):
        images.append({"id": img_id * 7, "file_name": f"{img_id}.jpg", "width": 640, "height": 480})
        for _ in range(rng.integers(0, 6)):
            size = rng.uniform(15, 300)
            cx, cy = rng.uniform(50, 590), rng.uniform(50, 430)
            xy = np.stack([cx + rng.uniform(-0.3, 0.3, 17) * size, cy + rng.uniform(-0.5, 0.5, 17) * size], 1)
            v = rng.choice([0, 1, 2], 17, p=[0.3, 0.2, 0.5])
            if rng.random() < 0.15:
                v[:] = 0  # a label without keypoints: ignored, absorbs detections in its box doubled
            kp = np.concatenate([np.round(xy, 2), v[:, None]], 1)
            kp[v == 0, :2] = 0
            bbox = [float(cx - 0.3 * size), float(cy - 0.5 * size), float(0.6 * size), float(size)]
            anns.append({
                "id": len(anns) + 1, "image_id": img_id * 7, "category_id": 1,
                "iscrowd": int(rng.random() < 0.1), "keypoints": kp.ravel().tolist(),
                "num_keypoints": int((v > 0).sum()), "bbox": bbox,
                "area": float(0.6 * size * size * rng.uniform(0.4, 0.9)),
            })  # fmt: skip
            for _ in range(rng.integers(0, 3)):  # detections of this person: noisy, some parts missing
                det = np.concatenate([xy + rng.normal(0, rng.uniform(0.2, 0.08 * size), (17, 2)),
                                      rng.uniform(0.1, 1, (17, 1))], 1)  # fmt: skip
                det[rng.random(17) < 0.2] = 0
                results.append({"image_id": img_id * 7, "category_id": 1, "keypoints": det.ravel().tolist(),
                                "score": float(np.round(rng.uniform(0, 3), 1))})  # fmt: skip
        for _ in range(rng.integers(0, 25 if img_id == 1 else 3)):  # junk, and > 20 detections on image 1
            det = np.concatenate(
                [rng.uniform(0, 640, (17, 1)), rng.uniform(0, 480, (17, 1)), np.ones((17, 1))], 1
            )
            results.append({"image_id": img_id * 7, "category_id": 1, "keypoints": det.ravel().tolist(),
                            "score": float(np.round(rng.uniform(0, 3), 1))})  # fmt: skip
    return {"images": images, "annotations": anns, "categories": [CATEGORY]}, results


def cocoeval(gt_data, results) -> COCOeval:
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = copy.deepcopy(gt_data)
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(copy.deepcopy(results)), iouType="keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def test_sigmas_are_cocos():
    assert np.array_equal(COCO_SIGMAS, COCOeval(iouType="keypoints").params.kpt_oks_sigmas)


@pytest.mark.parametrize("seed", range(8))
def test_oks_equals_pycocotools(seed):
    gt_data, results = random_case(seed)
    ev = cocoeval(gt_data, results)
    checked = 0
    for img in gt_data["images"]:
        ious = ev.ious[img["id"], 1]
        gts = [g for g in gt_data["annotations"] if g["image_id"] == img["id"]]
        dts = [d for d in results if d["image_id"] == img["id"]]
        if not len(ious):
            continue
        dts = [dts[i] for i in np.argsort([-d["score"] for d in dts], kind="mergesort")[:20]]
        ours = oks(
            np.array([d["keypoints"] for d in dts]).reshape(-1, 17, 3),
            np.array([g["keypoints"] for g in gts]).reshape(-1, 17, 3),
            [g["area"] for g in gts],
            boxes=[g["bbox"] for g in gts],
        )
        np.testing.assert_allclose(ours, ious, rtol=1e-12, atol=1e-15)
        checked += ious.size
    assert checked > 20


@pytest.mark.parametrize("seed", range(8))
def test_matching_and_ap_equal_pycocotools(seed):
    gt_data, results = random_case(seed)
    ev = cocoeval(gt_data, results)
    ranges = {"all": (0, 1e10), "medium": (32**2, 96**2), "large": (96**2, 1e10)}
    acc = {}
    for a, (name, rng) in enumerate(ranges.items()):
        matches = match_results(gt_data, results, area_range=rng)
        n = len(gt_data["images"])
        theirs = {e["image_id"]: e for e in ev.evalImgs[a * n : (a + 1) * n] if e is not None}
        assert sorted(theirs) == [m.image_id for m in matches]
        for m in matches:
            e = theirs[m.image_id]
            ann_ids = np.array([g["id"] for g in gt_data["annotations"] if g["image_id"] == m.image_id])
            assert [ann_ids[i] for i in m.label_index] == e["gtIds"]
            assert np.array_equal(m.scores, e["dtScores"])
            want = np.where(m.matched >= 0, np.append(ann_ids[m.label_index], 0)[m.matched], 0)
            np.testing.assert_array_equal(want, e["dtMatches"])
            np.testing.assert_array_equal(m.detection_ignored, e["dtIgnore"])
            np.testing.assert_array_equal(m.label_ignored, e["gtIgnore"])
        acc[name] = accumulate(matches)
    stats = dict(zip(METRICS, ev.stats))
    every, med, large = acc["all"], acc["medium"], acc["large"]
    ours = {"AP": every["AP"], "AP50": every["ap"][0], "AP75": every["ap"][5], "APm": med["AP"],
            "APl": large["AP"], "AR": every["AR"], "AR50": every["recall"][0], "AR75": every["recall"][5],
            "ARm": med["AR"], "ARl": large["AR"]}  # fmt: skip
    for key, mine in ours.items():
        want = stats[key]
        assert (np.isnan(mine) and want == -1) or mine == pytest.approx(want, abs=1e-12), key
    assert 0 < acc["all"]["AP"] < 1  # a case with both hits and misses
    np.testing.assert_allclose(acc["all"]["precision"], ev.eval["precision"][:, :, 0, 0, 0], atol=1e-12)


def test_oks_by_hand():
    """One keypoint labelled: OKS is exp(-d^2 / (2 area (2 sigma)^2)); the tolerance radius halves it."""
    label = np.zeros((17, 3))
    label[0] = (100, 100, 2)  # the nose only
    area = 50.0**2
    r = tolerance_radius(area)[0]
    assert r == pytest.approx(2 * 0.026 * 50 * np.sqrt(2 * np.log(2)))
    det = np.zeros((17, 3))
    det[0] = (100 + r, 100, 1)
    assert oks(det, label, area) == pytest.approx(0.5)
    det[0] = (100, 100, 1)
    assert oks(det, label, area) == pytest.approx(1.0)
    det[0, :2] = np.nan  # posekit's missing keypoint: similarity 0
    assert oks(det, label, area) == 0.0
    sim = keypoint_similarity(det, label, area)
    assert sim[0] == 0.0 and np.isnan(sim[1:]).all()
    hips = tolerance_radius(area)[11] / tolerance_radius(area)[1]
    assert hips == pytest.approx(1.07 / 0.25)  # hips are 4.3x more tolerant than eyes


def test_oks_errors():
    with pytest.raises(ValueError, match="has no keypoints: its OKS needs its box"):
        oks(np.zeros((17, 3)), np.zeros((17, 3)), 100.0)
    with pytest.raises(ValueError, match="similarity must be between 0 and 1"):
        tolerance_radius(100.0, similarity=1.0)


def test_bootstrap_interval_and_keypoint_errors():
    gt_data, results = random_case(3)
    matches = match_results(gt_data, results)
    ap = accumulate(matches)["AP"]
    lo, hi, aps = bootstrap_ap(matches, samples=200, seed=1)
    assert lo <= ap <= hi and lo < hi and len(aps) == 200
    assert bootstrap_ap(matches, samples=200, seed=1)[:2] == (lo, hi)  # seeded
    assert evaluate_predictions(gt_data, results)["AP"] == pytest.approx(ap, abs=1e-12)
    # a constant shift of every detected keypoint shows as the mean signed error
    shifted = [{**r, "keypoints": (np.array(r["keypoints"]).reshape(17, 3) + [3.0, -2.0, 0]).ravel().tolist()}
               for r in results]  # fmt: skip
    base = keypoint_errors(gt_data, results, matches)
    moved = keypoint_errors(gt_data, shifted, matches)
    assert base["dx"].shape[1] == 17 and len(base["dx"]) == len(base["scale"]) > 3
    found = ~np.isnan(base["dx"])
    assert found.sum() > 30 and np.array_equal(found, ~np.isnan(moved["dy"]))
    np.testing.assert_allclose((moved["dx"] - base["dx"])[found], 3.0, atol=1e-9)
    np.testing.assert_allclose((moved["dy"] - base["dy"])[found], -2.0, atol=1e-9)


def test_paired_bootstrap_of_a_difference():
    gt_data, results = random_case(5)
    matches = match_results(gt_data, results)
    lo, hi, diffs = bootstrap_ap_difference(matches, matches, samples=100)
    assert lo == hi == 0.0 and len(diffs) == 100  # a setting against itself: no difference at all
    worse = [{**r, "keypoints": (np.array(r["keypoints"]).reshape(17, 3) + [6.0, 6.0, 0]).ravel().tolist()}
             for r in results]  # fmt: skip
    lo, hi, _ = bootstrap_ap_difference(match_results(gt_data, worse), matches, samples=300)
    gap = accumulate(match_results(gt_data, worse))["AP"] - accumulate(matches)["AP"]
    assert lo <= gap <= hi < 0  # shifted keypoints: reliably worse on the same images


def test_failures_and_the_accuracy_figures():
    """plot.failures lists exactly the misses and false people; each figure draws what it says."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Circle

    from posekit import plot
    from posekit.evaluate import keypoint_error_table

    gt_data, results = random_case(2)
    matches = match_results(gt_data, results)
    found = plot.failures(gt_data, results, matches, threshold=0.5)
    missed = sum(int(((~m.label_ignored) & ~np.isin(np.arange(len(m.label_ignored)), m.matched[0])).sum())
                 for m in matches)  # fmt: skip
    false = sum(int(m.false_positive[0].sum()) for m in matches)
    assert [f["kind"] for f in found].count("missed") == missed > 0
    assert [f["kind"] for f in found].count("false") == false > 0
    images = {img["id"]: np.zeros((480, 640, 3), np.uint8) for img in gt_data["images"]}
    fig = plot.plot_failures(images, found, fig=Figure())
    assert sum(bool(ax.images) for ax in fig.axes) == len(found)
    m = next(m for m in matches if len(m.label_index) and (~m.label_ignored).any())
    labels = [g for g in gt_data["annotations"] if g["image_id"] == m.image_id]
    ax = plot.plot_oks_tolerance(images[m.image_id], labels, ax=Figure().subplots())
    circles = [p for p in ax.patches if isinstance(p, Circle)]
    shown = sum(int((np.array(g["keypoints"])[2::3] > 0).sum()) for g in labels
                if g["num_keypoints"] > 0 and not g["iscrowd"])  # fmt: skip
    assert len(circles) == shown  # one tolerance circle per labelled keypoint of the people that count
    acc = accumulate(matches)
    assert len(plot.plot_precision_recall(acc, fig=Figure()).axes) == 2
    table = keypoint_error_table(keypoint_errors(gt_data, results, matches))
    assert list(table["name"][[0, -1]]) == ["nose", "all"] and table["n"][-1] == table["n"][:17].sum()
    assert len(plot.plot_keypoint_errors(table, fig=Figure()).axes) == 2


def test_bootstrap_samples_are_accumulate_of_the_resampled_images():
    """The bootstrap's fast path (images repeated by count, no matching again) equals accumulate."""
    gt_data, results = random_case(4, n_images=12)
    matches = match_results(gt_data, results)
    _, _, aps = bootstrap_ap(matches, samples=40, seed=3)
    rng, n = np.random.default_rng(3), len(matches)
    want = [accumulate([matches[i] for i in sorted(rng.integers(0, n, n))])["AP"] for _ in range(40)]
    np.testing.assert_allclose(aps, [w for w in want if not np.isnan(w)], rtol=0, atol=1e-12)
    _, _, diffs = bootstrap_ap_difference(matches[::2], matches, samples=40, seed=3)
    ids = [m.image_id for m in matches]
    rng = np.random.default_rng(3)
    picks = [sorted(rng.integers(0, n, n)) for _ in range(40)]
    half = {m.image_id for m in matches[::2]}
    want = []
    for pick in picks:
        sub = [matches[i] for i in pick if ids[i] in half]
        if sub and accumulate(sub)["labelled"]:
            want.append(accumulate(sub)["AP"] - accumulate([matches[i] for i in pick])["AP"])
    np.testing.assert_allclose(diffs, want, rtol=0, atol=1e-12)
