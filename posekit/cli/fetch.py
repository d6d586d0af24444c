"""``posekit fetch [NAME]``: download and verify a model's weights, or an evaluation data set, into the cache.

posekit fetch [MODEL] [--force]                          a model's frozen graph; prints its path
posekit fetch coco-val2017 [--dir DIR] [--keep-archives]  COCO val2017 images + person keypoints
                                                          (``posekit.datasets``: md5-checked, resumable)
"""

from __future__ import annotations

import argparse

__all__ = ["register", "cmd_fetch"]


def register(subparsers) -> None:
    """Add the ``fetch`` subcommand to the ``posekit`` parser."""
    from ..datasets import DATASETS

    p = subparsers.add_parser(
        "fetch", help="download and verify a model's weights or a data set into the cache"
    )
    p.add_argument(
        "name", nargs="?", default="mobilenet_thin",
        help=f"model name, or a data set ({', '.join(DATASETS)}) (default: %(default)s)",
    )  # fmt: skip
    p.add_argument("--force", action="store_true", help="download a model again even if cached")
    p.add_argument(
        "--dir", metavar="DIR", help="data sets: the folder (default: $POSEKIT_HOME/datasets/NAME)"
    )
    p.add_argument("--keep-archives", action="store_true", help="data sets: keep the zip files once unpacked")
    p.set_defaults(func=cmd_fetch)


def cmd_fetch(args: argparse.Namespace) -> int:
    import sys

    from ..datasets import DATASETS, fetch_dataset
    from ._args import CliError

    if args.name in DATASETS:
        if args.force:
            raise CliError(f"--force is for models: to fetch {args.name} again, delete its folder")
        show = sys.stderr.isatty()
        folder = fetch_dataset(args.name, args.dir, keep_archives=args.keep_archives, progress=show)
        print(
            f"{args.name} is in {folder}; evaluate with:\n  posekit evaluate --annotations "
            f"{folder / 'annotations' / 'person_keypoints_val2017.json'} --images {folder / 'val2017'}"
        )
        return 0
    if args.dir or args.keep_archives:
        raise CliError(f"--dir and --keep-archives are for data sets ({', '.join(DATASETS)}), not models")
    from ..network.weights import fetch

    print(fetch(args.name, force=args.force))
    return 0
