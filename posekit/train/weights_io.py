"""Weights files of a trained model: ``save_weights`` / ``load_weights`` in posekit's one format
(``posekit.network.weights.write_weights_file``), by layer name."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["save_weights", "load_weights"]


def _weights_path(path: str | os.PathLike) -> Path:
    p = Path(path)
    if p.suffix != ".npz":
        raise ValueError(
            f"weights path must end with .npz (layer-name keyed NumPy archive), got {os.fspath(path)!r}"
        )
    return p


def save_weights(
    model, path: str | os.PathLike, *, base_model: str | None = None, base_sha256: str | None = None
) -> Path:
    """Write a model's weights as a posekit weights file (``posekit.network.weights.write_weights_file``,
    atomically).

    The keys are those of ``posekit.network.models``' converted-weights cache, so the file loads by layer
    name (``load_weights``, ``load_model(..., weights=path)``, ``PoseEstimator(weights=path)``, the
    commands' ``--weights``) into any model with the same layers: the six-stage model or its last-stage
    view. The file records the architecture (``model.name``), ``base_model`` / ``base_sha256`` (the
    model training started from and its graph's sha256) and a checksum of the arrays. The parent folder
    is created when missing.

    Returns:
        The path written.

    Raises:
        ValueError: the path does not end with ``.npz``; weights that are NaN, infinite or not floats
            (``posekit.network.weights.WeightsFileError``; nothing is written).
    """
    from ..network.models import model_weights
    from ..network.weights import write_weights_file

    p = _weights_path(path)
    weights = model_weights(model)
    p.parent.mkdir(parents=True, exist_ok=True)
    return write_weights_file(
        p, weights, architecture=model.name, base_model=base_model, base_sha256=base_sha256
    )


def load_weights(model, path: str | os.PathLike):
    """Load a weights file (``save_weights``, ``posekit train``) into a model, layer by layer by name.

    Every layer of ``model`` that has weights must find all of them, with the same shapes, in the file
    (extra entries in the file are ignored, so six-stage weights load into the last-stage view). A file
    recorded for another architecture than ``model.name`` (one of ``ARCHITECTURES``) is refused, as
    are NaN, infinite, complex and non-float arrays and a file whose arrays do not match its checksum.
    The model is left as it was when the file is refused.

    Returns:
        ``model``, with its weights replaced.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a weights archive (truncated, corrupt), another architecture, a missing layer
            weight, a shape that differs, or values that are not finite real floats
            (``posekit.network.weights.WeightsFileError``).
    """
    from ..network.architectures import ARCHITECTURES
    from ..network.models import set_model_weights
    from ..network.weights import read_weights_file

    p = _weights_path(path)
    read = read_weights_file(p, architecture=model.name if model.name in ARCHITECTURES else None)
    set_model_weights(model, read.weights, os.fspath(p))
    return model
