"""``posekit fetch [NAME]``: download and verify a model's weights into the cache; print the path."""

from __future__ import annotations

import argparse

__all__ = ["register", "cmd_fetch"]


def register(subparsers) -> None:
    """Add the ``fetch`` subcommand to the ``posekit`` parser."""
    p = subparsers.add_parser("fetch", help="download and verify a model's weights into the cache")
    p.add_argument("name", nargs="?", default="mobilenet_thin", help="model name (default: %(default)s)")
    p.add_argument("--force", action="store_true", help="download again even if cached")
    p.set_defaults(func=cmd_fetch)


def cmd_fetch(args: argparse.Namespace) -> int:
    from ..models import fetch

    print(fetch(args.name, force=args.force))
    return 0
