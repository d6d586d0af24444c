"""The one atomic file write: outputs appear complete under their final name, or not at all.

Every file posekit writes for a user or into its cache (JSON, COCO results, converted models,
weights) goes through a temporary file in the same folder with a unique name (``tempfile``), so
two processes writing the same path never collide and a crash, a full disk or a signal never
leaves a half-written file under the final name; the temporary file is removed on failure.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "atomic_write", "write_bytes_atomic", "write_text_atomic"]


def _umask_mode() -> int:
    """0o666 without the process umask: the mode an ordinary ``open()`` would give a new file."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh temporary path beside ``path`` (same suffix); on success it replaces ``path``.

    For writers that need a file name (``np.savez``, ``cv2.imwrite``). The parent folder must exist.
    On an exception the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, _umask_mode())  # mkstemp makes the file private; outputs are ordinary files
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", *, encoding: str | None = "utf-8") -> Iterator:
    """Open a temporary file beside ``path`` for writing; on success it is flushed and renamed to ``path``.

    Args:
        path: the final file name; its folder must exist.
        mode: "w" (text) or "wb" (bytes).
        encoding: text encoding for mode "w".
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    with atomic_path(path) as tmp, open(tmp, mode, encoding=encoding if mode == "w" else None) as f:
        yield f
        f.flush()
        os.fsync(f.fileno())


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    with atomic_write(path, "wb") as f:
        f.write(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    with atomic_write(path, "w") as f:
        f.write(text)
    return Path(path)
