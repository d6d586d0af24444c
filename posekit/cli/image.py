"""``posekit image PATH``: find the people in one image, print them, optionally draw and save them."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._args import CliError, add_model_arguments, load_estimator

__all__ = ["register", "cmd_image"]


def register(subparsers) -> None:
    """Add the ``image`` subcommand to the ``posekit`` parser."""
    p = subparsers.add_parser("image", help="find the people in one image")
    p.add_argument("path", help="image file (any format OpenCV reads)")
    add_model_arguments(p)
    p.add_argument("--out", metavar="FILE", help="write the image with the skeletons drawn (e.g. out.png)")
    p.add_argument("--json", metavar="FILE", help="write the keypoints as OpenPose-style JSON")
    p.add_argument("--show", action="store_true", help="show the result in a window")
    p.set_defaults(func=cmd_image)


def _describe(i: int, person) -> str:
    box = person.bbox()
    where = f"box ({box[0]:.0f}, {box[1]:.0f})-({box[2]:.0f}, {box[3]:.0f})" if box else "no box"
    return f"person {i}: {person.num_parts:2d}/18 parts, score {person.score:.2f}, {where}"


def cmd_image(args: argparse.Namespace) -> int:
    import cv2

    from ..draw import draw_people
    from ..export import write_openpose_json
    from ..preprocess import read_image
    from ..video.sources import special_file_error

    problem = special_file_error(args.path)  # a FIFO would block the read for good
    if problem is not None:
        raise CliError(problem)
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
        raise CliError(
            "--show needs a display (matplotlib has no interactive backend here); use --out instead"
        )
    plt.figure(title)
    plt.imshow(image[:, :, ::-1])
    plt.axis("off")
    plt.show()
