"""Fixtures of the browser tests: a JupyterLab server, a Notebook 7 server and a headless Chromium.

Without Chromium, chromedriver or selenium the tests skip with the reason, except when
POSEKIT_REQUIRE_BROWSER=1 (CI sets it), where a missing browser is a failure.
"""

from __future__ import annotations

import os

import pytest

from .lab import LabServer, browser_missing, front_end_missing, make_driver

# Frames per video loop in the browser runs: enough for the live view to be running when Stop is clicked.
BROWSER_FRAME_BUDGET = "60"


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.notebooks)


@pytest.fixture(scope="session")
def _browser_available():
    why = browser_missing()
    if why:
        if os.environ.get("POSEKIT_REQUIRE_BROWSER") == "1":
            pytest.fail(f"POSEKIT_REQUIRE_BROWSER=1 but the browser tests cannot run: {why}")
        pytest.skip(f"browser tests need Chromium: {why}")


@pytest.fixture(scope="session")
def lab(_browser_available, tmp_path_factory):
    work = tmp_path_factory.mktemp("lab")
    server = LabServer(
        work,
        {
            "POSEKIT_NB_MAX_FRAMES": BROWSER_FRAME_BUDGET,
            "POSEKIT_NB_OUT": str(work / "out"),
            "TF_CPP_MIN_LOG_LEVEL": "3",
        },
    )
    yield server
    server.stop()


def require_front_end(app: str) -> None:
    """Skip (or fail, with POSEKIT_REQUIRE_BROWSER=1) when the front end is not installed."""
    why = front_end_missing(app)
    if why:
        if os.environ.get("POSEKIT_REQUIRE_BROWSER") == "1":
            pytest.fail(f"POSEKIT_REQUIRE_BROWSER=1 but {why}")
        pytest.skip(why)


@pytest.fixture(scope="session")
def notebook7(_browser_available, tmp_path_factory):
    """A Notebook 7 server (the classic-style front end) on its own copy of the notebooks."""
    require_front_end("notebook")
    work = tmp_path_factory.mktemp("nb7")
    server = LabServer(
        work,
        {
            "POSEKIT_NB_MAX_FRAMES": BROWSER_FRAME_BUDGET,
            "POSEKIT_NB_OUT": str(work / "out"),
            "TF_CPP_MIN_LOG_LEVEL": "3",
        },
        app="notebook",
    )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def driver(lab):
    drv = make_driver()
    yield drv
    drv.quit()
