"""Finding the sources of a batch: files, folders (recursive) and glob patterns, local or in an object store.

Every source gets a ``key``: its path relative to the input that named it (a folder or a glob's
fixed prefix; a file's own name), with the dot of its suffix made an underscore
(``sub/kite.jpg`` -> ``sub/kite_jpg``). The key names the source's outputs (``sources/<key>/``), so
keys never nest: a folder whose name looks like a source's key (``x_jpg/``, beside ``x.jpg``) gets
one more trailing underscore (``x_jpg_/y_jpg``), and two sources with the same key are refused
rather than silently overwriting each other.

A source is found once however it is reached (by its real path: symlinks, loops under ``**``,
the same file named twice); the batch's own output folder is never searched; an existing path is
taken literally even when it holds glob characters (``a[1].jpg``). Entries that are not regular
files (a FIFO, a device) are kept as sources marked ``special``: the batch reports them failed
without opening them (opening a FIFO blocks).
"""

from __future__ import annotations

import dataclasses
import glob
import os
import posixpath
import re
from collections.abc import Iterable
from pathlib import Path

from ..video.sources import IMAGE_SUFFIXES, special_file_kind  # the one list of still-image suffixes

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
        special: why a local entry is not read ("a FIFO (named pipe)", ...), None for a regular file.
        fingerprint: size, mtime and content hash when the batch looked (``store.fingerprint``),
            recorded with its keypoints so that a changed source is redone; None until then.
    """

    name: str
    location: str
    key: str
    kind: str
    special: str | None = None
    fingerprint: dict | None = dataclasses.field(default=None, compare=False)

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


#: A name that ends like a source key ("x_jpg", "x_jpg_", ...): as a folder it gets one more "_".
_SUFFIX_NAMES = "|".join(sorted(re.escape(s[1:]) for s in IMAGE_SUFFIXES | VIDEO_INPUT_SUFFIXES))
_KEY_LIKE = re.compile(rf"_({_SUFFIX_NAMES})_*$", re.IGNORECASE)


def _key(rel: str) -> str:
    """The output key of a relative path: folders kept (key-like ones escaped), ``stem.ext`` -> ``stem_ext``.

    A source's key ends in ``_<suffix>`` with no ``_`` after it; a folder that ends like that (with any
    number of ``_`` after) gets one more ``_``: so no key is ever the folder of another key.
    """
    head, name = posixpath.split(rel.replace(os.sep, "/").lstrip("/"))
    stem, suffix = posixpath.splitext(name)
    parts = [p + "_" if _KEY_LIKE.search(p) else p for p in head.split("/") if p not in ("", ".", "..")]
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


def _under(path: str, folders: tuple[str, ...]) -> bool:
    """True when the real path ``path`` is one of ``folders`` (real paths) or inside one."""
    return any(path == f or path.startswith(f.rstrip(os.sep) + os.sep) for f in folders)


def _expand_local(text: str, exclude: tuple[str, ...]) -> list[tuple[str, str, str, bool]]:
    """(name, absolute path, relative part, named explicitly) for one local input."""
    path = Path(text[len("file://") :] if text.startswith("file://") else text).expanduser()
    if glob.has_magic(str(path)) and not os.path.lexists(path):  # an existing a[1].jpg is a file
        base = _glob_base(str(path))
        shortest: dict[str, str] = {}  # real path -> its shortest name (a symlink loop under ** has many)
        for h in glob.glob(str(path), recursive=True):
            real = os.path.realpath(h)
            if not os.path.exists(h) or os.path.isdir(h) or _under(real, exclude):
                continue
            if real not in shortest or (h.count(os.sep), h) < (shortest[real].count(os.sep), shortest[real]):
                shortest[real] = h
        hits = sorted(shortest.values())
        return [(h, os.path.abspath(h), os.path.relpath(h, base or "."), False) for h in hits]
    if path.is_dir():
        found = []
        for root, dirs, files in os.walk(path):
            dirs[:] = sorted(
                d for d in dirs
                if not d.startswith(".") and not _under(os.path.realpath(os.path.join(root, d)), exclude)
            )  # fmt: skip
            for f in sorted(files):
                full = os.path.join(root, f)
                found.append((full, os.path.abspath(full), os.path.relpath(full, path), False))
        return sorted(found)  # by path, as a glob lists them
    if path.exists():  # a file, or a FIFO / device named explicitly (reported failed, never opened)
        return [(str(path), os.path.abspath(path), path.name, True)]
    raise BatchError(f"input not found: {text}")


def url_to_fs(text: str):
    """``fsspec.core.url_to_fs(text)``, with a one-line ``BatchError`` naming the package a protocol needs."""
    try:
        import fsspec
    except ImportError:
        raise BatchError("posekit batch needs pyarrow and fsspec: pip install posekit[batch]") from None
    proto = text.split("://", 1)[0]
    try:
        return fsspec.core.url_to_fs(text)
    except ImportError as exc:  # s3:// without s3fs, gs:// without gcsfs, ...
        from fsspec.registry import known_implementations

        known = known_implementations.get(proto, {})
        package = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs"}
        hint = f"pip install {package[proto]}" if proto in package else known.get("err") or str(exc)
        raise BatchError(f"{proto}:// URLs need an fsspec package that is not installed: {hint}") from None
    except ValueError as exc:  # an unknown protocol
        raise BatchError(f"cannot open {text}: {str(exc).splitlines()[0] if str(exc) else exc!r}") from None


def _expand_url(text: str, exclude: tuple[str, ...]) -> list[tuple[str, str, str, bool]]:
    """Like ``_expand_local`` for an fsspec URL (``s3://``, ``gs://``, ``memory://`` ...)."""
    fs, path = url_to_fs(text)
    proto = text.split("://", 1)[0]

    def url(p: str) -> str:
        return p if "://" in p else f"{proto}://{p.lstrip('/') if proto != 'memory' else p}"

    def kept(p: str) -> bool:
        return not any(p == f or p.startswith(f.rstrip("/") + "/") for f in exclude)

    if glob.has_magic(path) and not fs.exists(path):  # an existing a[1].jpg is a file
        base = _glob_base(path)
        hits = sorted(p for p in fs.glob(path) if fs.isfile(p) and kept(p))
        return [(url(h), url(h), posixpath.relpath(h, base or "/"), False) for h in hits]
    if fs.isdir(path):
        hits = sorted(p for p in fs.find(path) if kept(p))
        return [(url(h), url(h), posixpath.relpath(h, path), False) for h in hits]
    if fs.isfile(path):
        return [(text, text, posixpath.basename(path), True)]
    raise BatchError(f"input not found: {text}")


def find_sources(
    inputs: Iterable[str | os.PathLike], *, exclude: Iterable[str | os.PathLike] = ()
) -> list[Source]:
    """Expand files, folders (recursively, hidden folders skipped) and glob patterns into sources.

    Args:
        inputs: local paths, ``file://`` URLs or fsspec URLs; folders and ``*``/``**`` patterns
            contribute the images and videos they hold (other files are ignored). A path that
            exists is taken literally, glob characters and all.
        exclude: folders never searched (the batch's output folder: its drawn images are not inputs);
            local paths or URLs of the inputs' filesystem.

    Returns:
        The sources in input order (sorted within each folder or pattern), each file once (by its
        real path); entries that are not regular files carry ``special``.

    Raises:
        BatchError: an empty or missing input, a file named explicitly that is neither an image
            nor a video, two sources whose outputs would share a name, or a URL whose fsspec
            package is missing.
    """
    local_exclude, url_exclude = [], []
    for folder in exclude:
        text = os.fspath(folder)
        if not is_url(text) or text.startswith("file://"):
            local_exclude.append(os.path.realpath(Path(text.removeprefix("file://")).expanduser()))
        else:
            url_exclude.append((text.split("://", 1)[0], url_to_fs(text)[1].rstrip("/")))
    sources: list[Source] = []
    seen: set[str] = set()
    keys: dict[str, str] = {}
    for item in inputs:
        text = os.fspath(item)
        if not text.strip():
            raise BatchError(
                f'empty input name {text!r}: give a file, folder or pattern ("." for this folder)'
            )
        local = not is_url(text) or text.startswith("file://")
        if local:
            found = _expand_local(text, tuple(local_exclude))
        else:  # folders of the same protocol only (s3://b/x is not gs://b/x)
            proto = text.split("://", 1)[0]
            found = _expand_url(text, tuple(f for p, f in url_exclude if p == proto))
        for name, location, rel, explicit in found:
            kind = _kind(location)
            if kind is None:
                if explicit:
                    raise BatchError(f"{name} is neither an image nor a video (unknown suffix)")
                continue
            real = os.path.realpath(location) if local else location
            if real in seen:
                continue  # the same file again: a symlink, a loop under **, named twice
            seen.add(real)
            key = _key(rel)
            if key in keys:
                raise BatchError(
                    f"{keys[key]} and {name} would both write to {key!r}: give their folders as inputs "
                    "(outputs are named relative to the input folder) or use different --out folders"
                )
            keys[key] = name
            special = special_file_kind(location) if local else None
            sources.append(Source(name=name, location=location, key=key, kind=kind, special=special))
    return sources
