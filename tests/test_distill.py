"""The int8 network (``posekit.distill``): disjoint training data, exact equalisation, int8 kernels, fidelity.

The fidelity goals are the fast mode's (issue 25): on the bundled and anchor images, against the exact mode,
the same number of people on all but at most one image and >= 95% of the keypoints within 1.5 grid cells.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import ANCHORS, IMAGES, ROOT, SHARED, mode_agreement, one_line_error

from posekit import distill, quantise

SIZE = (432, 368)


def file_sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_training_images_share_nothing_with_the_evaluation_images():
    import cv2

    shared = [ANCHORS, SHARED / "coco-sample", SHARED / "reference"]  # judged images outside the repo
    evaluation = distill.evaluation_files(extra_folders=shared)
    names = {p.name for p in evaluation}
    assert {"astronaut.png", "camera.png", "person.jpg", "000000000785.jpg"} <= names
    if ANCHORS.is_dir():
        assert "ski.jpg" in names
    train_dir = ROOT / "images" / "distill"
    train_files = sorted(p for p in train_dir.iterdir() if p.suffix.lower() in (".png", ".jpg"))
    assert len(train_files) >= 5
    assert not {file_sha256(p) for p in train_files} & {file_sha256(p) for p in evaluation}
    training = distill.training_images()
    assert len(training) == 100 + len(train_files)  # every frame of the clip, every file
    pixels = {distill.image_hashes(image) for _, image in training}
    assert len(pixels) == len(training)  # no image twice
    evaluation_pixels = {distill.image_hashes(cv2.imread(str(p), cv2.IMREAD_COLOR)) for p in evaluation}
    assert not pixels & evaluation_pixels
    # the check can fail: scikit-image's astronaut (left out of the training files) is the bundled one
    astronaut = cv2.imread(str(IMAGES / "astronaut.png"), cv2.IMREAD_COLOR)
    assert distill.image_hashes(astronaut) in evaluation_pixels


def test_selection_frames_are_held_out_of_training():
    named = distill.training_images()
    fit, select = distill.split_training_images(named)
    every = distill.SELECTION_EVERY
    assert [name for name, _ in select] == [f"vtest_pair.mp4#{i}" for i in range(every // 2, 100, every)]
    assert len(fit) + len(select) == len(named)
    assert not {distill.image_hashes(im) for _, im in fit} & {distill.image_hashes(im) for _, im in select}


def test_gptq_rounds_onto_the_grid_with_less_output_error_than_nearest():
    rng = np.random.default_rng(0)
    mix = rng.normal(size=(24, 24))
    x = rng.normal(size=(4000, 24)) @ mix  # correlated inputs, as a layer's are
    w = rng.normal(size=(16, 24))
    scale = np.abs(w).max(axis=1) / 127
    q = quantise._gptq(w, x.T @ x, scale)
    levels = q / scale[:, None]
    assert np.allclose(levels, np.rint(levels), atol=1e-9) and np.abs(np.rint(levels)).max() <= 127
    nearest = np.rint(w / scale[:, None]) * scale[:, None]
    error = np.linalg.norm((w - q) @ x.T)
    assert error < 0.8 * np.linalg.norm((w - nearest) @ x.T)


def test_augment_gives_varied_images_of_the_asked_size():
    pool = [np.full((50, 80, 3), v, np.uint8) for v in (0, 100, 200)]
    pool[0][10:20, 10:30] = 255
    rng = np.random.default_rng(0)
    out = [distill.augment(rng, pool, (64, 96)) for _ in range(20)]
    assert all(x.shape == (64, 96, 3) and x.dtype == np.float32 for x in out)
    assert all(x.min() >= 0 and x.max() <= 255 and np.array_equal(x, np.rint(x)) for x in out)
    assert len({x.tobytes() for x in out}) == 20


def test_distill_cli_refuses_bad_arguments():
    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "posekit", "distill", *args], capture_output=True, text=True, timeout=120
        )

    one_line_error(run("--out", "net.onnx"), "--out", ".xml")
    one_line_error(run("--out", "net.xml", "--crop", "100x7"), "--crop")
    one_line_error(run("--out", "net.xml", "--steps", "0"), "--steps")
    one_line_error(run("--out", "net.xml", "--float-layers", "-1"), "--float-layers")


@pytest.mark.slow
def test_equalisation_is_exact_and_balances_the_channels():
    from posekit.network.models import load_model

    model = load_model("mobilenet_thin", all_stages=True)
    pool = [image for _, image in distill.training_images()[::25]]
    batch = np.stack([distill.augment(np.random.default_rng(1), pool, (128, 128)) for _ in range(4)])
    before = [np.asarray(t) for t in model(batch)]
    import keras

    relu = quantise.relu_pairs(model)
    assert len(relu) == 57  # 1x1 conv -> ReLU -> depthwise: 9 in the backbone, 48 in the head
    quantise.equalise_relu(model, batch)
    probe = keras.Model(model.input, [pw.output for pw, _ in relu])
    for a in probe(batch):
        r = np.asarray(a).max(axis=(0, 1, 2))
        r = r[r > 1e-5]
        assert np.allclose(r, np.median(r), rtol=1e-2)  # every channel now spans the same range
    pairs = quantise.separable_pairs(model)
    assert len(pairs) == 71
    ranges = quantise.channel_ranges(model, pairs, batch)
    quantise.equalise(model, pairs, ranges)
    after = [np.asarray(t) for t in model(batch)]
    assert max(float(np.abs(a - b).max()) for a, b in zip(before, after)) < 1e-3
    spread = [r.max() / np.median(r) for r in ranges]
    spread_after = [r.max() / np.median(r) for r in quantise.channel_ranges(model, pairs, batch)]
    assert np.median(spread_after) < np.median(spread) and max(spread_after) < max(spread) / 4


@pytest.fixture(scope="module")
def modes():
    from posekit import PoseEstimator
    from posekit.network.openvino import openvino_available

    if not openvino_available():
        pytest.skip("precision 'int8' runs on OpenVINO: pip install 'posekit[openvino]'")
    exact = PoseEstimator("mobilenet_thin", input_size=SIZE)
    fast = PoseEstimator("mobilenet_thin", input_size=SIZE, precision="int8")
    assert (fast.engine, fast.precision) == ("openvino", "int8")
    return exact, fast


def image_paths(folder):
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".png"))


@pytest.mark.slow
def test_int8_runs_every_convolution_in_int8_but_its_float_ones(modes):
    from posekit.network.engines import make_runner
    from posekit.network.int8 import INT8_RECORD

    exact, _ = modes
    runner, engine = make_runner(exact.model, "auto", SIZE, exact._tflite_dir, precision="int8")
    assert engine == "openvino"
    record = json.loads(INT8_RECORD.read_text())
    assert record["weights_sha256"]  # built from the pinned weights
    floats = len(record.get("float_layers", []))  # the shipped build leaves 8 in float
    int8 = sum(n for p, n in runner.convolutions.items() if p in ("u8", "i8"))
    assert floats <= 10 and int8 >= 143 - floats
    assert sum(runner.convolutions.values()) - int8 == floats  # the float ones, and only those


#: What the shipped int8 network reaches against the exact mode on the 18 bundled and anchor images (its
#: record, ``posekit/network/int8_model/mobilenet_thin_int8.json``, holds the numbers and the training curve:
#: 88.1% kept, 2 counts changed where it was built; the bound leaves room for another CPU's int8 kernels).
#: The goals (95% kept, at most 1 count changed) are not reached yet: the README says how far and why.
REACHED_KEPT, REACHED_DIFFERS = 0.85, 3
#: AP on the labelled COCO sample where it was built: 0.441, just under the exact mode's interval
#: (0.555, 0.453-0.721) that the goal asks it to stay inside; the bound leaves room as above.
REACHED_AP = 0.40


def bundled_and_anchor_images():
    if not ANCHORS.is_dir():
        pytest.skip(f"anchor images not available at {ANCHORS} (they are not part of the repo)")
    return image_paths(IMAGES) + image_paths(ANCHORS)


@pytest.mark.slow
def test_int8_keeps_what_its_record_says(modes):
    differs, kept, total = mode_agreement(bundled_and_anchor_images(), modes)
    assert total > 400
    assert kept / total >= REACHED_KEPT, (kept, total)
    assert len(differs) <= REACHED_DIFFERS, differs


@pytest.mark.slow
def test_int8_ap_on_the_labelled_sample_reaches_its_recorded_level(modes):
    from posekit.evaluate import evaluate

    sample = IMAGES / "coco_val2017"
    labels = sample / "person_keypoints_val2017_sample.json"
    exact, fast = modes
    want, got = evaluate(labels, sample, exact), evaluate(labels, sample, fast)
    assert 0.45 < want["ap_interval"][0] < want["AP"]  # the exact mode's interval, as the record says
    assert got["AP"] >= REACHED_AP, (got["AP"], want["ap_interval"])


def tiny_network(depthwise_bias: bool = False):
    import keras

    keras.utils.set_random_seed(0)
    x = keras.Input((16, 16, 3))
    a = keras.layers.Conv2D(6, 3, padding="same", name="a")(x)
    b = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=depthwise_bias, name="b")(a)
    heat = keras.layers.Conv2D(2, 1, name="heat")(b)
    paf = keras.layers.Conv2D(3, 1, name="paf")(b)
    return keras.Model(x, [heat, paf])


def test_kernel_sensitivity_ranks_the_kernel_int8_rounds_worst():
    model = tiny_network()
    k = model.get_layer("b").kernel.numpy()
    k[0, 0, :, 0] = 50.0  # one huge tap per channel: int8 steps of 50/127 flatten the other eight
    model.get_layer("b").kernel.assign(k)
    batch = np.random.default_rng(0).normal(size=(4, 16, 16, 3)).astype(np.float32)
    before = [np.asarray(t) for t in model(batch)]
    scores = quantise.kernel_sensitivity(model, batch)
    assert set(scores) == {"a", "b", "heat", "paf"} and np.isclose(sum(scores.values()), 2.0)
    assert max(scores, key=scores.get) == "b"
    assert all(np.array_equal(a, np.asarray(b)) for a, b in zip(before, model(batch)))  # kernels restored


def test_round_weights_puts_every_kernel_on_its_grid_and_bias_correction_removes_the_mean_shift():
    model = tiny_network(depthwise_bias=True)  # a depthwise with a bias: corrected with its own convolution
    batch = np.random.default_rng(1).normal(size=(6, 16, 16, 3)).astype(np.float32)
    import keras

    def outputs(net):  # the depthwise's (linear) output and the two maps
        probe = keras.Model(net.input, [net.get_layer("b").output, *net.outputs])
        return [np.asarray(t) for t in probe(batch)]

    want = outputs(model)
    shift = {}
    for correct in (False, True):
        student = quantise.build_student(model)
        quantise.calibrate(student, model, batch)
        quantise.round_weights(student, model, batch, correct_bias=correct)
        for layer in quantise.quantised_layers(student):
            step = quantise._grid_step(layer.w_max)
            shape = (1, 1, -1, 1) if layer._depthwise else (1, 1, 1, -1)
            levels = np.asarray(layer.kernel) / step.reshape(shape)
            assert np.allclose(levels, np.rint(levels), atol=1e-3), layer.name
            assert np.abs(np.rint(levels)).max() <= 127
        got = outputs(student)
        shift[correct] = [np.abs((g - w).mean(axis=(0, 1, 2))).max() for g, w in zip(got, want)]
    # each layer's per-channel mean error on the batch it was corrected on
    assert max(shift[True]) < 1e-5 < min(shift[False])


def test_grid_adam_moves_each_kernel_by_its_own_grid_step():
    import tensorflow as tf

    model = tiny_network()
    k = model.get_layer("a").kernel.numpy()
    k[..., 0] *= 100.0  # one channel on a grid 100x coarser than the others
    model.get_layer("a").kernel.assign(k)
    student = quantise.build_student(model)
    variables = list(student.trainable_variables)
    before = [np.asarray(v) for v in variables]
    apply = quantise.grid_adam(student, variables, grid_lr=0.5, other_lr=1e-3)
    apply([tf.ones_like(v) for v in variables])  # Adam's first step: lr x sign(gradient)
    kernels = {id(layer.kernel): layer for layer in quantise.quantised_layers(student)}
    for v, old in zip(variables, before):
        moved = old - np.asarray(v)
        layer = kernels.get(id(v))
        if layer is None:
            np.testing.assert_allclose(moved, 1e-3, rtol=1e-3)
            continue
        step = quantise._grid_step(layer.w_max).reshape((1, 1, -1, 1) if layer._depthwise else (1, 1, 1, -1))
        np.testing.assert_allclose(moved, np.broadcast_to(0.5 * step, moved.shape), rtol=1e-3)
    a = student.get_layer("a")
    moved = before[variables.index(a.kernel)] - np.asarray(a.kernel)
    assert moved[..., 0].mean() > 50 * moved[..., 1].mean()  # the coarse channel moves farther


def test_cell_weights_favour_parts_and_limbs_not_the_background():
    heat = np.zeros((1, 2, 2, 19), np.float32)
    heat[0, 0, 0, 3] = 0.5  # a part
    heat[0, 1, 1, 18] = 1.0  # background only: not a part
    paf = np.zeros((1, 2, 2, 38), np.float32)
    paf[0, 0, 1, 7] = -0.25  # a limb's field, pointing the other way
    cells = [np.asarray(c)[0, ..., 0] for c in distill._cell_weights([heat, paf], 20.0)]
    np.testing.assert_allclose(cells[0], [[11.0, 1.0], [1.0, 1.0]])
    np.testing.assert_allclose(cells[1], [[1.0, 6.0], [1.0, 1.0]])


def test_build_student_leaves_the_named_layers_in_float():
    model = tiny_network()
    student = quantise.build_student(model, ["b"])
    assert [layer.name for layer in quantise.quantised_layers(student)] == ["a", "heat", "paf"]
    assert type(student.get_layer("b")) is type(model.get_layer("b"))
    with pytest.raises(ValueError, match="nope"):
        quantise.build_student(model, ["nope"])


def concat_network():
    """x -> relu conv "f" (wide range) and linear conv "m" (narrow); c1 = [m, f] read by depthwise "d";
    c2 = [m2, c1] read by depthwise "e"; c3 = [m, f] read by a plain conv: not quantised part by part."""
    import keras

    keras.utils.set_random_seed(0)
    x = keras.Input((12, 12, 3))
    f = keras.layers.Conv2D(5, 3, padding="same", activation="relu", name="f")(x)
    m = keras.layers.Conv2D(2, 1, name="m")(x)
    m2 = keras.layers.Conv2D(3, 1, name="m2")(x)
    c1 = keras.layers.Concatenate(name="c1")([m, f])
    d = keras.layers.DepthwiseConv2D(3, padding="same", name="d")(c1)
    c2 = keras.layers.Concatenate(name="c2")([m2, c1])
    e = keras.layers.DepthwiseConv2D(3, padding="same", name="e")(c2)
    c3 = keras.layers.Concatenate(name="c3")([m, f])
    g = keras.layers.Conv2D(2, 1, name="g")(c3)
    model = keras.Model(x, [d, e, g])
    w = model.get_layer("m").get_weights()
    model.get_layer("m").set_weights([w[0] * 0.01, w[1]])  # its outputs ~100x narrower than f's
    return model


def test_concatenations_read_by_depthwise_layers_quantise_each_part_in_its_own_range():
    import tensorflow as tf

    model = concat_network()
    assert quantise.grid_concats(model) == {"c1": (), "c2": (1,)}  # c2's second part is c1: on grid
    student = quantise.build_student(model)
    batch = np.random.default_rng(0).uniform(0, 255, (4, 12, 12, 3)).astype(np.float32)
    quantise.calibrate(student, model, batch)
    c1 = student.get_layer("c1")
    lo, hi = c1.part_lo.numpy(), c1.part_hi.numpy()
    assert hi[1] > 20 * hi[0] > 0  # m's range is its own, not f's
    assert student.get_layer("d").input_on_grid and not hasattr(student.get_layer("d"), "act_lo")
    assert not student.get_layer("g").input_on_grid and hasattr(student.get_layer("g"), "act_lo")
    import keras

    m, f, got = keras.Model(student.input, [student.get_layer(n).output for n in ("m", "f", "c1")])(batch)
    want = [
        tf.quantization.fake_quant_with_min_max_vars(t, lo[i], hi[i], num_bits=8)
        for i, t in enumerate((m, f))
    ]
    np.testing.assert_array_equal(np.asarray(got), np.concatenate([np.asarray(t) for t in want], axis=-1))
    assert len(np.unique(np.asarray(got)[..., :2])) > 100  # m keeps far more than a shared scale's few levels
    # c2 passes c1's already quantised channels through and quantises m2 alone
    c2 = student.get_layer("c2")
    out = np.asarray(keras.Model(student.input, c2.output)(batch))
    np.testing.assert_array_equal(out[..., 3:], np.asarray(got))
    # ranges trained: the convolutions' own (a, g, m, m2, f ...) and the concatenations' parts
    names = {v.path.split("/")[0] for v in quantise.input_ranges(student)}
    assert names == {"f", "m", "m2", "g", "c1", "c2"}
