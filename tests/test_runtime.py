"""Network engines and precisions: OpenVINO's outputs, its cache and lock, the CPU check of "bf16"."""

from __future__ import annotations

import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import IMAGES

from posekit.network import bf16, engines, openvino, tflite

SIZE = (96, 80)  # a small fixed input: quick conversions in a temporary cache


def no_bf16(monkeypatch):
    monkeypatch.setattr(engines, "cpu_flags", lambda: frozenset({"avx2", "avx512f", "avx512_vnni"}))


def test_cpu_flags_read_this_machine():
    flags = engines.cpu_flags()
    assert isinstance(flags, frozenset)
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        assert flags == frozenset()
        return
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "flags:")
    assert flags == frozenset(line.partition(":")[2].split())


def test_int8_needs_openvino_a_fixed_size_and_the_pinned_network(tmp_path):
    assert engines.check_precision("int8", "auto", (432, 368)) == "int8"
    with pytest.raises(ValueError, match="precision 'int8' runs on the 'openvino' engine"):
        engines.check_precision("int8", "tflite", (432, 368))
    with pytest.raises(ValueError, match="precision 'int8' needs a fixed input_size"):
        engines.check_precision("int8", "auto", None)
    if not engines.openvino_available():
        pytest.skip("precision 'int8' runs on OpenVINO: pip install 'posekit[openvino]'")
    import keras

    other = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(2, 1)], name="mobilenet_thin")
    with pytest.raises(ValueError, match="int8. exists for the pinned mobilenet_thin weights only"):
        engines.make_runner(other, "auto", (432, 368), tmp_path, precision="int8")


@pytest.mark.parametrize(
    "precision, engine, size, message",
    [
        ("fp16", "auto", (432, 368), "unknown precision 'fp16': valid precisions are fp32, bf16"),
        ("bf16", "tflite", (432, 368), "runs on the 'openvino' engine"),
        ("bf16", "tf", (432, 368), "runs on the 'openvino' engine"),
        ("bf16", "auto", None, "needs a fixed input_size"),
    ],
)
def test_bad_precisions_say_why(precision, engine, size, message):
    with pytest.raises(ValueError, match=message):
        engines.check_precision(precision, engine, size)


def test_bf16_without_the_instructions_warns_once_and_runs_fp32(monkeypatch):
    no_bf16(monkeypatch)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert engines.check_precision("bf16", "auto", (432, 368)) == "fp32"
    assert len(caught) == 1 and issubclass(caught[0].category, RuntimeWarning)
    text = str(caught[0].message)
    assert "\n" not in text and "lacks avx512_bf16 and amx_bf16" in text and "float32 (exact mode)" in text


def test_bf16_with_the_instructions_is_kept(monkeypatch):
    monkeypatch.setattr(engines, "cpu_flags", lambda: frozenset({"avx512_bf16"}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert engines.check_precision("bf16", "openvino", (432, 368)) == "bf16"
    assert engines.check_precision("fp32", "tflite", None) == "fp32"


def test_estimator_on_a_cpu_without_bf16_runs_the_exact_mode(monkeypatch, graph_path):
    from posekit import PoseEstimator

    no_bf16(monkeypatch)
    with pytest.warns(RuntimeWarning, match="lacks avx512_bf16") as caught:
        est = PoseEstimator("mobilenet_thin", input_size=SIZE, precision="bf16", warmup=False)
    assert len(caught) == 1
    assert est.precision == "fp32" and est.engine in ("openvino", "tflite", "tf")


def test_cli_on_a_cpu_without_bf16_prints_one_line(monkeypatch, graph_path, capsys, tmp_path):
    from posekit.cli import main

    no_bf16(monkeypatch)
    out = tmp_path / "pose.png"
    assert main(["image", str(IMAGES / "person.jpg"), "--precision", "bf16", "--resize", "96x80",
                 "--out", str(out)]) == 0  # fmt: skip
    err = [ln for ln in capsys.readouterr().err.splitlines() if "bf16" in ln]
    assert err == ["posekit: precision 'bf16': this CPU lacks avx512_bf16 and amx_bf16; "
                   "running float32 (exact mode) instead"]  # fmt: skip
    assert out.is_file()


def test_cli_int8_on_tflite_says_why_in_one_line(capsys, tmp_path):
    from posekit.cli import main

    out = tmp_path / "pose.png"
    argv = ["image", str(IMAGES / "person.jpg"), "--precision", "int8", "--engine", "tflite"]
    argv += ["--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["posekit: error: precision 'int8' runs on the 'openvino' engine (or 'auto'), not 'tflite'"]
    assert not out.exists()


def test_openvino_needs_a_fixed_size(graph_path):
    from posekit.network.models import load_model

    with pytest.raises(ValueError, match='engine "openvino" needs a fixed input_size'):
        engines.make_runner(load_model("mobilenet_thin"), "openvino", None, ".")


# --- OpenVINO itself (optional extra) ---------------------------------------------------------------


@pytest.fixture(scope="module")
def model(graph_path):
    if not openvino.openvino_available():
        pytest.skip("OpenVINO not installed: pip install 'posekit[openvino]'")
    from posekit.network.models import load_model

    return load_model("mobilenet_thin")


def batch(n=2, seed=0):
    w, h = SIZE
    return np.random.default_rng(seed).uniform(0, 255, (n, h, w, 3)).astype(np.float32)


def test_openvino_fp32_equals_keras(model, tmp_path):
    run, engine = engines.make_runner(model, "openvino", SIZE, tmp_path)
    assert engine == "openvino"
    x = batch(seed=3)
    got = run(x)
    want = [t.numpy() for t in model(x, training=False)]
    assert got[0].shape == (2, 10, 12, 19) and got[1].shape == (2, 10, 12, 38)
    for a, b in zip(got, want):
        assert float(np.abs(a - b).max()) <= tflite.TFLITE_TOLERANCE
    assert (tmp_path / "96x80.tflite.json").is_file()  # the conversion is recorded


@pytest.fixture
def bf16_cpu():
    if not set(engines.BF16_CPU_FLAGS) & engines.cpu_flags():
        pytest.skip(
            f"this CPU has none of {', '.join(engines.BF16_CPU_FLAGS)}: OpenVINO runs bf16 as float32"
        )


def test_bf16_runs_the_plan_in_one_model(model, tmp_path, bf16_cpu):
    run, engine = engines.make_runner(model, "auto", SIZE, tmp_path, precision="bf16")
    assert engine == "openvino"
    # the plan, counted in OpenVINO's compiled graph: 23 backbone convolutions, 11 of them depthwise
    # (float32), 12 plain/pointwise (bf16); 20 per stage, stages 1-2 float32, 3-6 bf16
    assert run.convolutions == {"f32": 11 + 2 * 20, "bf16": 12 + 4 * 20}
    x = batch(1, seed=4)
    heat, paf = run(x)
    want = [t.numpy() for t in model(x, training=False)]
    diff = max(float(np.abs(a - b).max()) for a, b in zip((heat, paf), want))
    assert 1e-3 < diff < 1.0  # bf16 in part of the network: close, not equal
    assert sorted(p.name for p in tmp_path.iterdir()) == ["96x80.tflite", "96x80.tflite.json"]  # shared


def test_a_plan_keeping_everything_in_float32_is_float32(model, tmp_path, bf16_cpu):
    """The float32 marks are obeyed: with all of the network marked, every convolution runs in float32.

    (OpenVINO still rounds the backbone's one max-pool to bf16: 2e-4 from Keras, against 0.05 for the
    fast mode's plan.)
    """
    engines.make_runner(model, "openvino", SIZE, tmp_path)  # the checked conversion
    plan = bf16.Bf16Plan(fp32_stages=tuple(range(1, bf16.STAGES + 1)), backbone="fp32")
    run = openvino.make_openvino_runner(model, SIZE, tmp_path, precision="bf16", plan=plan)
    assert run.convolutions == {"f32": 143}
    x = batch(1, seed=5)
    want = [t.numpy() for t in model(x, training=False)]
    assert max(float(np.abs(a - b).max()) for a, b in zip(run(x), want)) <= 1e-3
    planned = openvino.make_openvino_runner(model, SIZE, tmp_path, precision="bf16")
    assert max(float(np.abs(a - b).max()) for a, b in zip(planned(x), want)) > 1e-2
    everything = openvino.make_openvino_runner(model, SIZE, tmp_path, precision="bf16", plan=bf16.Bf16Plan())
    assert everything.convolutions == {"bf16": 143}


def test_bf16_refuses_an_ir_whose_layers_it_cannot_mark(model, tmp_path, monkeypatch):
    """An IR layout the marking does not recognise is an error, never a silently all-bf16 network."""
    import re

    engines.make_runner(model, "openvino", SIZE, tmp_path)
    monkeypatch.setattr(bf16, "_IR_LAYER", re.compile(r'(<layer id="\d+" name="([^"]+)" kind="x">)'))
    with pytest.raises(RuntimeError, match=r"where 0 of the \d+ float32 nodes .* needs OpenVINO 2026.4"):
        openvino.make_openvino_runner(model, SIZE, tmp_path, precision="bf16")


def test_bf16_plans_validate_and_describe_themselves():
    assert bf16.BF16_PLAN.describe() == "float32: the backbone's depthwise convolutions and stages 1, 2"
    assert bf16.Bf16Plan().describe() == "everything in bf16"
    assert bf16.Bf16Plan((3,), "fp32").describe() == "float32: the backbone and stage 3"
    with pytest.raises(ValueError, match="fp32_stages must be among 1..6, got \\(0, 7\\)"):
        bf16.Bf16Plan((0, 7))
    with pytest.raises(ValueError, match="backbone must be 'fp32', 'bf16' or 'pointwise', not 'half'"):
        bf16.Bf16Plan(backbone="half")
    plan = bf16.BF16_PLAN
    assert plan.keeps_fp32("GroupConvolution", 0) and not plan.keeps_fp32("Convolution", 0)
    assert plan.keeps_fp32("Convolution", 2) and not plan.keeps_fp32("GroupConvolution", 3)


def test_bf16_refuses_a_graph_without_the_six_stages(tmp_path):
    if not openvino.openvino_available():
        pytest.skip("OpenVINO not installed: pip install 'posekit[openvino]'")
    import openvino as ov
    import openvino.opset13 as ops

    x = ops.parameter([1, 8, 8, 3], np.float32)
    y = ops.concat([x, ops.relu(x)], axis=3)
    with pytest.raises(ValueError, match="has 1 concatenations .* not the backbone \\+ 6 stages"):
        bf16.node_stages(ov.Model([y], [x]))


def test_openvino_runner_is_thread_safe(model, tmp_path):
    run, _ = engines.make_runner(model, "openvino", SIZE, tmp_path)
    inputs = [batch(1, seed=s) for s in range(4)]
    alone = [run(x) for x in inputs]
    results = [None] * 4

    def work(k):
        for _ in range(3):
            results[k] = run(inputs[k])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, alone):
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
