"""The ``posekit`` command line.

    posekit image PATH [--model NAME|FILE] [--resize WxH] [--upsample R] [--out FILE] [--json FILE] [--show]
    posekit fetch [NAME]

Bad input (missing or unreadable file, bad --resize, unknown model, no network) prints one
line ``posekit: error: ...`` on stderr and exits with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

__all__ = ["main", "build_parser", "CliError"]

EXIT_ERROR = 2


class CliError(Exception):
    """An error to report in one line and exit with status 2."""


def _size(text: str) -> tuple[int, int]:
    from .preprocess import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return v


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not 0 < v < float("inf"):  # also refuses NaN
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return v


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """--model, --resize, --upsample: shared by the commands that run the network."""
    p.add_argument("--model", default="mobilenet_thin", help="model name or frozen graph file (default: %(default)s)")
    p.add_argument(
        "--resize", type=_size, default=(432, 368), metavar="WxH",
        help="network input size the image is stretched to (default: 432x368)",
    )  # fmt: skip
    p.add_argument(
        "--upsample", type=_positive_float, default=4.0, metavar="R",
        help="upsample factor of the fields before peak finding (default: %(default)s)",
    )  # fmt: skip


def _describe(i: int, person) -> str:
    box = person.bbox()
    where = f"box ({box[0]:.0f}, {box[1]:.0f})-({box[2]:.0f}, {box[3]:.0f})" if box else "no box"
    return f"person {i}: {person.num_parts:2d}/18 parts, score {person.score:.2f}, {where}"


def cmd_image(args: argparse.Namespace) -> int:
    import cv2

    from .draw import draw_people
    from .export import write_openpose_json
    from .preprocess import read_image

    image = read_image(args.path)  # fails fast, before the model loads
    if args.out and not cv2.haveImageWriter(str(args.out)):
        raise CliError(f"cannot write image {args.out}: unknown extension (use .png or .jpg)")
    est = load_estimator(args)
    result = est.inference(image, upsample=args.upsample)
    t = result.timings
    print(
        f"{args.path}: {len(result.people)} people in {t['total']:.0f} ms "
        f"(network {t['network']:.0f} ms, post-processing {t['postprocess'] + t['paf']:.0f} ms)"
    )
    for i, person in enumerate(result.people):
        print(_describe(i, person))
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        drawn = draw_people(image, result.people)
        if not cv2.imwrite(str(out), drawn):
            raise CliError(f"cannot write image {out}")
        print(f"wrote {out}")
    if args.json:
        jpath = Path(args.json)
        jpath.parent.mkdir(parents=True, exist_ok=True)
        write_openpose_json(jpath, result.people)
        print(f"wrote {jpath}")
    if args.show:
        _show(draw_people(image, result.people), str(args.path))
    return 0


def _show(image, title: str) -> None:
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise CliError("--show needs matplotlib: pip install matplotlib") from None
    if plt.get_backend().lower() == "agg":
        raise CliError("--show needs a display (matplotlib has no interactive backend here); use --out instead")
    plt.figure(title)
    plt.imshow(image[:, :, ::-1])
    plt.axis("off")
    plt.show()


def cmd_fetch(args: argparse.Namespace) -> int:
    from .models import fetch

    path = fetch(args.name, force=args.force)
    print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="posekit", description="Multi-person 2D pose estimation the OpenPose way (TensorFlow 2)."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("image", help="find the people in one image")
    p.add_argument("path", help="image file (any format OpenCV reads)")
    add_model_arguments(p)
    p.add_argument("--out", metavar="FILE", help="write the image with the skeletons drawn (e.g. out.png)")
    p.add_argument("--json", metavar="FILE", help="write the keypoints as OpenPose-style JSON")
    p.add_argument("--show", action="store_true", help="show the result in a window")
    p.set_defaults(func=cmd_image)

    p = sub.add_parser("fetch", help="download and verify a model's weights into the cache")
    p.add_argument("name", nargs="?", default="mobilenet_thin", help="model name (default: %(default)s)")
    p.add_argument("--force", action="store_true", help="download again even if cached")
    p.set_defaults(func=cmd_fetch)

    for register in _extra_commands():
        register(sub)
    return parser


def _extra_commands():
    """Registration functions of commands defined beside their modules (video, camera, ...)."""
    regs = []
    try:
        from .video_cli import register as video_register
    except ImportError:
        pass
    else:
        regs.append(video_register)
    try:
        from .evaluate import register as evaluate_register
    except ImportError:
        pass
    else:
        regs.append(evaluate_register)
    return regs


def load_estimator(args: argparse.Namespace, **kwargs):
    """The PoseEstimator for --model/--resize, built without TensorFlow's native log lines."""
    from ._quiet import quiet_native_stderr
    from .estimator import PoseEstimator

    with quiet_native_stderr():  # TFLite prints its delegate line while the estimator warms up
        return PoseEstimator(args.model, input_size=args.resize, **kwargs)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``posekit`` console script; returns the exit status."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # keep TensorFlow's C++ start-up chatter off the terminal
    parser = build_parser()
    args = parser.parse_args(argv)
    from .models import ModelError
    from .preprocess import ImageError

    try:
        # Commands that must fail fast on bad input (video, camera) set needs_tensorflow=False and
        # import it themselves once their input has opened.
        if getattr(args, "needs_tensorflow", args.command != "fetch"):
            from ._quiet import import_tensorflow

            import_tensorflow()
        return int(args.func(args) or 0)
    except (CliError, ImageError, ModelError, FileNotFoundError, ValueError, OSError) as exc:
        print(f"posekit: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("posekit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
