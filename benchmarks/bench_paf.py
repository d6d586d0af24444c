"""Benchmark the PAF grouping: C++ vs NumPy, and the grouping's share of the network's time.

Prints one table (medians over ``--repeats`` runs, milliseconds):

- synthetic fields: a few stick people at 216 x 184, a crowd of stick people at 648 x 552
  (the grid of a 1296 x 1104 input upsampled 4x), a pathological field with 300 peaks
  per part and random PAFs, and a hostile one where every pixel is a peak of every part
  (both bounded by ``PostprocessParams.max_peaks_per_part``, 127);
- if ``posekit.PoseEstimator`` works (model cached or downloadable): every bundled image at
  432 x 368 and a crowd made by tiling the multi-person image 3 x 3, run at input 1296 x 1104,
  with the network's median time and the ratio grouping / network.

Run: ``python benchmarks/bench_paf.py`` (``--help`` for options).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _load_test_helpers():
    """The synthetic-field generator lives in tests/test_paf.py (needs pytest importable)."""
    spec = importlib.util.spec_from_file_location("_test_paf_helpers", ROOT / "tests" / "test_paf.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def synthetic_cases(seed: int):
    """(name, peaks, heatmaps, pafs) of the synthetic fields."""
    h = _load_test_helpers()
    rng = np.random.default_rng(seed)
    few = [h.stick_person(cx, 95, 130) for cx in (40, 100, 170)]
    yield ("synthetic 3 people 216x184", *h.make_fields(few, (184, 216)))
    crowd = [
        h.stick_person(40 + 70 * i + rng.normal(0, 6), 95 + 180 * j + rng.normal(0, 4), rng.uniform(110, 140))
        for j in range(3)
        for i in range(9)
    ]
    peaks, heat, pafs = h.make_fields(crowd, (552, 648))
    pafs += rng.normal(0, 0.1, pafs.shape).astype(np.float32)
    yield ("synthetic crowd 27 people 648x552", peaks, heat, pafs)
    peaks = np.zeros((184, 216, 19), np.float32)
    for part in range(18):
        idx = rng.choice(184 * 216, 300, replace=False)
        peaks[idx // 216, idx % 216, part] = rng.uniform(0.1, 1, 300)
    yield ("pathological 300 peaks/part", peaks, peaks.copy(), h.smooth_random_paf(rng, 184, 216))
    peaks = rng.uniform(0.06, 1.0, (184, 216, 19)).astype(np.float32)
    yield ("all pixels peaks (capped) 216x184", peaks, peaks.copy(), h.smooth_random_paf(rng, 184, 216))


def network_cases(args):
    """(name, peaks, heatmaps, pafs, network ms) from the real network, or nothing if unavailable."""
    try:
        import cv2

        import posekit
        from posekit.preprocess import prepare

        if not hasattr(posekit, "PoseEstimator"):
            print("# posekit.PoseEstimator not available: network rows skipped", file=sys.stderr)
            return
        images = sorted(p for p in (ROOT / "images").iterdir() if p.suffix.lower() in (".jpg", ".png"))
        est = posekit.PoseEstimator(args.model, input_size=(432, 368))
    except Exception as e:  # no model, no TensorFlow, ...
        print(f"# network rows skipped: {type(e).__name__}: {e}", file=sys.stderr)
        return

    def measure(est, image, name):
        res = est.inference(image)
        batch = prepare(image, est.input_size)[None]
        net = median_ms(lambda: est.network(batch), args.net_repeats)
        return (name, res.peaks, res.heatmaps, res.pafs, net)

    for path in images:
        yield measure(est, cv2.imread(str(path)), f"{path.name} 432x368")
    tile = cv2.imread(str(ROOT / "images" / args.crowd_image))
    crowd = np.tile(tile, (3, 3, 1))
    big = posekit.PoseEstimator(args.model, input_size=(1296, 1104))
    yield measure(big, crowd, f"{args.crowd_image} 3x3 at 1296x1104")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=15, help="grouping runs per case and backend (median)")
    ap.add_argument("--numpy-repeats", type=int, default=5, help="runs of the slower NumPy backend")
    ap.add_argument("--net-repeats", type=int, default=5, help="network runs per image (median)")
    ap.add_argument("--no-network", action="store_true", help="synthetic fields only")
    ap.add_argument("--model", default="mobilenet_thin")
    ap.add_argument("--crowd-image", default="basketball1.png", help="bundled image tiled 3x3 for the crowd")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from posekit import paf
    from posekit.params import TFPOSE_DEFAULTS

    backends = paf.available_backends()
    print(f"# posekit.paf.BACKEND = {paf.BACKEND}; measuring {', '.join(backends)}")
    header = (
        f"{'case':<38} {'peaks':>6} {'people':>6} {'cpp ms':>9} {'numpy ms':>9} {'np/cpp':>7}"
        f" {'net ms':>8} {'cpp/net':>8}"
    )
    print(header)
    print("-" * len(header))

    cases = [(*c, None) for c in synthetic_cases(args.seed)]
    if not args.no_network:
        cases += list(network_cases(args))
    for name, peaks, heat, pafs, net in cases:
        n_peaks = int((peaks[:, :, :18] > TFPOSE_DEFAULTS.heat_threshold).sum())
        people = {}
        ms = {}
        for b in backends:
            people[b] = len(paf.group_people(peaks, heat, pafs, backend=b)[0])
            reps = args.repeats if b == "cpp" else args.numpy_repeats
            ms[b] = median_ms(lambda b=b, p=peaks, h=heat, f=pafs: paf.group_people(p, h, f, backend=b), reps)
        if len(set(people.values())) != 1:
            print(f"# WARNING: backends disagree on {name}: {people}", file=sys.stderr)
        cpp = ms.get("cpp")
        ratio = f"{ms['numpy'] / cpp:7.1f}" if cpp else f"{'-':>7}"
        net_s = f"{net:8.1f}" if net else f"{'-':>8}"
        share = f"{100 * cpp / net:7.2f}%" if (net and cpp) else f"{'-':>8}"
        cpp_s = f"{cpp:9.3f}" if cpp else f"{'-':>9}"
        print(
            f"{name:<38} {n_peaks:>6} {people[backends[0]]:>6} {cpp_s} {ms['numpy']:9.2f} {ratio}"
            f" {net_s} {share}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
