"""Benchmark the PAF grouping: C++ vs NumPy, where its time goes, and its share of the network's time.

Prints two tables (medians over ``--repeats`` runs, milliseconds) and the goals:

- synthetic fields: a few stick people at 216 x 184, a crowd of stick people at 648 x 552
  (the grid of a 1296 x 1104 input upsampled 4x), a pathological field with 300 peaks
  per part and random PAFs, and a hostile one where every pixel is a peak of every part
  (both bounded by ``PostprocessParams.max_peaks_per_part``, 127);
- if ``posekit.PoseEstimator`` works (model cached or downloadable): every bundled image at
  432 x 368 and a crowd made by tiling ``--crowd-image`` 3 x 3, run at input 1296 x 1104, with
  the network's median time and the ratio grouping / network;
- for those images, where the post-processing and the grouping spend their time: upsampling,
  smoothing, NMS, then inside the C++ grouping the peak listing (one pass over the peaks field),
  the candidate scoring (PAF reads), matching and assembly, and the binding (argument checks and
  the result arrays: the fields are passed without copies); beside it the grouping when given the
  upsampled 38-channel PAF instead of the network's (what it read before), and the whole
  post-processing + grouping (``postprocess_fields``) on its own and right after the network, as
  ``PoseEstimator.inference`` runs it (the network's threads and caches then weigh on it).

Goals (issue 27): the crowd's grouping at most 2% of the network in the same run; post-processing +
grouping of each bundled image at most 3 ms on the default path.

Run: ``python benchmarks/bench_paf.py`` (``--help`` for options). ``--crowd-image PATH``: a path as
given (relative to the current folder), else relative to the repository, else a file in ``images/``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def synthetic_cases(seed: int):
    """(name, peaks, heatmaps, pafs) of the synthetic fields (``posekit.synthetic``, as in the tests)."""
    from posekit.synthetic import make_fields, smooth_random_paf, stick_person

    rng = np.random.default_rng(seed)
    few = [stick_person(cx, 95, 130) for cx in (40, 100, 170)]
    yield ("synthetic 3 people 216x184", *make_fields(few, (216, 184)))
    crowd = [
        stick_person(40 + 70 * i + rng.normal(0, 6), 95 + 180 * j + rng.normal(0, 4), rng.uniform(110, 140))
        for j in range(3)
        for i in range(9)
    ]
    peaks, heat, pafs = make_fields(crowd, (648, 552))
    pafs += rng.normal(0, 0.1, pafs.shape).astype(np.float32)
    yield ("synthetic crowd 27 people 648x552", peaks, heat, pafs)
    peaks = np.zeros((184, 216, 19), np.float32)
    for part in range(18):
        idx = rng.choice(184 * 216, 300, replace=False)
        peaks[idx // 216, idx % 216, part] = rng.uniform(0.1, 1, 300)
    yield ("pathological 300 peaks/part", peaks, peaks.copy(), smooth_random_paf(rng, (216, 184)))
    peaks = rng.uniform(0.06, 1.0, (184, 216, 19)).astype(np.float32)
    yield ("all pixels peaks (capped) 216x184", peaks, peaks.copy(), smooth_random_paf(rng, (216, 184)))


def resolve_image(name: str) -> Path:
    """The crowd image: ``name`` as given, else relative to the repository, else in ``images/``."""
    for candidate in (Path(name), ROOT / name, ROOT / "images" / name):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"crowd image {name!r} not found (looked in ., {ROOT} and {ROOT / 'images'})")


def read_image(path: Path) -> np.ndarray:
    """BGR uint8 image, or ValueError naming the file."""
    import cv2

    image = cv2.imread(str(path))
    if image is None:
        raise ValueError(f"crowd image {str(path)!r} cannot be read as an image")
    return image


def network_cases(args, crowd_image: np.ndarray):
    """(name, estimator, image, network ms) for the bundled images and the crowd, or nothing."""
    try:
        import cv2

        import posekit
        from posekit.preprocess import prepare
        from posekit.video import IMAGE_SUFFIXES

        if not hasattr(posekit, "PoseEstimator"):
            print("# posekit.PoseEstimator not available: network rows skipped", file=sys.stderr)
            return
        images = sorted(p for p in (ROOT / "images").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        est = posekit.PoseEstimator(args.model, input_size=(432, 368))
    except Exception as e:  # no model, no TensorFlow, ...
        print(f"# network rows skipped: {type(e).__name__}: {e}", file=sys.stderr)
        return

    def measure(est, image, name):
        batch = prepare(image, est.input_size)[None]
        net = median_ms(lambda: est.network(batch), args.net_repeats)
        return (name, est, image, net)

    for path in images:
        yield measure(est, cv2.imread(str(path)), f"{path.name} 432x368")
    crowd = np.tile(crowd_image, (3, 3, 1))
    big = posekit.PoseEstimator(args.model, input_size=(1296, 1104))
    yield measure(big, crowd, f"{args.crowd_name} 3x3 at 1296x1104")


def split_ms(est, image, repeats: int) -> dict[str, float]:
    """Median ms of each post-processing and grouping step on one image's network fields."""
    from posekit import paf
    from posekit import peaks as pk
    from posekit.postprocess import postprocess_fields
    from posekit.preprocess import DEFAULT_UPSAMPLE, grid_size, prepare

    heat, pafs = (a[0] for a in est.network(prepare(image, est.input_size)[None]))
    grid, params, ws = grid_size(est.input_size, DEFAULT_UPSAMPLE), est.params, pk.Workspace()
    height, width = image.shape[:2]
    factor = grid[1] // heat.shape[0]
    heat_up, paf_up = pk.upsample(heat, grid), pk.upsample(pafs, grid)
    smoothed = pk.smooth_upsampled(heat, grid, params.smooth_size, params.smooth_sigma)
    peaks = pk.nms(smoothed.copy(), params.nms_size)
    ms = {
        "upsample": median_ms(
            lambda: (pk.upsample(heat, grid, workspace=ws), pk.upsample(pafs, grid, workspace=ws)), repeats
        ),
        "smooth": median_ms(
            lambda: pk.smooth_upsampled(heat, grid, params.smooth_size, params.smooth_sigma, workspace=ws),
            repeats,
        ),
    }
    nms = []
    for _ in range(repeats):  # in place, as the estimator runs it, on a fresh copy each time
        work = smoothed.copy()
        t0 = time.perf_counter()
        pk.nms(work, params.nms_size, in_place=True, workspace=ws)
        nms.append((time.perf_counter() - t0) * 1e3)
    ms["nms"] = statistics.median(nms)
    core = {k: [] for k in ("peaks", "scoring", "matching", "assembly")}
    calls = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        stage = {}
        paf.group_people(peaks, heat_up, pafs, params=params, paf_upsample=factor, stage_ms=stage)
        calls.append((time.perf_counter() - t0) * 1e3 - sum(stage.values()))
        for k, v in stage.items():
            core[k].append(v)
    ms.update({k: statistics.median(v) for k, v in core.items()})
    ms["binding"] = statistics.median(calls)
    ms["group"] = median_ms(
        lambda: paf.group_people(peaks, heat_up, pafs, params=params, paf_upsample=factor), repeats
    )
    ms["group grid PAF"] = median_ms(lambda: paf.group_people(peaks, heat_up, paf_up, params=params), repeats)
    ms["post alone"] = median_ms(
        lambda: postprocess_fields(heat, pafs, (width, height), grid, params=params, workspace=ws), repeats
    )
    post = []
    for _ in range(repeats):  # as PoseEstimator.inference runs it: right after the network
        est.network(prepare(image, est.input_size)[None])
        t = postprocess_fields(heat, pafs, (width, height), grid, params=params, workspace=est._workspace)[-1]
        post.append(t["postprocess"] + t["paf"])
    ms["post+group"] = statistics.median(post)
    return ms


SPLIT = (
    ("upsample", "upsample"),
    ("smooth", "smooth"),
    ("nms", "nms"),
    ("peaks", "peak list"),
    ("scoring", "scoring"),
    ("matching", "matching"),
    ("assembly", "assembly"),
    ("binding", "binding"),
    ("group", "group"),
    ("group grid PAF", "grid PAF"),
    ("post alone", "post alone"),
    ("post+group", "after net"),
)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=15, help="grouping runs per case and backend (median)")
    ap.add_argument("--numpy-repeats", type=int, default=5, help="runs of the slower NumPy backend")
    ap.add_argument("--net-repeats", type=int, default=5, help="network runs per image (median)")
    ap.add_argument("--no-network", action="store_true", help="synthetic fields only")
    ap.add_argument("--model", default="mobilenet_thin")
    ap.add_argument(
        "--crowd-image",
        default="basketball1.png",
        help="image tiled 3x3 for the crowd: a path (relative to the current folder or the repository) "
        "or the name of a bundled image in images/",
    )
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    crowd_image = None
    if not args.no_network:
        try:
            crowd_path = resolve_image(args.crowd_image)
            crowd_image = read_image(crowd_path)
        except (FileNotFoundError, ValueError) as e:
            print(f"bench_paf.py: error: {e}", file=sys.stderr)
            return 2
        args.crowd_name = crowd_path.name

    from posekit import paf
    from posekit.network.engines import cpu_flags
    from posekit.params import TFPOSE_DEFAULTS
    from posekit.preprocess import prepare

    backends = paf.available_backends()
    flags = (
        " ".join(f for f in ("sse4_2", "avx2", "fma", "avx512f") if f in cpu_flags())
        or "none of sse4_2 avx2 fma avx512f"
    )
    print(
        f"# {platform.machine()}, {os.cpu_count()} cores, CPU flags {flags}, "
        f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"# posekit.paf.BACKEND = {paf.BACKEND}; measuring {', '.join(backends)}")
    header = (
        f"{'case':<38} {'peaks':>6} {'people':>6} {'cpp ms':>9} {'numpy ms':>9} {'np/cpp':>7}"
        f" {'net ms':>8} {'cpp/net':>8}"
    )
    print(header)
    print("-" * len(header))

    cases = [(name, p, h, f, 1, None) for name, p, h, f in synthetic_cases(args.seed)]
    network = list(network_cases(args, crowd_image)) if not args.no_network else []
    for name, est, image, net in network:
        # what PoseEstimator.inference groups: the peaks, the upsampled heatmaps, the network's PAF
        res = est.inference(image)
        pafs = est.network(prepare(image, est.input_size)[None])[1][0]
        cases.append((name, res.peaks, res.heatmaps, pafs, res.heatmaps.shape[0] // pafs.shape[0], net))
    cpp_ms = {}
    for name, peaks, heat, pafs, factor, net in cases:
        n_peaks = int((peaks[:, :, :18] > TFPOSE_DEFAULTS.heat_threshold).sum())
        people, ms = {}, {}
        for b in backends:

            def group(b=b, p=peaks, h=heat, f=pafs, u=factor):
                return paf.group_people(p, h, f, backend=b, paf_upsample=u)

            people[b] = len(group()[0])
            ms[b] = median_ms(group, args.repeats if b == "cpp" else args.numpy_repeats)
        if len(set(people.values())) != 1:
            print(f"# WARNING: backends disagree on {name}: {people}", file=sys.stderr)
        cpp = cpp_ms[name] = ms.get("cpp")
        ratio = f"{ms['numpy'] / cpp:7.1f}" if cpp else f"{'-':>7}"
        net_s = f"{net:8.1f}" if net else f"{'-':>8}"
        share = f"{100 * cpp / net:7.2f}%" if (net and cpp) else f"{'-':>8}"
        cpp_s = f"{cpp:9.3f}" if cpp else f"{'-':>9}"
        print(
            f"{name:<38} {n_peaks:>6} {people[backends[0]]:>6} {cpp_s} {ms['numpy']:9.2f} {ratio}"
            f" {net_s} {share}"
        )
    if not network or "cpp" not in backends:
        return 0

    print("\n# where the time goes (median ms): post-processing steps, then the C++ grouping's steps")
    header = f"{'case':<38}" + "".join(f" {label:>10}" for _, label in SPLIT)
    print(header)
    print("-" * len(header))
    post, alone = {}, {}
    for name, est, image, _ in network:
        ms = split_ms(est, image, args.repeats)
        post[name], alone[name] = ms["post+group"], ms["post alone"]
        print(f"{name:<38}" + "".join(f" {ms[key]:10.3f}" for key, _ in SPLIT))
    crowd, net = network[-1][0], network[-1][3]
    bundled = {name: v for name, v in post.items() if name != crowd}
    worst = max(bundled, key=bundled.get)
    worst_alone = max((v for name, v in alone.items() if name != crowd))
    print(
        f"\n# goal: crowd grouping <= 2% of the network: {100 * cpp_ms[crowd] / net:.2f}% "
        f"({cpp_ms[crowd]:.2f} of {net:.1f} ms)"
    )
    print(
        f"# goal: post-processing + grouping <= 3 ms per bundled image: at most {bundled[worst]:.2f} ms "
        f"({worst}) right after the network as the estimator runs it; {worst_alone:.2f} ms on its own"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
