"""``posekit evaluate``: COCO keypoint AP of a model on annotated images (``posekit.evaluate`` does the work).

posekit evaluate --annotations person_keypoints_val2017.json --images val2017/ [--model NAME|FILE]
                 [--architecture ARCH] [--resize WxH] [--upsample R] [--max-images N]
                 [--scales 1,0.75,1.25] [--refine-peaks] [--bootstrap N] [--seed S]
                 [--json OUT] [--results FILE]

Prints COCO's ten numbers (pycocotools), AP's 95% bootstrap interval (images resampled, seeded), the number of
labelled people that count, and the mean signed error per keypoint of the people matched at OKS 0.5.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from ._args import CliError, add_model_arguments, load_estimator, positive_int, scales

__all__ = ["register", "cmd_evaluate"]


def register(subparsers) -> None:
    """Add the ``evaluate`` subcommand to the ``posekit`` parser."""
    p = subparsers.add_parser("evaluate", help="COCO keypoint AP of a model on annotated images")
    p.add_argument("--annotations", required=True, metavar="FILE", help="COCO keypoint annotations JSON")
    p.add_argument("--images", required=True, metavar="DIR", help="folder of the annotated images")
    add_model_arguments(p)
    p.add_argument("--max-images", type=positive_int, metavar="N", help="evaluate the first N images only")
    p.add_argument("--scales", type=scales, metavar="S,S,..", help="multi-scale inference, e.g. 1,0.75,1.25")
    p.add_argument("--refine-peaks", action="store_true", help="sub-pixel keypoint refinement")
    p.add_argument(
        "--bootstrap", type=non_negative_int, default=1000, metavar="N",
        help="resamples of the images for AP's 95%% interval, 0 for none (default: %(default)s)",
    )  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="the bootstrap's seed (default: %(default)s)")
    p.add_argument("--json", metavar="FILE", help="write the metrics as JSON")
    p.add_argument("--results", metavar="FILE", help="write the detections as COCO results JSON")
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from ..evaluate import METRICS, evaluate, keypoint_error_table, load_annotations, require_pycocotools

    try:
        require_pycocotools()  # fail before the model loads
    except ImportError as exc:
        raise CliError(str(exc)) from None
    data = load_annotations(args.annotations)
    if not Path(args.images).is_dir():
        raise FileNotFoundError(f"image folder not found: {args.images}")
    options: dict[str, Any] = {}
    if args.scales is not None:
        options["scales"] = args.scales
    if args.refine_peaks:
        options["refine_peaks"] = True
    est = load_estimator(args, **options)
    total = min(len(data["images"]), args.max_images or len(data["images"]))
    tuned = f" with weights {args.weights}" if args.weights else ""
    print(f"evaluating {args.model}{tuned} on {total} images of {args.annotations}")
    # a progress bar on stderr when it is a terminal (disable=None)
    with tqdm(total=total, unit="image", desc="posekit evaluate", file=sys.stderr, disable=None) as bar:
        res = evaluate(
            data, args.images, est, max_images=args.max_images, upsample=args.upsample,
            progress=lambda done, n: bar.update(done - bar.n), bootstrap=args.bootstrap, seed=args.seed,
        )  # fmt: skip
    print(
        f"{res['images']} images, {res['labelled']} labelled people (with keypoints, not crowd), "
        f"{res['detections']} people found in {res['seconds']:.1f} s "
        f"({res['seconds'] / max(1, res['images']) * 1e3:.0f} ms per image)"
    )
    lo, hi = res["ap_interval"]
    for k in METRICS:
        extra = ""
        if k == "AP" and args.bootstrap and lo == lo:
            extra = f"  95% interval {lo:.3f}-{hi:.3f} (images resampled {args.bootstrap}x, seed {args.seed})"
        print(f"{k:5s} {res[k]:.3f}{extra}")
    print_keypoint_errors(keypoint_error_table(res["keypoint_errors"]))
    if args.json:
        table = keypoint_error_table(res["keypoint_errors"])
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            "model": os.fspath(args.model),
            "weights": args.weights,
            "weights_sha256": est.weights_sha256,
            "input_size": list(args.resize) if args.resize else None,
            "upsample": args.upsample,
            "scales": list(args.scales) if args.scales else None,
            "refine_peaks": bool(args.refine_peaks),
            **{k: res[k] for k in (*METRICS, "images", "labelled", "detections", "seconds")},
            "ap_interval": list(res["ap_interval"]) if args.bootstrap and res["labelled"] else None,
            "bootstrap": args.bootstrap,
            "seed": args.seed,
            "keypoint_error": {
                str(name): {"n": int(n), "dx": float(dx) if n else None, "dy": float(dy) if n else None}
                for name, n, dx, dy in zip(*(table[k] for k in ("name", "n", "dx", "dy")))
            },
        }
        out.write_text(json.dumps(doc, indent=1), encoding="utf-8")
        print(f"wrote {out}")
    if args.results:
        from ..export import write_coco_results

        out = Path(args.results)
        out.parent.mkdir(parents=True, exist_ok=True)
        write_coco_results(out, res["results"])
        print(f"wrote {out}")
    return 0


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    try:
        v = int(text)
    except ValueError:
        v = -1
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return v


def print_keypoint_errors(table: dict) -> None:
    """The mean signed error per keypoint (detection - label, pixels) of the people matched at OKS 0.5."""
    print("keypoint error of the people matched at OKS 0.5 (detection - label, pixels; +x right, +y down):")
    print(
        f"{'keypoint':15s} {'n':>4s} {'mean dx':>8s} {'mean dy':>8s} {'+-se x':>7s} {'+-se y':>7s} "
        f"{'median |d|/scale':>17s}"
    )
    for name, n, dx, dy, sx, sy, rel in zip(
        *(table[k] for k in ("name", "n", "dx", "dy", "dx_se", "dy_se", "relative"))
    ):
        print(f"{name:15s} {n:4d} {dx:8.2f} {dy:8.2f} {sx:7.2f} {sy:7.2f} {rel:17.3f}")
