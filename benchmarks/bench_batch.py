"""Batch throughput: a plain sequential loop vs ``posekit.batch`` in-process, on the local pool, and on Ray.

    python benchmarks/bench_batch.py [--frames 24] [--repeat 1] [--workers N] [--no-ray] [--resize=-1x368]

Every configuration processes the same inputs (the images in ``images/`` and the first ``--frames``
frames of ``videos/vtest_pair.mp4``, cut into chunks of ``--chunk`` frames) in a fresh process, and
writes its outputs to a temporary folder:

* sequential: one ``PoseEstimator`` (TFLite on all cores), a loop over the images and the frames
  with tracking and one OpenPose JSON per frame: what a script would do;
* batch, in-process: ``posekit.batch.run(workers=0)``, the same loop through the batch machinery
  (Parquet table, manifest, staging and renames): its overhead;
* batch, local pool: ``workers`` spawned processes, each with its own single-threaded estimator;
* batch, Ray: the same units on a local Ray instance, one actor per core.

"end to end" is frames / wall time including the model loads and the pool or cluster start;
"working" is frames / the time the workers spent on the sources (the manifest's seconds divided by the
workers), the rate a long run approaches once started. Medians over ``--repeat`` runs; the ratios are
against the sequential loop of the same run. The CPU flags that decide the network's speed are printed.

``--resize`` is every configuration's input size (default 432x368; ``-1x368`` keeps each image's aspect
ratio, so the images need several network sizes). "networks" counts what the in-process runs built
(``posekit.network.runner.network_builds``): Keras -> TFLite conversions (seconds each) and compilations
(OpenVINO
reshapes count as compilations); the pool and Ray build theirs in the workers.

A last table, "mixed shapes", runs one ``-1x368`` estimator over 20 crops of the bundled images in 20
shapes, twice: the widths they need, the networks built in each pass, and the ms per image of each pass
against the stretched 432x368 on the same crops.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

ROOT = Path(__file__).resolve().parents[1]
VIDEO = ROOT / "videos" / "vtest_pair.mp4"
IMAGES = ROOT / "images"
FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")


def cpu_flags() -> str:
    """The SIMD flags of this CPU that matter for the network (from /proc/cpuinfo), and its model name."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown CPU"
    flags, model = set(), "unknown CPU"
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            flags = set(value.split())
        elif key.strip() == "model name":
            model = value.strip()
    have = " ".join(f for f in FLAGS if f in flags) or "none of " + ", ".join(FLAGS)
    return f"{model}; {os.cpu_count()} cores; flags: {have}"


def _images() -> list[Path]:
    """The images of ``images/`` and its subfolders, as ``posekit.batch`` finds them."""
    from posekit.video import IMAGE_SUFFIXES

    return sorted(p for p in IMAGES.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def _built(before: dict[str, int]) -> dict[str, int]:
    """Networks built since ``before`` (``posekit.network.runner.network_builds``): conversions,
    compilations."""
    from posekit.network.runner import network_builds

    now = network_builds()
    return {
        "conversions": now["tflite_conversions"] - before["tflite_conversions"],
        "compiles": now["openvino_compiles"]
        - before["openvino_compiles"]
        + now["tflite_loads"]
        - before["tflite_loads"],
    }


def child_sequential(frames: int, out: Path, size) -> dict:
    """The plain loop: load, then infer/track/write JSON for every image and frame."""
    from posekit import PoseEstimator, read_image
    from posekit.export import openpose_json_name, write_openpose_json
    from posekit.network.runner import network_builds
    from posekit.video import iter_frames
    from posekit.video.track import Tracker

    before = network_builds()
    t0 = time.perf_counter()
    est = PoseEstimator("mobilenet_thin", input_size=size)
    loaded = time.perf_counter()
    n = 0
    for path in _images():  # the images batch.run finds in the folder (recursive)
        people = est.inference(read_image(path)).people
        write_openpose_json(out / openpose_json_name(path.stem), people)
        n += 1
    tracker = Tracker(fps=10.0)
    for index, frame in iter_frames(VIDEO, max_frames=frames):
        people = tracker.update(est.inference(frame).people, frame_index=index)
        write_openpose_json(out / openpose_json_name("vtest_pair", index), people)
        n += 1
    end = time.perf_counter()
    return {"frames": n, "wall": end - t0, "working": end - loaded, **_built(before)}


def child_batch(mode: str, frames: int, out: Path, workers: int, chunk: int, size) -> dict:
    from posekit import batch
    from posekit.network.runner import network_builds

    before = network_builds()
    t0 = time.perf_counter()
    options = dict(max_frames=frames, chunk_frames=chunk, progress=False, input_size=size)
    if mode == "inline":
        m = batch.run([IMAGES, VIDEO], out, workers=0, **options)
    else:
        executor = "ray" if mode == "ray" else "local"
        m = batch.run([IMAGES, VIDEO], out, executor=executor, workers=workers, **options)
    wall = time.perf_counter() - t0
    assert m.counts["done"] == len(m.sources), m.sources
    n = sum(e["frames"] for e in m.sources)
    busy = sum(e["seconds"] for e in m.sources) / max(1, m.workers)
    built = _built(before) if mode == "inline" else {}
    return {"frames": n, "wall": wall, "working": busy, **built}


def mixed_shapes() -> list[tuple[Path, tuple[int, int, int, int]]]:
    """20 crops (x, y, width, height) of the bundled images, each of its own shape (5 per image, cycled)."""
    import cv2

    from posekit.video import IMAGE_SUFFIXES

    paths = sorted(p for p in IMAGES.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    fractions = [(1.0, 1.0), (1.0, 0.6), (0.6, 1.0), (0.8, 0.8), (0.45, 1.0)]
    crops = []
    for k in range(20):
        path = paths[k % len(paths)]
        height, width = cv2.imread(str(path)).shape[:2]
        fw, fh = fractions[(k // len(paths) + k) % len(fractions)]
        w, h = max(64, int(width * fw) - 7 * k), max(64, int(height * fh) - 5 * k)
        crops.append((path, ((width - w) // 2, (height - h) // 2, w, h)))
    return crops


def child_mixed() -> dict:
    """One -1x368 estimator over the 20 crops, twice; the same crops stretched to 432x368 for comparison."""
    from posekit import PoseEstimator, read_image
    from posekit.network.runner import network_builds

    images = [read_image(p)[y : y + h, x : x + w] for p, (x, y, w, h) in mixed_shapes()]
    out: dict = {"shapes": len({im.shape for im in images})}
    before = network_builds()
    est = PoseEstimator("mobilenet_thin", input_size=(None, 368))
    out["load"], out["engine"] = _built(before), est.engine
    widths = []
    for name in ("first", "second"):
        before, t0 = network_builds(), time.perf_counter()
        widths = [est.inference(im).input_size[0] for im in images]
        out[name] = {"ms": (time.perf_counter() - t0) / len(images) * 1e3, **_built(before)}
    out["widths"] = sorted(set(widths))
    stretched = PoseEstimator("mobilenet_thin", input_size=(432, 368))
    t0 = time.perf_counter()
    for im in images:
        stretched.inference(im)
    out["stretched_ms"] = (time.perf_counter() - t0) / len(images) * 1e3
    out["network"] = network_dynamic_vs_fixed(est.model, images)
    return out


def network_dynamic_vs_fixed(model, images, rounds: int = 3) -> dict:
    """Network ms of OpenVINO's one dynamic-width network against a network compiled for each width.

    Both are the 432x368 conversion reshaped (``make_openvino_runner(reshape_from=...)``); each crop runs
    on both, alternating which goes first, ``rounds`` times; medians over all runs.
    """
    import numpy as np

    from posekit.network.models import cache_dir
    from posekit.network.openvino import make_openvino_runner
    from posekit.preprocess import network_input_size, prepare

    folder = cache_dir("mobilenet_thin") / "tflite"
    dynamic = make_openvino_runner(model, (None, 368), folder, reshape_from=(432, 368))
    batches = [prepare(im, network_input_size(im, (None, 368)))[None] for im in images]
    fixed = {b.shape[2]: make_openvino_runner(model, (b.shape[2], 368), folder, reshape_from=(432, 368))
             for b in batches}  # fmt: skip
    times: dict[str, list[float]] = {"dynamic": [], "fixed": []}
    for r in range(rounds):
        for k, batch in enumerate(batches):
            order = [("dynamic", dynamic), ("fixed", fixed[batch.shape[2]])]
            for name, run in order if (r + k) % 2 else order[::-1]:
                t0 = time.perf_counter()
                run(batch)
                times[name].append((time.perf_counter() - t0) * 1e3)
    return {name: float(np.median(v)) for name, v in times.items()}


def run_child(mode: str, args) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        cmd = [sys.executable, __file__, "--child", mode, "--frames", str(args.frames), "--workers",
               str(args.workers), "--chunk", str(args.chunk), "--out", tmp,
               f"--resize={args.resize}"]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        if proc.returncode != 0:
            raise SystemExit(f"{mode} failed:\n{proc.stderr[-3000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])


def print_mixed(mixed: dict) -> None:
    """The mixed-shapes table (``child_mixed``'s numbers)."""
    print(
        f"\nmixed shapes ({mixed['engine']}): {mixed['shapes']} shapes (crops of the bundled images) at "
        "-1x368 need widths "
        f"{', '.join(str(w) for w in mixed['widths'])}; loading built {mixed['load']['conversions']} "
        f"conversion(s) + {mixed['load']['compiles']} compile(s)"
    )
    print("| pass | networks (conversions + compiles) | ms per image | vs 432x368 stretched |")
    print("|---|---|---|---|")
    for name in ("first", "second"):
        r = mixed[name]
        print(
            f"| {name} | {r['conversions']} + {r['compiles']} | {r['ms']:.0f} | "
            f"{r['ms'] / mixed['stretched_ms']:.2f}x |"
        )
    net = mixed["network"]
    print(
        f"network alone, median over the crops: one dynamic-width network {net['dynamic']:.0f} ms, a network "
        f"compiled for each width {net['fixed']:.0f} ms (ratio {net['dynamic'] / net['fixed']:.2f}, "
        "alternating)"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=24, help="video frames per run (default: %(default)s)")
    ap.add_argument("--chunk", type=int, default=8, help="video chunk size (default: %(default)s)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="pool processes / Ray actors")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each configuration; medians are shown")
    ap.add_argument("--no-ray", action="store_true", help="leave out the Ray run")
    ap.add_argument("--resize", default="432x368", help="input size, WxH or -1xH (default: %(default)s)")
    ap.add_argument("--mixed-only", action="store_true", help="only the mixed-shapes table")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    from posekit.preprocess import parse_size

    size = parse_size(args.resize, keep_aspect=True)
    if args.child:
        out = Path(args.out)
        if args.child == "sequential":
            result = child_sequential(args.frames, out, size)
        elif args.child == "mixed":
            result = child_mixed()
        else:
            result = child_batch(args.child, args.frames, out, args.workers, args.chunk, size)
        print(json.dumps(result))
        return 0

    if args.mixed_only:
        print_mixed(run_child("mixed", args))
        return 0
    modes = ["sequential", "inline", "pool"]
    if not args.no_ray:
        try:
            import ray  # noqa: F401
        except ImportError:
            print("Ray is not installed (pip install posekit[ray]): no Ray row")
        else:
            modes.append("ray")
    labels = {
        "sequential": "sequential loop (1 estimator, all cores)",
        "inline": "batch, in-process (workers=0)",
        "pool": f"batch, local pool ({args.workers} processes)",
        "ray": f"batch, Ray local ({args.workers} actors)",
    }
    results: dict[str, list[dict]] = {m: [] for m in modes}
    for _ in range(args.repeat):
        for mode in modes:
            results[mode].append(run_child(mode, args))
            print(f"  {mode}: {results[mode][-1]}", file=sys.stderr)

    def med(mode: str, key: str) -> float:
        return statistics.median(r["frames"] / r[key] for r in results[mode])

    frames = results["sequential"][0]["frames"]
    print(f"\n{frames} frames ({len(_images())} images + {args.frames} video frames, "
          f"chunks of {args.chunk}), input size {args.resize}; median of {args.repeat} run(s)")  # fmt: skip
    print(cpu_flags())
    head = (
        f"| {'configuration':44s} | end to end fps | vs sequential | working fps | vs sequential "
        "| networks (conversions + compiles) |"
    )
    print(head)
    print("|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|")
    base_e, base_w = med("sequential", "wall"), med("sequential", "working")
    for mode in modes:
        e, w = med(mode, "wall"), med(mode, "working")
        last = results[mode][-1]
        built = f"{last['conversions']} + {last['compiles']}" if "compiles" in last else "in the workers"
        print(
            f"| {labels[mode]:44s} | {e:14.2f} | {e / base_e:12.2f}x | {w:11.2f} | {w / base_w:12.2f}x "
            f"| {built:33s} |"
        )
    if "ray" in modes:
        print(
            f"Ray vs local pool: end to end {med('ray', 'wall') / med('pool', 'wall'):.2f}x, "
            f"working {med('ray', 'working') / med('pool', 'working'):.2f}x"
        )
    print_mixed(run_child("mixed", args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
