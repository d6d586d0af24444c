"""``posekit distill --out FILE``: build the int8 network by quantisation-aware distillation.

posekit distill --out FILE.xml [--steps N] [--crop HxW] [--batch N] [--stages last2|all6] [--seed N]
                [--float-layers N] [--workdir DIR]

See ``posekit.distill``.

Writes an OpenVINO IR (FILE.xml + FILE.bin) whose convolutions run in int8, and FILE.json (its record: the
command, settings, the fidelity curve on the held-out selection frames and the step chosen by it);
``precision="int8"`` runs the shipped one (``posekit.network.int8.INT8_MODEL``). A run resumes from
``--workdir``'s checkpoint when present.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

__all__ = ["register", "cmd_distill"]


def register(subparsers) -> None:
    """Add the ``distill`` subcommand to the ``posekit`` parser."""
    from ..distill import DistillConfig

    d = DistillConfig()
    p = subparsers.add_parser("distill", help="build the int8 network (quantisation-aware distillation)")
    p.add_argument("--out", required=True, metavar="FILE.xml", help="the OpenVINO IR to write")
    p.add_argument("--steps", type=int, default=d.steps, help="training steps (default: %(default)s)")
    p.add_argument("--batch", type=int, default=d.batch, help="images per step (default: %(default)s)")
    p.add_argument(
        "--crop", default="x".join(map(str, d.crop)), help="training input HxW (default: %(default)s)"
    )
    p.add_argument("--stages", choices=("last2", "all6"), default=d.stages, help="outputs the loss compares")
    p.add_argument("--seed", type=int, default=d.seed, help="random seed (default: %(default)s)")
    p.add_argument(
        "--float-layers",
        type=int,
        default=d.float_layers,
        metavar="N",
        help="leave the N convolutions most hurt by int8 kernels in float (default: %(default)s)",
    )
    p.add_argument(
        "--workdir", metavar="DIR", help="checkpoints and the fidelity curve (default: FILE's folder)"
    )
    p.set_defaults(func=cmd_distill)


def cmd_distill(args: argparse.Namespace) -> int:
    from ..distill import DistillConfig, distil, export_openvino, write_record
    from ._args import CliError

    out = Path(args.out)
    if out.suffix != ".xml":
        raise CliError(f"--out must name an OpenVINO .xml file, got {args.out!r}")
    try:
        h, w = (int(v) for v in args.crop.lower().split("x"))
    except ValueError:
        raise CliError(f"--crop must be HxW (e.g. 192x192), got {args.crop!r}") from None
    if h < 64 or w < 64 or h % 8 or w % 8:
        raise CliError(f"--crop sides must be multiples of 8 and at least 64, got {args.crop!r}")
    if args.steps < 1 or args.batch < 1:
        raise CliError("--steps and --batch must be at least 1")
    if not 0 <= args.float_layers <= 20:
        raise CliError(f"--float-layers must be 0..20, got {args.float_layers}")
    config = DistillConfig(
        steps=args.steps,
        batch=args.batch,
        crop=(h, w),
        stages=args.stages,
        seed=args.seed,
        float_layers=args.float_layers,
    )
    workdir = Path(args.workdir) if args.workdir else out.parent / (out.stem + ".work")
    student = distil(config, workdir)
    print(export_openvino(student, out))
    command = (
        f"posekit distill --out {out.name} --steps {args.steps} --batch {args.batch} --crop {h}x{w} "
        f"--stages {args.stages} --seed {args.seed} --float-layers {args.float_layers}"
    )
    curve_path = workdir / "curve.jsonl"
    curve = [json.loads(line) for line in curve_path.read_text().splitlines()] if curve_path.exists() else []
    write_record(
        out,
        config,
        command=command,
        curve=curve,
        chosen_step=student.chosen_step,
        float_layers=student.float_layers,
    )
    return 0
