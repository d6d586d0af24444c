"""Evaluation data sets fetched on request: COCO val2017 (images + person keypoints), md5-checked, resumable.

``fetch_dataset("coco-val2017")`` (the ``posekit fetch coco-val2017`` command) downloads COCO's two archives
through ``pooch`` and unpacks what the evaluation needs::

    FOLDER/annotations/person_keypoints_val2017.json    from annotations_trainval2017.zip (252,907,541 bytes)
    FOLDER/val2017/000000000139.jpg ...                 5,000 images, from val2017.zip (815,585,330 bytes)

FOLDER defaults to ``$POSEKIT_HOME/datasets/coco-val2017``. Each archive is checked against its md5 before it
is unpacked (COCO's site publishes no checksums; the md5s are the ones data loaders pin, e.g. PaddleDetection
and MLCommons'). A download cut short is resumed where it stopped (an HTTP Range request on
``<archive>.part``); a part that is unpacked is never fetched again (each one is unpacked into a temporary
folder and renamed into place, so it is complete or absent); the archive is deleted once unpacked unless
``keep_archives``.

Nothing downloads at import time. Then evaluate with::

    posekit evaluate --annotations FOLDER/annotations/person_keypoints_val2017.json --images FOLDER/val2017
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["ArchivePart", "DATASETS", "DatasetError", "default_folder", "fetch_dataset"]


class DatasetError(OSError):
    """A data set that cannot be fetched or unpacked (the message is meant for the user)."""


@dataclasses.dataclass(frozen=True)
class ArchivePart:
    """One archive of a data set and what to unpack from it.

    Attributes:
        url: where the archive is downloaded from.
        md5: its md5 (hex).
        member: the archive member (a file, or a folder ending in "/") to unpack.
        target: where it goes, relative to the data set's folder (a file or a folder).
    """

    url: str
    md5: str
    member: str
    target: str

    @property
    def archive_name(self) -> str:
        """The archive's file name (the URL's last part)."""
        return self.url.rstrip("/").rsplit("/", 1)[-1]


#: Registered data sets: name -> the archive parts, in download order (small first).
DATASETS: dict[str, tuple[ArchivePart, ...]] = {
    "coco-val2017": (
        ArchivePart(
            "http://images.cocodataset.org/annotations/annotations_trainval2017.zip",
            "f4bbac642086de4f52a3fdda2de5fa2c",
            "annotations/person_keypoints_val2017.json",
            "annotations/person_keypoints_val2017.json",
        ),
        ArchivePart(
            "http://images.cocodataset.org/zips/val2017.zip",
            "442b8da7639aecaf257c1dceb8ba8c80",
            "val2017/",
            "val2017",
        ),
    ),
}


def default_folder(name: str) -> Path:
    """``$POSEKIT_HOME/datasets/<name>``."""
    from .network.weights import posekit_home

    return posekit_home() / "datasets" / name


class _ResumingDownloader:
    """A pooch downloader that continues ``<archive>.part`` with an HTTP Range request."""

    def __init__(self, part: Path, progress: bool) -> None:
        self.part = part
        self.progress = progress

    def __call__(self, url: str, output_file: str, _pooch, check_only: bool = False) -> bool | None:
        import requests
        from tqdm.auto import tqdm

        if check_only:
            return requests.head(url, timeout=30, allow_redirects=True).ok
        have = self.part.stat().st_size if self.part.is_file() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        with requests.get(url, headers=headers, stream=True, timeout=60) as r:
            if have and r.status_code == 416:  # the part is already whole
                pass
            else:
                r.raise_for_status()
                if r.status_code != 206:  # the server sent the whole file
                    have = 0
                size = int(r.headers.get("content-length", 0)) + have
                name = self.part.name.removesuffix(".part")
                bar = tqdm(total=size or None, initial=have, unit="B", unit_scale=True, desc=name,
                           disable=not self.progress)  # fmt: skip
                with bar, open(self.part, "ab" if have else "wb") as f:
                    for chunk in r.iter_content(chunk_size=1 << 20):
                        f.write(chunk)
                        bar.update(len(chunk))
        os.replace(self.part, output_file)  # pooch checks the hash, then renames it to the archive's name
        return None


def _unpack(archive: Path, part: ArchivePart, folder: Path) -> None:
    """Unpack ``part.member`` of ``archive`` to ``folder / part.target``: complete or absent."""
    target = folder / part.target
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(archive) as z, tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            if part.member.endswith("/"):
                names = [n for n in z.namelist() if n.startswith(part.member) and not n.endswith("/")]
                if not names:
                    raise DatasetError(f"{archive.name} has no folder {part.member}")
                z.extractall(tmp, members=names)
            else:
                z.extract(part.member, tmp)
            os.replace(Path(tmp) / part.member.rstrip("/"), target)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise DatasetError(f"cannot unpack {part.member} from {archive}: {exc}") from None


def fetch_dataset(
    name: str = "coco-val2017",
    folder: str | os.PathLike | None = None,
    *,
    parts: tuple[ArchivePart, ...] | None = None,
    keep_archives: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> Path:
    """Download, check and unpack a data set (resuming what an earlier run left); returns its folder.

    Args:
        name: a name of ``DATASETS``.
        folder: where to put it (default ``default_folder(name)``).
        parts: the archives (default ``DATASETS[name]``; tests pass stand-ins served locally).
        keep_archives: keep each archive after unpacking it.
        progress: show a progress bar per download.
        log: called with one line per step.

    Raises:
        DatasetError: an unknown name, an archive whose md5 differs (it is deleted), or one that cannot be
            unpacked.
    """
    import pooch
    import requests

    if parts is None:
        if name not in DATASETS:
            raise DatasetError(f"unknown data set {name!r}: known are {', '.join(sorted(DATASETS))}")
        parts = DATASETS[name]
    root = Path(folder) if folder is not None else default_folder(name)
    root.mkdir(parents=True, exist_ok=True)
    for part in parts:
        if (root / part.target).exists():
            log(f"{part.target}: present")
            continue
        archive = root / part.archive_name
        log(f"{part.archive_name}: {'checking' if archive.is_file() else 'downloading'} ({part.url})")
        try:
            path = pooch.retrieve(
                part.url, known_hash=f"md5:{part.md5}", fname=part.archive_name, path=root,
                downloader=_ResumingDownloader(root / (part.archive_name + ".part"), progress),
            )  # fmt: skip
        except ValueError as exc:  # pooch: the hash does not match (the download is deleted)
            raise DatasetError(
                f"{part.archive_name} failed its md5 check, deleted: {exc}".splitlines()[0]
            ) from None
        except requests.exceptions.RequestException as exc:
            raise DatasetError(f"cannot download {part.url}: {exc} (run again to resume)") from None
        _unpack(Path(path), part, root)
        log(f"{part.target}: unpacked")
        if not keep_archives:
            Path(path).unlink()
    return root
