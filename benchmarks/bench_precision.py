"""The fast mode's trade-off: which parts of the network run in bf16, how fast, how close to the exact mode.

    python benchmarks/bench_precision.py [--rounds 3] [--repeats 5] [--anchors FOLDER]

Each plan (``posekit.network.bf16.Bf16Plan``: the parts kept in float32, the rest bf16) is compiled by
OpenVINO
and compared with the exact mode (OpenVINO float32, the same post-processing) on every image:

- network time: median ms of single-image calls, the plans alternating in rounds (load hits all alike),
  next to float32's in the same run;
- fidelity: images whose people count differs, and the share of the exact mode's keypoints found within
  1.5 network-grid cells (``posekit.match.keypoints_kept``), on the bundled images (the calibration set
  the plan was chosen on) and, with ``--anchors``, on a second folder of images held out from the choice.

Then the shipped plan (``posekit.network.bf16.BF16_PLAN``) per image. Needs OpenVINO and a CPU with bf16
instructions (``avx512_bf16`` or ``amx_bf16``); the CPU flags are printed with the table.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
FLAGS_SHOWN = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8")


def plans():
    """The sweep: (label, plan); None is the exact mode (float32)."""
    from posekit.network.bf16 import BF16_PLAN, Bf16Plan

    return [
        ("float32 (exact mode)", None),
        ("all bf16", Bf16Plan()),
        ("fp32: backbone depthwise", Bf16Plan((), "pointwise")),
        ("fp32: backbone depthwise, stage 1", Bf16Plan((1,), "pointwise")),
        ("fp32: backbone depthwise, stages 1-2 (shipped)", BF16_PLAN),
        ("fp32: backbone depthwise, stages 1-3", Bf16Plan((1, 2, 3), "pointwise")),
        ("fp32: stages 1-2", Bf16Plan((1, 2), "bf16")),
        ("fp32: backbone, stages 1-3", Bf16Plan((1, 2, 3), "fp32")),
    ]


def images_in(folder: Path) -> list[Path]:
    from posekit.video import IMAGE_SUFFIXES

    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3, help="alternating timing rounds over the plans")
    ap.add_argument("--repeats", type=int, default=5, help="network calls per plan and round")
    ap.add_argument("--anchors", type=Path, help="a folder of held-out images (not used to choose the plan)")
    args = ap.parse_args()

    import cv2
    import numpy as np

    import posekit
    from posekit.match import keypoints_kept
    from posekit.network.engines import BF16_CPU_FLAGS, cpu_flags
    from posekit.network.openvino import make_openvino_runner, openvino_available
    from posekit.preprocess import prepare

    flags = cpu_flags()
    if not openvino_available():  # nothing to measure here: said, not failed (make bench goes on)
        print("bench_precision: skipped, it needs OpenVINO: pip install 'posekit[openvino]'")
        return 0
    if not set(BF16_CPU_FLAGS) & flags:
        print(f"bench_precision: skipped, this CPU has none of {', '.join(BF16_CPU_FLAGS)}")
        return 0
    size = (432, 368)
    exact = posekit.PoseEstimator("mobilenet_thin", input_size=size, engine="openvino")
    sets = {"bundled": images_in(ROOT / "images")}
    if args.anchors:
        sets["held out"] = images_in(args.anchors)
    photos = {p: cv2.imread(str(p), cv2.IMREAD_COLOR) for paths in sets.values() for p in paths}
    reference = {p: exact.inference(img) for p, img in photos.items()}

    # One estimator per plan; the sweep swaps in each plan's runner (PoseEstimator takes the shipped plan).
    rows, runners = [], {}
    for label, plan in plans():
        if plan is None:
            runners[label] = exact.network
            continue
        runners[label] = make_openvino_runner(
            exact.model,
            size,
            posekit.network.models.cache_dir("mobilenet_thin") / "tflite",
            precision="bf16",
            plan=plan,
        )
    fast = posekit.PoseEstimator("mobilenet_thin", input_size=size, precision="bf16")
    per_image = {}
    for label, plan in plans():
        fast._run = runners[label]  # the sweep's plan under the estimator's own post-processing
        row = {"label": label, "convs": getattr(runners[label], "convolutions", {"f32": 143})}
        for name, paths in sets.items():
            differs, kept, total = 0, 0, 0
            for p in paths:
                a, b = reference[p], fast.inference(photos[p])
                k, t = keypoints_kept(a.keypoints, b.keypoints, a.image_size, size)
                differs, kept, total = differs + (len(a) != len(b)), kept + k, total + t
                if plan is not None and plan == posekit.network.bf16.BF16_PLAN:
                    per_image[p] = (name, len(a), len(b), k, t)
            row[name] = (differs, len(paths), kept, total)
        rows.append(row)

    batch = prepare(photos[sets["bundled"][0]], size)[None]
    times = {label: [] for label in runners}
    for _ in range(args.rounds):
        for label, run in runners.items():
            run(batch)  # warm
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                run(batch)
                times[label].append(1e3 * (time.perf_counter() - t0))
    ms = {label: float(np.median(v)) for label, v in times.items()}
    base = ms["float32 (exact mode)"]

    shown = " ".join(f for f in FLAGS_SHOWN if f in flags)
    print(f"\n## bf16 plans: mobilenet_thin 432x368 on OpenVINO {__import__('openvino').__version__}\n")
    calls = args.rounds * args.repeats
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, CPU flags: {shown}, "
          f"load average {os.getloadavg()[0]:.1f}; {calls} network calls per plan\n")  # fmt: skip
    head = "| plan (the rest in bf16) | convolutions f32/bf16 | network ms | vs float32 |"
    for name in sets:
        head += f" {name}: people count differs | {name}: keypoints kept |"
    print(head)
    print("|---" * (4 + 2 * len(sets)) + "|")
    for row in rows:
        convs = row["convs"]
        cells = [row["label"], f"{convs.get('f32', 0)}/{convs.get('bf16', 0)}", f"{ms[row['label']]:.1f}",
                 f"{ms[row['label']] / base:.2f}"]  # fmt: skip
        for name in sets:
            differs, n, kept, total = row[name]
            cells += [f"{differs}/{n}", f"{100 * kept / max(total, 1):.1f}% ({kept}/{total})"]
        print("| " + " | ".join(cells) + " |")
    print("\n### The shipped plan per image\n")
    print("| image | set | exact people | fast people | keypoints kept |")
    print("|---|---|---|---|---|")
    for p, (name, na, nb, k, t) in per_image.items():
        mark = "" if na == nb else " (differs)"
        print(f"| {p.name} | {name} | {na} | {nb}{mark} | {k}/{t} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
