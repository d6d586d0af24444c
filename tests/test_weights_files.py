"""Fine-tuned weights everywhere (issue 20, item 4): one weights-file format, ``weights=``, ``--weights``.

The format (``posekit.network.weights.write_weights_file`` / ``read_weights_file``) records the
architecture, the
base model and a checksum; ``PoseEstimator(weights=...)`` and every command's ``--weights`` run the file;
conversions are cached by the weights' content; bad files are one line and exit 2.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import one_line_error, run_cli

from posekit.network.weights import (
    WEIGHTS_METADATA_KEY,
    WeightsFileError,
    read_weights_file,
    weights_digest,
    write_weights_file,
)

ROOT = Path(__file__).resolve().parents[1]
COCO_SAMPLE = ROOT / "images" / "coco_val2017"


def small_weights(seed=0):
    rng = np.random.default_rng(seed)
    return {"conv/0": rng.normal(size=(3, 3, 2, 4)).astype(np.float32), "conv/1": np.zeros(4, np.float32)}


# --------------------------------------------------------------------------- the format


def test_round_trip_records_architecture_base_model_and_checksum(tmp_path):
    weights = small_weights()
    path = write_weights_file(
        tmp_path / "w.npz", weights, architecture="mobilenet_thin", base_model="mobilenet_thin",
        base_sha256="ab" * 32,
    )  # fmt: skip
    got = read_weights_file(path, architecture="mobilenet_thin")
    assert sorted(got.weights) == ["conv/0", "conv/1"]
    for key, value in weights.items():
        np.testing.assert_array_equal(got.weights[key], value)
        assert got.weights[key].dtype == np.float32
    assert got.sha256 == weights_digest(weights) and len(got.sha256) == 64
    assert (got.architecture, got.base_model) == ("mobilenet_thin", "mobilenet_thin")
    assert got.metadata["base_sha256"] == "ab" * 32 and got.metadata["sha256"] == got.sha256
    assert got.metadata["format"] == "posekit-weights" and got.metadata["version"] == 1
    with np.load(path, allow_pickle=False) as npz:  # a plain .npz any NumPy reads, no pickles
        assert sorted(npz.files) == [WEIGHTS_METADATA_KEY, "conv/0", "conv/1"]
    other = write_weights_file(tmp_path / "other.npz", small_weights(1), architecture="mobilenet_thin")
    assert read_weights_file(other).sha256 != got.sha256  # the checksum is of the content...
    again = write_weights_file(tmp_path / "again.npz", weights, architecture="mobilenet_thin")
    assert read_weights_file(again).sha256 == got.sha256  # ...not of the file or its name


def test_bad_files_are_refused_with_the_reason(tmp_path):
    path = write_weights_file(tmp_path / "w.npz", small_weights(), architecture="mobilenet_thin")
    data = path.read_bytes()
    cases = {}
    (tmp_path / "truncated.npz").write_bytes(data[: len(data) // 2])
    cases["truncated.npz"] = "is not a weights archive (truncated or corrupt?)"
    (tmp_path / "empty.npz").write_bytes(b"")
    cases["empty.npz"] = "is not a weights archive"
    np.savez(tmp_path / "pickled.npz", **{"conv/0": np.array([{"a": 1}], dtype=object)})
    cases["pickled.npz"] = "is not a weights archive"
    np.save(tmp_path / "single.npy", np.ones(3))
    os.replace(tmp_path / "single.npy", tmp_path / "single.npz")
    cases["single.npz"] = "a single array, not an archive"
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(str(arrays[WEIGHTS_METADATA_KEY][()]))
    np.savez(tmp_path / "changed.npz", **{**arrays, "conv/1": np.ones(4, np.float32)})
    cases["changed.npz"] = "is corrupt: its arrays do not match the checksum it records"
    np.savez(
        tmp_path / "future.npz",
        **{**arrays, WEIGHTS_METADATA_KEY: np.array(json.dumps({**meta, "version": 9}))},
    )
    cases["future.npz"] = "weights format version 9; this posekit reads up to 1: update posekit"
    np.savez(tmp_path / "foreign.npz", **{**arrays, WEIGHTS_METADATA_KEY: np.array('{"format": "other"}')})
    cases["foreign.npz"] = "entry is not posekit weights metadata"
    np.savez(tmp_path / "nothing.npz", **{WEIGHTS_METADATA_KEY: arrays[WEIGHTS_METADATA_KEY]})
    cases["nothing.npz"] = "holds no weights"
    (tmp_path / "folder.npz").mkdir()
    cases["folder.npz"] = "is not a regular file"
    for name, message in cases.items():
        with pytest.raises(WeightsFileError, match=None) as info:
            read_weights_file(tmp_path / name)
        assert message in str(info.value) and str(tmp_path / name) in str(info.value), (name, info.value)
    with pytest.raises(FileNotFoundError, match="weights file not found"):
        read_weights_file(tmp_path / "missing.npz")
    with pytest.raises(WeightsFileError, match=r"must be an \.npz"):
        read_weights_file(tmp_path / "w.h5")


def test_a_corrupt_byte_anywhere_in_the_arrays_is_refused(tmp_path):
    path = write_weights_file(tmp_path / "w.npz", small_weights(), architecture="mobilenet_thin")
    data = bytearray(path.read_bytes())
    start = data.index(b"\x93NUMPY")  # the first array's .npy inside the (stored, uncompressed) zip
    for offset in (start + 200, start + 300):
        bad = bytearray(data)
        bad[offset] ^= 0xFF
        (tmp_path / "bad.npz").write_bytes(bytes(bad))
        with pytest.raises(WeightsFileError):
            read_weights_file(tmp_path / "bad.npz")


def test_another_architecture_is_refused(tmp_path):
    path = write_weights_file(
        tmp_path / "w.npz",
        small_weights(),
        architecture="mobilenet_v2_small",
        base_model="mobilenet_v2_small",
    )
    with pytest.raises(
        WeightsFileError, match="holds weights for architecture 'mobilenet_v2_small', not 'cmu'"
    ):
        read_weights_file(path, architecture="cmu")
    assert read_weights_file(path).architecture == "mobilenet_v2_small"


def test_non_finite_values_are_never_written(tmp_path):
    weights = small_weights()
    weights["conv/1"][2] = np.nan
    with pytest.raises(WeightsFileError, match="conv/1 holds 1 NaN or infinite values"):
        write_weights_file(tmp_path / "w.npz", weights, architecture="mobilenet_thin")
    assert not (tmp_path / "w.npz").exists()


def test_every_command_takes_weights():
    from posekit.cli import build_parser

    parser = build_parser()
    for argv in (
        ["image", "a.jpg"], ["video", "a.mp4"], ["camera"], ["batch", "a.jpg", "--out", "o"],
        ["evaluate", "--annotations", "a.json", "--images", "d"],
    ):  # fmt: skip
        assert parser.parse_args([*argv, "--weights", "t.npz"]).weights == "t.npz", argv
        assert parser.parse_args(argv).weights is None


# --------------------------------------------------------------------------- the estimator and its caches


@pytest.fixture(scope="module")
def published(graph_path):
    """mobilenet_thin's published weights {"<layer>/<i>": array} (from the shared cache)."""
    from posekit.network.models import load_model, model_weights

    return model_weights(load_model("mobilenet_thin", all_stages=True))


@pytest.mark.slow
def test_two_files_at_one_path_never_share_a_conversion(tmp_path, monkeypatch, published):
    from posekit import PoseEstimator
    from posekit.network.openvino import openvino_available

    home = tmp_path / "home"
    monkeypatch.setenv("POSEKIT_HOME", str(home))  # no graph here: weights= needs none
    shifted = dict(published)
    shifted["Stage6_L1_5_pointwise/1"] = published["Stage6_L1_5_pointwise/1"] + 0.5  # the last PAFs
    assert "Stage6_L1_5_pointwise/1" in published
    path = tmp_path / "tuned.npz"
    rng = np.random.default_rng(0)
    batch = rng.uniform(0, 255, (1, 80, 96, 3)).astype(np.float32)
    engines = ["tflite", "openvino"] if openvino_available() else ["tflite"]
    fields = {}
    for name, weights in (("published", published), ("shifted", shifted)):
        write_weights_file(path, weights, architecture="mobilenet_thin", base_model="mobilenet_thin")
        for engine in engines:
            est = PoseEstimator(weights=path, input_size=(96, 80), engine=engine, warmup=False)
            assert est.engine == engine and est.weights_sha256 == weights_digest(weights)
            fields[name, engine] = est.network(batch)
    assert not (home / "mobilenet_thin").exists()  # the published graph was never fetched
    folders = sorted(p.name for p in (home / "tuned").iterdir())
    assert folders == sorted(f"{weights_digest(w)[:16]}-mobilenet_thin" for w in (published, shifted))
    for engine in engines:
        heat_a, paf_a = fields["published", engine]
        heat_b, paf_b = fields["shifted", engine]
        np.testing.assert_allclose(heat_b, heat_a, atol=1e-4)  # the heatmaps' layers are the same
        np.testing.assert_allclose(paf_b, paf_a + 0.5, atol=1e-3)  # the shifted bias, not a stale conversion
    from posekit.network.models import load_model

    want = load_model("mobilenet_thin", weights=path)(batch)
    np.testing.assert_allclose(fields["shifted", engines[0]][1], np.asarray(want[1]), atol=1e-4)


@pytest.mark.slow
def test_estimator_refuses_a_file_for_another_architecture(tmp_path, published):
    from posekit import PoseEstimator
    from posekit.network.models import load_model

    path = write_weights_file(tmp_path / "v2.npz", published, architecture="mobilenet_v2_small")
    with pytest.raises(
        WeightsFileError, match="holds weights for architecture 'mobilenet_v2_small', not 'mobilenet_thin'"
    ):
        PoseEstimator(weights=path, warmup=False)
    missing = dict(published)
    del missing["Conv2d_1_pointwise/0"]
    path = write_weights_file(tmp_path / "part.npz", missing, architecture="mobilenet_thin")
    with pytest.raises(WeightsFileError, match="part.npz has no weight Conv2d_1_pointwise/0"):
        load_model("mobilenet_thin", weights=path)


# --------------------------------------------------------------------------- the commands


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad")
    good = write_weights_file(folder / "good.npz", small_weights(), architecture="mobilenet_thin")
    data = good.read_bytes()
    (folder / "truncated.npz").write_bytes(data[: len(data) - 40])
    write_weights_file(folder / "v2.npz", small_weights(), architecture="mobilenet_v2_small")
    weights = small_weights()
    weights["conv/0"][0, 0, 0, 0] = np.inf
    meta = {
        "format": "posekit-weights",
        "version": 1,
        "architecture": "mobilenet_thin",
        "sha256": weights_digest(weights),
    }
    np.savez(folder / "inf.npz", **weights, **{WEIGHTS_METADATA_KEY: np.array(json.dumps(meta))})
    with np.load(good) as npz:
        arrays = {k: npz[k] for k in npz.files}
    np.savez(folder / "corrupt.npz", **{**arrays, "conv/1": np.ones(4, np.float32)})
    return folder


@pytest.mark.parametrize(
    "name, message",
    [
        ("missing.npz", "weights file not found"),
        ("truncated.npz", "is not a weights archive (truncated or corrupt?)"),
        ("corrupt.npz", "is corrupt: its arrays do not match the checksum"),
        ("v2.npz", "holds weights for architecture 'mobilenet_v2_small', not 'mobilenet_thin'"),
        ("inf.npz", "weight conv/0 holds 1 NaN or infinite values"),
        ("good.npz", "has no weight Conv2d_0/0"),  # a mobilenet_thin file missing the network's layers
    ],
)
def test_image_command_refuses_bad_weights_in_one_line(bad_files, name, message):
    proc = run_cli(
        "image", str(ROOT / "images" / "person.jpg"), "--weights", str(bad_files / name), timeout=180
    )
    one_line_error(proc, message)


@pytest.mark.slow
def test_train_then_image_evaluate_and_batch_with_the_weights(tmp_path, graph_path):
    import cv2

    from posekit.skeleton import LIMBS

    home = tmp_path / "home"
    (home / "mobilenet_thin").mkdir(parents=True)
    shutil.copy(graph_path, home / "mobilenet_thin" / "graph_opt.pb")
    env = {**os.environ, "POSEKIT_HOME": str(home)}
    folder = tmp_path / "train"
    folder.mkdir()
    xy = np.array([(32, 10), (32, 18), (25, 19), (22, 28), (20, 37), (39, 19), (42, 28), (44, 37), (28, 34),
                   (27, 44), (27, 54), (36, 34), (37, 44), (37, 54), (30, 8), (34, 8), (28, 10), (36, 10)],
                  float)  # fmt: skip
    image = np.full((64, 64, 3), 40, np.uint8)
    for a, b, _, _ in LIMBS:
        cv2.line(image, tuple(int(v) for v in xy[a]), tuple(int(v) for v in xy[b]), (230, 200, 40), 2)
    cv2.imwrite(str(folder / "1.png"), image)
    from posekit.export import to_coco_keypoints

    kp = [float(v) for v in to_coco_keypoints(np.concatenate([xy, np.ones((18, 1))], axis=1))]
    kp[2::3] = [2.0] * 17
    ann = tmp_path / "train.json"
    ann.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "1.png", "width": 64, "height": 64}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "keypoints": kp, "iscrowd": 0,
                         "bbox": [20, 8, 24, 46], "area": 1104, "num_keypoints": 17}],
        "categories": [{"id": 1, "name": "person"}],
    }))  # fmt: skip
    out = tmp_path / "w.npz"
    proc = run_cli("train", "--annotations", str(ann), "--images", str(folder), "--out", str(out),
                   "--steps", "1",
                   "--resize", "64x64", "--eager", env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    tuned = read_weights_file(out, architecture="mobilenet_thin")
    assert tuned.base_model == "mobilenet_thin" and tuned.metadata["base_sha256"] == _sha256(graph_path)

    proc = run_cli("image", str(ROOT / "images" / "person.jpg"), "--weights", str(out), "--json",
                   str(tmp_path / "p.json"), env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((tmp_path / "p.json").read_text())["people"]  # the tuned network still finds the person
    assert (home / "tuned" / f"{tuned.sha256[:16]}-mobilenet_thin").is_dir()  # its conversion, by content

    proc = run_cli("evaluate", "--annotations", str(COCO_SAMPLE / "person_keypoints_val2017_sample.json"),
                   "--images", str(COCO_SAMPLE), "--weights", str(out), "--max-images", "1",
                   "--bootstrap", "0",
                   "--engine", "tf", "--json", str(tmp_path / "m.json"), env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["images"] == 1 and metrics["labelled"] >= 1 and 0 <= metrics["AP"] <= 1
    assert metrics["weights"] == str(out) and metrics["weights_sha256"] == tuned.sha256
    assert f"evaluating mobilenet_thin with weights {out}" in proc.stdout

    proc = run_cli("batch", str(ROOT / "images" / "person.jpg"), "--out", str(tmp_path / "b"),
                   "--weights", str(out),
                   "--workers", "1", "--engine", "tf", env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["options"]["weights_sha256"] == tuned.sha256


def _sha256(path):
    from posekit.network.weights import file_sha256

    return file_sha256(path)
