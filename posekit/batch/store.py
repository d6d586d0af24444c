"""The output folder of a batch (local or an fsspec URL) and the keypoints table written into it.

Layout under ``out``::

    manifest.json                       the runs: options, and per source status, frames, people, error
    keypoints/<key>-<hash>.parquet      one Parquet file per completed source (the table, see TABLE_SCHEMA)
    sources/<key>/                      what ``posekit image``/``video`` write: OpenPose JSON, drawn media
    .partial/                           staging folders of sources in progress (local outputs)
    .lock                               the pid of the run writing here (local outputs; see ``Store.lock``)

A source is complete when its ``keypoints/`` file exists: it is written last, in one piece, after
the source's folder has been moved into place; so a run stopped at any point leaves every source
either complete or redone by the next run. Its posekit record holds the settings and the source's
``fingerprint`` (size, mtime, content hash): a source changed since is redone. Local outputs use
``posekit._files`` (temporary name, then rename); object stores write each file with one upload,
which they make visible whole.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import shutil
import socket
import stat
import tempfile
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from .._files import write_bytes_atomic
from ..export import row_person_ids
from ..skeleton import NUM_PARTS, PART_NAMES
from ..video.sources import special_file_error
from .sources import BatchError, Source, is_url, url_to_fs

__all__ = [
    "TABLE_COLUMNS", "table_schema", "keypoint_table", "Store", "METADATA_KEY", "import_pyarrow", "part_name",
    "fingerprint", "OutputBusy",
]  # fmt: skip

#: Columns of the keypoints table: one row per found part of each person in each frame.
TABLE_COLUMNS = ("source", "frame", "person_id", "part", "x", "y", "score")
#: Key of the posekit record (JSON) in each Parquet file's schema metadata.
METADATA_KEY = b"posekit"
_PARTS = np.array(PART_NAMES, dtype=object)


def import_pyarrow():
    """``pyarrow`` and ``pyarrow.parquet``, or a one-line install hint."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise BatchError("posekit batch needs pyarrow and fsspec: pip install posekit[batch]") from None
    return pa, pq


def table_schema(metadata: dict[str, Any] | None = None):
    """The Arrow schema of the keypoints table, with ``metadata`` as the posekit record.

    ``source`` string, ``frame`` int64 (0-based index in the source; 0 for an image),
    ``person_id`` int32 (tracking id; for untracked people their index in the frame, as in the CSV
    export), ``part`` string (``PART_NAMES``), ``x``, ``y`` float32 in original-image pixels,
    ``score`` float32 (> 0: missing parts have no row).
    """
    pa, _ = import_pyarrow()
    fields = [
        pa.field("source", pa.string()),
        pa.field("frame", pa.int64()),
        pa.field("person_id", pa.int32()),
        pa.field("part", pa.string()),
        pa.field("x", pa.float32()),
        pa.field("y", pa.float32()),
        pa.field("score", pa.float32()),
    ]
    meta = None
    if metadata is not None:
        meta = {METADATA_KEY: json.dumps(metadata).encode()}
        meta.update(
            {f"posekit.{k}".encode(): json.dumps(metadata[k]).encode() for k in ("model", "input_size")}
        )
    return pa.schema(fields, metadata=meta)


def keypoint_table(source: str, frames: list[tuple[int, list]], metadata: dict[str, Any]):
    """The keypoints table of one source.

    Args:
        source: the ``source`` column's value.
        frames: (frame index, people) per processed frame; people are ``Person`` objects.
        metadata: the posekit record stored in the schema metadata (model, input size, ...).

    Returns:
        A ``pyarrow.Table`` with ``TABLE_COLUMNS``, rows ordered by frame, person, part.

    Raises:
        ValueError: two people of a frame with the same id.
    """
    pa, _ = import_pyarrow()
    cols: dict[str, list] = {c: [] for c in TABLE_COLUMNS[1:]}
    for frame, people in frames:
        people = list(people)
        ids = row_person_ids(people, f"{source} frame {frame}")  # the CSV's rule, from posekit.export
        for pid, p in zip(ids, people):
            kp = p.keypoints
            found = (kp[:, 2] > 0) & ~np.isnan(kp[:, 0]) & ~np.isnan(kp[:, 1])
            n = int(found.sum())
            cols["frame"].append(np.full(n, frame, np.int64))
            cols["person_id"].append(np.full(n, pid, np.int32))
            cols["part"].append(_PARTS[:NUM_PARTS][found])
            for j, c in enumerate(("x", "y", "score")):
                cols[c].append(kp[found, j].astype(np.float32))
    dtypes = {"frame": np.int64, "person_id": np.int32, "part": object, "x": np.float32, "y": np.float32,
              "score": np.float32}  # fmt: skip
    arrays = {c: np.concatenate(v) if v else np.zeros(0, dtypes[c]) for c, v in cols.items()}
    n = len(arrays["frame"])
    schema = table_schema(metadata)
    return pa.Table.from_arrays(
        [pa.array([source] * n, pa.string())]
        + [pa.array(arrays[c], schema.field(c).type) for c in TABLE_COLUMNS[1:]],
        schema=schema,
    )


class Store:
    """The batch's output folder: a local folder or an fsspec URL; all writes are whole-file.

    Args:
        out: local path, ``file://`` URL, or fsspec URL (``s3://bucket/run``, ``gs://...``, ``memory://...``).
    """

    def __init__(self, out: str | os.PathLike) -> None:
        text = os.fspath(out)
        self.url = text
        if not is_url(text) or text.startswith("file://"):
            self.fs = None
            self.root = (
                Path(text[len("file://") :] if text.startswith("file://") else text).expanduser().absolute()
            )
        else:
            self.fs, self.root = url_to_fs(text)
            self.root = self.root.rstrip("/")
        self._lock_fd: int | None = None
        self._remote_lock = False

    @property
    def local(self) -> bool:
        return self.fs is None

    def path(self, rel: str) -> str:
        """The full path (local) or fs path (remote) of ``rel``."""
        return str(self.root / rel) if self.local else f"{self.root}/{rel}"

    def check_writable(self) -> None:
        """Create the folder and write a probe file, or raise ``BatchError``."""
        probe = f".probe-{uuid.uuid4().hex}"
        try:
            self.makedirs("keypoints")
            self.write_bytes(probe, b"")
            self.remove(probe)
        except OSError as exc:
            raise BatchError(f"output folder {self.url} is not writable: {exc.strerror or exc}") from None

    def lock(self) -> None:
        """Hold ``out/.lock`` for this process: one run per output folder at a time (local outputs).

        The lock is an ``flock`` on a file holding the owner's pid and host, so it ends with its
        process however that ends (``kill -9`` too): a lock file left by a dead run is taken over.
        An object store has no flock: its ``.lock`` object names the owner, is removed at the end,
        and is taken over when it names a process of this host that is gone; one left by a killed
        run on another host must be removed by hand (the message says so).

        Raises:
            OutputBusy: another live process holds the lock (its pid in the message).
        """
        if self._lock_fd is not None or self._remote_lock:
            return
        owner_text = f"pid {os.getpid()} on {socket.gethostname()}"
        if not self.local:
            path = self.path(".lock")
            if self.fs.exists(path):
                owner = self.fs.cat_file(path).decode("utf-8", "replace").strip() or "unknown"
                if not _dead_here(owner):
                    raise OutputBusy(
                        f"another posekit batch ({owner}) is writing to {self.url}: wait for it to end, or "
                        f"use another output folder (if that run was killed, remove {self.url}/.lock)"
                    )
            self.fs.pipe_file(path, owner_text.encode())
            self._remote_lock = True
            return
        try:
            import fcntl
        except ImportError:  # Windows: no flock
            return
        path = self.root / ".lock"
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
                try:
                    owner = path.read_text(encoding="utf-8").strip() or "unknown"
                except OSError:
                    owner = "unknown"
                raise OutputBusy(
                    f"another posekit batch ({owner}) is writing to {self.url}: wait for it to end, or use "
                    "another output folder"
                ) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino  # not a file the last owner removed
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, owner_text.encode())
        self._lock_fd = fd

    def unlock(self) -> None:
        """Release the lock taken by ``lock`` (removing the file first, while still holding it)."""
        if self._remote_lock:
            self._remote_lock = False
            self.remove(".lock")
        if self._lock_fd is None:
            return
        (self.root / ".lock").unlink(missing_ok=True)
        os.close(self._lock_fd)
        self._lock_fd = None

    def makedirs(self, rel: str) -> None:
        if self.local:
            (self.root / rel).mkdir(parents=True, exist_ok=True)
        else:
            self.fs.makedirs(self.path(rel), exist_ok=True)

    def write_bytes(self, rel: str, data: bytes) -> None:
        """Write one file whole: locally through a temporary file and a rename, remotely as one upload."""
        if self.local:
            (self.root / rel).parent.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(self.root / rel, data)
        else:
            self.fs.pipe_file(self.path(rel), data)

    def read_bytes(self, rel: str) -> bytes:
        return (self.root / rel).read_bytes() if self.local else self.fs.cat_file(self.path(rel))

    def exists(self, rel: str) -> bool:
        return (self.root / rel).exists() if self.local else self.fs.exists(self.path(rel))

    def listdir(self, rel: str) -> list[str]:
        """Names in a folder (empty if it does not exist)."""
        if self.local:
            folder = self.root / rel
            return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        if not self.fs.exists(self.path(rel)):
            return []
        return sorted(posixpath_basename(p) for p in self.fs.ls(self.path(rel), detail=False))

    def remove(self, rel: str) -> None:
        """Remove a file or folder if it exists."""
        if self.local:
            p = self.root / rel
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
        elif self.fs.exists(self.path(rel)):
            self.fs.rm(self.path(rel), recursive=True)

    def staging(self) -> Path:
        """A new empty local folder to build one source's outputs in (inside ``out`` when local)."""
        if self.local:
            parent = self.root / ".partial"
            parent.mkdir(parents=True, exist_ok=True)
            return Path(tempfile.mkdtemp(dir=parent))
        return Path(tempfile.mkdtemp(prefix="posekit-batch-"))

    def commit_folder(self, staged: Path, rel: str) -> None:
        """Move a staged folder to ``rel``, replacing what was there."""
        if self.local:
            target = self.root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            old = None
            if target.exists():
                old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
                os.replace(target, old)
            os.replace(staged, target)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
            return
        try:
            self.remove(rel)
            files = [p for p in sorted(staged.rglob("*")) if p.is_file()]
            for p in files:
                self.fs.put_file(str(p), self.path(f"{rel}/{p.relative_to(staged).as_posix()}"))
        finally:
            shutil.rmtree(staged, ignore_errors=True)

    def clean_partial(self) -> None:
        """Remove staging folders left by an interrupted run (local outputs)."""
        if self.local:
            shutil.rmtree(self.root / ".partial", ignore_errors=True)

    def write_table(self, rel: str, table) -> None:
        """Write a pyarrow table as one Parquet file, whole."""
        _, pq = import_pyarrow()
        buf = io.BytesIO()
        pq.write_table(table, buf)
        self.write_bytes(rel, buf.getvalue())

    def table_metadata(self, rel: str) -> dict[str, Any] | None:
        """The posekit record of a Parquet file (its footer only), or None if absent or unreadable."""
        _, pq = import_pyarrow()
        try:
            if self.local:
                schema = pq.read_schema(self.root / rel)
            else:
                with self.fs.open(self.path(rel), "rb") as f:
                    schema = pq.read_schema(f)
            record = json.loads(schema.metadata[METADATA_KEY])
        except (OSError, KeyError, TypeError, ValueError):
            return None
        return record if isinstance(record, dict) else None


def _dead_here(owner: str) -> bool:
    """True when a lock's ``pid N on HOST`` names a process of this host that no longer runs."""
    words = owner.split()
    if len(words) != 4 or words[0] != "pid" or words[2] != "on" or words[3] != socket.gethostname():
        return False
    try:
        os.kill(int(words[1]), 0)
    except ProcessLookupError:
        return True
    except (OSError, ValueError):
        return False
    return False


def posixpath_basename(p: str) -> str:
    return p.rstrip("/").rsplit("/", 1)[-1]


def part_name(key: str) -> str:
    """The ``keypoints/`` file name of a source key: readable, and unique even where keys look alike.

    Never starts with "." or "_" (a hidden or ``_under.jpg`` source): pyarrow, pandas, Spark and
    DuckDB's directory readers skip such files as metadata.
    """
    digest = hashlib.sha1(key.encode()).hexdigest()[:8]
    return f"{key.replace('/', '__').lstrip('._')}-{digest}.parquet"


class OutputBusy(BatchError):
    """Another run holds the output folder's lock."""


def fingerprint(source: Source) -> dict[str, Any]:
    """What identifies a source's content: ``size``, ``mtime`` and ``sha256`` (or an object store's ETag).

    A stored source is reused only when its fingerprint is the same (a file replaced in place, even
    with the same size and mtime, is redone). Local files are hashed in full (read once more).

    Raises:
        OSError: the source cannot be read, or is not a regular file (never opened then).
    """
    if "://" not in source.location:
        st = os.stat(source.location)
        if not stat.S_ISREG(st.st_mode):
            problem = special_file_error(source.location, source.name)
            raise OSError(problem or f"cannot read {source.name}: it is a folder, not a file")
        digest = hashlib.sha256()
        with open(source.location, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest.hexdigest()}
    fs, path = url_to_fs(source.location)
    info = fs.info(path)
    mtime = info.get("LastModified") or info.get("mtime") or info.get("updated") or info.get("created")
    tag = info.get("ETag") or info.get("etag") or info.get("md5Hash") or info.get("md5")
    record = {"size": info.get("size"), "mtime": str(mtime) if mtime is not None else None}
    if tag:
        record["etag"] = str(tag)
    else:
        digest = hashlib.sha256()
        with fs.open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        record["sha256"] = digest.hexdigest()
    return record
