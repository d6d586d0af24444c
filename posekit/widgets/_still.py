"""A widget's still: what a page without a kernel shows in place of a live widget.

A widget needs a running kernel; a rendered notebook (the documentation site, nbconvert's HTML, GitHub's
viewer) has none and would show an empty box. Every widget's ``_repr_mimebundle_`` therefore adds, beside
the live widget view that JupyterLab and Notebook 7 render, a ``text/html`` still: the picture the widget
showed when the cell ran (its first state) and one line saying what it does when the notebook runs.
Front ends with a kernel prefer the widget view; ``docs/conf.py`` tells the site builder to drop it.
"""

from __future__ import annotations

import base64
import html

__all__ = ["RUN_IT", "still_bundle"]

#: How a reader of a rendered page gets the live widget.
RUN_IT = "run the notebook (make lab) to use it"


def _sniff(image: bytes) -> str | None:
    if image.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if image.startswith(b"\xff\xd8"):
        return "image/jpeg"
    return None


def still_bundle(bundle: dict | tuple | None, image: bytes | memoryview | None, what: str) -> dict:
    """Add a still to a widget's mime bundle.

    Args:
        bundle: what the ipywidgets object's ``_repr_mimebundle_`` returned (a dict, or a
            ``(data, metadata)`` pair).
        image: the PNG or JPEG bytes the widget shows now, or None / empty when it shows nothing yet.
        what: one sentence saying what the widget does when the notebook runs.

    Returns:
        The bundle's data with ``text/html`` (the picture and the line) and ``text/plain`` (the line)
        added; a ``(data, metadata)`` pair stays a pair.
    """
    data, metadata = bundle if isinstance(bundle, tuple) else (bundle, None)
    data = dict(data or {})
    line = f"{what.rstrip('.')} — {RUN_IT}."
    parts = ['<div class="posekit-widget-still">']
    image = bytes(image) if image else None  # an ipywidgets.Image value may be a memoryview
    mime = _sniff(image) if image else None
    if mime is not None:
        encoded = base64.b64encode(image).decode("ascii")
        alt = html.escape(what)
        parts.append(f'<img src="data:{mime};base64,{encoded}" alt="{alt}" style="max-width:100%">')
    parts.append(f"<p><em>{html.escape(line)}</em></p></div>")
    data["text/html"] = "".join(parts)
    data["text/plain"] = line
    return (data, metadata) if metadata is not None else data
