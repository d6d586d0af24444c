"""Single-image speed: the original tf-pose path against posekit, per stage, in one run.

    python benchmarks/bench_image.py [--repeats 15] [--images images/basketball1.png ...]

Prints medians (ms) per stage, the ratios, whether the people are identical, the network's achieved
GFLOP/s next to a large matrix product's GFLOP/s measured in the same run, and each path's peak memory
(maximum resident set size of a child process that runs only that path).
Speed is checked here, never in unit tests: the machines are shared and noisy.
"""

from __future__ import annotations

import argparse
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


def network_gflop(model, input_size) -> float:
    """Multiply-adds x 2 of every convolution for one (H, W) input, in GFLOP."""
    import keras

    w, h = input_size
    x = np.zeros((1, h, w, 3), np.float32)
    probe = keras.Model(model.input, [layer.output for layer in model.layers if isinstance(layer, keras.layers.Conv2D)])
    flops = 0.0
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    for layer, out in zip(convs, probe(x)):
        kh, kw = layer.kernel_size
        _, oh, ow, oc = out.shape
        cin = layer.input.shape[-1]
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            flops += 2.0 * oh * ow * kh * kw * oc
        else:
            flops += 2.0 * oh * ow * kh * kw * cin * oc
    return flops / 1e9


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    """float32 matrix product throughput with TensorFlow (oneDNN/Eigen, all cores)."""
    import tensorflow as tf

    a = tf.random.uniform((n, n), dtype=tf.float32)
    b = tf.random.uniform((n, n), dtype=tf.float32)
    tf.linalg.matmul(a, b).numpy()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        tf.linalg.matmul(a, b).numpy()
        times.append(time.perf_counter() - t)
    return 2.0 * n**3 / float(np.median(times)) / 1e9


def same_people(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.allclose(a, b, atol=1e-3, equal_nan=True))


def memory_child(which: str, image_path: str) -> None:
    """Run one path 5 times and print the process's peak RSS in MiB."""
    import posekit

    image = cv2.imread(image_path)
    if which == "original":
        from original_path import OriginalPath

        path = OriginalPath(posekit.fetch("mobilenet_thin"))
        for _ in range(5):
            path.inference(image)
    else:
        est = posekit.PoseEstimator(backend=which)
        for _ in range(5):
            est.inference(image)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)


def peak_memory(which: str, image_path: str) -> float:
    proc = subprocess.run(
        [sys.executable, __file__, "--memory-child", which, "--images", image_path],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return float(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--images", nargs="+", default=[str(ROOT / "images" / n) for n in ("basketball1.png", "person.jpg", "kite.jpg")])
    ap.add_argument("--memory-child", choices=["original", "tf", "tflite"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory_child:
        memory_child(args.memory_child, args.images[0])
        return

    import tensorflow as tf

    import posekit
    from original_path import OriginalPath
    from posekit.paf import BACKEND

    images = {Path(p).name: cv2.imread(p) for p in args.images}
    original = OriginalPath(posekit.fetch("mobilenet_thin"))
    estimators = {"posekit (tflite)": posekit.PoseEstimator(backend="tflite"), "posekit (tf)": posekit.PoseEstimator(backend="tf")}

    stages = ["preprocess", "network", "postprocess", "paf", "total"]
    rows = {name: {s: [] for s in stages} for name in ["original", *estimators]}
    identical = {}
    batch = np.zeros((1, 368, 432, 3), np.float32)
    for r in range(args.repeats):
        for img_name, image in images.items():
            t = time.perf_counter()
            original.network_only(batch)
            net = (time.perf_counter() - t) * 1e3
            kps, tim = original.inference(image)
            o = rows["original"]
            o["preprocess"].append(tim["preprocess"])
            o["network"].append(net)
            o["postprocess"].append(max(tim["network+postprocess"] - net, 0.0))
            o["paf"].append(tim["paf"])
            o["total"].append(tim["total"])
            for name, est in estimators.items():
                res = est.inference(image)
                for s in stages:
                    rows[name][s].append(res.timings[s])
                if r == 0:
                    identical[(name, img_name)] = same_people(kps, res.keypoints)

    med = {name: {s: float(np.median(v)) for s, v in d.items()} for name, d in rows.items()}
    gflop = network_gflop(estimators["posekit (tf)"].model, (432, 368))
    mm = matmul_gflops()

    print(f"\n## Single image, mobilenet_thin 432x368, upsample 4 ({args.repeats} repeats x {len(images)} images)\n")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.processor() or 'cpu'}, "
          f"Python {platform.python_version()}, TensorFlow {tf.__version__}, OpenCV {cv2.__version__}, "
          f"PAF grouping backend: {BACKEND}\n")  # fmt: skip
    names = list(med)
    print("| stage (median ms) | " + " | ".join(names) + " | " + " | ".join(f"original / {n.split()[-1]}" for n in names[1:]) + " |")
    print("|---" * (1 + 2 * len(names) - 1) + "|")
    for s in stages:
        vals = [med[n][s] for n in names]
        ratios = [med["original"][s] / med[n][s] if med[n][s] > 0 else float("inf") for n in names[1:]]
        print(f"| {s} | " + " | ".join(f"{v:.1f}" for v in vals) + " | " + " | ".join(f"{x:.2f}x" for x in ratios) + " |")
    for n in names[1:]:
        post = med[n]["postprocess"] + med[n]["paf"]
        print(f"\n{n}: total {med[n]['total'] / med['original']['total']:.2f} of the original's time; "
              f"post-processing {post:.1f} ms = {100 * post / med[n]['network']:.1f}% of its network time; "
              f"network {gflop / (med[n]['network'] / 1e3):.1f} GFLOP/s")  # fmt: skip
    print(f"\nnetwork: {gflop:.2f} GFLOP per image; float32 matrix product (2048^3, TensorFlow): {mm:.1f} GFLOP/s; "
          f"original network {gflop / (med['original']['network'] / 1e3):.1f} GFLOP/s")  # fmt: skip
    same = all(identical.values())
    print(f"same people and keypoints as the original on every image: {'yes' if same else 'NO: ' + str(identical)}")
    first = args.images[0]
    mem = {n: peak_memory(n, first) for n in ("original", "tflite", "tf")}
    print("peak memory (max RSS, MiB): " + ", ".join(f"{k} {v:.0f}" for k, v in mem.items()))


if __name__ == "__main__":
    main()
