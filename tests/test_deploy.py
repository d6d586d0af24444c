"""posekit export / posekit.deploy: every format written, read back, and the same people as the library."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from posekit import deploy
from posekit.export import BODY_25_NAMES, COCO_FROM_POSEKIT, to_body25, to_keypoint_arrays
from posekit.skeleton import LIMB_NAMES, NUM_PARTS, CocoPart

ROOT = Path(__file__).resolve().parents[1]
IMAGE = ROOT / "images" / "basketball1.png"


@pytest.fixture(scope="module")
def library_people():
    """The library's people on basketball1.png (the Keras model under TensorFlow, exact mode)."""
    from posekit import PoseEstimator

    est = PoseEstimator(engine="tf", warmup=False)
    return est.inference(str(IMAGE)).people


FORMATS = [
    ("onnx", "fp32", "net.onnx"),
    ("tflite", "fp32", "net.tflite"),
    ("saved_model", "fp32", "net_saved"),
    ("openvino", "fp32", "net.xml"),
    ("openvino", "bf16", "net_bf16.xml"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("fmt", "precision", "name"), FORMATS, ids=[f"{f}-{p}" for f, p, _ in FORMATS])
def test_each_format_is_checked_written_and_finds_the_libraries_people(
    fmt, precision, name, tmp_path, library_people
):
    if fmt == "onnx":
        pytest.importorskip("tf2onnx", reason="posekit[export] is not installed")
    if fmt == "openvino":
        pytest.importorskip("openvino", reason="posekit[openvino] is not installed")
    report = deploy.export_model(tmp_path / name, format=fmt, precision=precision)
    assert report.path.exists() and report.format == fmt
    assert set(report.people) == {p.name for p in deploy.default_check_images()}
    assert all(a == b for a, b in report.people.values()), report.people
    assert report.people["basketball1.png"] == (3, 3)
    if precision == "fp32":
        assert report.max_difference <= deploy.FP32_TOLERANCE
        assert report.keypoints_kept == 1.0
    else:
        assert report.keypoints_kept >= deploy.BF16_KEPT

    meta = json.loads(deploy.metadata_path(report.path).read_text())
    assert meta["input"]["name"] == "image" and meta["input"]["colour"] == "BGR"
    assert meta["outputs"]["pafs"]["limbs"] == list(LIMB_NAMES)
    assert meta["outputs"]["heatmaps"]["names"][:NUM_PARTS] == [p.name for p in CocoPart][:NUM_PARTS]
    assert meta["postprocess"]["vector_score_threshold"] == pytest.approx(0.05)
    assert meta["postprocess"]["upsample"] == 4.0

    # Read back as a user would, through the same post-processing: the library's people, same keypoints.
    from posekit.preprocess import prepare, read_image

    image = read_image(IMAGE)
    run = deploy.load_exported(report.path, precision=precision)
    heat, paf = run(prepare(image, (432, 368))[None])
    assert heat.shape == (1, 46, 54, 19) and paf.shape == (1, 46, 54, 38)
    people = deploy.people_from_fields(heat[0], paf[0], (image.shape[1], image.shape[0]))
    assert len(people) == len(library_people) == 3
    if precision == "fp32":
        for got, want in zip(people, library_people):
            np.testing.assert_allclose(got.keypoints, want.keypoints, atol=0.05, equal_nan=True)


@pytest.mark.slow
def test_onnx_names_its_ends_and_takes_any_size(tmp_path):
    pytest.importorskip("tf2onnx", reason="posekit[export] is not installed")
    ort = pytest.importorskip("onnxruntime")
    report = deploy.export_model(tmp_path / "net.onnx", format="onnx", check_images=[IMAGE])
    session = ort.InferenceSession(str(report.path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["image"]
    assert [o.name for o in session.get_outputs()] == ["heatmaps", "pafs"]
    heat, paf = session.run(None, {"image": np.zeros((2, 240, 320, 3), np.float32)})
    assert heat.shape == (2, 30, 40, 19) and paf.shape == (2, 30, 40, 38)
    import onnx

    props = {p.key: p.value for p in onnx.load(str(report.path)).metadata_props}
    assert json.loads(props["posekit"])["outputs"]["heatmaps"]["stride"] == 8


@pytest.mark.slow
def test_an_export_that_differs_is_never_written(tmp_path, monkeypatch):
    real = deploy.load_exported

    def off_by_a_little(path, **kw):
        run = real(path, **kw)
        return lambda batch: tuple(a + 1e-3 for a in run(batch))

    monkeypatch.setattr(deploy, "load_exported", off_by_a_little)
    out = tmp_path / "net.xml"
    with pytest.raises(deploy.ExportError, match="differs from the Keras model by 1.00e-03"):
        deploy.export_model(out, format="openvino", check_images=[IMAGE])
    assert list(tmp_path.iterdir()) == []  # nothing written, no staging folder left


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "tflite", "--resize", "-1x368"], "a TFLite file has a fixed input size"),
        (["--format", "onnx", "--precision", "bf16"], "export it with --format openvino"),
        (["--format", "pdf"], "invalid choice: 'pdf'"),
        (["--format", "onnx", "--resize", "100000x100000"], "100000"),
    ],
)
def test_cli_refusals_are_one_line(args, message, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "posekit", "export", "--out", str(tmp_path / "x"), *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("posekit: error:") and message in lines[0], proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_existing_file_is_not_replaced_without_overwrite(tmp_path):
    out = tmp_path / "net.onnx"
    out.write_bytes(b"mine")
    with pytest.raises(deploy.ExportError, match="exists"):
        deploy.export_model(out, format="onnx")
    assert out.read_bytes() == b"mine"


# --------------------------------------------------------------------------- keypoint layouts


def _person(**parts) -> np.ndarray:
    kp = np.full((NUM_PARTS, 3), np.nan, np.float32)
    kp[:, 2] = 0
    for name, (x, y, s) in parts.items():
        kp[CocoPart[name]] = (x, y, s)
    return kp


def test_body25_order_midhip_and_missing_parts():
    both = _person(Nose=(10, 20, 0.9), Neck=(11, 30, 0.8), RHip=(4, 60, 0.6), LHip=(8, 62, 0.4))
    one_hip = _person(RHip=(4, 60, 0.6), LEar=(1, 2, 0.3))
    out = to_body25(np.stack([both, one_hip]))
    assert out.shape == (2, 25, 3) and out.dtype == np.float32
    assert not np.isnan(out).any()
    assert tuple(out[0, BODY_25_NAMES.index("Nose")]) == pytest.approx((10, 20, 0.9))
    assert tuple(out[0, BODY_25_NAMES.index("RHip")]) == pytest.approx((4, 60, 0.6))
    assert tuple(out[0, BODY_25_NAMES.index("MidHip")]) == pytest.approx((6, 61, 0.4))
    assert tuple(out[1, BODY_25_NAMES.index("MidHip")]) == (0, 0, 0)  # one hip only: missing
    assert tuple(out[1, BODY_25_NAMES.index("LEar")]) == pytest.approx((1, 2, 0.3))
    feet = [BODY_25_NAMES.index(n) for n in BODY_25_NAMES[19:]]  # LBigToe ... RHeel
    assert (out[:, feet] == 0).all()


def test_keypoint_arrays_for_mmpose_and_supervision():
    kp = _person(Nose=(10, 20, 0.9), LEye=(12, 18, 0.7), RAnkle=(5, 90, 0.5))
    xy, scores = to_keypoint_arrays([_as_person(kp)])
    assert xy.shape == (1, 17, 2) and scores.shape == (1, 17)
    assert tuple(xy[0, 0]) == (10, 20) and scores[0, 0] == pytest.approx(0.9)
    left_eye = 1  # COCO's order: nose, left_eye, ...
    assert COCO_FROM_POSEKIT[left_eye] == CocoPart.LEye
    assert tuple(xy[0, left_eye]) == (12, 18)
    assert tuple(xy[0, 16]) == (5, 90)  # right_ankle
    missing = scores[0] == 0
    assert missing.sum() == 14 and (xy[0, missing] == 0).all()
    xy25, s25 = to_keypoint_arrays(kp[None], layout="body25")
    assert xy25.shape == (1, 25, 2) and s25.shape == (1, 25)
    with pytest.raises(ValueError, match="unknown layout 'h36m'"):
        to_keypoint_arrays(kp[None], layout="h36m")
    with pytest.raises(ValueError, match=r"shape \(P, 18, 3\)"):
        to_body25(np.zeros((2, 17, 3)))


def _as_person(kp):
    from posekit import Person

    return Person(kp, 1.0)


@pytest.mark.slow
def test_tuned_weights_are_what_gets_exported(tmp_path):
    """An export with --weights holds the tuned network, not the published one."""
    from posekit.network.models import load_model
    from posekit.preprocess import prepare, read_image
    from posekit.train import save_weights

    model = load_model("mobilenet_thin", all_stages=True)
    last = [layer for layer in model.layers if layer.get_weights()][-1]
    kernel, *rest = last.get_weights()
    last.set_weights([kernel * 1.05, *rest])  # a visibly different network
    tuned = save_weights(model, tmp_path / "tuned.npz", base_model="mobilenet_thin")

    out = tmp_path / "tuned.xml"
    report = deploy.export_model(out, format="openvino", weights=tuned, check_images=[IMAGE])
    assert report.metadata["weights"] == "tuned.npz"
    batch = prepare(read_image(IMAGE), (432, 368))[None]
    got = deploy.load_exported(report.path)(batch)
    want_tuned = [np.asarray(t) for t in load_model("mobilenet_thin", weights=tuned)(batch, training=False)]
    published = [np.asarray(t) for t in load_model("mobilenet_thin")(batch, training=False)]
    assert max(float(np.abs(a - b).max()) for a, b in zip(got, want_tuned)) <= deploy.FP32_TOLERANCE
    assert max(float(np.abs(a - b).max()) for a, b in zip(got, published)) > 1e-2
