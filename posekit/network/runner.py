"""What every network engine shares: the runner contract, the fixed-size runner and the build counters.

A *runner* maps a float32 BGR 0..255 batch (N, H, W, 3) to ``(heatmaps (N, h, w, 19), pafs (N, h, w, 38))``
as NumPy arrays on the network grid (stride ``posekit.preprocess.STRIDE``). ``FixedSizeRunner`` is the base of
the converted engines' runners (``posekit.network.tflite``, ``posekit.network.openvino``): a network of fixed
input shape whose tensors are shared state, so it runs a batch image by image, one call at a time (a lock).
``network_builds`` counts the conversions and compilations of this process.
"""

from __future__ import annotations

import threading
from typing import Callable

import numpy as np

__all__ = ["Runner", "FixedSizeRunner", "network_builds"]

Runner = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]

_BUILDS: dict[str, int] = {
    "tflite_conversions": 0,
    "tflite_loads": 0,
    "openvino_compiles": 0,
    "openvino_reshapes": 0,
}
_BUILDS_LOCK = threading.Lock()


def count_build(kind: str) -> None:
    with _BUILDS_LOCK:
        _BUILDS[kind] += 1


def network_builds() -> dict[str, int]:
    """How many networks this process has built, by kind (a copy; compare two calls for a difference).

    Keys: "tflite_conversions" (Keras -> TFLite, the slow step: seconds), "tflite_loads" (TFLite
    interpreters made), "openvino_compiles" (OpenVINO compilations, any size), "openvino_reshapes" (those
    of them made by reshaping a network already read, without a conversion).
    """
    with _BUILDS_LOCK:
        return dict(_BUILDS)


class FixedSizeRunner:
    """A converted network of fixed input shape: batches run image by image, one call at a time (a lock).

    Subclasses set ``input_shape`` (1, H, W, 3) and ``_lock`` and run one (1, H, W, 3) float32 image in
    ``_one``; their tensors are shared state, hence the lock. A side of -1 takes any size (OpenVINO's
    dynamic width).
    """

    kind = "converted"
    input_shape: tuple[int, ...]
    _lock: threading.Lock

    def _one(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if batch.ndim != 4 or any(
            want not in (-1, got) for want, got in zip(self.input_shape[1:], batch.shape[1:])
        ):
            _, h, w, _ = self.input_shape
            raise ValueError(
                f"this {self.kind} runner takes (N, {h}, {'any width' if w == -1 else w}, 3), "
                f"got {batch.shape}"
            )
        heats, pafs = [], []
        with self._lock:
            for image in batch:
                heat, paf = self._one(np.ascontiguousarray(image[None], np.float32))
                heats.append(heat)
                pafs.append(paf)
        return np.concatenate(heats), np.concatenate(pafs)
