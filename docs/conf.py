"""Sphinx configuration of posekit's documentation site (built by ``make docs``; see docs/README.md).

The source folder is the repository root, so the README, ARCHITECTURE.md and the notebooks are built
where they live (``include_patterns`` below picks them); the site's own pages are in docs/.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))

import posekit  # noqa: E402

project = "posekit"
author = "the posekit developers"
copyright = "the posekit developers; images and annotations: see Credits in the README"
release = version = posekit.__version__

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
]

root_doc = "docs/index"
include_patterns = ["ARCHITECTURE.md", "CHANGELOG.md", "notebooks/*.ipynb", "docs/**"]
exclude_patterns = ["docs/_build", "docs/README.md", "**/.ipynb_checkpoints"]
templates_path = ["_templates"]  # relative to this folder

# --- Markdown and notebooks (myst-nb) -----------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3  # README sections link by #anchor
suppress_warnings = ["myst.header"]  # notebooks start their sections at ## under the title, on purpose

# Each notebook is executed once per build; the results are cached by jupyter-cache, keyed on the
# notebook's code (jupyter-cache's own key) and — through the folder name — on posekit's sources,
# so a change to the package re-executes every chapter and a second build with nothing changed is fast.
_SOURCES = sorted(
    p
    for pattern in ("posekit/**/*.py", "pafprocess_cpp/*.cpp", "pafprocess_cpp/*.hpp", "images/*", "videos/*")
    for p in ROOT.glob(pattern)
    if p.is_file()
)
_key = hashlib.sha256()
for _p in _SOURCES:
    _key.update(str(_p.relative_to(ROOT)).encode())
    _key.update(_p.read_bytes())
PACKAGE_KEY = _key.hexdigest()[:16]

nb_execution_mode = "cache"
nb_execution_cache_path = str(DOCS / "_build" / "jupyter_cache" / PACKAGE_KEY)
nb_execution_timeout = 900
nb_execution_raise_on_error = True  # a notebook that fails fails the build
nb_execution_show_tb = True
nb_merge_streams = True
# Widgets need a kernel: the site shows each widget's still (text/html: a picture of its first state and
# one line saying what it does), never the widget view, whose renderer would come from a CDN.
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None)]
nb_ipywidgets_js = {}

os.environ.setdefault("POSEKIT_NB_MAX_FRAMES", "8")  # as in the notebook tests: short video loops
os.environ.setdefault("POSEKIT_NB_OUT", str(DOCS / "_build" / "notebook_outputs"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")

# --- API reference ------------------------------------------------------------------------------------
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": False}
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_member_order = "bysource"
autodoc_mock_imports: list[str] = []
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True  # "Attributes:" as fields: autodoc documents the attributes themselves once

# --- HTML: works from file:// with no network ---------------------------------------------------------
html_theme = "furo"
html_title = f"posekit {release}"
html_static_path = ["_static"]
html_additional_pages = {"index": "redirect.html"}  # the site's index.html opens the landing page
html_show_sourcelink = False
html_copy_source = False

# MathJax 3 (SVG output, one file, no web fonts) from the django-static-mathjax wheel, copied beside the
# pages: the default would load it from a CDN.
try:
    import mathjax as _mathjax_pkg  # the django-static-mathjax distribution's package

    _MATHJAX = Path(_mathjax_pkg.__file__).parent / "static" / "mathjax" / "es5" / "tex-svg.js"
except ImportError:  # pragma: no cover - the docs extra installs it
    _MATHJAX = None
mathjax_path = "mathjax/tex-svg.js"
mathjax3_config = {"tex": {"inlineMath": [["\\(", "\\)"]], "displayMath": [["\\[", "\\]"]]}}


def _copy_mathjax(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    if _MATHJAX is None or not _MATHJAX.is_file():
        raise RuntimeError("the docs need MathJax: pip install 'posekit[docs]' (django-static-mathjax)")
    target = Path(app.outdir) / "_static" / "mathjax"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_MATHJAX, target / "tex-svg.js")
    shutil.copyfile(_MATHJAX.parents[1] / "LICENSE", target / "LICENSE")


def setup(app):
    app.connect("build-finished", _copy_mathjax)


# --- Cross-references: warnings are errors (make docs runs sphinx-build -W -n) ----------------------------
# Names from other projects cannot be resolved offline (intersphinx would fetch their inventories), and
# Google-style "Returns:" lines put free text where napoleon expects a type ("float32 (18, 3): ..."): both
# are ignored here. Every other reference — every posekit name — must resolve, so a renamed or removed
# name breaks the build.
nitpick_ignore_regex = [
    (
        "py:(class|exc|func|obj|data)",
        r"(numpy|np|collections\.abc|os|pathlib|enum|typing|tf|cv2|matplotlib)\..*",
    ),
    ("py:class", r"(PathLike|Path|ndarray|Figure|Axes|ImageSource|ChannelValue|OnFrame)"),
    ("py:class", r".*[\s\"'{}()\[\],].*"),  # free text, quoted values, dict literals
    ("py:class", r"[0-9]+|[A-Za-z]|float32|float64|int64|uint8|bool|Counters"),
    # Google-style lines that name several values at once ("show_people, zoom: ...", "(low, high): ...")
    # reach Sphinx as a "type" that is a lowercase value name; no posekit class is lowercase, so
    # every real class reference (CamelCase or dotted) is still checked.
    ("py:class", r"[a-z_][a-z0-9_]*"),
]
