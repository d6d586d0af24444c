"""Single-image speed: the original tf-pose path against posekit, per stage, in one run.

    python benchmarks/bench_image.py [--rounds 3] [--repeats 5] [--images images/basketball1.png ...]

Paths: the original, posekit on TFLite, TensorFlow and, where installed, OpenVINO fp32 (the default
engine where installed), the bf16 fast mode (CPUs with bf16 instructions), the distilled int8 network
(precision "int8", ``posekit.network.int8``) and ONNX Runtime (tf2onnx's
conversion; measured only); the CPU flags are printed beside the table. Each path
runs in its own child process (as a user runs one engine; TensorFlow's and TFLite's thread pools in one
process disturb each other), and the children alternate in rounds so that machine load
hits every path alike. Printed: medians (ms) per stage over all rounds, the ratios, whether the people
are identical to the original's, the network's achieved GFLOP/s next to a large matrix product's GFLOP/s
measured in the same run, each path's peak memory (maximum resident set size of its child), and batch
inference on the tf engine. Speed is checked here, never in unit tests: the machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import importlib.util
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

#: every path this benchmark knows; those that cannot run here (no OpenVINO, no bf16 in the CPU) are left out
ALL_PATHS = ("original", "tflite", "tf", "openvino", "openvino-bf16", "openvino-int8", "onnxruntime")
FLAGS_SHOWN = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8")
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


def available_paths() -> tuple[str, ...]:
    """The paths that can run on this machine."""
    from posekit.network.engines import BF16_CPU_FLAGS, cpu_flags
    from posekit.network.openvino import openvino_available

    paths = ["original", "tflite", "tf"]
    if openvino_available():
        paths.append("openvino")
        if any(f in cpu_flags() for f in BF16_CPU_FLAGS):
            paths.append("openvino-bf16")
        from posekit.network.int8 import INT8_MODEL

        if INT8_MODEL.exists():
            paths.append("openvino-int8")
    if all(importlib.util.find_spec(m) for m in ("onnxruntime", "tf2onnx")):
        paths.append("onnxruntime")  # measured here only (slower than OpenVINO and TFLite: not an engine)
    return tuple(paths)


def onnxruntime_runner(model, input_size, threads: int):
    """The Keras model converted by tf2onnx and run by ONNX Runtime's CPU provider; outputs checked (1e-4)."""
    import tempfile

    import onnxruntime as ort
    import tensorflow as tf
    import tf2onnx

    w, h = input_size
    spec = [tf.TensorSpec((1, h, w, 3), tf.float32, name="image")]
    fn = tf.function(lambda x: model(x, training=False), input_signature=spec)
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = str(Path(tmp) / "net.onnx")
        tf2onnx.convert.from_function(fn, input_signature=spec, opset=17, output_path=onnx_path)
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        session = ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def run(batch):
        outs = sorted(session.run(None, {name: batch.astype(np.float32)}), key=lambda a: a.shape[-1])
        return outs[0], outs[1]  # (heat 19, paf 38)

    x = np.random.default_rng(0).uniform(0, 255, (1, h, w, 3)).astype(np.float32)
    diff = max(float(np.abs(a - b.numpy()).max()) for a, b in zip(run(x), model(x, training=False)))
    if diff > 1e-4:
        raise SystemExit(f"ONNX Runtime's outputs differ from Keras by {diff:.1e}")
    return run


def matmul_gflops(n: int = 2048, repeats: int = 10, dtype: str = "float32") -> float:
    """Matrix product throughput with TensorFlow (oneDNN/Eigen, all cores): the best of ``repeats``.

    The best run, not the median: it stands for what the cores can deliver, the ceiling to compare with.
    """
    import tensorflow as tf

    a = tf.cast(tf.random.uniform((n, n), dtype=tf.float32), dtype)
    b = tf.cast(tf.random.uniform((n, n), dtype=tf.float32), dtype)
    tf.linalg.matmul(a, b).numpy()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        tf.linalg.matmul(a, b).numpy()
        times.append(time.perf_counter() - t)
    return 2.0 * n**3 / float(np.min(times)) / 1e9


def matmul_gops_int8(n: int = 2048, repeats: int = 10) -> float:
    """An int8 matrix product's throughput (OpenVINO: u8 x i8 from fake-quantised inputs, all cores).

    What the CPU's int8 instructions (VNNI, AMX) deliver: the ceiling an int8 mode would be held to.
    """
    import openvino as ov
    import openvino.opset13 as ops

    x = ops.parameter([n, n], np.float32)
    w = ops.constant(np.random.default_rng(0).uniform(-1, 1, (n, n)).astype(np.float32))
    xq = ops.fake_quantize(x, np.float32(0), np.float32(1), np.float32(0), np.float32(1), 256)
    wq = ops.fake_quantize(w, np.float32(-1), np.float32(1), np.float32(-1), np.float32(1), 255)
    compiled = ov.Core().compile_model(ov.Model([ops.matmul(xq, wq, False, False)], [x]), "CPU")
    request = compiled.create_infer_request()
    a = np.random.default_rng(1).uniform(0, 1, (n, n)).astype(np.float32)
    request.infer([a])
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        request.infer([a])
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
    elif which == "onnxruntime":
        est = posekit.PoseEstimator(engine="tf", input_size=(432, 368))
        est._run = onnxruntime_runner(est.model, est.input_size, os.cpu_count() or 1)  # post-processing as is

        def run(image):
            res = est.inference(image)
            return res.keypoints, res.timings
    else:
        engine, _, precision = which.partition("-")
        est = posekit.PoseEstimator(engine=engine, precision=precision or "fp32")

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
    ap.add_argument("--child", choices=ALL_PATHS, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.images, args.repeats)
        return

    import tensorflow as tf

    from posekit.network.engines import cpu_flags
    from posekit.network.models import load_model
    from posekit.paf import BACKEND

    PATHS = available_paths()

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
    flags = cpu_flags()
    mm_bf16 = matmul_gflops(dtype="bfloat16") if {"avx512_bf16", "amx_bf16"} & flags else None
    int8_ok = {"avx512_vnni", "avx_vnni", "amx_int8"} & flags and "openvino" in PATHS
    mm_int8 = matmul_gops_int8() if int8_ok else None
    gflop = network_gflop(load_model("mobilenet_thin"), (432, 368))
    med = {p: {s: float(np.median(v)) for s, v in d.items()} for p, d in timings.items()}
    exact = [p for p in PATHS[1:] if not p.endswith(("bf16", "int8"))]  # the fast modes: not meant identical
    same = {
        (p, name): np.allclose(np.array(keypoints[p][name]), np.array(keypoints["original"][name]), atol=1e-3)
        and np.array(keypoints[p][name]).shape == np.array(keypoints["original"][name]).shape
        for p in exact
        for name in keypoints["original"]
    }

    n = args.rounds * args.repeats * len(args.images)
    print(f"\n## Single image: mobilenet_thin, 432x368, upsample 4 ({n} inferences per path)\n")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"TensorFlow {tf.__version__}, OpenCV {cv2.__version__}, PAF grouping: {BACKEND}, "
          f"load average {os.getloadavg()[0]:.1f}\n")  # fmt: skip
    shown = " ".join(f for f in FLAGS_SHOWN if f in flags) or "none of " + ", ".join(FLAGS_SHOWN)
    print(f"CPU flags: {shown}\n")
    names = {"original": "original tf-pose", "openvino": "posekit openvino (default)"}
    print("| stage (median ms) | " + " | ".join(names.get(p, f"posekit {p}") for p in PATHS)
          + " | " + " | ".join(f"{p} / original" for p in PATHS[1:]) + " |")  # fmt: skip
    print("|---" * (2 * len(PATHS)) + "|")
    for s in STAGES:
        o = med["original"][s]
        cells = [f"{med[p][s]:.1f}" for p in PATHS] + [f"{med[p][s] / o:.2f}" for p in PATHS[1:]]
        print(f"| {s} | " + " | ".join(cells) + " |")
    print()
    for p in PATHS:
        post = med[p]["postprocess"] + med[p]["paf"]
        share, speed = 100 * post / med[p]["network"], gflop / (med[p]["network"] / 1e3)
        limit = (
            mm_bf16 if p.endswith("bf16") and mm_bf16 else mm_int8 if p.endswith("int8") and mm_int8 else mm
        )
        kind = "bf16" if limit is mm_bf16 else "int8" if limit is mm_int8 else "float32"
        ratio = med[p]["total"] / med["original"]["total"]
        print(f"- {p}: network {speed:.1f} GFLOP/s = {100 * speed / limit:.0f}% of the same run's "
              f"{kind} matrix product; post-processing {post:.1f} ms "
              f"= {share:.1f}% of the network time; total / original {ratio:.2f}; "
              f"peak memory {rss[p]:.0f} MiB")  # fmt: skip
    print(
        f"- network: {gflop:.2f} GFLOP per image; float32 matrix product "
        f"(2048^3, TensorFlow, best of 10, same run): {mm:.1f} GFLOP/s"
        + (f"; bfloat16: {mm_bf16:.1f} GFLOP/s" if mm_bf16 else "")
        + (f"; int8 (OpenVINO u8 x i8): {mm_int8:.0f} GOP/s" if mm_int8 else "")
    )
    for p in PATHS[1:]:
        speedup = med["original"]["total"] / med[p]["total"]
        fast = p.endswith(("bf16", "int8"))
        goal = " (the fast mode's goal: >= 2.5x on a CPU with VNNI or BF16)" if fast else ""
        print(f"- {p}: {speedup:.2f}x the original's speed (total){goal}")
        if fast and "openvino" in med:
            share = med[p]["network"] / med["openvino"]["network"]
            print(f"- {p}: network {share:.2f} of OpenVINO float32's (the goal: <= 0.5)")
    if batch4:
        single = med["tf"]["total"]
        print(f"- tf engine, batch of 4: {np.median(batch4):.1f} ms per image (single: {single:.1f} ms)")
    ok = all(same.values())
    print(f"- same people and keypoints as the original on every image: {'yes' if ok else 'NO ' + str(same)}")


if __name__ == "__main__":
    main()
