"""Why post-training int8 breaks this network, measured: why precision "int8" is distilled (posekit.distill).

    pip install nncf     # NNCF, OpenVINO's post-training quantiser (not a posekit dependency)
    python benchmarks/probe_int8.py [--anchors FOLDER]

1. Channel ranges. Every depthwise convolution of mobilenet_thin feeds a 1x1 convolution with no
   activation in between, and the activations entering those 1x1 convolutions differ wildly in range from
   channel to channel. int8 with one scale per tensor (what the CPU's int8 kernels take for activations)
   gives a channel whose range is 1/64 of the tensor's at most 2-4 levels. The table lists, per layer, the
   ratio of the tensor's largest absolute value to the median channel's and the share of channels under
   1/64 of it (bundled images).
2. NNCF int8 (OpenVINO, default preset, the bundled images and their mirror images as calibration) of the
   network as it is, and after equalising those ranges: depthwise channel c divided by s_c and the 1x1
   weights of input c multiplied by s_c, s_c = sqrt(range_c / weight range_c) — exact in float32 (no
   activation in between), so the exact mode's outputs do not change. For each: network ms and fidelity
   against the exact mode (people count, keypoints within 1.5 grid cells, ``posekit.match.keypoints_kept``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent


def images_in(folder: Path) -> list[Path]:
    from posekit.video import IMAGE_SUFFIXES

    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--anchors", type=Path, help="a second folder of images to measure fidelity on")
    args = ap.parse_args()
    try:
        import nncf
        import openvino as ov
    except ImportError as exc:
        raise SystemExit(
            f"this probe needs NNCF and OpenVINO: pip install nncf 'posekit[openvino]' ({exc})"
        ) from None
    import cv2
    import numpy as np

    import posekit
    from posekit.match import keypoints_kept
    from posekit.network.models import load_model
    from posekit.network.tflite import convert_tflite
    from posekit.preprocess import prepare
    from posekit.quantise import channel_ranges, equalise, separable_pairs

    size = (432, 368)
    calibration_paths = images_in(ROOT / "images")
    batch = np.concatenate([prepare(cv2.imread(str(p)), size)[None] for p in calibration_paths])
    batch = np.concatenate([batch, batch[:, :, ::-1]]).astype(np.float32)  # and mirrored

    model = load_model("mobilenet_thin")
    pairs = separable_pairs(model)
    ranges = channel_ranges(model, pairs, batch)
    print(
        f"\n## 1. Activation ranges entering the {len(pairs)} depthwise -> 1x1 junctions (bundled images)\n"
    )
    print("| 1x1 convolution | largest / median channel range | channels under 1/64 of the largest |")
    print("|---|---|---|")
    worst = sorted(zip(pairs, ranges), key=lambda pr: -pr[1].max() / np.median(pr[1]))
    for (_, pw), r in worst[:10]:
        print(f"| {pw.name} | {r.max() / np.median(r):.0f} | {100 * np.mean(r < r.max() / 64):.0f}% |")
    ratios = [r.max() / np.median(r) for r in ranges]
    print(f"\n{len(pairs)} junctions; median ratio {np.median(ratios):.1f}, largest {max(ratios):.0f}")

    exact = posekit.PoseEstimator("mobilenet_thin", input_size=size, engine="openvino")
    photos = calibration_paths + (images_in(args.anchors) if args.anchors else [])
    reference = {p: exact.inference(cv2.imread(str(p))) for p in photos}
    probe = posekit.PoseEstimator("mobilenet_thin", input_size=size, engine="openvino")
    core = ov.Core()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label in ("as trained", "equalised"):
            if label == "equalised":
                equalise(model, pairs, ranges)
                diff = max(
                    float(np.abs(a - b).max()) for a, b in zip(model(batch[:1]), exact.network(batch[:1]))
                )
                print(f"\nequalised network vs the exact mode (float32): max difference {diff:.1e}")
            path = convert_tflite(model, size, Path(tmp) / f"{label.replace(' ', '_')}.tflite")
            quantised = nncf.quantize(core.read_model(str(path)), nncf.Dataset(list(batch[:, None])),
                                      subset_size=len(batch))  # fmt: skip
            compiled = core.compile_model(quantised, "CPU", {"INFERENCE_NUM_THREADS": os.cpu_count() or 1})
            request, outs = compiled.create_infer_request(), {int(o.shape[-1]): o for o in compiled.outputs}

            def run(x, request=request, outs=outs):
                res = request.infer([np.ascontiguousarray(x, np.float32)])
                return res[outs[19]].copy(), res[outs[38]].copy()

            probe._run = run  # the quantised network under the estimator's own post-processing
            times = []
            for _ in range(15):
                t0 = time.perf_counter()
                run(batch[:1])
                times.append(1e3 * (time.perf_counter() - t0))
            differs, kept, total = 0, 0, 0
            for p, a in reference.items():
                b = probe.inference(cv2.imread(str(p)))
                k, t = keypoints_kept(a.keypoints, b.keypoints, a.image_size, size)
                differs, kept, total = differs + (len(a) != len(b)), kept + k, total + t
            heat = [exact.network(batch[:1])[0], run(batch[:1])[0]]
            corr = float(np.corrcoef(heat[0].ravel(), heat[1].ravel())[0, 1])
            rows.append((label, np.median(times), corr, differs, len(reference), kept, total))
    fp32 = []
    for _ in range(15):
        t0 = time.perf_counter()
        exact.network(batch[:1])
        fp32.append(1e3 * (time.perf_counter() - t0))
    print(f"\n## 2. NNCF int8 against the exact mode ({len(reference)} images; float32 network "
          f"{np.median(fp32):.1f} ms in this run)\n")  # fmt: skip
    print(
        "| int8 of the network | network ms | heatmap correlation | people count differs | keypoints kept |"
    )
    print("|---|---|---|---|---|")
    for label, ms, corr, differs, n, kept, total in rows:
        print(f"| {label} | {ms:.1f} | {corr:.3f} | {differs}/{n} | {100 * kept / max(total, 1):.1f}% |")


if __name__ == "__main__":
    sys.exit(main())
