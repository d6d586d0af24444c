"""``posekit batch INPUT... --out DIR``: keypoints for collections of images and videos (``posekit.batch``).

    posekit batch INPUT... --out DIR [--workers N] [--draw] [--force] [--every N] [--max-frames N]
                  [--no-track] [--chunk-frames N] [--ray [--num-cpus-per-worker C] [--num-gpus-per-worker G]]

Bad input (no images or videos found, an output folder that cannot be written or that another run
is writing into, ``memory://`` as ``--out``, an unknown model, options ``posekit image`` refuses, a
URL whose fsspec package is missing, Ray not installed with ``--ray``) is one line
``posekit: error: ...`` with exit status 2, before any worker starts. Sources that fail (corrupt,
unreadable, not a regular file) are listed in the manifest and on stderr; the run goes on and exits
1 if any failed. A write that fails (a full disk) stops the run: one line naming the cause, exit 2.
Ctrl-C stops with every completed source intact (exit 130; re-run to resume). Warnings (``--workers``
capped to what the machine holds, keypoints files redone) are one line ``posekit: warning: ...``.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from ._args import CliError, Stopped, add_model_arguments, check_model_options, positive_float, positive_int

__all__ = ["register", "cmd_batch"]

EXIT_SOURCES_FAILED = 1


def _non_negative_float(text: str) -> float:
    if text.strip() in ("0", "0.0"):
        return 0.0
    return positive_float(text)


def register(subparsers) -> None:
    """Add the ``batch`` subcommand to the ``posekit`` parser."""
    p = subparsers.add_parser(
        "batch", help="keypoints for many images and videos (one Parquet table, resumable, local or Ray)"
    )
    p.add_argument(
        "inputs", nargs="+", metavar="INPUT", help="image/video files, folders (recursive) or glob patterns"
    )
    p.add_argument(
        "--out", required=True, metavar="DIR", help="output folder (local path, file://, s3://, gs://, ...)"
    )
    p.add_argument(
        "--workers", type=positive_int, metavar="N",
        help="worker processes (default: one per core) or, with --ray, actors (default: cluster CPUs)",
    )  # fmt: skip
    p.add_argument("--draw", action="store_true", help="also write each image/video with the skeletons drawn")
    p.add_argument("--force", action="store_true", help="redo sources already complete in --out")
    p.add_argument(
        "--every", type=positive_int, default=1, metavar="N", help="process every N-th video frame"
    )
    p.add_argument("--max-frames", type=positive_int, metavar="N", help="at most N frames per video")
    p.add_argument("--no-track", action="store_true", help="no person ids across video frames")
    p.add_argument(
        "--chunk-frames", type=positive_int, default=100, metavar="N",
        help="cut longer videos into chunks of N frames run by different workers (default: %(default)s)",
    )  # fmt: skip
    bar = p.add_mutually_exclusive_group()
    bar.add_argument(
        "--progress", dest="progress", action="store_true", default=None, help="always show progress"
    )
    bar.add_argument("--no-progress", dest="progress", action="store_false", help="never show progress")
    ray = p.add_argument_group("Ray (pip install posekit[ray])")
    ray.add_argument(
        "--ray", action="store_true", help="run on Ray: the cluster at RAY_ADDRESS, or a local one"
    )
    ray.add_argument("--ray-address", metavar="ADDR", help="Ray cluster to join (default: RAY_ADDRESS)")
    ray.add_argument(
        "--num-cpus-per-worker", type=positive_float, default=1.0, metavar="C",
        help="CPUs per Ray actor, also its estimator's threads (default: 1)",
    )  # fmt: skip
    ray.add_argument(
        "--num-gpus-per-worker", type=_non_negative_float, default=0.0, metavar="G",
        help="GPUs per Ray actor (default: 0)",
    )  # fmt: skip
    add_model_arguments(p)
    p.set_defaults(func=cmd_batch)


def cmd_batch(args: argparse.Namespace) -> int:
    import os

    from ..batch import BatchError, run

    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # FFmpeg's own lines stay off the terminal
    if (args.ray_address or args.num_gpus_per_worker) and not args.ray:
        raise CliError("--ray-address and --num-gpus-per-worker need --ray")
    if args.out.strip().lower().startswith("memory://"):
        raise CliError(
            f"--out {args.out}: a memory:// folder ends with this command and keeps nothing; give a folder "
            "or an object store URL"
        )
    precision = check_model_options(args)  # as `posekit image` checks them, before any worker starts

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"posekit: warning: {str(message).strip().splitlines()[0]}", file=sys.stderr)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.showwarning = show
            manifest = _run(run, args, precision)
    except BatchError as exc:
        raise CliError(str(exc)) from None
    return _report(args, manifest)


def _run(run, args: argparse.Namespace, precision: str):
    """``posekit.batch.run`` with the command's options."""
    return run(
        args.inputs, args.out, model=args.model, input_size=args.resize, upsample=args.upsample,
        architecture=args.architecture, engine=args.engine, precision=precision,
        executor="ray" if args.ray else "local", workers=args.workers, every=args.every,
        max_frames=args.max_frames, track=not args.no_track, draw=args.draw, force=args.force,
        chunk_frames=args.chunk_frames, progress=args.progress, ray_address=args.ray_address,
        num_cpus_per_worker=args.num_cpus_per_worker, num_gpus_per_worker=args.num_gpus_per_worker,
        weights=args.weights,
    )  # fmt: skip


def _report(args: argparse.Namespace, manifest) -> int:
    """Print the summary and the failed sources; the exit status."""
    c = manifest.counts
    frames = sum(e["frames"] for e in manifest.sources if e["status"] == "done")
    print(
        f"{args.out}: {c['done']} sources done ({frames} frames), {c['skipped']} already complete, "
        f"{c['failed']} failed, {c['pending']} not reached, in {manifest.seconds:.1f} s"
    )
    for e in manifest.failed:
        print(f"posekit: failed: {e['source']}: {e['error']}", file=sys.stderr)
    if manifest.interrupted:
        raise Stopped(f"after {c['done']} sources; they are complete, re-run the same command to resume")
    return EXIT_SOURCES_FAILED if manifest.failed else 0
