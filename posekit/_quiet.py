"""Keep TensorFlow's and TFLite's native start-up lines off stderr.

TensorFlow prints oneDNN and CUDA-probing lines (``I0000 ...``, ``E0000 ... failed call to cuInit``)
from C++ while it is imported and first touches devices, before ``TF_CPP_MIN_LOG_LEVEL`` applies; in a
notebook they look like errors. posekit imports TensorFlow through ``import_tensorflow()``, which points
file descriptor 2 at /dev/null for that moment only. Set ``POSEKIT_TF_LOGS=1`` to see the lines.

Python's own ``sys.stderr`` (warnings, posekit's one-line notices) keeps reaching the real stderr
inside the block: only native writes to file descriptor 2 are dropped.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys

__all__ = ["quiet_native_stderr", "import_tensorflow"]


class _PythonStderr(io.TextIOBase):
    """sys.stderr while fd 2 is silenced: Python's text goes to the real stderr (a duplicate of fd 2).

    After the block it forwards to the stream it replaced, so a handler that kept a reference to it
    (a logger created inside the block) keeps working.
    """

    def __init__(self, original, fd: int) -> None:
        self._original = original
        self._fd: int | None = fd

    @property
    def encoding(self):
        return self._original.encoding

    @property
    def errors(self):
        return self._original.errors

    def fileno(self) -> int:
        return self._original.fileno()

    def isatty(self) -> bool:
        return self._original.isatty()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        fd = self._fd
        if fd is not None:
            try:
                os.write(fd, text.encode(self.encoding or "utf-8", self.errors or "backslashreplace"))
                return len(text)
            except OSError:  # the block ended meanwhile
                pass
        return self._original.write(text)

    def flush(self) -> None:
        if self._fd is None:
            self._original.flush()


@contextlib.contextmanager
def quiet_native_stderr():
    """Point fd 2 at /dev/null for the block (unless POSEKIT_TF_LOGS=1); Python's sys.stderr still prints."""
    if os.environ.get("POSEKIT_TF_LOGS") == "1":
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (AttributeError, OSError, ValueError):  # no usable fd 2 (some embedded interpreters)
        yield
        return
    original = sys.stderr
    proxy = _PythonStderr(original, saved) if _writes_to_fd2(original) else None
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            if proxy is not None:
                sys.stderr = proxy
            try:
                yield
            finally:
                if proxy is not None:
                    proxy._fd = None
                    if sys.stderr is proxy:
                        sys.stderr = original
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def _writes_to_fd2(stream) -> bool:
    if isinstance(stream, _PythonStderr):  # an outer block already sends Python's text to the real stderr
        return False
    try:
        return stream.fileno() == 2
    except (AttributeError, OSError, ValueError):  # pytest's or Jupyter's streams have their own target
        return False


def import_tensorflow():
    """``import tensorflow`` (and its device probe) without the native start-up lines; returns the module."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with quiet_native_stderr():
        import tensorflow as tf

        tf.config.list_physical_devices()
    return tf
