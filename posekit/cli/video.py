"""The ``posekit video`` and ``posekit camera`` commands.

    posekit video IN [--out OUT.mp4] [--json-dir DIR] [--coco FILE] [--csv FILE]
                     [--no-background | --side-by-side] [--max-frames N] [--every N] ...
    posekit camera [INDEX|URL] [--out FILE] [--no-window] [--max-frames N] ...

A source that cannot be opened (missing file, not a video, no camera at that index,
unreachable stream) is reported in one line before the model loads, with exit status 2.
Ctrl-C stops the run with every output file complete: ``video`` then exits with 130,
``camera`` (where Ctrl-C is the normal way to stop) with 0; SIGTERM stops either the same way
and exits with 143. A live source that ends by itself (a stream whose server goes away, an
unplugged camera) ends the run normally, with one line ``stream ended after N frames``.
"""

from __future__ import annotations

import argparse
import os
import sys

from ._args import CliError, Stopped, add_model_arguments, load_estimator, positive_float, positive_int

__all__ = ["register", "cmd_video", "cmd_camera"]


def _add_output_arguments(p: argparse.ArgumentParser, *, out_help: str) -> None:
    """Outputs, drawing, frame selection and tracking options shared by video and camera."""
    p.add_argument("--out", metavar="FILE", help=out_help)
    p.add_argument("--json-dir", metavar="DIR", help="write one OpenPose JSON file per frame into DIR")
    p.add_argument("--coco", metavar="FILE", help="write COCO keypoint results (one JSON file, all frames)")
    p.add_argument("--csv", metavar="FILE", help="write CSV rows: frame, person_id, part, x, y, score")
    look = p.add_mutually_exclusive_group()
    look.add_argument("--no-background", action="store_true", help="draw the skeletons on black")
    look.add_argument("--side-by-side", action="store_true", help="write original | skeleton, twice as wide")
    p.add_argument("--max-frames", type=positive_int, metavar="N", help="stop after processing N frames")
    p.add_argument("--every", type=positive_int, default=1, metavar="N", help="process every N-th frame only")
    p.add_argument("--no-track", action="store_true", help="no person ids across frames (person_id -1)")
    p.add_argument("--one-euro", action="store_true", help="One-Euro-smooth the tracked keypoints")
    p.add_argument(
        "--out-fps", type=positive_float, metavar="FPS",
        help="frame rate of the written video (default: a file's own over --every; fixed for live input)",
    )  # fmt: skip
    p.add_argument("--sequential", action="store_true", help="run in one thread (no decode/write overlap)")
    p.add_argument(
        "--workers", type=positive_int, default=1, metavar="N",
        help="frames in the network at once, each on a single-threaded copy of the model (default: 1)",
    )  # fmt: skip
    add_model_arguments(p)


def register(subparsers) -> None:
    """Add the ``video`` and ``camera`` subcommands to the ``posekit`` parser."""
    p = subparsers.add_parser("video", help="find the people in every frame of a video file")
    p.add_argument("input", help="video file (or stream URL)")
    _add_output_arguments(p, out_help="write the annotated video (e.g. out.mp4; .avi for MJPG)")
    bar = p.add_mutually_exclusive_group()
    bar.add_argument(
        "--progress", dest="progress", action="store_true", default=None, help="always show progress"
    )
    bar.add_argument("--no-progress", dest="progress", action="store_false", help="never show progress")
    p.set_defaults(func=cmd_video)

    p = subparsers.add_parser("camera", help="live pose estimation from a camera or stream")
    p.add_argument(
        "source", nargs="?", default="0", metavar="INDEX|URL", help="camera index or URL (default: 0)"
    )
    _add_output_arguments(p, out_help="also record the annotated video (e.g. camera.mp4)")
    p.add_argument("--no-window", action="store_true", help="do not open a window (headless, recording only)")
    p.set_defaults(func=cmd_camera, progress=None)


def _quiet_ffmpeg() -> None:
    """Keep FFmpeg's own log lines ("moov atom not found", ...) off the terminal; we report errors."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")


def _check_outputs(args: argparse.Namespace) -> None:
    from ..video.sources import check_video_path

    if args.out:
        check_video_path(args.out)


def _run(args: argparse.Namespace, src, *, show: bool):
    from ..video.pipeline import process_video
    from ..video.track import OneEuroParams, Tracker

    if args.one_euro and args.no_track:
        raise CliError("--one-euro smooths tracked people: it cannot be combined with --no-track")
    tracker = None if args.no_track else Tracker(one_euro=OneEuroParams() if args.one_euro else None)
    est = load_estimator(args)  # imports TensorFlow with its C++ start-up lines kept off stderr
    return process_video(
        src,
        est,
        out=args.out,
        json_dir=args.json_dir,
        coco=args.coco,
        csv=args.csv,
        background=not args.no_background,
        side_by_side=args.side_by_side,
        max_frames=args.max_frames,
        every=args.every,
        tracker=tracker,
        upsample=args.upsample,
        out_fps=args.out_fps,
        show_progress=args.progress,
        show=show,
        pipelined=not args.sequential,
        workers=args.workers,
    )


def _report(summary, *, kind: str) -> None:
    """Print what was done and written, one line each."""
    s = summary
    if s.stop_reason == "stream_lost":  # the camera or stream went away: a normal end, said in words
        what = "stream ended" if kind == "stream" else f"{kind} stopped delivering frames"
        print(f"{what} after {s.frames_read} frames")
    most = max(s.people_per_frame, default=0)
    ids = f", {len(s.person_ids)} person ids" if s.person_ids else ""
    print(
        f"{s.source}: {s.frames_processed} frames in {s.elapsed_s:.1f} s ({s.fps:.1f} fps; "
        f"network {s.network_ms:.0f} ms/frame), up to {most} people per frame{ids}"
    )
    if s.out is not None:
        print(f"wrote {s.out}")
    if s.json_dir is not None:
        print(f"wrote {s.json_files} JSON files to {s.json_dir}")
    if s.coco is not None:
        print(f"wrote {s.coco}")
    if s.csv is not None:
        print(f"wrote {s.csv}")


def _finish(src, summary, *, ctrl_c_is_normal: bool) -> int:
    """Report the run; an interrupted run raises ``Stopped`` (``posekit.cli.main`` picks the exit status)."""
    _report(summary, kind=src.kind)
    if summary.interrupted:
        raise Stopped(
            f"after {summary.frames_processed} frames; the files written are complete",
            ctrl_c_is_normal=ctrl_c_is_normal,
        )
    return 0


def cmd_video(args: argparse.Namespace) -> int:
    from ..video.sources import open_source

    if not (args.out or args.json_dir or args.coco or args.csv):
        raise CliError("nothing to write: give --out FILE, --json-dir DIR, --coco FILE and/or --csv FILE")
    _check_outputs(args)
    _quiet_ffmpeg()
    with open_source(args.input) as src:  # fails fast, before the model loads
        if src.is_live:
            print(f"{src.name} is a live source; `posekit camera` shows it in a window", file=sys.stderr)
        summary = _run(args, src, show=False)
    return _finish(src, summary, ctrl_c_is_normal=False)


def cmd_camera(args: argparse.Namespace) -> int:
    from ..video.sources import has_gui, open_source

    _check_outputs(args)
    show = not args.no_window
    if show and not has_gui():
        hint = "--no-window --out FILE" if not args.out else "--no-window"
        raise CliError(
            f"no window available: this OpenCV build has no GUI support (opencv-python-headless); use {hint}"
        )
    _quiet_ffmpeg()
    with open_source(args.source) as src:  # fails fast, before the model loads
        if not show and not (args.out or args.json_dir or args.coco or args.csv):
            print("posekit: note: with --no-window and no --out/--json-dir/--coco/--csv nothing is saved")
        stop = "q ends, Ctrl-C interrupts (exit 130)" if show else "Ctrl-C interrupts (exit 130)"
        print(f"{src.name}: {src.size[0]}x{src.size[1]}; {stop}", file=sys.stderr)
        summary = _run(args, src, show=show)
    return _finish(src, summary, ctrl_c_is_normal=False)
