"""Training (posekit.train): staged loss, fit, weights files, COCO conversion, the ``posekit train`` command.

The loop tests use a small six-stage network with mobilenet_thin's output layout at 64x64 (an 8x8 grid),
so they run in seconds on two cores; the command test trains the real mobilenet_thin (cached published
weights) for two steps.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from posekit.export import COCO_FROM_POSEKIT
from posekit.skeleton import LIMBS, CocoPart
from posekit.targets import confidence_maps, paf_targets
from posekit.train import (
    History,
    Sample,
    coco_to_posekit,
    fit,
    load_weights,
    sample_targets,
    samples_from_coco,
    save_weights,
    stage_losses,
)

SIZE = (64, 64)


def stick_figure(rng, size=SIZE) -> Sample:
    """A BGR image with one drawn stick figure and its 18 keypoints (all labelled)."""
    import cv2

    w, h = size
    centre = np.array([w / 2 + rng.uniform(-6, 6), h / 2 + rng.uniform(-6, 6)])
    offsets = np.array([
        (0, -22), (0, -14), (-7, -13), (-10, -4), (-12, 5), (7, -13), (10, -4), (12, 5), (-4, 2),
        (-5, 12), (-5, 22), (4, 2), (5, 12), (5, 22), (-2, -24), (2, -24), (-4, -22), (4, -22),
    ], np.float64)  # fmt: skip
    xy = centre + offsets * rng.uniform(0.8, 1.1)
    image = np.full((h, w, 3), rng.integers(20, 60), np.uint8)
    for a, b, _, _ in LIMBS:
        cv2.line(image, tuple(int(v) for v in xy[a]), tuple(int(v) for v in xy[b]), (230, 200, 40), 2)
    people = np.concatenate([xy, np.ones((18, 1))], axis=1)[None].astype(np.float32)
    return Sample(image, people)


@pytest.fixture(scope="module")
def samples():
    rng = np.random.default_rng(0)
    return [stick_figure(rng) for _ in range(3)]


@pytest.fixture(scope="module")
def keras_seeded():
    import keras

    keras.utils.set_random_seed(0)
    return keras


def fresh_model(keras_seeded):
    from posekit.network.architectures import build_mobilenet_thin

    return build_mobilenet_thin()


# --------------------------------------------------------------------------- loss


def targets_of(samples):
    heat = np.stack([confidence_maps(s.people, SIZE, (8, 8), 4.0) for s in samples])
    paf = np.stack([paf_targets(s.people, SIZE, (8, 8), 4.0) for s in samples])
    return heat, paf


def test_stage_losses_are_zero_on_the_targets_and_the_l2_sum_per_image_otherwise(samples):
    heat, paf = targets_of(samples[:2])
    exact = stage_losses([heat, paf] * 6, heat, paf).numpy()
    assert exact.shape == (6,)
    np.testing.assert_array_equal(exact, 0.0)
    rng = np.random.default_rng(1)
    outs = []
    want = []
    for _ in range(6):
        dh = rng.normal(0, 0.1, heat.shape).astype(np.float32)
        dp = rng.normal(0, 0.1, paf.shape).astype(np.float32)
        outs += [heat + dh, paf + dp]
        want.append(((dh.astype(np.float64) ** 2).sum() + (dp.astype(np.float64) ** 2).sum()) / 2)  # N = 2
    got = stage_losses(outs, heat, paf).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5)
    assert np.all(got > 0)


@pytest.mark.parametrize("mask_shape", [(8, 8), (8, 8, 1), (2, 8, 8), (2, 8, 8, 1)])
def test_mask_zeroes_a_regions_contribution(samples, mask_shape):
    heat, paf = targets_of(samples[:2])
    wrong_heat, wrong_paf = heat.copy(), paf.copy()
    wrong_heat[:, :3, :3] += 5.0  # errors only in the top-left 3x3 cells
    wrong_paf[:, :3, :3] -= 2.0
    mask = np.ones(mask_shape, np.float32)
    region = (slice(None), slice(0, 3), slice(0, 3)) if mask_shape[0] == 2 else (slice(0, 3), slice(0, 3))
    mask[region] = 0.0
    outs = [wrong_heat, wrong_paf] * 6
    masked = stage_losses(outs, heat, paf, mask).numpy()
    np.testing.assert_allclose(masked, 0.0, atol=1e-6)
    unmasked = stage_losses(outs, heat, paf).numpy()
    np.testing.assert_allclose(unmasked, (25 * 19 + 4 * 38) * 9 * 2 / 2, rtol=1e-5)


@pytest.mark.parametrize(
    "args, message",
    [
        (lambda h, p: ([h, p, h], h, p), "even number"),
        (lambda h, p: ([], h, p), "even number"),
        (lambda h, p: ([h, p], h[..., :18], p), "heat_target"),
        (lambda h, p: ([h, p], h, p[:1]), "paf_target"),
        (lambda h, p: ([h, p[:, :4]], h, p), r"stage_outputs\[1\] \(stage 1 PAFs\)"),
        (lambda h, p: ([h, p], h, p, np.ones((4, 4))), "mask"),
    ],
)
def test_stage_losses_bad_input(samples, args, message):
    heat, paf = targets_of(samples[:2])
    with pytest.raises(ValueError, match=message):
        stage_losses(*args(heat, paf))


# --------------------------------------------------------------------------- targets of a sample


def test_sample_targets_stretch_image_and_keypoints_together(samples):
    s = samples[0]
    x, heat, paf, mask = sample_targets(s, (128, 96), (16, 12), sigma=8.0, limb_width=8.0)
    assert x.shape == (96, 128, 3) and x.dtype == np.float32
    assert heat.shape == (12, 16, 19) and paf.shape == (12, 16, 38)
    np.testing.assert_array_equal(mask, 1.0)
    scaled = s.people.astype(np.float64) * [2.0, 1.5, 1.0]
    np.testing.assert_allclose(heat, confidence_maps(scaled, (128, 96), (16, 12), 8.0), atol=1e-6)
    ignore = np.zeros((64, 64), bool)
    ignore[:, :32] = True
    _, _, _, mask = sample_targets(Sample(s.image, s.people, ignore), (128, 96), (16, 12))
    assert np.all(mask[:, :8] == 0) and np.all(mask[:, 8:] == 1)


# --------------------------------------------------------------------------- fit


def tiny_six_stage_model(keras):
    """A small stride-8 network with mobilenet_thin's output layout (six stages of 19 + 38 channels)."""
    inp = keras.Input(shape=(None, None, 3), name="image")
    x = keras.layers.Rescaling(1 / 255)(inp)
    for i, width in enumerate((16, 24, 32)):
        x = keras.layers.Conv2D(width, 3, strides=2, padding="same", activation="relu", name=f"down_{i}")(x)
    outputs = []
    for stage in range(1, 7):  # each stage reads the features only: a toy, quick to fit
        outputs.append(keras.layers.Conv2D(19, 3, padding="same", name=f"heat_{stage}")(x))
        outputs.append(keras.layers.Conv2D(38, 3, padding="same", name=f"paf_{stage}")(x))
    return keras.Model(inp, outputs, name="tiny")


def test_fit_lowers_the_loss_and_calls_back(samples, keras_seeded):
    model = tiny_six_stage_model(keras_seeded)
    before = [w.copy() for w in model.get_weights()]
    seen = []
    history = fit(
        model, samples, steps=12, lr=1e-2, batch_size=2, sigma=4.0, limb_width=4.0, graph=False,
        callback=lambda step, h: seen.append((step, len(h.total))),
    )  # fmt: skip
    assert isinstance(history, History)
    assert seen == [(i, i) for i in range(1, 13)]
    assert len(history.total) == 12 and history.stage_array().shape == (12, 6)
    np.testing.assert_allclose(history.stage_array().sum(axis=1), history.total, rtol=1e-5)
    first, last = history.total[0], history.total[-1]
    assert last < 0.7 * first, history.total  # about 0.52 with this seed
    assert np.all(history.stage_array()[-1] < 0.8 * history.stage_array()[0])  # every stage learns
    assert all(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))  # all stages trained


@pytest.mark.slow
def test_fit_is_repeatable_and_compiles(samples, keras_seeded):
    import keras

    runs = []
    for graph in (False, True):
        keras.utils.set_random_seed(3)
        model = tiny_six_stage_model(keras)
        runs.append(fit(model, samples, steps=3, lr=1e-2, batch_size=2, seed=5, graph=graph).total)
    np.testing.assert_allclose(runs[0], runs[1], rtol=1e-4)


def test_fit_refuses_bad_arguments(samples, keras_seeded):
    from posekit.network.architectures import build_mobilenet_thin

    model = build_mobilenet_thin()
    with pytest.raises(ValueError, match="steps"):
        fit(model, samples, 0, 1e-3)
    with pytest.raises(ValueError, match="lr"):
        fit(model, samples, 1, -1.0)
    with pytest.raises(ValueError, match="samples is empty"):
        fit(model, [], 1, 1e-3)
    with pytest.raises(ValueError, match="all_stages=True"):
        import keras

        fit(keras.Model(model.input, model.outputs[-2:]), samples, 1, 1e-3)
    with pytest.raises(ValueError, match="different image sizes"):
        other = Sample(np.zeros((32, 48, 3), np.uint8), samples[0].people)
        fit(model, [samples[0], other], 1, 1e-3)
    with pytest.raises(ValueError, match=r"samples\[1\] people"):
        fit(model, [samples[0], (samples[0].image, np.zeros((1, 17, 3)))], 1, 1e-3)
    with pytest.raises(ValueError, match=r"samples\[0\] image"):
        fit(model, [(samples[0].image.astype(np.float32), samples[0].people)], 1, 1e-3)


# --------------------------------------------------------------------------- weights files


def test_saved_weights_load_back_with_identical_outputs(tmp_path, keras_seeded):
    import keras

    a, b = tiny_six_stage_model(keras), tiny_six_stage_model(keras)  # different random weights
    x = np.random.default_rng(2).uniform(0, 255, (1, 64, 64, 3)).astype(np.float32)
    assert not np.allclose(a(x)[-1], b(x)[-1])
    path = save_weights(a, tmp_path / "sub" / "tuned.npz")
    assert path.is_file()
    assert load_weights(b, path) is b
    for got, want in zip(b(x), a(x)):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    last = tiny_six_stage_model(keras)
    view = keras.Model(last.input, last.outputs[-2:])  # the layout load_model(...) returns by default
    load_weights(view, path)
    np.testing.assert_array_equal(np.asarray(view(x)[1]), np.asarray(a(x)[-1]))


def test_weights_file_errors(tmp_path, keras_seeded):
    from posekit.network.architectures import build_mobilenet_thin

    model = tiny_six_stage_model(keras_seeded)
    with pytest.raises(ValueError, match=r"\.npz"):
        save_weights(model, tmp_path / "w.weights.h5")
    with pytest.raises(FileNotFoundError, match="weights file not found"):
        load_weights(model, tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a weights archive"):
        load_weights(model, tmp_path / "junk.npz")
    save_weights(model, tmp_path / "tiny.npz")
    with pytest.raises(ValueError, match="holds weights for architecture 'tiny', not 'mobilenet_thin'"):
        load_weights(build_mobilenet_thin(), tmp_path / "tiny.npz")
    weights = dict(np.load(tmp_path / "tiny.npz"))
    del weights["__posekit__"]  # a plain layer-keyed archive (the format before the metadata)
    np.savez(tmp_path / "plain.npz", **weights)
    with pytest.raises(ValueError, match="has no weight Conv2d_0/0"):
        load_weights(build_mobilenet_thin(), tmp_path / "plain.npz")
    weights = dict(np.load(tmp_path / "tiny.npz"))
    weights["heat_1/0"] = np.zeros((1, 1, 1, 1), np.float32)  # one kernel of the wrong shape
    np.savez(tmp_path / "bad.npz", **weights)
    with pytest.raises(ValueError, match="do not match the checksum it records"):
        load_weights(model, tmp_path / "bad.npz")
    del weights["__posekit__"]
    np.savez(tmp_path / "bad.npz", **weights)
    with pytest.raises(ValueError, match="heat_1/0 has shape"):
        load_weights(model, tmp_path / "bad.npz")


# --------------------------------------------------------------------------- COCO


def test_coco_to_posekit_reorders_and_adds_the_neck():
    kp17 = np.zeros((17, 3), np.float32)
    kp17[:, 0] = np.arange(17) * 10 + 1
    kp17[:, 1] = np.arange(17) * 10 + 2
    kp17[:, 2] = 2
    kp17[3, 2] = 0  # left ear not labelled
    kp17[8, 2] = 1  # right elbow labelled but hidden
    out = coco_to_posekit(kp17.ravel().tolist())
    assert out.shape == (18, 3) and out.dtype == np.float32
    for coco_i, part in enumerate(COCO_FROM_POSEKIT):
        if coco_i == 3:
            continue
        np.testing.assert_array_equal(out[part], kp17[coco_i])
    assert np.isnan(out[CocoPart.LEar, :2]).all() and out[CocoPart.LEar, 2] == 0
    assert out[CocoPart.RElbow, 2] == 1
    # COCO 5 left_shoulder (51, 52), 6 right_shoulder (61, 62)
    np.testing.assert_allclose(out[CocoPart.Neck], [56, 57, 2])
    kp17[5, 2] = 0
    neck = coco_to_posekit(kp17)[CocoPart.Neck]
    assert np.isnan(neck[:2]).all() and neck[2] == 0
    with pytest.raises(ValueError, match="keypoints17"):
        coco_to_posekit(np.zeros(50))


def write_coco(tmp_path, samples, *, extra_unlabelled=True):
    """A COCO keypoint file + images folder made from the stick figures (images saved as PNG)."""
    import cv2

    from posekit.export import to_coco_keypoints

    folder = tmp_path / "images"
    folder.mkdir()
    images, anns = [], []
    for i, s in enumerate(samples, start=1):
        name = f"{i:04d}.png"
        cv2.imwrite(str(folder / name), s.image)
        images.append({"id": i, "file_name": name, "width": 64, "height": 64})
        kp = [float(round(v)) for v in to_coco_keypoints(s.people[0])]
        kp[2::3] = [2.0] * 17  # COCO visibility flags, not scores
        anns.append({"id": i, "image_id": i, "category_id": 1, "keypoints": kp, "num_keypoints": 17,
                     "iscrowd": 0, "bbox": [0, 0, 64, 64], "area": 4096})  # fmt: skip
    if extra_unlabelled:
        anns.append({"id": 99, "image_id": 1, "category_id": 1, "keypoints": [0] * 51, "num_keypoints": 0,
                     "iscrowd": 0, "bbox": [0, 0, 16, 16], "area": 256,
                     "segmentation": [[0, 0, 16, 0, 16, 16, 0, 16]]})  # fmt: skip
    images.append({"id": 50, "file_name": "nobody.png", "width": 64, "height": 64})  # no people: skipped
    ann_path = tmp_path / "person_keypoints.json"
    ann_path.write_text(json.dumps({"images": images, "annotations": anns,
                                    "categories": [{"id": 1, "name": "person"}]}))  # fmt: skip
    return ann_path, folder


def test_samples_from_coco(tmp_path, samples):
    ann, folder = write_coco(tmp_path, samples[:2])
    got = samples_from_coco(ann, folder, (128, 96))
    assert len(got) == 2
    s = got[0]
    assert s.image.shape == (96, 128, 3) and s.image.dtype == np.uint8
    assert s.people.shape == (1, 18, 3)
    want = samples[0].people[0].astype(np.float64)
    labelled = [p for p in range(18) if p != CocoPart.Neck]
    np.testing.assert_allclose(s.people[0, labelled, 0], np.round(want[labelled, 0]) * 2.0, atol=1e-4)
    np.testing.assert_allclose(s.people[0, labelled, 1], np.round(want[labelled, 1]) * 1.5, atol=1e-4)
    assert s.ignore is not None and s.ignore.shape == (96, 128)
    assert s.ignore[:20, :28].all() and s.ignore.sum() < 0.1 * s.ignore.size  # the 16x16 box, scaled
    assert got[1].ignore is None
    assert len(samples_from_coco(ann, folder, (64, 64), max_images=1)) == 1
    with pytest.raises(FileNotFoundError, match="image folder not found"):
        samples_from_coco(ann, tmp_path / "nowhere", (64, 64))
    with pytest.raises(FileNotFoundError, match="annotation file not found"):
        samples_from_coco(tmp_path / "none.json", folder, (64, 64))


# --------------------------------------------------------------------------- command


def run_cli(*args, timeout=240):
    code = "import sys; from posekit.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args], check=False, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.slow
def test_train_command_writes_loadable_weights(tmp_path, samples, graph_path):
    from posekit.network.architectures import build_mobilenet_thin

    ann, folder = write_coco(tmp_path, samples[:2])
    out = tmp_path / "out" / "tuned.npz"
    proc = run_cli("train", "--annotations", str(ann), "--images", str(folder), "--out", str(out),
                   "--steps", "2", "--resize", "64x64", "--batch-size", "2", "--eager")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert out.is_file()
    assert "step 2/2" in proc.stdout and f"wrote {out}" in proc.stdout
    load_weights(build_mobilenet_thin(), out)


@pytest.mark.parametrize(
    "which, message",
    [
        ("annotations", "annotation file not found"),
        ("images", "image folder not found"),
        ("out", "must end with .npz"),
        ("steps", "argument --steps"),
    ],
)
def test_train_command_bad_input_is_one_line(tmp_path, samples, which, message):
    ann, folder = write_coco(tmp_path, samples[:1], extra_unlabelled=False)
    args = {
        "--annotations": str(ann),
        "--images": str(folder),
        "--out": str(tmp_path / "w.npz"),
        "--steps": "1",
    }
    key = f"--{which}"
    args[key] = {"annotations": str(tmp_path / "missing.json"), "images": str(tmp_path / "nodir"),
                 "out": str(tmp_path / "w.h5"), "steps": "0"}[which]  # fmt: skip
    proc = run_cli("train", *[v for kv in args.items() for v in kv], timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("posekit: error:") and message in lines[0], proc.stderr
