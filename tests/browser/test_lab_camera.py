"""Notebook 30 on the browser's camera, in JupyterLab, with Chromium's fake camera playing the bundled clip.

The kernel is told to use the browser camera (``POSEKIT_CAMERA=browser``), so the test does not
depend on whether the machine running it has a camera. Chromium's fake device plays
``videos/vtest_pair.mp4``, converted here to a .y4m file; ``--use-fake-ui-for-media-stream``
accepts the permission prompt. A second browser, whose camera permission is denied, must get
the one-line message and the clip instead, with no hang.

Under Run All only the first cell that waits on widget messages hears them (``LiveView.join``'s
docstring says why), so the notebook opens the camera, runs live and waits in one cell; these
tests check that the frames and the Stop click reach the kernel there, under Run All.
"""

from __future__ import annotations

import re
import time

import cv2
import pytest

from .conftest import require_front_end
from .lab import ROOT, LabServer, Notebook, make_driver

NAME = "30_Pose_Estimation_Camera.ipynb"
BUDGET = 40  # frames of the notebook's live loops
RUN_TIMEOUT = 300
STATUS = ".posekit-liveview .posekit-status"


def _y4m_from_clip(path, size=(640, 480), frames=150) -> None:
    """The bundled clip as a YUV4MPEG2 file (4:2:0), which Chromium's fake camera plays in a loop."""
    cap = cv2.VideoCapture(str(ROOT / "videos" / "vtest_pair.mp4"))
    w, h = size
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{w} H{h} F15:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            ok, frame = cap.read()
            if not ok:
                break
            out.write(b"FRAME\n")
            out.write(cv2.cvtColor(cv2.resize(frame, size), cv2.COLOR_BGR2YUV_I420).tobytes())
    cap.release()


def _camera_server(tmp_path_factory, app: str) -> LabServer:
    work = tmp_path_factory.mktemp(f"{app}-camera")
    return LabServer(
        work,
        {
            "POSEKIT_CAMERA": "browser",
            "POSEKIT_NB_MAX_FRAMES": str(BUDGET),
            "POSEKIT_NB_OUT": str(work / "out"),
            "TF_CPP_MIN_LOG_LEVEL": "3",
        },
        app=app,
    )


@pytest.fixture(scope="module")
def camera_lab(_browser_available, tmp_path_factory):
    server = _camera_server(tmp_path_factory, "lab")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def camera_notebook7(_browser_available, tmp_path_factory):
    require_front_end("notebook")
    server = _camera_server(tmp_path_factory, "notebook")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def fake_camera(tmp_path_factory):
    path = tmp_path_factory.mktemp("fake-camera") / "vtest_pair.y4m"
    _y4m_from_clip(path)
    assert path.stat().st_size > 1_000_000
    return path


def _status(nb) -> str:
    return nb.js(f"const s = document.querySelector('{STATUS}'); return s ? s.textContent : '';")


def _scroll_to(driver, css: str) -> None:
    """Scroll the notebook so the element is in the middle of the screenshot."""
    element = driver.find_element("css selector", css)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    time.sleep(0.3)


def _frame_number(nb) -> int | None:
    m = re.match(r"frame (\d+)", _status(nb))
    return int(m.group(1)) if m else None


@pytest.mark.parametrize("front", ["lab", "notebook"], ids=["jupyterlab", "notebook7"])
def test_browser_camera_frames_reach_the_kernel_people_are_found_and_stop_is_quick(
    request, fake_camera, front
):
    """JupyterLab and Notebook 7: the browser's frames reach the kernel, Stop is heard, nothing hangs."""
    camera_lab = request.getfixturevalue("camera_lab" if front == "lab" else "camera_notebook7")
    shot = "30-camera" if front == "lab" else "30-nb7-camera"
    driver = make_driver(
        [
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={fake_camera}",
        ]
    )
    try:
        nb = Notebook(driver, camera_lab, NAME)
        nb.run_all()
        nb.wait_for(
            "return [...document.querySelectorAll('.posekit-camera-status')]"
            ".some(s => s.textContent.includes('fps delivered'))",
            RUN_TIMEOUT,
            "the browser camera to deliver frames",
        )
        nb.wait_for(
            f"const s = document.querySelector('{STATUS}');"
            "const m = s && s.textContent.match(/^frame (\\d+)/); return m && Number(m[1]) >= 5;",
            RUN_TIMEOUT,
            "the live view to show browser-camera frames",
        )
        text = nb.text_of_outputs()
        assert (
            "Using the browser's camera" in text
            and "source: browser camera (browser), frames 640x480" in text
        )
        _scroll_to(driver, ".posekit-liveview")
        nb.screenshot(f"{shot}-running")
        camera_line = driver.find_element("css selector", ".posekit-camera-status").text
        assert re.search(r"browser camera 640x480: \d+\.\d fps delivered", camera_line), camera_line

        # period between frames, then Stop
        first, t0 = _frame_number(nb), time.monotonic()
        while _frame_number(nb) is not None and _frame_number(nb) < first + 3 and time.monotonic() - t0 < 60:
            time.sleep(0.05)
        period = (time.monotonic() - t0) / max(1, (_frame_number(nb) or first) - first)
        driver.find_element("css selector", ".posekit-liveview .posekit-stop").click()
        t1 = time.monotonic()
        nb.wait_for(
            f"const s = document.querySelector('{STATUS}');"
            "return s && s.textContent.includes('stopped by the Stop button');",
            10,
            "the live view to stop after the click",
        )
        elapsed = time.monotonic() - t1
        nb.screenshot(f"{shot}-stopped")
        assert elapsed < max(1.0, 2.0 * period), (
            f"stopped {elapsed:.2f} s after the click ({period:.2f} s/frame)"
        )

        nb.wait_until_done(RUN_TIMEOUT)
        nb.screenshot(f"{shot}-after-run-all")
        assert nb.errors() == []
        text = nb.text_of_outputs()
        assert "stop reason: button" in text
        counts = [int(c) for c in re.search(r"people per frame: \[([\d, ]+)\]", text).group(1).split(",")]
        assert len(counts) >= 5 and sum(c > 0 for c in counts) >= 0.7 * len(counts), counts
        delivered = int(re.search(r"frames read from the source\s+(\d+)", text).group(1))
        assert delivered >= len(counts)
        # the input-size table was measured on the browser-camera frames the live run kept
        kept = int(re.search(r"(\d+) frames kept by the live run from browser camera", text).group(1))
        assert 0 < kept <= len(counts), (kept, counts)
        sizes = re.findall(r"(\d+x\d+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", text)
        assert [s[0] for s in sizes] == ["432x368", "320x272", "224x192"], sizes
        assert all(int(s[1]) == kept for s in sizes) and float(sizes[0][3]) > 0
        assert float(sizes[2][2]) > float(sizes[0][2]), sizes  # the smallest input runs faster
        # the last cell closed the camera: the browser says so
        nb.wait_for(
            "const s = document.querySelector('.posekit-camera-status');"
            "return s && s.textContent.startsWith('browser camera: off');",
            20,
            "the browser camera to be turned off",
        )
        shot = nb.shoot_element(
            driver.find_element("css selector", ".posekit-liveview-image"), f"{shot}-last-frame"
        )
        assert shot is not None and shot.std() > 10
    finally:
        driver.quit()


def test_denied_camera_permission_gives_one_line_and_the_clip(camera_lab, fake_camera):
    driver = make_driver(
        ["--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={fake_camera}"]
    )
    try:
        driver.execute_cdp_cmd(
            "Browser.setPermission",
            {"origin": camera_lab.url, "permission": {"name": "camera"}, "setting": "denied"},
        )
        nb = Notebook(driver, camera_lab, NAME)
        t0 = time.monotonic()
        nb.run_all()
        nb.wait_for(
            # in an output, not the cell's source (which holds the same words)
            "return [...document.querySelectorAll('.jp-OutputArea-output')]"
            ".some(o => o.textContent.includes('Using the bundled clip'))",
            RUN_TIMEOUT,
            "the notebook to fall back to the clip",
        )
        text = nb.text_of_outputs()
        lines = [line for line in text.splitlines() if line.startswith("browser camera:")]
        assert lines == [
            "browser camera: permission denied; allow the camera for this page (icon in the address bar) "
            "and re-run the cell"
        ], text
        _scroll_to(driver, ".posekit-camera-widget")
        nb.screenshot("30-camera-denied")
        stop = nb.wait_for(
            f"return document.querySelector('{STATUS}') && /^frame/.test("
            f"document.querySelector('{STATUS}').textContent)",
            RUN_TIMEOUT,
            "the live view to run on the clip",
        )
        assert stop
        assert "source: " in text and "(file)" in text
        driver.find_element("css selector", ".posekit-liveview .posekit-stop").click()
        nb.wait_until_done(RUN_TIMEOUT)
        assert nb.errors() == []
        assert time.monotonic() - t0 < RUN_TIMEOUT
        camera_line = driver.find_element("css selector", ".posekit-camera-status").text
        assert camera_line.startswith("browser camera: NotAllowedError"), camera_line
        # no empty black preview box is left after the denial
        preview = driver.find_element("css selector", ".posekit-camera-preview")
        box_height = nb.js("return document.querySelector('.posekit-camera').getBoundingClientRect().height")
        assert not preview.is_displayed() and box_height < 60, box_height  # the status line only
    finally:
        driver.quit()
