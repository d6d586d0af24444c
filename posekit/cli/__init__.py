"""The ``posekit`` command line: one module per command, registered statically in ``COMMANDS``.

    posekit image PATH [--model NAME|FILE] [--resize WxH] [--upsample R] [--out FILE] [--json FILE] [--show]
    posekit video IN --out OUT.mp4 | --json-dir DIR | --coco FILE | --csv FILE [...]
    posekit camera [INDEX|URL] [--out FILE] [--no-window] [...]
    posekit batch INPUT... --out DIR [--workers N] [--draw] [--ray] [...]
    posekit evaluate --annotations FILE --images DIR [...]
    posekit train --annotations FILE --images DIR --out WEIGHTS.npz [...]
    posekit distill --out FILE.xml [--steps N] [...]   the int8 network (quantisation-aware distillation)
    posekit export --format onnx|tflite|saved_model|openvino --out FILE [--resize WxH] [--weights FILE]
    posekit fetch [NAME]              a model, or coco-val2017 [--dir DIR]

Exit status and stderr:
    0    done.
    2    bad input: ONE line ``posekit: error: ...`` (argument errors included; no usage block, no traceback).
    130  Ctrl-C: ``posekit: interrupted`` (``... after N frames; the files written are complete`` for video).
    143  SIGTERM, handled like Ctrl-C (outputs finalised): ``posekit: terminated[ after ...]``.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import zipfile

from . import batch, distill, evaluate, export, fetch, image, train, video
from ._args import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_TERMINATED, CliError, OneLineParser, Stopped

__all__ = ["main", "build_parser", "CliError", "COMMANDS"]

#: The command modules, in the order ``posekit --help`` lists them; each has ``register(subparsers)``.
COMMANDS = (image, video, batch, evaluate, train, distill, export, fetch)


def build_parser() -> argparse.ArgumentParser:
    """The ``posekit`` parser with every command of ``COMMANDS``; its errors are one line."""
    parser = OneLineParser(
        prog="posekit", description="Multi-person 2D pose estimation the OpenPose way (TensorFlow 2)."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.register(sub)
    return parser


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that are the user's input or environment, reported in one line."""
    import cv2

    from ..network.weights import ModelError
    from ..preprocess import ImageError

    return (
        CliError, ImageError, ModelError, OSError, ValueError, cv2.error, MemoryError,
        zipfile.BadZipFile, EOFError,
    )  # fmt: skip


def _raised_by_posekit(exc: BaseException) -> bool:
    """True when the innermost frame of ``exc`` is posekit's own code (a condition it chose to report)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and str(tb.tb_frame.f_globals.get("__name__", "")).startswith("posekit.")


class _Terminated(KeyboardInterrupt):
    """Raised in the main thread by SIGTERM, so a run stops exactly as on Ctrl-C."""


def _install_sigterm(received: list[int]):
    """Make SIGTERM raise ``_Terminated`` in the main thread; returns the handler to restore, or None."""
    if threading.current_thread() is not threading.main_thread():
        return None  # signal handlers can only be set from the main thread

    def on_sigterm(signum, frame):
        if not received:  # a second SIGTERM while finalising must not cut the outputs short
            received.append(signum)
            raise _Terminated

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    return signal.SIG_DFL if previous is None else previous  # None: a handler not set from Python


def _message(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    if isinstance(exc, MemoryError):
        return f"out of memory{': ' + text[0] if text else ''}"
    if not text:
        return type(exc).__name__
    return text[0] if len(text) == 1 else f"{text[0]} ..."


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``posekit`` console script; returns the exit status."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ start-up chatter off the terminal
    received: list[int] = []
    previous = _install_sigterm(received)
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:  # argparse: --help (0) or a one-line error (2)
            return int(exc.code or 0)
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        if received:
            print("posekit: terminated", file=sys.stderr)
            return EXIT_TERMINATED
        print("posekit: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Stopped as exc:
        if received:
            print(f"posekit: terminated {exc.detail}", file=sys.stderr)
            return EXIT_TERMINATED
        if exc.ctrl_c_is_normal:
            return 0
        print(f"posekit: interrupted {exc.detail}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except _user_errors() as exc:
        print(f"posekit: error: {_message(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except RuntimeError as exc:
        if not _raised_by_posekit(exc):
            raise  # a bug, not bad input: keep the traceback
        print(f"posekit: error: {_message(exc)}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
