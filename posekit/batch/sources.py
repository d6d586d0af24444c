"""Finding the sources of a batch: files, folders (recursive) and glob patterns, local or in an object store.

Every source gets a ``key``: its path relative to the input that named it (a folder or a glob's
fixed prefix; a file's own name), with the dot of its suffix made an underscore
(``sub/kite.jpg`` -> ``sub/kite_jpg``). The key names the source's outputs, so two sources with
the same key are refused rather than silently overwriting each other.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import posixpath
from collections.abc import Iterable
from pathlib import Path

from ..video import IMAGE_SUFFIXES  # the one list of still-image suffixes

__all__ = ["IMAGE_SUFFIXES", "VIDEO_INPUT_SUFFIXES", "Source", "BatchError", "find_sources", "is_url"]

#: File suffixes read as videos (anything OpenCV's FFmpeg backend decodes).
VIDEO_INPUT_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".ts", ".3gp"}
)


class BatchError(ValueError):
    """Bad batch input or output (no sources, clashing names, unwritable output): one line for the user."""


@dataclasses.dataclass(frozen=True)
class Source:
    """One image or video of a batch.

    Attributes:
        name: the source as the user named or found it (path or URL); the table's ``source`` column.
        location: where workers read it: an absolute local path or a URL (``s3://``, ``memory://`` ...).
        key: relative output name, unique in the batch (see the module docstring).
        kind: "image" or "video".
    """

    name: str
    location: str
    key: str
    kind: str

    @property
    def stem(self) -> str:
        """The file name without its suffix, used in output file names as ``posekit image``/``video`` do."""
        return posixpath.splitext(posixpath.basename(self.name.rstrip("/")))[0]


def is_url(text: str) -> bool:
    """True for ``scheme://...`` (``file://`` included)."""
    return "://" in text


def _kind(path: str) -> str | None:
    suffix = posixpath.splitext(path)[1].lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in VIDEO_INPUT_SUFFIXES:
        return "video"
    return None


def _key(rel: str) -> str:
    head, name = posixpath.split(rel.replace(os.sep, "/").lstrip("/"))
    stem, suffix = posixpath.splitext(name)
    parts = [p for p in head.split("/") if p not in ("", ".", "..")]
    return "/".join([*parts, f"{stem}_{suffix.lstrip('.')}" if suffix else stem])


def _glob_base(pattern: str) -> str:
    """The part of a glob pattern before the first folder with a wildcard."""
    parts = pattern.split("/")
    fixed = []
    for p in parts[:-1]:
        if glob.has_magic(p):
            break
        fixed.append(p)
    return "/".join(fixed)


def _expand_local(text: str) -> list[tuple[str, str, str, bool]]:
    """(name, absolute path, relative part, named explicitly) for one local input."""
    path = Path(text[len("file://") :] if text.startswith("file://") else text).expanduser()
    if glob.has_magic(str(path)):
        base = _glob_base(str(path))
        hits = sorted(glob.glob(str(path), recursive=True))
        return [
            (h, os.path.abspath(h), os.path.relpath(h, base or "."), False) for h in hits if os.path.isfile(h)
        ]
    if path.is_dir():
        found = []
        for root, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for f in sorted(files):
                full = os.path.join(root, f)
                found.append((full, os.path.abspath(full), os.path.relpath(full, path), False))
        return sorted(found)  # by path, as a glob lists them
    if path.is_file():
        return [(str(path), os.path.abspath(path), path.name, True)]
    raise BatchError(f"input not found: {text}")


def _expand_url(text: str) -> list[tuple[str, str, str, bool]]:
    """Like ``_expand_local`` for an fsspec URL (``s3://``, ``gs://``, ``memory://`` ...)."""
    import fsspec

    fs, path = fsspec.core.url_to_fs(text)
    proto = text.split("://", 1)[0]

    def url(p: str) -> str:
        return p if "://" in p else f"{proto}://{p.lstrip('/') if proto != 'memory' else p}"

    if glob.has_magic(path):
        base = _glob_base(path)
        hits = sorted(p for p in fs.glob(path) if fs.isfile(p))
        return [(url(h), url(h), posixpath.relpath(h, base or "/"), False) for h in hits]
    if fs.isdir(path):
        hits = sorted(fs.find(path))
        return [(url(h), url(h), posixpath.relpath(h, path), False) for h in hits]
    if fs.isfile(path):
        return [(text, text, posixpath.basename(path), True)]
    raise BatchError(f"input not found: {text}")


def find_sources(inputs: Iterable[str | os.PathLike]) -> list[Source]:
    """Expand files, folders (recursively, hidden folders skipped) and glob patterns into sources.

    Args:
        inputs: local paths, ``file://`` URLs or fsspec URLs; folders and ``*``/``**`` patterns
            contribute the images and videos they hold (other files are ignored).

    Returns:
        The sources in input order (sorted within each folder or pattern), each once.

    Raises:
        BatchError: an input that does not exist, a file named explicitly that is neither an image
            nor a video, or two sources whose outputs would share a name.
    """
    sources: list[Source] = []
    seen: set[str] = set()
    keys: dict[str, str] = {}
    for item in inputs:
        text = os.fspath(item)
        local = not is_url(text) or text.startswith("file://")
        for name, location, rel, explicit in _expand_local(text) if local else _expand_url(text):
            kind = _kind(location)
            if kind is None:
                if explicit:
                    raise BatchError(f"{name} is neither an image nor a video (unknown suffix)")
                continue
            if location in seen:
                continue
            seen.add(location)
            key = _key(rel)
            if key in keys:
                raise BatchError(
                    f"{keys[key]} and {name} would both write to {key!r}: give their folders as inputs "
                    "(outputs are named relative to the input folder) or use different --out folders"
                )
            keys[key] = name
            sources.append(Source(name=name, location=location, key=key, kind=kind))
    return sources
