"""``posekit train``: fine-tune a model's six stages on COCO keypoints (``posekit.train`` does the work).

    posekit train --annotations person_keypoints.json --images DIR --out tuned.npz [--model NAME|FILE]
                  [--architecture ARCH] [--steps N] [--lr LR] [--resize WxH] [--batch-size N]
                  [--max-images N] [--eager]

The weights file is posekit's weights format (``posekit.network.weights.write_weights_file``: an ``.npz``
keyed
by layer name, recording the architecture, the model it started from and a checksum); every command
runs it with ``--weights FILE`` (``PoseEstimator(weights=FILE)`` in Python). ``--out`` is checked before
the first step (not a folder, not under a file, writable); a loss that stops being finite ends the run
with one line and writes nothing.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ._args import CliError, fixed_size, positive_float, positive_int

__all__ = ["cmd_train", "register"]


def register(subparsers) -> None:
    """Add the ``train`` subcommand to the ``posekit`` parser."""
    from ..network.architectures import ARCHITECTURES

    p = subparsers.add_parser("train", help="fine-tune a model on COCO keypoint annotations")
    p.add_argument("--annotations", required=True, metavar="FILE", help="COCO keypoint annotations JSON")
    p.add_argument("--images", required=True, metavar="DIR", help="folder of the annotated images")
    p.add_argument("--out", required=True, metavar="WEIGHTS", help="weights file to write (.npz)")
    p.add_argument("--model", default="mobilenet_thin", help="model to start from: name or frozen graph file")
    p.add_argument(
        "--architecture", choices=sorted(ARCHITECTURES), metavar="NAME",
        help="architecture of a --model file when it cannot be detected",
    )  # fmt: skip
    p.add_argument(
        "--steps", type=positive_int, default=100, metavar="N", help="optimiser steps (default: 100)"
    )
    p.add_argument(
        "--lr", type=positive_float, default=1e-5, metavar="LR",
        help="Adam learning rate (default: 1e-5; the published weights diverge from about 3e-5 up)",
    )  # fmt: skip
    p.add_argument(
        "--resize", type=fixed_size, metavar="WxH",
        help="network input size the images are stretched to (default: the model's, 432x368 for "
        "mobilenet_thin)",
    )  # fmt: skip
    p.add_argument(
        "--batch-size", type=positive_int, default=8, metavar="N", help="images per step (default: 8)"
    )
    p.add_argument(
        "--max-images", type=positive_int, metavar="N", help="use the first N annotated images only"
    )
    p.add_argument(
        "--eager", action="store_true",
        help="run the steps eagerly: no compile wait, slower steps (for a handful of steps)",
    )  # fmt: skip
    p.set_defaults(func=cmd_train)


def check_out(out: Path) -> None:
    """Refuse an ``--out`` that cannot be written, before training: not ``.npz``, a folder, under a file."""
    if out.suffix != ".npz":
        raise CliError(f"--out must end with .npz (a layer-name keyed weights archive), got {out}")
    if out.is_dir():
        raise CliError(f"--out {out} is a folder: give the weights file's name, e.g. {out / 'tuned.npz'}")
    for folder in out.absolute().parents:
        if folder.exists():
            if not folder.is_dir():
                raise CliError(f"--out {out} cannot be written: {folder} is a file, not a folder")
            if not os.access(folder, os.W_OK | os.X_OK):
                raise CliError(f"--out {out} cannot be written: no permission to write in {folder}")
            break


def cmd_train(args: argparse.Namespace) -> int:
    from ..evaluate import load_annotations

    out = Path(args.out)
    check_out(out)
    data = load_annotations(args.annotations)  # fails fast, before TensorFlow loads
    if not Path(args.images).is_dir():
        raise FileNotFoundError(f"image folder not found: {args.images}")

    from .._quiet import import_tensorflow
    from ..network.models import default_input_size, load_model, resolve
    from ..network.weights import MODELS, file_sha256
    from ..train import TrainingDivergedError, fit, samples_from_coco, save_weights

    if args.resize is None:
        args.resize = default_input_size(args.model, args.architecture)
    try:
        samples = samples_from_coco(data, args.images, args.resize, max_images=args.max_images)
    except ImportError as exc:  # pycocotools for crowd masks
        raise CliError(str(exc)) from None
    if not samples:
        raise CliError(f"{args.annotations} has no image with labelled keypoints to train on")
    import_tensorflow()
    model = load_model(args.model, all_stages=True, architecture=args.architecture)
    print(
        f"training {args.model} on {len(samples)} images of {args.annotations}: {args.steps} steps, "
        f"batch {min(args.batch_size, len(samples))}, lr {args.lr:g}, input {args.resize[0]}x{args.resize[1]}"
    )
    every = max(1, args.steps // 20)

    def report(step: int, history) -> None:
        if step == 1 or step % every == 0 or step == args.steps:
            stages = " ".join(f"{v:.3g}" for v in history.stages[-1])
            print(f"step {step}/{args.steps}: loss {history.total[-1]:.4g} (stages {stages})", flush=True)

    try:
        fit(
            model, samples, args.steps, args.lr, batch_size=args.batch_size, graph=not args.eager,
            callback=report,
        )  # fmt: skip
    except TrainingDivergedError as exc:
        raise CliError(f"{exc}; nothing written to {out}") from None
    graph, _ = resolve(args.model, args.architecture)
    base = args.model if args.model in MODELS else Path(args.model).name
    save_weights(model, out, base_model=base, base_sha256=file_sha256(graph))
    print(f"wrote {out}")
    return 0
