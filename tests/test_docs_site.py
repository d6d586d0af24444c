"""The documentation site as a reader meets it: every page loaded from disk in headless Chromium.

Run by ``make docs-test`` after ``make docs`` has built ``docs/_build/html`` (the ``docs`` marker keeps these
tests out of ``make test``'s runs). Checks: no console errors, every image loaded, every internal link and
anchor resolves, nothing is fetched from the network, each notebook chapter holds at least the figures its
executed notebook made, and the API pages document every name of ``posekit.__all__``.
"""

from __future__ import annotations

import json
import os
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import pytest

pytestmark = pytest.mark.docs

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "docs" / "_build" / "html"
NOTEBOOKS = ROOT / "notebooks"


class _Page(HTMLParser):
    """The ids, links, images and scripts of one HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.resources: list[str] = []  # src / href of images, scripts, stylesheets

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("id", "name"):
            if a.get(key):
                self.ids.add(a[key])
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag in ("img", "script", "iframe") and a.get("src"):
            self.resources.append(a["src"])
        if tag == "link" and a.get("href"):
            self.resources.append(a["href"])


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _pages() -> list[Path]:
    if not (SITE / "index.html").is_file():
        pytest.fail(f"no site at {SITE}: build it first with `make docs` (make docs-test does both)")
    return sorted(SITE.rglob("*.html"))


@pytest.fixture(scope="module")
def pages() -> list[Path]:
    return _pages()


@pytest.fixture(scope="module")
def parsed(pages) -> dict[Path, _Page]:
    return {p: _parse(p) for p in pages}


def test_nothing_is_fetched_from_the_network(parsed):
    remote = [
        (p.relative_to(SITE), r)
        for p, page in parsed.items()
        for r in page.resources
        if urlparse(r).scheme in ("http", "https") or r.startswith("//")
    ]
    assert not remote, f"pages load scripts, styles or images from the network: {remote[:5]}"


def test_every_internal_link_and_anchor_resolves(parsed):
    broken = []
    for page_path, page in parsed.items():
        for href in page.links:
            url = urlparse(href)
            if url.scheme or href.startswith(("//", "mailto:")):
                continue
            target, anchor = urldefrag(href)
            target_path = (page_path.parent / unquote(target)).resolve() if target else page_path
            if not target_path.exists():
                broken.append(f"{page_path.relative_to(SITE)} -> {href} (no such file)")
                continue
            if anchor and target_path.suffix == ".html":
                ids = parsed[target_path].ids if target_path in parsed else _parse(target_path).ids
                if unquote(anchor) not in ids:
                    broken.append(f"{page_path.relative_to(SITE)} -> {href} (no such anchor)")
    assert not broken, f"{len(broken)} broken links, e.g. {broken[:8]}"


def _notebook_figures(name: str) -> int:
    """Figures the executed notebook made, read from the build's execution cache."""
    from jupyter_cache import get_cache

    cache_root = ROOT / "docs" / "_build" / "jupyter_cache"
    caches = sorted(cache_root.glob("*"), key=lambda p: p.stat().st_mtime)
    assert caches, f"no execution cache under {cache_root}: was the site built with execution on?"
    import nbformat

    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    _, executed = get_cache(caches[-1]).merge_match_into_notebook(nb)
    return sum(
        1
        for cell in executed.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if "image/png" in out.get("data", {})
    )


@pytest.mark.parametrize("name", sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")))
def test_each_chapter_shows_its_notebooks_figures(name):
    page = SITE / "notebooks" / (Path(name).stem + ".html")
    assert page.is_file(), f"the notebook {name} has no chapter in the site"
    made = _notebook_figures(name)
    assert made >= 1, f"{name} made no figure in the build"
    images = [r for r in _parse(page).resources if r.startswith(("data:image", "../_images/", "_images/"))]
    assert len(images) >= made, f"{name}: the chapter shows {len(images)} images, the notebook made {made}"


def test_api_pages_document_every_public_name():
    import posekit

    ids = _parse(SITE / "docs" / "api" / "posekit.html").ids
    missing = [name for name in posekit.__all__ if f"posekit.{name}" not in ids]
    assert not missing, f"posekit.__all__ names without an entry in the API reference: {missing}"
    modules = ("network", "paf", "paf_trace", "synthetic", "targets", "train", "evaluate", "batch", "video")
    for module in (*modules, "draw", "plot", "widgets"):
        page = SITE / "docs" / "api" / f"{module}.html"
        assert page.is_file(), f"no API page for posekit.{module}"
        mod = __import__(f"posekit.{module}", fromlist=["__all__"])
        ids = _parse(page).ids
        names = [  # the classes and functions (constants are documented where they are explained)
            n
            for n in getattr(mod, "__all__", [])
            if callable(getattr(mod, n)) and not (module == "draw" and n == "draw_people")
        ]
        missing = [n for n in names if f"posekit.{module}.{n}" not in ids]
        assert not missing, f"posekit.{module}: public names without an entry: {missing}"


def test_search_index_holds_the_course():
    text = (SITE / "searchindex.js").read_text(encoding="utf-8")
    assert "Part Affinity" in text or "part affinity" in text.lower()
    assert "notebooks/15_PAF_Grouping_Step_by_Step" in text


# --------------------------------------------------------------------------- in the browser


@pytest.fixture(scope="module")
def chromium():
    from browser.lab import browser_missing, make_driver

    why = browser_missing()
    if why:
        if os.environ.get("POSEKIT_REQUIRE_BROWSER") == "1":
            pytest.fail(f"POSEKIT_REQUIRE_BROWSER=1 but the site cannot be checked in a browser: {why}")
        pytest.skip(f"the site's browser checks need Chromium: {why}")
    drv = make_driver(["--window-size=1280,900", "--allow-file-access-from-files"])
    yield drv
    drv.quit()


def test_every_page_loads_cleanly_in_chromium(chromium, pages):
    """No console error, every <img> decoded (naturalWidth > 0), math typeset where a page has some."""
    problems = []
    shots = ROOT / "out" / "docs"
    shots.mkdir(parents=True, exist_ok=True)
    for page in pages:
        chromium.get_log("browser")  # drop what an earlier page left
        chromium.get(page.as_uri())
        chromium.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "const imgs = Array.from(document.images);"
            "Promise.all(imgs.map(i => i.complete ? 1 : new Promise(r => { i.onload = i.onerror = r; })))"
            ".then(() => (window.MathJax && MathJax.startup ? MathJax.startup.promise : 1)).then(done);"
        )
        rel = page.relative_to(SITE)
        bad = chromium.execute_script(
            "return Array.from(document.images)"
            ".filter(i => !(i.naturalWidth > 0)).map(i => i.src.slice(0, 80));"
        )
        if bad:
            problems.append(f"{rel}: images not loaded: {bad[:3]}")
        errors = [e["message"] for e in chromium.get_log("browser") if e.get("level") == "SEVERE"]
        if errors:
            problems.append(f"{rel}: console errors: {errors[:3]}")
        if "$" in page.read_text(encoding="utf-8") and chromium.execute_script(
            "return document.querySelectorAll('.math').length"
        ):
            typeset = chromium.execute_script("return document.querySelectorAll('mjx-container').length")
            if not typeset:
                problems.append(f"{rel}: math left untypeset")
        if rel.parts[0] == "notebooks" or rel.name == "index.html":
            chromium.save_screenshot(str(shots / (str(rel).replace(os.sep, "_") + ".png")))
    assert not problems, json.dumps(problems[:10], indent=1)
