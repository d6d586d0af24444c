"""Keeping the aspect ratio (``input_size=(None, H)``, ``--resize -1xH``) and the thin-grid bound."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from conftest import IMAGES, ROOT, SHARED

from posekit.network import engines, openvino, runner
from posekit.preprocess import (
    ImageError,
    aspect_input_size,
    check_input_size,
    keeps_aspect,
    network_input_size,
    parse_size,
)

# (image width, height) -> the width at height 368: 16 * round(368 * W / H / 16), halves up (OpenPose's rule)
WIDTHS = [
    ((640, 425), 560),  # landscape COCO photo: 554.2 -> 560
    ((640, 480), 496),  # 4:3: 490.7 -> 496
    ((1920, 1080), 656),  # 16:9: 654.2 -> 656 (OpenPose's 656x368)
    ((425, 640), 240),  # portrait: 244.4 -> 240
    ((480, 640), 272),  # 3:4: 276 -> 272
    ((500, 500), 368),  # square
    ((376, 368), 384),  # 376 / 16 = 23.5: halves round up
    ((360, 368), 368),  # 22.5 -> 23
]


@pytest.mark.parametrize("image_size,width", WIDTHS, ids=[f"{w}x{h}" for (w, h), _ in WIDTHS])
def test_aspect_width_rounds_to_16_like_openpose(image_size, width):
    assert aspect_input_size(image_size, 368) == (width, 368)
    image = np.zeros((image_size[1], image_size[0], 3), np.uint8)
    assert network_input_size(image, (None, 368)) == (width, 368)


def test_aspect_width_other_heights_and_bounds():
    assert aspect_input_size((640, 480), 256) == (336, 256)  # 341.3 -> 336
    assert aspect_input_size((4000, 1000), 1024) == (4096, 1024)  # exactly the limit
    with pytest.raises(ImageError, match=r"a 4000x990 image at -1x1024: 4144x1024 exceeds the limit of 4096"):
        aspect_input_size((4000, 990), 1024)
    # a strip 1:23 gets a 16-pixel width: a 2x46-cell grid, refused with the reason
    with pytest.raises(
        ImageError, match="a 20x460 image at -1x368: 16x368 gives a stride-8 grid of 2x46 cells"
    ):
        aspect_input_size((20, 460), 368)
    with pytest.raises(ImageError, match="too thin to hold a person"):
        aspect_input_size((1, 5000), 368)  # rounds to 0: at least 16, then refused as thin


def test_parse_and_check_keep_aspect():
    assert parse_size("-1x368", keep_aspect=True) == (None, 368)
    assert parse_size("-1X256", keep_aspect=True) == (None, 256)
    assert parse_size("432x368", keep_aspect=True) == (432, 368)
    assert check_input_size((None, 368.0), keep_aspect=True) == (None, 368)
    assert check_input_size((-1, np.int64(368)), keep_aspect=True) == (None, 368)
    assert keeps_aspect((None, 368)) and not keeps_aspect((432, 368)) and not keeps_aspect(None)
    with pytest.raises(ValueError, match="size must be a fixed .* is not accepted"):
        parse_size("-1x368")  # training and other fixed-size places
    for bad, match in [
        ("-1x8", "-1xHEIGHT needs a whole height from 16 to 4096 pixels, got 8"),
        ("-1x5000", "got 5000"),
        ("-2x368", "at least 16x16"),
        ("-1x-1", "got -1"),
        ("-1", "size must look like WIDTHxHEIGHT, e.g. 432x368, got '-1'"),
    ]:
        with pytest.raises(ValueError, match=match):
            parse_size(bad, keep_aspect=True)
    with pytest.raises(ValueError, match="needs a whole height"):
        check_input_size((None, 368.5), keep_aspect=True)


@pytest.mark.parametrize(
    "size,ok",
    [((16, 64), True), ((64, 16), True), ((16, 65), False), ((65, 16), False), ((17, 4096), True),
     ((16, 4096), False), ((4096, 16), False), ((24, 368), True), ((16, 16), True)],
)  # fmt: skip
def test_thin_grid_bound(size, ok):
    if ok:
        assert check_input_size(size) == size
    else:
        with pytest.raises(ValueError, match="too thin to hold a person"):
            check_input_size(size)


def test_own_size_thin_image_refused():
    with pytest.raises(
        ImageError, match=r"image 16x368 gives a stride-8 grid of 2x46 cells.*pass an input_size"
    ):
        network_input_size(np.zeros((368, 16, 3), np.uint8), None)
    assert network_input_size(np.zeros((368, 16, 3), np.uint8), (432, 368)) == (432, 368)
    assert network_input_size(np.zeros((8, 8, 3), np.uint8), None) == (8, 8)  # tiny: runs as it is


# --------------------------------------------------------------------------- the LRU of sized runners


class _FakeBuilds:
    """Stands in for make_tflite_runner: counts builds per size, each taking ``delay`` seconds."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[tuple[int, int]] = []
        self.delay = delay
        self.lock = threading.Lock()

    def __call__(self, model, size, cache_dir, num_threads=None):
        time.sleep(self.delay)
        with self.lock:
            self.calls.append(tuple(size))

        def run(batch, size=tuple(size)):
            return size

        return run


def test_sized_runners_lru_bounds_and_order(monkeypatch, tmp_path):
    fake = _FakeBuilds()
    monkeypatch.setattr(engines, "make_tflite_runner", fake)
    runners = engines.SizedRunners(None, "tflite", tmp_path, capacity=3)
    sizes = [(496, 368), (272, 368), (368, 368), (496, 368), (656, 368), (272, 368), (496, 368)]
    got = [runners(s)(None) for s in sizes]
    assert got == sizes  # each size's own runner
    # 272 was dropped when 656 came (least recently used: 496 was used again at step 4)
    assert fake.calls == [(496, 368), (272, 368), (368, 368), (656, 368), (272, 368)]
    assert runners.sizes() == [(656, 368), (272, 368), (496, 368)]
    assert runners.builds == 5
    with pytest.raises(ValueError, match="capacity must be >= 1"):
        engines.SizedRunners(None, "tflite", tmp_path, capacity=0)
    with pytest.raises(ValueError, match="too thin"):
        runners((16, 4096))


def test_sized_runners_one_build_per_size_across_threads(monkeypatch, tmp_path):
    fake = _FakeBuilds(delay=0.3)
    monkeypatch.setattr(engines, "make_tflite_runner", fake)
    runners = engines.SizedRunners(None, "tflite", tmp_path, capacity=8)
    runners((432, 368))
    out: list = []

    def ask(size):
        out.append(runners(size)(None))

    threads = [threading.Thread(target=ask, args=((496, 368),)) for _ in range(6)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(0.05)
    ask((432, 368))  # built already: not blocked by the 0.3 s build of another size
    waited = time.perf_counter() - t0
    for t in threads:
        t.join(10)
    assert fake.calls == [(432, 368), (496, 368)]  # one build for six threads
    assert out.count((496, 368)) == 6 and out.count((432, 368)) == 1
    assert waited < 0.25


# --------------------------------------------------------------------------- the estimator (network)


def _engine() -> str:
    return "openvino" if openvino.openvino_available() else "tflite"


@pytest.fixture(scope="module")
def aspect_estimator(graph_path):
    from posekit import PoseEstimator

    return PoseEstimator(input_size=(None, 368), engine=_engine())


# 20 photo shapes (width, height): cameras' 4:3, 3:2, 16:9 in both orientations at several resolutions,
# squares and odd crops. They map to 8 widths at height 368.
SHAPES = [(640, 480), (800, 600), (1024, 768), (480, 640), (600, 800), (768, 1024), (640, 427), (900, 600),
          (427, 640), (600, 900), (1280, 720), (1920, 1080), (720, 1280), (500, 500), (512, 512), (300, 300),
          (641, 481), (639, 479), (660, 440), (1000, 999)]  # fmt: skip


@pytest.mark.slow
def test_twenty_shapes_build_a_bounded_number_of_networks(aspect_estimator):
    est = aspect_estimator
    widths = [aspect_input_size(s, 368)[0] for s in SHAPES]
    assert sorted(set(widths)) == [208, 240, 272, 368, 496, 544, 560, 656]  # exact: OpenPose's rule
    held = est.network_sizes()
    new = set(widths) - {w for w, _ in held}
    before = runner.network_builds()
    for shape in SHAPES:
        result = est.inference(np.zeros((shape[1], shape[0], 3), np.uint8))
        assert result.input_size == aspect_input_size(shape, 368)
        assert result.heatmaps.shape[:2] == (184, result.input_size[0] // 2)  # stride 8, upsample 4
    after = runner.network_builds()
    built = {k: after[k] - before[k] for k in after}
    assert built["tflite_conversions"] == 0  # no conversion from Keras for any new width
    if est.engine == "openvino":  # one network for every width at height 368
        assert built["openvino_compiles"] == built["openvino_reshapes"] == int((None, 368) not in held)
        assert (None, 368) in est.network_sizes()
    else:
        assert built["tflite_loads"] == len(new)
    assert len(est.network_sizes()) <= engines.RUNNER_CACHE_SIZE
    again = runner.network_builds()
    for shape in SHAPES:  # every width held: nothing is built a second time
        est.inference(np.zeros((shape[1], shape[0], 3), np.uint8))
    assert runner.network_builds() == again


@pytest.mark.slow
def test_aspect_kept_keypoints_equal_the_tf_engine(aspect_estimator, bgr):
    from posekit import PoseEstimator

    tf_est = PoseEstimator(input_size=(None, 368), engine="tf", warmup=False)
    for name, width in [
        ("kite.jpg", 560),
        ("person.jpg", 560),
        ("basketball1.png", 496),
        ("astronaut.png", 368),
    ]:
        image = bgr(name)
        a, b = aspect_estimator.inference(image), tf_est.inference(image)
        assert a.input_size == b.input_size == (width, 368)
        assert len(a.people) == len(b.people) > 0
        np.testing.assert_allclose(a.keypoints, b.keypoints, atol=1e-2)


@pytest.mark.slow
def test_aspect_kept_estimator_is_thread_safe(aspect_estimator, bgr):
    names = ["kite.jpg", "person.jpg", "basketball1.png", "astronaut.png"]
    images = [bgr(n) for n in names] + [
        np.ascontiguousarray(bgr("kite.jpg")[:, :500])
    ]  # a new, portrait width
    want = [aspect_estimator.inference(im).keypoints for im in images[:4]]
    got: dict[tuple[int, int], np.ndarray] = {}
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for rep in range(3):
                i = (k + rep) % len(images)
                got[(k, rep)] = (i, aspect_estimator.inference(images[i]).keypoints)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors and len(got) == 12
    portrait = aspect_estimator.inference(images[4]).keypoints
    for i, kp in got.values():
        np.testing.assert_array_equal(kp, want[i] if i < 4 else portrait)


@pytest.mark.slow
def test_fast_mode_at_any_width(graph_path, bgr):
    from posekit import PoseEstimator
    from posekit.match import keypoints_kept

    if not any(f in engines.cpu_flags() for f in engines.BF16_CPU_FLAGS) or not openvino.openvino_available():
        pytest.skip("the fast mode needs OpenVINO and a CPU with avx512_bf16 or amx_bf16")
    fast = PoseEstimator(input_size=(None, 368), precision="bf16")
    exact = PoseEstimator(input_size=(None, 368), engine="openvino")
    assert fast.precision == "bf16"
    for name in ("kite.jpg", "basketball1.png", "person.jpg"):
        a, b = fast.inference(bgr(name)), exact.inference(bgr(name))
        assert a.input_size == b.input_size
        assert len(a.people) == len(b.people)
        kept, total = keypoints_kept(b.keypoints, a.keypoints, a.image_size, a.input_size)
        assert kept >= 0.95 * total > 0


# --------------------------------------------------------------------------- the thin-grid bound, measured


@pytest.mark.slow
def test_thin_grid_bound_is_where_phantoms_start(graph_path):
    """The reason for the bound: a 2-cell-wide grid finds people on a black image, 3 cells find none."""
    from posekit import PoseEstimator
    from posekit.postprocess import postprocess_fields
    from posekit.preprocess import grid_size

    est = PoseEstimator(input_size=None, engine="tf", warmup=False)

    def people_on_black(w: int, h: int) -> int:
        heat, paf = est.network(np.zeros((1, h, w, 3), np.float32))  # below the size check on purpose
        return len(postprocess_fields(heat[0], paf[0], (w, h), grid_size((w, h), 4.0))[0])

    assert people_on_black(16, 368) > 0  # refused by check_input_size (2x46 cells)
    assert people_on_black(16, 64) == 0  # 2x8 cells: the longest thin grid accepted
    assert people_on_black(24, 2048) == 0  # 3 cells wide: accepted at any length
    with pytest.raises(ValueError, match="too thin to hold a person"):
        PoseEstimator(input_size=(16, 4096), warmup=False)


def test_cli_refuses_thin_and_accepts_minus_one(tmp_path):
    """``--resize`` in one line before the model loads; ``-1x368`` parses for every command."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(
        [sys.executable, "-m", "posekit", "image", str(IMAGES / "kite.jpg"), "--resize", "16x4096"],
        capture_output=True, text=True, timeout=120, env=env, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "posekit: error: argument --resize: size 16x4096 gives a stride-8 grid of 2x512 cells, too thin to "
        "hold a person: a side of 2 cells is all padding border, and with the other side over 4x as long the "
        "network finds phantom people there; make the short side at least 17 pixels"
    ]
    from posekit.cli import build_parser

    parser = build_parser()
    for command in (["image", "x.jpg"], ["video", "x.mp4"], ["batch", "x.jpg", "--out", "o"],
                    ["evaluate", "--annotations", "a.json", "--images", "d"]):  # fmt: skip
        assert parser.parse_args([*command, "--resize", "-1x368"]).resize == (None, 368)
    help_text = parser._subparsers._group_actions[0].choices["image"].format_help()
    assert "-1x368" in help_text


# --------------------------------------------------------------------------- accuracy on human labels


def _coco_sample():
    for folder in (IMAGES / "coco_val2017", SHARED / "coco-sample"):
        if (folder / "person_keypoints_val2017_sample.json").is_file():
            return folder
    pytest.skip(f"the COCO sample is in neither {IMAGES / 'coco_val2017'} nor {SHARED / 'coco-sample'}")


@pytest.mark.slow
def test_aspect_kept_scores_at_least_the_stretch_on_the_coco_sample(estimator, aspect_estimator):
    """Issue 26's bar: -1x368 scores at least the stretched default on the bundled COCO photos (4 images)."""
    pytest.importorskip("pycocotools")
    from posekit.evaluate import evaluate

    folder = _coco_sample()
    ann = folder / "person_keypoints_val2017_sample.json"
    stretched = evaluate(ann, folder, estimator, bootstrap=0)
    kept = evaluate(ann, folder, aspect_estimator, bootstrap=0)
    assert stretched["images"] == kept["images"] == 4
    assert kept["AP"] >= stretched["AP"], (kept["AP"], stretched["AP"])


# --------------------------------------------------------------------------- the PAF along a limb


def test_limb_paf_reads_the_field_between_the_two_parts():
    from posekit import LIMB_NAMES, LIMBS, InferenceResult, Person

    limb = LIMB_NAMES.index("LKnee-LAnkle")
    part_a, part_b, cx, cy = LIMBS[limb]
    pafs = np.zeros((46, 54, 38), np.float32)  # a 432x368 input's grid at upsample 1, over a 864x736 image
    pafs[10:20, 20, cx], pafs[10:20, 20, cy] = 0.6, 0.8  # a vertical band of cells along column 20
    pafs[:, 30:, cx] = -1.0  # elsewhere: not on the limb
    kp = np.full((18, 3), np.nan, np.float32)
    kp[:, 2] = 0
    kp[part_a], kp[part_b] = (320.0, 160.0, 0.9), (320.0, 304.0, 0.9)  # 16 px per cell: (20, 10)-(20, 19)
    result = InferenceResult([Person(kp, 1.0)], pafs, pafs, pafs, (864, 736), {}, input_size=(432, 368))
    np.testing.assert_allclose(result.limb_paf(0, limb), [0.6, 0.8], atol=1e-6)
    kp[part_b] = (640.0, 304.0, 0.9)  # the end moves to column 40: the samples leave the band
    half = InferenceResult([Person(kp, 1.0)], pafs, pafs, pafs, (864, 736), {}).limb_paf(0, limb, samples=11)
    assert half is not None and half.shape == (2,) and 0 < half[1] < 0.8 and half[0] < 0
    kp[part_b] = (np.nan, np.nan, 0.0)
    assert InferenceResult([Person(kp, 1.0)], pafs, pafs, pafs, (864, 736), {}).limb_paf(0, limb) is None


@pytest.mark.slow
def test_evaluate_command_with_minus_one(tmp_path):
    """``posekit evaluate --resize -1x368`` on COCO photos of three aspect ratios (widths 544, 560, 608)."""
    pytest.importorskip("pycocotools")
    import json

    folder = _coco_sample()
    out = tmp_path / "metrics.json"
    proc = subprocess.run(
        [sys.executable, "-m", "posekit", "evaluate", "--annotations",
         str(folder / "person_keypoints_val2017_sample.json"), "--images", str(folder), "--resize", "-1x368",
         "--bootstrap", "0", "--json", str(out)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""}, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = json.loads(out.read_text())
    assert metrics["input_size"] == [None, 368] and metrics["images"] == 4
    assert metrics["AP"] > 0.5  # the library test above compares it with the stretch
