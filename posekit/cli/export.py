"""``posekit export``: the network as an ONNX, TFLite, SavedModel or OpenVINO file, checked, then written.

posekit export --format onnx --out pose.onnx [--resize WxH | -1x368] [--weights FILE] [--precision fp32|bf16]

Every export runs on the bundled images and is compared with the library's own model (fields within 1e-4
for float32, the same people) before anything is written; ``posekit.deploy`` documents the contract of the
file (input ``image``, outputs ``heatmaps`` and ``pafs``) and the metadata JSON written beside it.
"""

from __future__ import annotations

import argparse

__all__ = ["register", "cmd_export"]


def register(subparsers) -> None:
    """Add the ``export`` subcommand to the ``posekit`` parser."""
    from ..deploy import FORMATS, PRECISIONS
    from ..network.architectures import ARCHITECTURES
    from ._args import size

    p = subparsers.add_parser(
        "export", help="write the network as ONNX, TFLite, SavedModel or OpenVINO IR (checked first)"
    )
    p.add_argument("--format", required=True, choices=FORMATS, help="the file format")
    p.add_argument(
        "--out", required=True, metavar="FILE",
        help="the file to write (a folder for saved_model; the IR's .bin goes beside its .xml)",
    )  # fmt: skip
    p.add_argument(
        "--model", default="mobilenet_thin", help="model name or frozen graph file (default: %(default)s)"
    )
    p.add_argument(
        "--architecture", choices=sorted(ARCHITECTURES), metavar="NAME",
        help="architecture of a --model file that is not detected",
    )  # fmt: skip
    p.add_argument(
        "--resize", type=size, metavar="WxH",
        help="the input size checked (and TFLite's fixed size); -1x368 keeps each image's aspect ratio "
        "(not for tflite); ONNX, SavedModel and OpenVINO files take any height and width (default: the "
        "model's, 432x368 for mobilenet_thin)",
    )  # fmt: skip
    p.add_argument("--weights", metavar="FILE", help="weights written by `posekit train` to export instead")
    p.add_argument(
        "--precision", choices=PRECISIONS, default="fp32",
        help="fp32 (default), or bf16: the fast mode's IR (openvino only; its float32 nodes marked)",
    )  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from .._quiet import import_tensorflow, quiet_native_stderr
    from ..deploy import ExportError, export_model
    from ._args import CliError

    import_tensorflow()
    try:
        with quiet_native_stderr():
            report = export_model(
                args.out, format=args.format, model=args.model, input_size=args.resize or "model",
                weights=args.weights, precision=args.precision, architecture=args.architecture,
                overwrite=args.overwrite,
            )  # fmt: skip
    except ExportError as exc:
        raise CliError(str(exc)) from None
    people = ", ".join(f"{name} {a}" for name, (a, _) in report.people.items())
    print(f"wrote {report.path} ({report.format}, {report.precision})")
    print(
        f"checked on {len(report.people)} images against the library's model: largest field difference "
        f"{report.max_difference:.1e}, same people ({people}), {report.keypoints_kept:.1%} of keypoints kept"
    )
    return 0
