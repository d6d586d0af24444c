"""Precision "int8": a distilled student network shipped as an OpenVINO IR with FakeQuantize nodes.

Post-training int8 loses most keypoints on mobilenet_thin (``benchmarks/probe_int8.py``); the shipped network
was trained with the quantisation in the loop to reproduce the exact network's heatmaps and PAFs
(``posekit.distill``, ``posekit distill --out FILE``). It is a build product of the pinned ``mobilenet_thin``
weights: ``INT8_MODEL`` with its record ``INT8_RECORD`` (the build's command, seed and settings, and the
fingerprint of the Keras weights it was distilled from, which ``int8_network`` checks).

OpenVINO's CPU plugin runs its convolutions on u8 x i8 kernels, but for the few its record lists as left in
float (``int8_float_layers``); ``make_openvino_runner`` (precision "int8") refuses a compile in which any
other convolution runs otherwise (``convolution_precisions``).
"""

from __future__ import annotations

import json
from pathlib import Path

from .tflite import weights_fingerprint

__all__ = ["INT8_MODEL", "INT8_RECORD", "INT8_CONVOLUTION_PRECISIONS", "int8_float_layers", "int8_network"]

_FOLDER = Path(__file__).resolve().parent / "int8_model"
#: The int8 network (input BGR 0..255 (1, H, W, 3), any H, W; outputs heatmaps (19) and PAFs (38), stride 8).
INT8_MODEL = _FOLDER / "mobilenet_thin_int8.xml"
#: JSON beside it: how it was built, its fidelity when built, and ``weights_sha256`` of its teacher.
INT8_RECORD = _FOLDER / "mobilenet_thin_int8.json"
#: What OpenVINO's runtime model must report for each convolution of the int8 network.
INT8_CONVOLUTION_PRECISIONS = frozenset({"u8", "i8"})


def int8_float_layers() -> list[str]:
    """The convolutions the shipped int8 network leaves in float (its record's ``float_layers``)."""
    return list(json.loads(INT8_RECORD.read_text()).get("float_layers", [])) if INT8_RECORD.exists() else []


def int8_network(model) -> Path:
    """The int8 network distilled from ``model`` (a Keras network from ``load_model``).

    Raises:
        ValueError: ``model`` is not the pinned ``mobilenet_thin`` (another network, or other weights): the
            int8 network exists for those weights only (``posekit distill`` builds it for them).
        RuntimeError: the shipped file or its record is missing.
    """
    if not INT8_MODEL.exists() or not INT8_RECORD.exists():
        raise RuntimeError(
            f"the int8 network {INT8_MODEL.name} is not installed: `posekit distill --out FILE` builds it"
        )
    record = json.loads(INT8_RECORD.read_text())
    name = getattr(model, "name", None)
    if name != "mobilenet_thin" or weights_fingerprint(model) != record["weights_sha256"]:
        raise ValueError(
            "precision 'int8' exists for the pinned mobilenet_thin weights only "
            f"(got {name or type(model).__name__!r}, or other weights)"
        )
    return INT8_MODEL
