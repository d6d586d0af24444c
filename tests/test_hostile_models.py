"""Hostile conditions for the model cache and the engines: corrupt derived files, threads, absurd sizes.

Every test that touches cached files works in a temporary POSEKIT_HOME holding a copy of the pinned
graph (never the shared cache). The derived files of that home (weights.npz, the 432x368 TFLite
conversion and their records) are made once per module and copied for each test.
"""

from __future__ import annotations

import json
import os
import shutil
import threading

import numpy as np
import pytest
from conftest import IMAGES, ROOT

from posekit.network import architectures, engines, models, tflite, weights
from posekit.preprocess import MAX_INPUT_SIDE

SIZE = (432, 368)
IMAGE_NAMES = sorted(p.name for p in IMAGES.glob("*") if p.suffix in (".png", ".jpg"))


def _estimator(**kwargs):
    from posekit import PoseEstimator

    return PoseEstimator("mobilenet_thin", input_size=SIZE, warmup=False, **kwargs)


@pytest.fixture(scope="module")
def clean_home(tmp_path_factory, graph_path):
    """A POSEKIT_HOME with the graph and every derived file, made by a first estimator there."""
    home = tmp_path_factory.mktemp("clean") / "home"
    (home / "mobilenet_thin").mkdir(parents=True)
    shutil.copy(graph_path, home / "mobilenet_thin" / "graph_opt.pb")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("POSEKIT_HOME", str(home))
        _estimator()
    return home


@pytest.fixture
def home(clean_home, tmp_path, monkeypatch):
    """A private copy of ``clean_home`` as POSEKIT_HOME."""
    copy = tmp_path / "home"
    shutil.copytree(clean_home, copy)
    monkeypatch.setenv("POSEKIT_HOME", str(copy))
    return copy


@pytest.fixture(scope="module")
def reference(estimator, bgr):
    """Keypoints of the shared-cache estimator (the clean run) on every bundled image."""
    return {name: estimator.inference(bgr(name)).keypoints for name in IMAGE_NAMES}


def _npz(home):
    return home / "mobilenet_thin" / "weights.npz"


def _tflite(home):
    return home / "mobilenet_thin" / "tflite" / f"{SIZE[0]}x{SIZE[1]}.tflite"


def _one_line(capsys, *words) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("posekit:")]
    assert len(err) == 1, err
    for word in words:
        assert word in err[0], err[0]
    return err[0]


def _assert_vouched(path):
    record = json.loads(path.with_name(path.name + ".json").read_text())
    assert record["sha256"] == weights.file_sha256(path)
    made_from = {k: v for k, v in record.items() if k not in ("sha256", "posekit")}
    assert weights.cache_problem(path, **made_from) is None


# --------------------------------------------------------------------------- records


def test_clean_home_has_records(clean_home):
    for path in (_npz(clean_home), _tflite(clean_home)):
        record = json.loads(path.with_name(path.name + ".json").read_text())
        assert record["sha256"] == weights.file_sha256(path)
        assert record["posekit"]
    npz_record = json.loads((clean_home / "mobilenet_thin" / "weights.npz.json").read_text())
    assert npz_record["graph_sha256"] == weights.MODELS["mobilenet_thin"].sha256
    assert npz_record["architecture"] == "mobilenet_thin"
    tfl_record = json.loads(_tflite(clean_home).with_name("432x368.tflite.json").read_text())
    assert tfl_record["input_size"] == [432, 368]
    assert len(tfl_record["weights_sha256"]) == 64


def test_cache_problem_says_why(tmp_path):
    path = tmp_path / "x.bin"
    assert weights.cache_problem(path) == "missing"
    path.write_bytes(b"abc")
    assert weights.cache_problem(path) == "has no checksum"
    weights.write_cache_record(path, size=[1, 2])
    assert weights.cache_problem(path, size=[1, 2]) is None
    assert weights.cache_problem(path, size=[2, 1]) == "was made from other inputs"
    path.write_bytes(b"abd")
    assert weights.cache_problem(path, size=[1, 2]) == "was corrupt"
    path.with_name("x.bin.json").write_text("{not json")
    assert weights.cache_problem(path) == "was corrupt"
    weights.write_cache_record(path)
    record = json.loads(path.with_name("x.bin.json").read_text())
    path.with_name("x.bin.json").write_text(json.dumps({**record, "posekit": "0.0.0"}))
    assert weights.cache_problem(path) == "was made by another posekit version"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.bin", "x.bin.json"]  # no temporary files left


# --------------------------------------------------------------------------- weights.npz


def _damage_truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def _damage_garbage(path):
    size = path.stat().st_size
    path.write_bytes(np.random.default_rng(0).integers(0, 256, size, dtype=np.uint8).tobytes())


def _damage_no_record(path):
    path.with_name(path.name + ".json").unlink()


@pytest.mark.parametrize(
    "damage, why",
    [
        (_damage_truncate, "was corrupt"),
        (_damage_garbage, "was corrupt"),
        (_damage_no_record, "has no checksum"),
    ],
)
def test_damaged_weights_cache_is_rebuilt(home, clean_home, capsys, damage, why):
    damage(_npz(home))
    model = models.load_model("mobilenet_thin")
    _one_line(capsys, "cached weights.npz for mobilenet_thin", why, "rebuilt from the graph")
    assert _npz(home).read_bytes() == _npz(clean_home).read_bytes()
    _assert_vouched(_npz(home))
    x = np.random.default_rng(1).uniform(0, 255, (1, 64, 80, 3)).astype(np.float32)
    clean = models.load_model("mobilenet_thin")  # from the repaired cache: silent
    assert capsys.readouterr().err == ""
    for a, b in zip(model(x), clean(x)):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_weights_cache_that_passes_the_hash_but_does_not_load_is_rebuilt(home, clean_home, capsys):
    npz = _npz(home)
    with np.load(npz) as data:
        partial = {k: data[k] for k in list(data.files)[:5]}  # a valid npz missing most layers
    np.savez(npz, **partial)
    record = json.loads(npz.with_name("weights.npz.json").read_text())
    record["sha256"] = weights.file_sha256(npz)
    npz.with_name("weights.npz.json").write_text(json.dumps(record))
    assert weights.cache_problem(npz, graph_sha256=record["graph_sha256"]) is None
    models.load_model("mobilenet_thin")
    _one_line(capsys, "cached weights.npz for mobilenet_thin could not be read; rebuilt from the graph")
    assert npz.read_bytes() == _npz(clean_home).read_bytes()


def test_weights_cache_of_another_graph_is_rebuilt(home, capsys):
    npz = _npz(home)
    record = json.loads(npz.with_name("weights.npz.json").read_text())
    npz.with_name("weights.npz.json").write_text(json.dumps({**record, "graph_sha256": "0" * 64}))
    models.load_model("mobilenet_thin")
    _one_line(capsys, "weights.npz for mobilenet_thin was made from other inputs")
    _assert_vouched(npz)


# --------------------------------------------------------------------------- TFLite conversions


@pytest.mark.parametrize(
    "damage, why", [(_damage_garbage, "was corrupt"), (_damage_no_record, "has no checksum")]
)
def test_damaged_tflite_cache_is_rebuilt_and_finds_the_same_people(home, reference, bgr, capsys, damage, why):
    size = _tflite(home).stat().st_size
    damage(_tflite(home))
    assert _tflite(home).stat().st_size == size  # same size: only the record can tell
    est = _estimator()
    _one_line(capsys, "cached 432x368.tflite for mobilenet_thin", why, "rebuilt")
    _assert_vouched(_tflite(home))
    for name in IMAGE_NAMES:
        got = est.inference(bgr(name)).keypoints
        assert got.shape == reference[name].shape, name
        np.testing.assert_allclose(got, reference[name], atol=1e-3, rtol=0, err_msg=name)
    assert len(reference["basketball1.png"]) >= 2  # the comparison is not vacuous


def test_tflite_made_from_other_weights_is_rebuilt(home, capsys):
    path = _tflite(home)
    record = json.loads(path.with_name(path.name + ".json").read_text())
    path.with_name(path.name + ".json").write_text(json.dumps({**record, "weights_sha256": "f" * 64}))
    model = models.load_model("mobilenet_thin")
    engines.make_runner(model, "tflite", SIZE, path.parent)
    _one_line(capsys, "432x368.tflite for mobilenet_thin was made from other inputs")
    _assert_vouched(path)


def test_tflite_that_passes_the_hash_but_does_not_load_is_rebuilt(home, capsys):
    path = _tflite(home)
    path.write_bytes(b"TFL3" + b"\0" * 64)  # not a model
    record = json.loads(path.with_name(path.name + ".json").read_text())
    record["sha256"] = weights.file_sha256(path)
    path.with_name(path.name + ".json").write_text(json.dumps(record))
    model = models.load_model("mobilenet_thin")
    run, engine = engines.make_runner(model, "tflite", SIZE, path.parent)
    assert engine == "tflite"
    _one_line(capsys, "432x368.tflite for mobilenet_thin could not be read")
    x = np.random.default_rng(2).uniform(0, 255, (1, SIZE[1], SIZE[0], 3)).astype(np.float32)
    heat, paf = run(x)
    want = model(x)
    np.testing.assert_allclose(heat, want[0].numpy(), atol=tflite.TFLITE_TOLERANCE, rtol=0)
    np.testing.assert_allclose(paf, want[1].numpy(), atol=tflite.TFLITE_TOLERANCE, rtol=0)


# --------------------------------------------------------------------------- threads


def test_one_estimator_shared_by_four_threads_gives_the_sequential_results(estimator, bgr, reference):
    images = {name: bgr(name) for name in IMAGE_NAMES}
    calls = [IMAGE_NAMES[(t + i) % len(IMAGE_NAMES)] for t in range(4) for i in range(4)]
    results: dict[int, list] = {t: [] for t in range(4)}
    errors = []
    start = threading.Barrier(4)

    def work(t):
        try:
            start.wait()
            for i in range(4):
                name = IMAGE_NAMES[(t + i) % len(IMAGE_NAMES)]
                results[t].append((name, estimator.inference(images[name]).keypoints))
        except Exception as exc:  # reported below with the thread
            errors.append((t, repr(exc)))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=300)
    assert errors == []
    assert sorted(name for t in results for name, _ in results[t]) == sorted(calls)
    for t in results:
        for name, keypoints in results[t]:
            np.testing.assert_array_equal(keypoints, reference[name], err_msg=f"thread {t}, {name}")


def test_tflite_runner_is_locked(estimator):
    x = np.zeros((2, SIZE[1], SIZE[0], 3), np.float32)
    run = tflite.make_tflite_runner(estimator.model, SIZE, models.cache_dir("mobilenet_thin") / "tflite")
    assert isinstance(run._lock, type(threading.Lock()))
    heat, paf = run(x)
    assert heat.shape == (2, 46, 54, 19) and paf.shape == (2, 46, 54, 38)


# --------------------------------------------------------------------------- sizes and failed conversions


@pytest.mark.parametrize("size", [(100000, 100000), (20000, 20000), (432, MAX_INPUT_SIDE + 1)])
def test_absurd_input_sizes_are_refused_before_converting(home, estimator, size):
    folder = home / "mobilenet_thin" / "tflite-absurd"
    too_large = f"input_size {size[0]}x{size[1]} exceeds the limit of {MAX_INPUT_SIDE} pixels per side"
    with pytest.raises(ValueError, match=too_large):
        engines.make_runner(estimator.model, "tflite", size, folder)
    with pytest.raises(ValueError, match="exceeds the limit of"):
        engines.make_runner(estimator.model, "auto", size, folder)
    with pytest.raises(ValueError, match="exceeds the limit of"):
        tflite.convert_tflite(estimator.model, size, folder / "x.tflite")
    assert not folder.exists()


def test_bad_engine_and_size_arguments(estimator, tmp_path):
    with pytest.raises(ValueError, match="unknown engine 'onnx': valid engines are auto, tf, tflite"):
        engines.make_runner(estimator.model, "onnx", SIZE, tmp_path)
    with pytest.raises(ValueError, match='engine "tflite" needs a fixed input_size'):
        engines.make_runner(estimator.model, "tflite", None, tmp_path)
    with pytest.raises(ValueError, match="input_size must be at least 16x16 pixels, got 0x368"):
        engines.make_runner(estimator.model, "tf", (0, 368), tmp_path)
    with pytest.raises(ValueError, match="input_size must be \\(width, height\\) .*got 432"):
        engines.make_runner(estimator.model, "tf", 432, tmp_path)
    assert engines.ENGINES == ("auto", "tf", "tflite", "openvino") and not hasattr(engines, "BACKENDS")
    assert list(tmp_path.iterdir()) == []


def test_failed_conversion_write_leaves_nothing(estimator, tmp_path, monkeypatch):
    from pathlib import Path

    def half_then_fail(self, data):
        with open(self, "wb") as f:
            f.write(data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        tflite.convert_tflite(estimator.model, (64, 48), tmp_path / "64x48.tflite")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- quiet native stderr

_QUIET_SCRIPT = """
import logging, os, sys, warnings
from posekit._quiet import quiet_native_stderr
with quiet_native_stderr():
    os.write(2, b"native 1\\n")
    with quiet_native_stderr():
        os.write(2, b"native 2\\n")
        print("python inner", file=sys.stderr)
        log = logging.Logger("x")
        log.addHandler(logging.StreamHandler())
    print("python outer", file=sys.stderr)
    warnings.warn("a warning")
os.write(2, b"native after\\n")
log.warning("a logger made inside still works")
"""


def test_quiet_native_stderr_drops_only_native_lines():
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "POSEKIT_TF_LOGS"}
    proc = subprocess.run(
        [sys.executable, "-c", _QUIET_SCRIPT], capture_output=True, text=True, timeout=60, env=env, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if not line.startswith("  ")]
    assert lines == [
        "python inner",
        "python outer",
        "<string>:12: UserWarning: a warning",
        "native after",
        "a logger made inside still works",
    ]


# --------------------------------------------------------------------------- graphs and fetching


def test_unknown_graph_names_both_ways_to_give_the_architecture(tmp_path):
    other = tmp_path / "random.pb"
    other.write_bytes(np.random.default_rng(3).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(weights.ModelError) as info:
        models.resolve(str(other))
    msg = str(info.value)
    assert "cannot tell the architecture of" in msg and "random.pb" in msg
    assert "architecture=NAME" in msg and "--architecture NAME" in msg
    for name in architectures.ARCHITECTURES:
        assert name in msg


def test_forced_fetch_that_fails_keeps_the_good_copy(tmp_path, graph_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("POSEKIT_HOME", str(home))
    target = home / "mobilenet_thin" / "graph_opt.pb"
    target.parent.mkdir(parents=True)
    shutil.copy(graph_path, target)

    def offline(spec, dest):
        raise weights.ModelFetchError("no network")

    monkeypatch.setattr(weights, "downloader", offline)
    with pytest.raises(weights.ModelFetchError, match="no network"):
        weights.fetch("mobilenet_thin", force=True)
    assert weights.file_sha256(target) == weights.MODELS["mobilenet_thin"].sha256
    assert sorted(p.name for p in target.parent.iterdir()) == ["graph_opt.pb"]
    calls = []
    monkeypatch.setattr(weights, "downloader", lambda spec, dest: calls.append(shutil.copy(graph_path, dest)))
    assert weights.fetch("mobilenet_thin", force=True) == target
    assert len(calls) == 1
    assert sorted(p.name for p in target.parent.iterdir()) == ["graph_opt.pb"]
