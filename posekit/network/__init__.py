"""The network wing: which network, its weights, and the engines that run it.

* ``weights.py``: the model registry (``MODELS``, ``ModelSpec``: graph URL, hash, architecture,
  default input size), the hash-checked download and cache (``fetch``, ``posekit_home``), and the one
  weights-file format (``read_weights_file`` / ``write_weights_file``).
* ``tf1_graph.py``: reading the published frozen TF1 graphs' constants.
* ``architectures.py``: the Keras rebuilds (``ARCHITECTURES``) with fixed layer names.
* ``models.py``: ``resolve`` a name or graph path and ``load_model`` the Keras network with its weights.
* ``engines.py``: the engines that run that Keras model (``make_runner``: OpenVINO, TFLite, TF), the
  precisions and their CPU check, ``SizedRunners`` (an LRU of networks by input size).
* ``runner.py``: what every engine's runner shares (the call contract, the fixed-size base, build counts).
* ``tflite.py``: the TFLite conversion, its checked cache and the interpreter's runner.
* ``openvino.py``: OpenVINO's compile of that conversion, float32 or bf16.
* ``bf16.py``: the bf16 fast mode's plan (which parts stay float32) and its marking in OpenVINO's IR.

Nothing here imports TensorFlow until a network is built. The names below are the wing's public
addresses (``posekit.network.load_model``).
"""

from __future__ import annotations

from .architectures import ARCHITECTURES
from .engines import ENGINES, PRECISIONS, cpu_flags, make_runner
from .models import load_model, resolve
from .weights import (
    MODELS,
    ModelError,
    ModelFetchError,
    ModelHashError,
    ModelNotProvidedError,
    ModelSpec,
    UnknownModelError,
    WeightsFile,
    WeightsFileError,
    fetch,
    posekit_home,
    read_weights_file,
    write_weights_file,
)

__all__ = [
    "MODELS",
    "ModelSpec",
    "ARCHITECTURES",
    "ENGINES",
    "PRECISIONS",
    "load_model",
    "resolve",
    "fetch",
    "posekit_home",
    "make_runner",
    "cpu_flags",
    "WeightsFile",
    "read_weights_file",
    "write_weights_file",
    "ModelError",
    "UnknownModelError",
    "ModelFetchError",
    "ModelHashError",
    "ModelNotProvidedError",
    "WeightsFileError",
]
