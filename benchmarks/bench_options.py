"""Benchmark the accuracy options (off by default): sub-pixel peak refinement and multi-scale inference.

Without labelled data here (COCO val2017 is not bundled; with it, ``posekit evaluate`` gives the
real AP), the options are measured with label-free checks on the bundled images and, if present,
a folder of more images given with ``--anchors DIR``:

- **speed**: median total and network milliseconds per image;
- **vs default**: people found, and the mean distance (image px) between each option's keypoints and
  the default's for the same person and part;
- **shift error**: the image content is moved by known sub-grid amounts (bilinear warp, same image
  size) and each keypoint should move by exactly that much; the mean deviation, in upsampled-grid
  pixels, measures localisation jitter (quantisation to the grid gives about 0.25-0.5);
- **small-people AP**: the image is shrunk to 50 % on a grey canvas of the same size, the keypoints
  are mapped back, and COCO keypoint AP (pycocotools) is computed against the default's keypoints
  on the full-size image as pseudo ground truth. It rewards finding the same people with the same
  keypoints when they are twice smaller; it is a consistency measure, not accuracy on labels.

Run: ``python benchmarks/bench_options.py`` (``--help`` for options; ``--quick`` for 3 images).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

OPTIONS = {
    "default": {},
    "refine": {"refine_peaks": True},
    "scales 1,0.75,1.25": {"scales": (1.0, 0.75, 1.25)},
    "scales + refine": {"scales": (1.0, 0.75, 1.25), "refine_peaks": True},
}
SHIFTS = ((0.25, 0.0), (0.0, 0.5), (0.75, -0.25), (-1.25, 0.5), (0.5, 1.5))  # in grid pixels (x, y)


def images(quick: bool, anchors: Path | None = None):
    import cv2

    paths = sorted((ROOT / "images").glob("*.[pj][np]g"))
    if anchors is not None:
        paths += sorted(p for p in anchors.iterdir() if p.suffix.lower() in (".jpg", ".png"))
    out = []
    for p in paths:
        img = cv2.imread(str(p))
        if img is not None:
            out.append((p.name, img))
    return out[:3] if quick else out


def match(a, b, offset=(0.0, 0.0)):
    """Pairs (person of a, person of b): smallest median keypoint distance first, < 40 px, >= 3 parts shared.

    ``offset`` (x, y) is subtracted from b's keypoints first (b was computed on a shifted image).
    """
    from posekit.match import greedy_match, mean_keypoint_distance

    shift = np.array([offset[0], offset[1], 0.0])
    pairs = []
    for i, p in enumerate(a):
        for j, q in enumerate(b):
            d = mean_keypoint_distance(p.keypoints, q.keypoints - shift, min_shared=3, reduce=np.median)
            if d is not None and d < 40.0:
                pairs.append((d, i, j))
    return [(a[i], b[j]) for i, j in greedy_match(pairs, largest_first=False)]


def shift_error(est, image, grid_px):
    """Mean |moved keypoint - (original + shift)| over SHIFTS, in grid pixels."""
    import cv2

    h, w = image.shape[:2]
    base = est.inference(image).people
    errs = []
    for fx, fy in SHIFTS:
        tx, ty = fx * grid_px[0], fy * grid_px[1]
        warp = np.float32([[1, 0, tx], [0, 1, ty]])
        moved = cv2.warpAffine(image, warp, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        for p, q in match(base, est.inference(moved).people, (tx, ty)):
            both = p.present & q.present
            d = (q.keypoints[both, :2] - (tx, ty) - p.keypoints[both, :2]) / np.array(grid_px)
            errs += np.linalg.norm(d, axis=1).tolist()
    return errs


def shrunk(image, factor=0.5):
    """The image shrunk by ``factor`` and centred on a grey canvas of the same size, and its offset."""
    import cv2

    h, w = image.shape[:2]
    small = cv2.resize(image, (round(w * factor), round(h * factor)), interpolation=cv2.INTER_AREA)
    canvas = np.full_like(image, 128)
    oy, ox = (h - small.shape[0]) // 2, (w - small.shape[1]) // 2
    canvas[oy : oy + small.shape[0], ox : ox + small.shape[1]] = small
    return canvas, (ox, oy)


def pseudo_gt(frames):
    """COCO ground truth from (image_id, people) of the default on full-size images."""
    from posekit.evaluate import ground_truth_from_people

    return ground_truth_from_people(frames)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="mobilenet_thin", help="model name or graph file")
    parser.add_argument("--architecture", help="architecture of a --model graph file")
    parser.add_argument("--engine", default="auto", choices=("auto", "tf", "tflite"))
    parser.add_argument("--quick", action="store_true", help="3 images only")
    parser.add_argument(
        "--anchors", type=Path, metavar="DIR", help="a folder of more .jpg/.png images to add"
    )
    parser.add_argument("--no-ap", action="store_true", help="skip the small-people AP (needs pycocotools)")
    args = parser.parse_args(argv)

    from posekit import PoseEstimator
    from posekit.export import coco_results

    if args.anchors is not None and not args.anchors.is_dir():
        parser.error(f"--anchors: {args.anchors} is not a folder")
    data = images(args.quick, args.anchors)
    where = f"bundled + {args.anchors}" if args.anchors is not None else "bundled"
    print(f"{len(data)} images ({where}), model {args.model}")
    ests = {
        name: PoseEstimator(args.model, architecture=args.architecture, engine=args.engine, **opts)
        for name, opts in OPTIONS.items()
    }
    results = {name: {} for name in OPTIONS}
    for img_id, (fname, image) in enumerate(data, start=1):
        for name, est in ests.items():
            r = est.inference(image)
            results[name][img_id] = r
        counts = ", ".join(f"{n} {len(results[n][img_id].people)}" for n in OPTIONS)
        print(f"  {fname}: {counts} people", file=sys.stderr)

    gt = pseudo_gt([(i, results["default"][i].people) for i in results["default"]])
    rows = []
    for name, est in ests.items():
        res = results[name]
        total = statistics.median(r.timings["total"] for r in res.values())
        net = statistics.median(r.timings["network"] for r in res.values())
        people = sum(len(r.people) for r in res.values())
        dev = []
        for i, r in res.items():
            for p, q in match(results["default"][i].people, r.people):
                both = p.present & q.present
                dev += np.linalg.norm(q.keypoints[both, :2] - p.keypoints[both, :2], axis=1).tolist()
        shift = []
        for i, (_fname, image) in enumerate(data, start=1):
            grid = res[i].heatmaps.shape[:2]
            shift += shift_error(est, image, (image.shape[1] / grid[1], image.shape[0] / grid[0]))
        ap = float("nan")
        if not args.no_ap:
            from posekit.evaluate import evaluate_predictions

            dets = []
            for i, (_fname, image) in enumerate(data, start=1):
                canvas, (ox, oy) = shrunk(image)
                found = est.inference(canvas).people
                for p in found:
                    p.keypoints[:, 0] = (p.keypoints[:, 0] - ox) / 0.5
                    p.keypoints[:, 1] = (p.keypoints[:, 1] - oy) / 0.5
                dets += coco_results([(i, found)])
            ap = evaluate_predictions(gt, dets)["AP"]
        mean_dev = float(np.mean(dev)) if dev else 0.0
        rows.append((name, total, net, people, mean_dev, float(np.mean(shift)), ap))

    print()
    print(f"{'option':20s} {'total ms':>9s} {'net ms':>8s} {'people':>7s} {'vs default px':>14s} "
          f"{'shift err grid px':>18s} {'small-people AP':>16s}")  # fmt: skip
    for name, total, net, people, dev, shift, ap in rows:
        print(f"{name:20s} {total:9.1f} {net:8.1f} {people:7d} {dev:14.2f} {shift:18.3f} {ap:16.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
