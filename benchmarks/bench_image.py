"""Single-image speed: the original tf-pose path against posekit, per stage, in one run.

    python benchmarks/bench_image.py [--rounds 3] [--repeats 5] [--images images/basketball1.png ...]

Each path runs in its own child process (as a user runs one engine; TensorFlow's and TFLite's thread
pools in one process disturb each other), and the children alternate in rounds so that machine load
hits every path alike. Printed: medians (ms) per stage over all rounds, the ratios, whether the people
are identical to the original's, the network's achieved GFLOP/s next to a large matrix product's GFLOP/s
measured in the same run, each path's peak memory (maximum resident set size of its child), and batch
inference on the tf engine. Speed is checked here, never in unit tests: the machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

PATHS = ("original", "tflite", "tf")
STAGES = ("preprocess", "network", "postprocess", "paf", "total")


def network_gflop(model, input_size) -> float:
    """Multiply-adds x 2 of every convolution for one (H, W) input, in GFLOP."""
    import keras

    w, h = input_size
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    probe = keras.Model(model.input, [layer.output for layer in convs])
    flops = 0.0
    for layer, out in zip(convs, probe(np.zeros((1, h, w, 3), np.float32))):
        kh, kw = layer.kernel_size
        _, oh, ow, oc = out.shape
        per_pixel = (
            kh * kw * (1 if isinstance(layer, keras.layers.DepthwiseConv2D) else layer.input.shape[-1])
        )
        flops += 2.0 * oh * ow * per_pixel * oc
    return flops / 1e9


def matmul_gflops(n: int = 2048, repeats: int = 10) -> float:
    """float32 matrix product throughput with TensorFlow (oneDNN/Eigen, all cores): the best of ``repeats``.

    The best run, not the median: it stands for what the cores can deliver, the ceiling to compare with.
    """
    import tensorflow as tf

    a = tf.random.uniform((n, n), dtype=tf.float32)
    b = tf.random.uniform((n, n), dtype=tf.float32)
    tf.linalg.matmul(a, b).numpy()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        tf.linalg.matmul(a, b).numpy()
        times.append(time.perf_counter() - t)
    return 2.0 * n**3 / float(np.min(times)) / 1e9


def child(which: str, images: list[str], repeats: int) -> None:
    """Run one path on the images; print JSON: timings per stage, keypoints per image, peak RSS."""
    import posekit

    frames = {Path(p).name: cv2.imread(p) for p in images}
    if which == "original":
        from original_path import OriginalPath

        path = OriginalPath(posekit.fetch("mobilenet_thin"))
        net_batch = np.zeros((1, 368, 432, 3), np.float32)

        def run(image):
            t = time.perf_counter()
            path.network_only(net_batch)
            net = (time.perf_counter() - t) * 1e3
            kps, tim = path.inference(image)
            timings = {"preprocess": tim["preprocess"], "network": net,
                       "postprocess": max(tim["network+postprocess"] - net, 0.0), "paf": tim["paf"],
                       "total": tim["total"]}  # fmt: skip
            return kps, timings
    else:
        est = posekit.PoseEstimator(engine=which)

        def run(image):
            res = est.inference(image)
            return res.keypoints, res.timings

    out = {"timings": {s: [] for s in STAGES}, "keypoints": {}}
    for image in frames.values():
        run(image)  # warm-up per image size
    for _ in range(repeats):
        for name, image in frames.items():
            kps, tim = run(image)
            for s in STAGES:
                out["timings"][s].append(tim[s])
            out["keypoints"][name] = np.nan_to_num(kps, nan=-1.0).tolist()
    if which == "tf":  # batch inference on the tf engine: ms per image, batch of 4
        batch = [frames[n] for n in frames] * 2
        est.inference_batch(batch[:4], batch_size=4)
        t = time.perf_counter()
        for _ in range(repeats):
            est.inference_batch(batch[:4], batch_size=4)
        out["batch4_ms_per_image"] = (time.perf_counter() - t) * 1e3 / (4 * repeats)
    out["max_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("RESULT " + json.dumps(out))


def run_child(which: str, images: list[str], repeats: int) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", which, "--repeats", str(repeats), "--images", *images],
        capture_output=True, text=True,
    )  # fmt: skip
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"{which} child failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds of the three paths")
    ap.add_argument("--repeats", type=int, default=5, help="passes over the images per round")
    ap.add_argument(
        "--images",
        nargs="+",
        default=[str(ROOT / "images" / n) for n in ("basketball1.png", "person.jpg", "kite.jpg")],
    )
    ap.add_argument("--child", choices=PATHS, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.images, args.repeats)
        return

    import tensorflow as tf

    from posekit.models import load_model
    from posekit.paf import BACKEND

    timings = {p: {s: [] for s in STAGES} for p in PATHS}
    keypoints, rss, batch4 = {}, {p: 0.0 for p in PATHS}, []
    for _ in range(args.rounds):
        for p in PATHS:
            res = run_child(p, args.images, args.repeats)
            for s in STAGES:
                timings[p][s] += res["timings"][s]
            keypoints[p] = res["keypoints"]
            rss[p] = max(rss[p], res["max_rss_mib"])
            if "batch4_ms_per_image" in res:
                batch4.append(res["batch4_ms_per_image"])
    mm = matmul_gflops()
    gflop = network_gflop(load_model("mobilenet_thin"), (432, 368))
    med = {p: {s: float(np.median(v)) for s, v in d.items()} for p, d in timings.items()}
    same = {
        (p, name): np.allclose(np.array(keypoints[p][name]), np.array(keypoints["original"][name]), atol=1e-3)
        and np.array(keypoints[p][name]).shape == np.array(keypoints["original"][name]).shape
        for p in PATHS[1:]
        for name in keypoints["original"]
    }

    n = args.rounds * args.repeats * len(args.images)
    print(f"\n## Single image: mobilenet_thin, 432x368, upsample 4 ({n} inferences per path)\n")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"TensorFlow {tf.__version__}, OpenCV {cv2.__version__}, PAF grouping: {BACKEND}, "
          f"load average {os.getloadavg()[0]:.1f}\n")  # fmt: skip
    print(
        "| stage (median ms) | original tf-pose | posekit tflite (default) | posekit tf "
        "| tflite / original | tf / original |"
    )
    print("|---|---|---|---|---|---|")
    for s in STAGES:
        o = med["original"][s]
        print(f"| {s} | {o:.1f} | {med['tflite'][s]:.1f} | {med['tf'][s]:.1f} | "
              f"{med['tflite'][s] / o:.2f} | {med['tf'][s] / o:.2f} |")  # fmt: skip
    print()
    for p in PATHS:
        post = med[p]["postprocess"] + med[p]["paf"]
        share, speed = 100 * post / med[p]["network"], gflop / (med[p]["network"] / 1e3)
        print(f"- {p}: network {speed:.1f} GFLOP/s; post-processing {post:.1f} ms "
              f"= {share:.1f}% of the network time; peak memory {rss[p]:.0f} MiB")  # fmt: skip
    print(
        f"- network: {gflop:.2f} GFLOP per image; float32 matrix product "
        f"(2048^3, TensorFlow, best of 10, same run): {mm:.1f} GFLOP/s"
    )
    print(
        f"- posekit default total / original total: {med['tflite']['total'] / med['original']['total']:.2f}"
    )
    if batch4:
        single = med["tf"]["total"]
        print(f"- tf engine, batch of 4: {np.median(batch4):.1f} ms per image (single: {single:.1f} ms)")
    ok = all(same.values())
    print(f"- same people and keypoints as the original on every image: {'yes' if ok else 'NO ' + str(same)}")


if __name__ == "__main__":
    main()
