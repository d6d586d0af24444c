"""Shared pieces of the widgets: ipywidgets import, image encoding, channel choices, event polling."""

from __future__ import annotations

import os
from typing import Union

import numpy as np

from ..skeleton import HEATMAP_NAMES, LIMB_NAMES, LIMBS, NUM_HEATMAPS, NUM_LIMBS

_INSTALL_HINT = (
    "posekit.widgets needs ipywidgets: pip install ipywidgets (or pip install 'posekit[notebooks]')"
)

ImageSource = Union[str, os.PathLike, np.ndarray]
ChannelValue = tuple  # ("heatmap", 0..18 | "max") or ("paf", 0..18)


def _ipywidgets():
    try:
        import ipywidgets
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    return ipywidgets


def encode_image(image: np.ndarray, fmt: str = "jpeg", *, quality: int = 85) -> bytes:
    """Encode a BGR uint8 (H, W, 3) image as JPEG or PNG bytes for an ``ipywidgets.Image``."""
    import cv2

    if fmt not in ("jpeg", "png"):
        raise ValueError(f"fmt must be 'jpeg' or 'png', got {fmt!r}")
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if fmt == "jpeg" else []
    ok, buf = cv2.imencode(".jpg" if fmt == "jpeg" else ".png", np.ascontiguousarray(image), params)
    if not ok:
        raise ValueError(f"could not encode an image of shape {np.shape(image)} as {fmt}")
    return buf.tobytes()


def _count(n: int, noun: str) -> str:
    """ "1 peak" / "3 peaks"."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _ui_event_poller():
    """``jupyter_ui_poll.ui_events`` when running in a Jupyter kernel, else None (plain Python, tests)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None:
        return None
    try:
        from jupyter_ui_poll import ui_events
    except ImportError:
        import warnings

        warnings.warn(
            "LiveView.join cannot hear the Stop button while it waits: pip install jupyter-ui-poll "
            "(or pip install 'posekit[notebooks]')",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    return ui_events


def channel_options() -> list[tuple[str, ChannelValue]]:
    """(label, value) pairs of the explorer's channel selector.

    Values are ``("heatmap", c)`` for heatmap channel c in 0..18 (18 = background),
    ``("heatmap", "max")`` for the maximum over the 18 parts, and ``("paf", k)`` for
    limb k's PAF (row k of ``LIMBS``).
    """
    opts: list[tuple[str, ChannelValue]] = [("Heatmap: max over the 18 parts", ("heatmap", "max"))]
    opts += [(f"Heatmap {c}: {HEATMAP_NAMES[c]}", ("heatmap", c)) for c in range(NUM_HEATMAPS)]
    opts += [
        (f"PAF limb {k}: {LIMB_NAMES[k]} (ch {LIMBS[k, 2]}, {LIMBS[k, 3]})", ("paf", k))
        for k in range(NUM_LIMBS)
    ]
    return opts


def _read(source: ImageSource) -> np.ndarray:
    from ..preprocess import as_bgr, read_image

    if isinstance(source, np.ndarray):
        return as_bgr(source)
    return read_image(source)
