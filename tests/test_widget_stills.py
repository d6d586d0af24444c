"""Widget stills: what a page without a kernel (the docs site, nbconvert HTML) shows for each widget."""

from __future__ import annotations

import base64
import re

import numpy as np
import pytest

pytest.importorskip("ipywidgets")

from posekit.widgets import VideoPlayer  # noqa: E402
from posekit.widgets._still import RUN_IT, still_bundle  # noqa: E402

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def test_still_bundle_keeps_the_widget_view_and_adds_the_picture_and_the_line():
    png = b"\x89PNG\r\n\x1a\n" + b"rest"
    bundle = {WIDGET_VIEW: {"model_id": "abc"}, "text/plain": "VBox(...)"}
    data = still_bundle(bundle, png, "Explorer: does things.")
    assert data[WIDGET_VIEW] == {"model_id": "abc"}  # JupyterLab still renders the live widget
    assert data["text/plain"] == f"Explorer: does things — {RUN_IT}."
    src = re.search(r'src="data:image/png;base64,([^"]+)"', data["text/html"]).group(1)
    assert base64.b64decode(src) == png
    assert RUN_IT in data["text/html"]
    assert bundle == {WIDGET_VIEW: {"model_id": "abc"}, "text/plain": "VBox(...)"}  # not modified in place


def test_still_bundle_without_a_picture_and_as_a_pair():
    data, meta = still_bundle(({"text/plain": "x"}, {"k": 1}), None, "Camera")
    assert "<img" not in data["text/html"] and meta == {"k": 1}
    assert "<img" not in still_bundle({}, b"not an image", "Thing")["text/html"]


def test_video_player_still_is_its_first_frame():
    frames = [np.full((24, 32, 3), v, np.uint8) for v in (10, 200)]
    player = VideoPlayer(frames, width=64)
    data = player._repr_mimebundle_()
    data = data[0] if isinstance(data, tuple) else data
    src = re.search(r'src="data:image/jpeg;base64,([^"]+)"', data["text/html"]).group(1)
    import cv2

    first = cv2.imdecode(np.frombuffer(base64.b64decode(src), np.uint8), cv2.IMREAD_COLOR)
    assert first.shape == (24, 32, 3) and abs(float(first.mean()) - 10) < 3  # frame 0, not frame 1
    assert "Video player" in data["text/plain"]
