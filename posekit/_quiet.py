"""Keep TensorFlow's and TFLite's native start-up lines off stderr.

TensorFlow prints oneDNN and CUDA-probing lines (``I0000 ...``, ``E0000 ... failed call to cuInit``)
from C++ while it is imported and first touches devices, before ``TF_CPP_MIN_LOG_LEVEL`` applies; in a
notebook they look like errors. posekit imports TensorFlow through ``import_tensorflow()``, which points
file descriptor 2 at /dev/null for that moment only. Set ``POSEKIT_TF_LOGS=1`` to see the lines.
"""

from __future__ import annotations

import contextlib
import os
import sys

__all__ = ["quiet_native_stderr", "import_tensorflow"]


@contextlib.contextmanager
def quiet_native_stderr():
    """Point fd 2 at /dev/null for the block (unless POSEKIT_TF_LOGS=1); Python errors still propagate."""
    if os.environ.get("POSEKIT_TF_LOGS") == "1":
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2 (some embedded interpreters)
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def import_tensorflow():
    """``import tensorflow`` (and its device probe) without the native start-up lines; returns the module."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with quiet_native_stderr():
        import tensorflow as tf

        tf.config.list_physical_devices()
    return tf
