"""Models by name or file: resolve a registered name or a frozen graph path, and load the Keras network.

The networks are rebuilt as Keras functional models with fixed layer names
(``posekit.architectures``); their weights are read from the frozen TF1 graphs that
tf-pose-estimation published (``posekit.tf1_graph``) and cached as ``weights.npz`` beside the
graph, with a record that the next load checks (a corrupt or stale cache is rebuilt from the graph,
saying so in one line on stderr). The registry and the download live in ``posekit.weights``; their
names are re-exported here.

Registered models (``MODELS``): ``mobilenet_thin`` (default) and ``mobilenet_v2_small`` are
downloaded and hash-checked; ``mobilenet_v2_large`` and ``cmu`` are provided by the user, either
copied to ``$POSEKIT_HOME/NAME/graph_opt.pb`` (then the name works) or passed as a path with its
architecture::

    load_model("/data/cmu/graph_opt.pb", architecture="cmu")
    PoseEstimator("/data/cmu/graph_opt.pb", architecture="cmu")
    posekit image --model /data/cmu/graph_opt.pb --architecture cmu
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from ._files import atomic_path
from .architectures import ARCHITECTURES, build_mobilenet_thin
from .tf1_graph import (
    architecture_hint,
    detect_architecture,
    frozen_graph_function,
    load_graph_weights,
    weights_for,
)
from .weights import (
    GRAPH_FILENAME,
    MODELS,
    ModelError,
    ModelFetchError,
    ModelHashError,
    ModelNotProvidedError,
    ModelSpec,
    UnknownModelError,
    cache_problem,
    fetch,
    file_sha256,
    posekit_home,
    report_rebuilt,
    unknown_model,
    write_cache_record,
)

__all__ = [
    "MODELS",
    "ModelSpec",
    "ModelError",
    "UnknownModelError",
    "ModelFetchError",
    "ModelHashError",
    "ModelNotProvidedError",
    "GRAPH_FILENAME",
    "posekit_home",
    "fetch",
    "resolve",
    "build_mobilenet_thin",
    "ARCHITECTURES",
    "detect_architecture",
    "load_model",
    "cache_dir",
    "load_graph_weights",
    "weights_for",
    "frozen_graph_function",
]

WEIGHTS_FILENAME = "weights.npz"


def _check_architecture(architecture: str) -> str:
    if architecture not in ARCHITECTURES:
        raise UnknownModelError(f"unknown architecture {architecture!r}: {architecture_hint()}")
    return architecture


def resolve(model: str | os.PathLike, architecture: str | None = None) -> tuple[Path, str]:
    """Map a model name or graph path to (graph path, architecture name), fetching if needed.

    Args:
        model: a registered name or the path of a frozen graph.
        architecture: for a path, its architecture (see ``ARCHITECTURES``); None detects it from
            the graph. For a registered name it must be None or the name's own architecture.
    """
    model = os.fspath(model)
    if architecture is not None:
        _check_architecture(architecture)
    if model in MODELS:
        spec = MODELS[model]
        if architecture not in (None, spec.architecture):
            raise ModelError(f"model {model!r} has architecture {spec.architecture!r}, not {architecture!r}")
        return fetch(model), spec.architecture
    path = Path(model).expanduser()
    if path.is_file():
        return path, architecture or detect_architecture(path)
    if path.suffix in (".pb",) or os.sep in model:
        raise UnknownModelError(f"model file not found: {model}")
    raise unknown_model(model)


def cache_dir(model: str | os.PathLike, architecture: str | None = None) -> Path:
    """Folder for files derived from a model (converted weights, TFLite files).

    ``$POSEKIT_HOME/NAME`` for a registered name; ``$POSEKIT_HOME/converted/<sha256 prefix>`` for a
    file (``.../<sha256 prefix>-ARCH`` when ``architecture`` is given and differs from the detected one).
    """
    model = os.fspath(model)
    if model in MODELS:
        return posekit_home() / model
    graph_path, arch = resolve(model, architecture)
    folder = file_sha256(graph_path)[:16]
    if architecture is not None:
        try:
            detected = detect_architecture(graph_path)
        except ModelError:
            detected = None
        if detected != architecture:
            folder += "-" + architecture
    return posekit_home() / "converted" / folder


def load_model(
    model: str | os.PathLike = "mobilenet_thin", *, all_stages: bool = False, architecture: str | None = None
):
    """Load a pose network as a Keras model with the published weights.

    Args:
        model: a registered name (see ``MODELS``; fetched and cached on first use) or a frozen
            graph path.
        all_stages: return the six stages' outputs instead of only the last one.
        architecture: for a graph path, its architecture (``"mobilenet_thin"``,
            ``"mobilenet_v2_small"``, ``"mobilenet_v2_large"``, ``"cmu"``); None detects it.

    Returns:
        ``keras.Model`` mapping float32 BGR 0..255 (N, H, W, 3) to ``(heatmaps, pafs)``:
        (N, h, w, 19) and (N, h, w, 38) at stride 8. With ``all_stages=True`` the outputs are
        ``[heat_1, paf_1, ..., heat_6, paf_6]``.

    Raises:
        UnknownModelError: unknown name or architecture, or a missing file.
        ModelNotProvidedError: ``cmu`` or ``mobilenet_v2_large`` by name without the graph in the cache.
        ModelError: the graph does not fit the architecture (missing constant, wrong shape).
    """
    from ._quiet import import_tensorflow

    import_tensorflow()  # the session's first TensorFlow import, without its native start-up lines
    graph_path, arch = resolve(model, architecture)
    full = ARCHITECTURES[arch].build()
    cache = cache_dir(model, architecture) / WEIGHTS_FILENAME
    made_from = {"graph_sha256": file_sha256(graph_path), "architecture": arch}
    problem = cache_problem(cache, **made_from)
    if problem is None:
        try:
            _set_weights(full, _read_npz(cache))
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # vouched for, yet unreadable
            problem = "could not be read"
    if problem is not None:
        weights = weights_for(full, load_graph_weights(graph_path), str(graph_path))
        _set_weights(full, weights)
        _write_weights_cache(weights, cache, made_from)
        if problem != "missing":
            report_rebuilt(cache, os.fspath(model), problem)
    if all_stages:
        return full
    import keras

    return keras.Model(full.input, full.outputs[-2:], name=full.name)


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def _set_weights(model, weights: dict[str, np.ndarray]) -> None:
    """Set each layer's weights from {"<layer>/<i>": array}; KeyError or ValueError on a bad entry."""
    for layer in model.layers:
        n = len(layer.weights)
        if n:
            layer.set_weights([weights[f"{layer.name}/{i}"] for i in range(n)])


def _write_weights_cache(weights: dict[str, np.ndarray], path: Path, made_from: dict) -> None:
    """Save the weights as ``path`` (npz), then its record; a read-only cache only costs speed."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            np.savez(tmp, **weights)
        write_cache_record(path, **made_from)
    except OSError:
        pass
