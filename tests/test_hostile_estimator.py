"""PoseEstimator under hostile use: huge sizes and factors, non-finite options, threads, recycled memory."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from posekit import ImageError, PostprocessParams
from posekit.postprocess import check_upsample, max_upsample
from posekit.preprocess import MAX_GRID_SIDE, MAX_INPUT_SIDE, grid_size

NAMES = ["person.jpg", "basketball1.png", "kite.jpg", "astronaut.png", "camera.png"]


@pytest.fixture
def no_model_loading(monkeypatch):
    """Make any model loading fail loudly: the checks must come first."""
    import posekit.network.models

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the arguments were checked")

    monkeypatch.setattr(posekit.network.models, "load_model", refuse)


# --------------------------------------------------------------------------- sizes, before anything loads


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (
            {"input_size": (100000, 100000)},
            "input_size 100000x100000 exceeds the limit of 4096 pixels per side",
        ),
        ({"input_size": (20000, 20000)}, "exceeds the limit of 4096 pixels per side"),
        ({"input_size": (4097, 368)}, "exceeds the limit"),
        ({"input_size": (float("nan"), 368)}, "whole pixels"),
        ({"input_size": (float("inf"), 368)}, "whole pixels"),
        ({"input_size": (432.5, 368)}, "whole pixels"),
        ({"input_size": (8, 8)}, "at least 16x16"),
        ({"input_size": (3000, 3000), "scales": (1.0, 1.5)}, "at scale 1.5 exceeds the limit of 4096"),
        ({"scales": (1.0, float("inf"))}, r"scales must be .* \(not finite\)"),
        ({"scales": (float("nan"),)}, r"scales must be .* \(not finite\)"),
    ],
)
def test_bad_sizes_refused_before_loading(no_model_loading, kwargs, match):
    from posekit import PoseEstimator

    with pytest.raises(ValueError, match=match):
        PoseEstimator(warmup=False, **kwargs)


def test_the_default_input_size_is_the_models(monkeypatch, no_model_loading):
    import argparse

    import posekit.network.engines
    from posekit import PoseEstimator
    from posekit.cli._args import add_model_arguments, check_model_options
    from posekit.network.models import default_input_size
    from posekit.network.weights import DEFAULT_INPUT_SIZE, MODELS

    assert default_input_size("mobilenet_thin") == DEFAULT_INPUT_SIZE == (432, 368)
    assert default_input_size("cmu") == MODELS["cmu"].input_size == (656, 368)
    assert default_input_size("/data/graph_opt.pb") == DEFAULT_INPUT_SIZE  # a file is not read
    assert default_input_size("/data/graph_opt.pb", "cmu") == (656, 368)  # its architecture's entry
    # the estimator's default reads it (the size reaches the precision check, before the model loads)
    seen = []
    monkeypatch.setattr(posekit.network.engines, "check_precision", lambda p, e, size: seen.append(size) or p)
    for model in ("cmu", "mobilenet_thin"):
        with pytest.raises(AssertionError, match="loaded before"):
            PoseEstimator(model, warmup=False)
    assert seen == [(656, 368), (432, 368)]
    # so does the CLI's --resize default
    parser = argparse.ArgumentParser()
    add_model_arguments(parser)
    for argv, want in (
        (["--model", "cmu"], (656, 368)),
        ([], (432, 368)),
        (["--resize=-1x256"], (None, 256)),
    ):
        args = parser.parse_args(argv)
        check_model_options(args)
        assert args.resize == want


def test_limits_are_consistent():
    assert MAX_INPUT_SIDE == 4096 and MAX_GRID_SIDE == 2048
    assert grid_size((MAX_INPUT_SIDE, MAX_INPUT_SIDE), 4.0) == (MAX_GRID_SIDE, MAX_GRID_SIDE)
    assert grid_size((432, 368), 4.0) == (216, 184)
    assert grid_size((432, 368), 0.01) == (1, 1)
    with pytest.raises(
        ValueError, match=r"upsample 8 on a 4096x4096 input gives a 4096x4096 grid, above the limit"
    ):
        grid_size((4096, 4096), 8.0)


# --------------------------------------------------------------------------- the upsample factor


def test_upsample_bound_comes_from_the_smoothing_kernel():
    assert max_upsample() == 25
    assert max_upsample(PostprocessParams(smooth_size=9)) == 9
    assert max_upsample(PostprocessParams(smooth_size=0)) == 1
    assert check_upsample(25) == 25.0 and check_upsample("4") == 4.0
    for bad in (26, 32, 40, 1000, 1e300):
        with pytest.raises(ValueError, match=r"above 25, the smoothing kernel's size \(smooth_size=25\)"):
            check_upsample(bad)
    with pytest.raises(ValueError, match="above 9"):
        check_upsample(10, PostprocessParams(smooth_size=9))
    with pytest.raises(ValueError, match="above 1, 1 without smoothing"):
        check_upsample(2, PostprocessParams(smooth_size=0))
    with pytest.raises(ValueError, match="above the limit of 2048 cells per side"):
        check_upsample(20, input_size=(1000, 368))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf"), "inf", None, [4]])
def test_non_finite_upsample(bad):
    with pytest.raises(ValueError, match="upsample must be a positive number"):
        check_upsample(bad)


def test_spurious_peaks_are_why_the_bound_exists(estimator, bgr):
    """At the bound the one person is still one person; past it every upsampled block is a peak."""
    from posekit.peaks import nms, smooth_upsampled

    image = bgr("person.jpg")
    assert len(estimator.inference(image, upsample=25).people) == 1
    heat = estimator.inference(image).heatmaps[::4, ::4]  # the network's grid (block replication by 4)
    h, w = heat.shape[:2]
    counts = {}
    for u in (25, 26):
        peaks = nms(smooth_upsampled(heat, (w * u, h * u)), 3, in_place=True)
        counts[u] = int((peaks[:, :, :18] > 0.05).sum())
    assert counts[25] <= 18 < 100 < counts[26]
    with pytest.raises(ValueError, match="above 25"):
        estimator.inference(image, upsample=26)
    with pytest.raises(ValueError, match="upsample must be a positive number"):
        estimator.inference_batch([image], upsample=float("nan"))


def test_own_size_image_too_large(graph_path):
    from posekit import PoseEstimator

    est = PoseEstimator(input_size=None, engine="tf", warmup=False)
    with pytest.raises(ImageError, match="image 4097x20 exceeds the limit of 4096 pixels per side"):
        est.inference(np.zeros((20, 4097, 3), np.uint8))
    with pytest.raises(ValueError, match="grid, above the limit of 2048 cells"):
        est.inference(np.zeros((24, 4096, 3), np.uint8), upsample=8)  # 16 rows: a grid too thin


# --------------------------------------------------------------------------- threads and memory


def _snapshot(result):
    return result.keypoints.copy(), result.heatmaps.copy(), result.peaks.copy()


def test_shared_estimator_in_4_threads_equals_sequential(estimator, bgr):
    images = {n: bgr(n) for n in NAMES}
    expected = {n: _snapshot(estimator.inference(img)) for n, img in images.items()}
    got: dict[tuple[int, int, str], tuple] = {}
    errors = []
    start = threading.Barrier(4)

    def work(t: int) -> None:
        try:
            start.wait()
            order = NAMES[t:] + NAMES[:t]
            for rep in range(3):
                for n in order:
                    got[(t, rep, n)] = _snapshot(estimator.inference(images[n]))
        except Exception as exc:  # reported below
            errors.append(exc)

    _in_threads(work, 4)
    assert not errors
    assert len(got) == 4 * 3 * len(NAMES)
    for (_t, _rep, n), (kps, heat, peaks) in got.items():
        np.testing.assert_array_equal(kps, expected[n][0])
        np.testing.assert_array_equal(heat, expected[n][1])
        np.testing.assert_array_equal(peaks, expected[n][2])


def test_post_processing_with_one_workspace_in_4_threads_equals_sequential(estimator, bgr):
    """The post-processing alone, where threads overlap all the time (a shared scratch fails this)."""
    from posekit.peaks import Workspace
    from posekit.postprocess import postprocess_fields

    fields = {}
    for n in NAMES[:3]:
        image = bgr(n)
        heat, paf = estimator.network(np.stack([estimator_input(image)]))
        fields[n] = (heat[0], paf[0], (image.shape[1], image.shape[0]))
    expected = {n: postprocess_fields(h, p, size, (216, 184)) for n, (h, p, size) in fields.items()}
    workspace, bad, errors = Workspace(), [], []

    def work(t: int) -> None:
        try:
            for _ in range(15):
                for n in NAMES[t % 3 : 3] + NAMES[: t % 3]:
                    h, p, size = fields[n]
                    got = postprocess_fields(h, p, size, (216, 184), workspace=workspace)
                    if not _same_post(got, expected[n]):
                        bad.append(n)
        except Exception as exc:  # reported below
            errors.append(exc)

    _in_threads(work, 4)
    assert not errors and not bad


def _in_threads(work, n: int) -> None:
    """Run ``work(t)`` for t in 0..n-1, each in its own thread, and wait for all."""
    threads = [threading.Thread(target=work, args=(t,)) for t in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()


def _same_post(a, b) -> bool:
    """Two ``postprocess_fields`` results are identical (people, upsampled fields, peaks)."""
    same_people = [q.keypoints.tobytes() for q in a[0]] == [q.keypoints.tobytes() for q in b[0]]
    return same_people and all(np.array_equal(x, y) for x, y in zip(a[1:4], b[1:4]))


def estimator_input(image):
    from posekit.preprocess import prepare

    return prepare(image, (432, 368))


def test_kept_results_and_views_are_never_overwritten(estimator, bgr):
    first = estimator.inference(bgr("person.jpg"))
    kept = _snapshot(first)
    view = first.peaks[10:50, :, 1]  # a view outlives the result object
    view_copy = view.copy()
    del first
    for name in ("kite.jpg", "basketball1.png", "camera.png"):
        other = estimator.inference(bgr(name))
        assert not np.shares_memory(other.peaks, view)
    np.testing.assert_array_equal(view, view_copy)
    again = estimator.inference(bgr("person.jpg"))
    for a, b in zip(_snapshot(again), kept):
        np.testing.assert_array_equal(a, b)
    # a dropped result's fields are recycled (the point of the workspace): the same memory each time.
    # A fresh estimator, so that results other tests keep alive (module fixtures) do not fill its pool.
    from posekit import PoseEstimator

    del again, other
    fresh = PoseEstimator("mobilenet_thin", input_size=estimator.input_size)
    pointers = []
    for name in ("person.jpg", "kite.jpg", "person.jpg"):
        result = fresh.inference(bgr(name))
        pointers.append(result.heatmaps.__array_interface__["data"][0])
        del result
    assert len(set(pointers)) == 1


def test_construction_leaves_the_allocator_alone(graph_path, monkeypatch):
    import ctypes

    from posekit import PoseEstimator

    opened = []
    real = ctypes.CDLL

    def spy(name, *args, **kwargs):
        opened.append(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(ctypes, "CDLL", spy)
    est = PoseEstimator(engine="tf", warmup=False)
    est.inference(np.zeros((64, 64, 3), np.uint8))
    assert None not in opened  # CDLL(None) is the process itself: how mallopt was reached


@pytest.mark.parametrize(
    "field, value, error",
    [
        ("heat_threshold", float("nan"), ValueError),
        ("vector_score_threshold", float("nan"), ValueError),
        ("human_score_threshold", float("nan"), ValueError),
        ("smooth_sigma", float("inf"), ValueError),
        ("smooth_sigma", 0.0, ValueError),
        ("heat_threshold", "0.1", TypeError),
        ("paf_steps", 2.5, TypeError),
        ("part_count_threshold", True, TypeError),
    ],
)
def test_postprocess_params_refuse_non_finite_and_wrong_types(field, value, error):
    import dataclasses

    from posekit import TFPOSE_DEFAULTS

    with pytest.raises(error, match=field):
        dataclasses.replace(TFPOSE_DEFAULTS, **{field: value})
