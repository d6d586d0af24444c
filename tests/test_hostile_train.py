"""Hostile inputs to training (issue 22, items 11, 12, 13 and 15): each case failed before its fix.

Diverging runs stop with one line and write nothing; weights loaders refuse NaN, inf and complex arrays;
malformed COCO files are one line naming the entry; targets refuse sigmas that under- or overflow; a
frozen graph declaring a huge constant is refused before it is read.
"""

from __future__ import annotations

import json
import resource

import numpy as np
import pytest
from conftest import one_line_error, run_cli

from posekit.skeleton import LIMBS
from posekit.train import Sample, TrainingDivergedError, fit, load_weights, samples_from_coco, save_weights

SIZE = (64, 64)
NAN = float("nan")


def stick_figure(rng) -> Sample:
    import cv2

    w, h = SIZE
    centre = np.array([w / 2, h / 2]) + rng.uniform(-6, 6, 2)
    offsets = np.array([
        (0, -22), (0, -14), (-7, -13), (-10, -4), (-12, 5), (7, -13), (10, -4), (12, 5), (-4, 2),
        (-5, 12), (-5, 22), (4, 2), (5, 12), (5, 22), (-2, -24), (2, -24), (-4, -22), (4, -22),
    ], np.float64)  # fmt: skip
    xy = centre + offsets
    image = np.full((h, w, 3), 40, np.uint8)
    for a, b, _, _ in LIMBS:
        cv2.line(image, tuple(int(v) for v in xy[a]), tuple(int(v) for v in xy[b]), (230, 200, 40), 2)
    return Sample(image, np.concatenate([xy, np.ones((18, 1))], axis=1)[None].astype(np.float32))


@pytest.fixture(scope="module")
def samples():
    rng = np.random.default_rng(0)
    return [stick_figure(rng) for _ in range(2)]


def tiny_six_stage_model():
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(8, 3, strides=8, padding="same", activation="relu", name="features")(inp)
    outputs = []
    for stage in range(1, 7):
        outputs.append(keras.layers.Conv2D(19, 3, padding="same", name=f"heat_{stage}")(x))
        outputs.append(keras.layers.Conv2D(38, 3, padding="same", name=f"paf_{stage}")(x))
    return keras.Model(inp, outputs, name="tiny")


# --------------------------------------------------------------------------- 11: divergence, NaN weights


def test_fit_stops_at_the_first_non_finite_loss(samples):
    model = tiny_six_stage_model()
    seen = []
    with pytest.raises(TrainingDivergedError, match=r"training diverged at step \d+: the loss is (nan|inf)"):
        fit(
            model, samples, steps=30, lr=1e30, batch_size=2, graph=False, callback=lambda s, h: seen.append(s)
        )
    assert (
        seen and seen == list(range(1, len(seen) + 1)) and len(seen) < 30
    )  # stopped early, callbacks in order


def test_weights_that_are_not_finite_are_never_written(tmp_path):
    model = tiny_six_stage_model()
    layer = model.get_layer("paf_6")
    kernel, bias = layer.get_weights()
    layer.set_weights([kernel, np.full_like(bias, np.inf)])
    with pytest.raises(ValueError, match="paf_6/1 holds 38 NaN or infinite values"):
        save_weights(model, tmp_path / "w.npz")
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a temporary file


def _rewrite(path, out, change, *, keep_metadata: bool):
    """Copy a weights file with ``change(weights)`` applied; with metadata whose checksum fits the arrays."""
    from posekit.network.weights import WEIGHTS_METADATA_KEY, weights_digest

    with np.load(path) as npz:
        weights = {k: npz[k] for k in npz.files}
    meta = json.loads(str(weights.pop(WEIGHTS_METADATA_KEY)[()]))
    change(weights)
    extra = {}
    if keep_metadata:  # as a buggy writer would: a checksum of the bad arrays
        meta["sha256"] = weights_digest(weights)
        extra = {WEIGHTS_METADATA_KEY: np.array(json.dumps(meta))}
    np.savez(out, **weights, **extra)
    return out


@pytest.mark.parametrize("keep_metadata", [True, False])
@pytest.mark.parametrize(
    "value, message",
    [
        (NAN, "heat_3/1 holds 1 NaN or infinite values"),
        (np.inf, "heat_3/1 holds 1 NaN or infinite values"),
        (-np.inf, "heat_3/1 holds 1 NaN or infinite values"),
        ("complex", "heat_3/1 is a complex64 array, not floating point"),
        ("int", "heat_3/1 is a int64 array, not floating point"),
    ],
)
def test_load_weights_refuses_nan_inf_and_complex(tmp_path, value, message, keep_metadata):
    model = tiny_six_stage_model()
    good = save_weights(model, tmp_path / "good.npz")

    def change(weights):
        bias = weights["heat_3/1"]
        if value == "complex":
            weights["heat_3/1"] = bias.astype(np.complex64)
        elif value == "int":
            weights["heat_3/1"] = bias.astype(np.int64)
        else:
            bias[4] = value

    bad = _rewrite(good, tmp_path / "bad.npz", change, keep_metadata=keep_metadata)
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match=message):
        load_weights(model, bad)
    for got, want in zip(model.get_weights(), before):  # refused before any layer changed
        np.testing.assert_array_equal(got, want)


def test_every_weights_loader_refuses_non_finite_values():
    from posekit.network.models import set_model_weights
    from posekit.network.weights import WeightsFileError, check_weight_values

    model = tiny_six_stage_model()
    weights = {f"{layer.name}/{i}": w for layer in model.layers for i, w in enumerate(layer.get_weights())}
    weights["features/0"] = weights["features/0"].copy()
    weights["features/0"][0, 0, 0, 0] = NAN
    with pytest.raises(WeightsFileError, match="graph.pb: weight features/0 holds 1 NaN"):
        set_model_weights(model, weights, "graph.pb")  # what load_model does with a graph's converted weights
    with pytest.raises(WeightsFileError, match="complex"):
        check_weight_values({"a/0": np.ones(3, np.complex128)}, "x")


@pytest.mark.slow
def test_train_command_that_diverges_writes_nothing(tmp_path, samples, graph_path):
    ann, folder = write_coco(tmp_path, samples)
    out = tmp_path / "tuned.npz"
    proc = run_cli("train", "--annotations", str(ann), "--images", str(folder), "--out", str(out),
                   "--steps", "4",
                   "--lr", "1e30", "--resize", "64x64", "--batch-size", "2", "--eager")  # fmt: skip
    one_line_error(proc, "training diverged at step", "lower the learning rate", f"nothing written to {out}")
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == [
        "images",
        "person_keypoints.json",
    ]


# --------------------------------------------------------------------------- 12: malformed COCO files


def coco_dict(samples):
    """A valid COCO keypoint dict for the stick figures: images 1.. and one person each, plus a crowd."""
    from posekit.export import to_coco_keypoints

    images, anns = [], []
    for i, s in enumerate(samples, start=1):
        images.append({"id": i, "file_name": f"{i:04d}.png", "width": 64, "height": 64})
        kp = [float(round(v)) for v in to_coco_keypoints(s.people[0])]
        kp[2::3] = [2.0] * 17
        anns.append({"id": i, "image_id": i, "category_id": 1, "keypoints": kp, "num_keypoints": 17,
                     "iscrowd": 0, "bbox": [0, 0, 64, 64], "area": 4096})  # fmt: skip
    anns.append({"id": 90, "image_id": 1, "category_id": 1, "iscrowd": 1, "bbox": [0, 0, 8, 8], "area": 64,
                 "segmentation": {"size": [64, 64],
                                  "counts": [0, 8] + [56, 8] * 7 + [64 * 64 - 64 - 7 * 56]}})  # fmt: skip
    return {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "person"}]}


def write_coco(tmp_path, samples, data=None):
    import cv2

    folder = tmp_path / "images"
    folder.mkdir(exist_ok=True)
    for i, s in enumerate(samples, start=1):
        cv2.imwrite(str(folder / f"{i:04d}.png"), s.image)
    path = tmp_path / "person_keypoints.json"
    path.write_text(json.dumps(coco_dict(samples) if data is None else data))  # NaN/Infinity as JSON allows
    return path, folder


def _set(path, value):
    def change(d):
        *keys, last = path
        for k in keys:
            d = d[k]
        if value is _DELETE:
            del d[last]
        else:
            d[last] = value

    return change


_DELETE = object()

MALFORMED = {
    "annotation is an int": (_set(("annotations", 0), 7), "annotations[0] must be an object, got int 7"),
    "image is an int": (_set(("images", 1), 3), "images[1] must be an object, got int 3"),
    "image_id a list": (
        _set(("annotations", 1, "image_id"), [2]),
        "annotations[1] image_id must be an integer or a string, got list",
    ),
    "image id a list": (
        _set(("images", 0, "id"), [1]),
        "images[0] id must be an integer or a string, got list",
    ),
    "mixed str/int image ids": (
        _set(("images", 1, "id"), "2"),
        "images[1] id is str '2' but the image ids are ints",
    ),
    "annotation id type differs": (
        _set(("annotations", 1, "image_id"), "2"),
        "annotations[1] image_id is str '2' but the image ids are ints",
    ),
    "file_name missing": (
        _set(("images", 0, "file_name"), _DELETE),
        "images[0] file_name must be an image file name, got null",
    ),
    "file_name an int": (
        _set(("images", 0, "file_name"), 5),
        "images[0] file_name must be an image file name, got int 5",
    ),
    "file_name null": (
        _set(("images", 1, "file_name"), None),
        "images[1] file_name must be an image file name, got null",
    ),
    "keypoints as strings": (
        _set(("annotations", 0, "keypoints"), "1 2 2"),
        "annotations[0] keypoints must be COCO's 51 numbers",
    ),
    "a keypoint a string": (
        _set(("annotations", 0, "keypoints", 3), "12"),
        "annotations[0] keypoints[3] must be a number, got str '12'",
    ),
    "v as a string": (
        _set(("annotations", 1, "keypoints", 5), "2"),
        "annotations[1] keypoints[5] must be a number, got str '2'",
    ),
    "v not 0, 1 or 2": (
        _set(("annotations", 1, "keypoints", 5), 7),
        "annotations[1] keypoints[5] (v of keypoint 1) must be 0, 1 or 2",
    ),
    "bbox with Infinity": (
        _set(("annotations", 0, "bbox", 2), float("inf")),
        "annotations[0] bbox[2] must be a finite number, got float inf",
    ),
    "bbox of 3 numbers": (
        _set(("annotations", 0, "bbox"), [0, 0, 1]),
        "annotations[0] bbox must be a list of 4 numbers, got list of 3",
    ),
    "RLE negative counts": (
        _set(("annotations", 2, "segmentation", "counts", 1), -8),
        "annotations[2] segmentation counts[1] must be an integer >= 0, got int -8",
    ),
    "RLE without size": (
        _set(("annotations", 2, "segmentation", "size"), _DELETE),
        "annotations[2] segmentation size must be the image's [height, width]",
    ),
    "RLE counts not the size": (
        _set(("annotations", 2, "segmentation", "counts", 2), 5),
        "annotations[2] segmentation counts add up to",
    ),
    "polygon with NaN": (
        _set(("annotations", 2, "segmentation"), [[0, 0, 8, NAN, 8, 8]]),
        "annotations[2] segmentation[0][3] must be a finite number, got float nan",
    ),
    "iscrowd a string": (
        _set(("annotations", 0, "iscrowd"), "0"),
        "annotations[0] iscrowd must be 0 or 1, got str '0'",
    ),
    "duplicate image ids": (_set(("images", 1, "id"), 1), "images[1] id 1 is also the id of images[0]"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_coco_entries_are_named(tmp_path, samples, case):
    change, message = MALFORMED[case]
    data = coco_dict(samples)
    change(data)
    ann, folder = write_coco(tmp_path, samples, data)
    with pytest.raises(ValueError) as info:
        samples_from_coco(ann, folder, SIZE)
    text = str(info.value)
    assert text.startswith(f"{ann}: ") and message in text and "\n" not in text, text


def test_valid_coco_with_its_crowd_rle_still_trains(tmp_path, samples):
    ann, folder = write_coco(tmp_path, samples)
    got = samples_from_coco(ann, folder, SIZE)
    assert len(got) == 2 and got[0].ignore is not None and got[1].ignore is None
    assert got[0].ignore[:8, :8].all() and got[0].ignore.sum() == 64  # the crowd's 8x8 RLE square


def test_crowd_rle_larger_than_its_image_is_refused_before_decoding(tmp_path, samples):
    data = coco_dict(samples)
    del data["images"][0]["width"], data["images"][0]["height"]  # only the image itself tells its size
    data["annotations"][2]["segmentation"] = {"size": [30000, 30000], "counts": [0, 30000 * 30000]}
    ann, folder = write_coco(tmp_path, samples, data)
    with pytest.raises(
        ValueError, match=r"annotations\[2\] segmentation size \[30000, 30000\] is not its image's"
    ):
        samples_from_coco(ann, folder, SIZE)
    data["images"][0].update(width=64, height=64)  # declared: refused while checking the entries
    ann, folder = write_coco(tmp_path, samples, data)
    with pytest.raises(
        ValueError, match=r"size \[30000, 30000\] is not its image's \[height, width\] \[64, 64\]"
    ):
        samples_from_coco(ann, folder, SIZE)


@pytest.mark.parametrize("bad", [NAN, float("inf")])
def test_a_labelled_person_at_nan_or_inf_is_refused_not_trained_as_background(tmp_path, samples, bad):
    data = coco_dict(samples)
    kp = data["annotations"][1]["keypoints"]
    kp[0::3] = [bad] * 17
    kp[1::3] = [bad] * 17
    ann, folder = write_coco(tmp_path, samples, data)
    with pytest.raises(
        ValueError, match=r"annotations\[1\] keypoints\[0:2\]: keypoint 0 is labelled \(v = 2"
    ):
        samples_from_coco(ann, folder, SIZE)


@pytest.mark.parametrize(
    "case",
    [
        "annotation is an int",
        "mixed str/int image ids",
        "v as a string",
        "RLE without size",
        "file_name null",
    ],
)
def test_train_command_on_malformed_coco_is_one_line(tmp_path, samples, case):
    change, message = MALFORMED[case]
    data = coco_dict(samples)
    change(data)
    ann, folder = write_coco(tmp_path, samples, data)
    proc = run_cli("train", "--annotations", str(ann), "--images", str(folder),
                   "--out", str(tmp_path / "w.npz"),
                   "--steps", "1", timeout=120)  # fmt: skip
    one_line_error(proc, message)
    assert not (tmp_path / "w.npz").exists()


@pytest.mark.parametrize("where", ["folder", "under a file"])
def test_train_command_refuses_an_unwritable_out_before_the_first_step(tmp_path, samples, where):
    ann, folder = write_coco(tmp_path, samples)
    (tmp_path / "plain.txt").write_text("a file")
    (tmp_path / "tuned.npz").mkdir()
    out = {"folder": tmp_path / "tuned.npz", "under a file": tmp_path / "plain.txt" / "w.npz"}[where]
    proc = run_cli("train", "--annotations", str(ann), "--images", str(folder), "--out", str(out),
                   "--steps", "1",
                   "--resize", "64x64", timeout=120)  # fmt: skip
    line = one_line_error(proc, f"--out {out}")
    assert ("is a folder" if where == "folder" else "plain.txt is a file, not a folder") in line
    assert (
        "step" not in proc.stdout and "training" not in proc.stdout
    )  # refused before TensorFlow and the model


# --------------------------------------------------------------------------- 13: targets


@pytest.mark.parametrize("sigma", [1e-200, 1e-4, 1e7, 1e200])
def test_confidence_maps_refuse_sigmas_that_underflow_or_overflow(sigma):
    from posekit.targets import confidence_maps

    people = np.zeros((1, 18, 3))
    people[0, :, :2] = 16
    people[0, :, 2] = 1
    with pytest.raises(ValueError, match=r"sigma must be from 0\.001 to 1e\+06 image pixels"):
        confidence_maps(people, (64, 64), (8, 8), sigma)


def test_confidence_maps_at_the_ends_of_the_sigma_range_are_finite():
    from posekit.targets import SIGMA_RANGE, confidence_maps

    people = np.zeros((1, 18, 3))
    people[0, :, :2] = 8 * 2  # exactly on cell (2, 2)'s position (FieldTransform: col * 64 / 8)
    people[0, :, 2] = 1
    narrow = confidence_maps(people, (64, 64), (8, 8), SIGMA_RANGE[0])
    wide = confidence_maps(people, (64, 64), (8, 8), SIGMA_RANGE[1])
    assert np.isfinite(narrow).all() and np.isfinite(wide).all()
    assert narrow[2, 2, 0] == 1 and narrow[:, :, 0].sum() == 1  # a spike on the keypoint's cell
    np.testing.assert_allclose(wide[:, :, :18], 1.0, atol=1e-6)  # flat


@pytest.mark.parametrize("empty", [[], np.zeros((0, 18, 3)), np.zeros((0, 0))])
def test_targets_of_no_people(empty):
    from posekit.targets import confidence_maps, paf_targets

    heat = confidence_maps(empty, (64, 48), (8, 6))
    assert heat.shape == (6, 8, 19) and heat.dtype == np.float32
    np.testing.assert_array_equal(heat[:, :, :18], 0.0)
    np.testing.assert_array_equal(heat[:, :, 18], 1.0)  # all background
    paf = paf_targets(empty, (64, 48), (8, 6))
    assert paf.shape == (6, 8, 38)
    np.testing.assert_array_equal(paf, 0.0)
    with pytest.raises(ValueError, match="people_keypoints must have shape"):
        confidence_maps(np.zeros((0, 17, 3)), (64, 48), (8, 6))


# --------------------------------------------------------------------------- 15: a huge declared constant


def huge_const_graph(path, shape=(20000, 20000)):
    """A tiny frozen graph (about 150 bytes) with one Const declaring ``shape`` float32 from one value."""
    from tensorflow.core.framework import graph_pb2, tensor_pb2, tensor_shape_pb2, types_pb2

    tensor = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_FLOAT,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in shape]
        ),
        float_val=[1.0],
    )  # fmt: skip
    gd = graph_pb2.GraphDef()
    node = gd.node.add(name="MobilenetV1/Conv2d_0/weights", op="Const")
    node.attr["dtype"].type = types_pb2.DT_FLOAT
    node.attr["value"].tensor.CopyFrom(tensor)
    gd.node.add(name="Openpose/MConv_Stage1_L1_1/Conv2D", op="NoOp")
    path.write_bytes(gd.SerializeToString())
    return path


def test_a_huge_declared_constant_is_refused_before_it_is_read(tmp_path):
    from posekit.network.architectures import build_mobilenet_thin
    from posekit.network.tf1_graph import const_limits, load_graph_weights
    from posekit.network.weights import ModelError

    graph = huge_const_graph(tmp_path / "graph.pb")
    assert graph.stat().st_size < 200
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(
        ModelError, match=r"constant MobilenetV1/Conv2d_0/weights declares shape \[20000, 20000\]"
    ):
        load_graph_weights(graph)
    model = build_mobilenet_thin()
    one, total = const_limits(model)
    assert (one, total) == (1 << 20, 4 * 1_930_872 + (1 << 20))  # 4x the largest (at least 2**20), 4x all
    with pytest.raises(ModelError, match="far more than any weight of mobilenet_thin"):
        load_graph_weights(graph, model=model)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 500_000  # KB: nothing near 1.6 GB
    ok = huge_const_graph(tmp_path / "small.pb", shape=(3, 3, 3, 24))
    assert load_graph_weights(ok, model=model)["MobilenetV1/Conv2d_0/weights"].shape == (3, 3, 3, 24)


def test_image_command_on_a_huge_declared_constant_is_one_line_at_small_memory(tmp_path, bgr):
    import cv2

    graph = huge_const_graph(tmp_path / "graph.pb")
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((64, 64, 3), np.uint8))
    proc = run_cli("image", str(tmp_path / "a.png"), "--model", str(graph),
                   "--architecture", "mobilenet_thin",
                   "--engine", "tf", timeout=180, peak_memory=True)  # fmt: skip
    one_line_error(proc, "declares shape [20000, 20000] (400,000,000 values)", "refused before reading it")
    maxrss_kb = int(proc.stdout.split("maxrss")[-1])
    assert maxrss_kb < 1_400_000, maxrss_kb  # TensorFlow and the Keras model, without the 1.6 GB constant
