"""ipywidgets explorers and live views for Jupyter; every name is ``posekit.widgets.X``.

* ``PoseExplorer``: pick an image, a heatmap channel or a limb's PAF, the overlay
  opacity and the peak threshold; see the field over the image, the peaks and the
  people grouped at that threshold, and a table of one person's keypoints.
* ``GroupingExplorer``: the PAF grouping of one image limb by limb (candidates kept, failed,
  lost to the matching; partial people), with threshold sliders that re-run it.
* ``LiveView``: an Image widget updated frame by frame from a loop (video file or
  camera), with a Stop button and a frame budget.
* ``VideoPlayer``: play / scrub through frames that were already processed.
* ``open_camera``: a camera at a chosen capture size, or a bundled video as a stand-in.
* ``BrowserCamera``: the webcam next to the browser as a live frame source (anywidget), for a
  kernel that runs elsewhere (JupyterHub, a cloud VM, a container).

Every control is a public attribute and every view keeps what it shows (``current_kind``,
``current_index``, ``current_array``, ``current_title``, the PNG/JPEG bytes in ``view.value``),
so code and tests can drive the widgets by setting ``control.value`` and read back the result.

Images in are **BGR uint8 (H, W, 3)** like everywhere in posekit. ipywidgets and matplotlib
are imported on first use, with an install hint when missing. The explorer renders with a
``matplotlib.figure.Figure`` that pyplot does not manage, so it never leaks into cell output.
"""

from __future__ import annotations

from ._common import channel_options, encode_image
from .camera import BrowserCamera
from .explorer import PoseExplorer
from .grouping import GroupingExplorer
from .live import LiveView, VideoPlayer, open_camera

__all__ = [
    "BrowserCamera",
    "GroupingExplorer",
    "LiveView",
    "PoseExplorer",
    "VideoPlayer",
    "channel_options",
    "encode_image",
    "open_camera",
]
