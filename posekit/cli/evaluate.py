"""``posekit evaluate``: COCO keypoint AP of a model on annotated images (``posekit.evaluate`` does the work).

posekit evaluate --annotations person_keypoints_val2017.json --images val2017/ [--model NAME|FILE]
                 [--architecture ARCH] [--resize WxH] [--upsample R] [--max-images N]
                 [--scales 1,0.75,1.25] [--refine-peaks] [--json OUT] [--results FILE]
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
    p.add_argument("--json", metavar="FILE", help="write the metrics as JSON")
    p.add_argument("--results", metavar="FILE", help="write the detections as COCO results JSON")
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..evaluate import METRICS, evaluate, load_annotations, require_pycocotools

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
    show = sys.stderr.isatty()

    def progress(done: int, n: int) -> None:
        if show:
            print(f"\r{done}/{n} images", end="" if done < n else "\n", file=sys.stderr, flush=True)

    print(f"evaluating {args.model} on {total} images of {args.annotations}")
    res = evaluate(
        data, args.images, est, max_images=args.max_images, upsample=args.upsample, progress=progress
    )
    print(
        f"{res['images']} images, {res['detections']} people found in {res['seconds']:.1f} s "
        f"({res['seconds'] / max(1, res['images']) * 1e3:.0f} ms per image)"
    )
    for k in METRICS:
        print(f"{k:5s} {res[k]:.3f}")
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            "model": os.fspath(args.model),
            "input_size": list(args.resize) if args.resize else None,
            "upsample": args.upsample,
            "scales": list(args.scales) if args.scales else None,
            "refine_peaks": bool(args.refine_peaks),
            **{k: res[k] for k in (*METRICS, "images", "detections", "seconds")},
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
