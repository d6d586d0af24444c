"""Drive JupyterLab or Notebook 7 in headless Chromium (Debian's chromium + chromium-driver; selenium).

The server runs on 127.0.0.1 with a random token, over a temporary copy of notebooks/ (so the
notebooks in git are never saved with outputs), with images/ and videos/ linked beside it.
Both front ends learners use are served the same way: JupyterLab 4 (``app="lab"``) and the
classic-style Notebook 7 (``app="notebook"``, built on JupyterLab's components, installed with the
notebooks extra). Each is started with ``expose_app_in_browser`` so tests can run commands ("run
all cells") and read the notebook model (outputs) through ``window.jupyterapp``; the widgets
themselves are driven with real clicks and drags.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SHOTS = ROOT / "out" / "browser"


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    for exe in (CHROMIUM, CHROMEDRIVER):
        if not Path(exe).exists():
            return f"{exe} not found (apt install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install selenium)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: The front ends: the ``jupyter`` subcommand and the app class that takes ``expose_app_in_browser``.
FRONT_ENDS = {"lab": "LabApp", "notebook": "JupyterNotebookApp"}


def front_end_missing(app: str) -> str | None:
    """Why a front end cannot be served here, or None."""
    import importlib.util

    module = {"lab": "jupyterlab", "notebook": "notebook"}[app]
    if importlib.util.find_spec(module) is None:
        return f"{module} is not installed (pip install 'posekit[notebooks]')"
    return None


class LabServer:
    """A JupyterLab (``app="lab"``) or Notebook 7 (``app="notebook"``) server on a copy of the notebooks."""

    def __init__(self, workdir: Path, env: dict[str, str], app: str = "lab") -> None:
        if app not in FRONT_ENDS:
            raise ValueError(f"app must be one of {sorted(FRONT_ENDS)}, got {app!r}")
        self.app = app
        self.dir = workdir
        nb_dir = workdir / "notebooks"
        nb_dir.mkdir(parents=True)
        for nb in (ROOT / "notebooks").glob("*.ipynb"):
            shutil.copy(nb, nb_dir / nb.name)
        for name in ("images", "videos"):
            (workdir / name).symlink_to(ROOT / name)
        self.port, self.token = _free_port(), secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [
            sys.executable, "-m", "jupyter", app, "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
            f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={workdir}",
            f"--{FRONT_ENDS[app]}.expose_app_in_browser=True", "--ServerApp.disable_check_xsrf=False",
        ]  # fmt: skip
        if app == "lab":
            cmd += ["--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")
        self.log = open(workdir / "lab.log", "w")  # noqa: SIM115 - closed in stop()
        # user settings of this server only: no "Jupyter news" pop-up over the notebook
        settings = workdir / "lab-settings" / "@jupyterlab" / "apputils-extension"
        settings.mkdir(parents=True)
        (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
        full_env = {
            **os.environ, **env, "JUPYTER_PLATFORM_DIRS": "1",
            "JUPYTERLAB_SETTINGS_DIR": str(workdir / "lab-settings"),
        }  # fmt: skip
        self.proc = subprocess.Popen(
            cmd, cwd=workdir, stdout=self.log, stderr=subprocess.STDOUT, env=full_env, start_new_session=True
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter {app} exited: {(workdir / 'lab.log').read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=2)
                return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"jupyter {app} did not start within 90 s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()


def make_driver(extra_args=()):
    """Headless Chromium under chromedriver; ``extra_args``: more command-line flags (e.g. a fake camera)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--window-size=1600,1100", "--force-device-scale-factor=1",
        *extra_args,
    ):  # fmt: skip
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # console messages for get_log("browser")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_script_timeout(60)
    return driver


class Notebook:
    """One notebook open in JupyterLab or Notebook 7 (``server.app``), with helpers to run and inspect it."""

    def __init__(self, driver, server: LabServer, name: str) -> None:
        self.driver, self.server, self.name = driver, server, name
        if server.app == "notebook":  # Notebook 7: one notebook per page
            driver.get(f"{server.url}/notebooks/notebooks/{name}?token={server.token}")
        else:
            driver.get(f"{server.url}/lab/tree/notebooks/{name}?token={server.token}&reset")
        self.wait_for(
            "return !!(window.jupyterapp && jupyterapp.shell.currentWidget && "
            "jupyterapp.shell.currentWidget.sessionContext && "
            "jupyterapp.shell.currentWidget.sessionContext.session && "
            "jupyterapp.shell.currentWidget.sessionContext.session.kernel && "
            "jupyterapp.shell.currentWidget.sessionContext.session.kernel.connectionStatus === 'connected')",
            120,
            "the notebook and its kernel to open",
        )

    def js(self, script: str, *args):
        return self.driver.execute_script(script, *args)

    def wait_for(self, script: str, timeout: float, what: str, *args):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.js(script, *args)
            if value:
                return value
            time.sleep(0.2)
        self.screenshot(f"timeout-{Path(self.name).stem}")
        raise TimeoutError(f"waited {timeout:.0f} s for {what}")

    def run_all(self) -> None:
        """Start "Run All Cells" (returns at once)."""
        self.js("jupyterapp.commands.execute('notebook:run-all-cells')")

    def kernel_status(self) -> str:
        return self.js("return jupyterapp.shell.currentWidget.sessionContext.session.kernel.status")

    def executed_all(self) -> bool:
        """Every code cell has an execution count and the kernel is idle."""
        return bool(
            self.js(
                "const m = jupyterapp.shell.currentWidget.content.model;"
                "const k = jupyterapp.shell.currentWidget.sessionContext.session.kernel;"
                "if (k.status !== 'idle') return false;"
                "for (let i = 0; i < m.cells.length; i++) { const c = m.cells.get(i);"
                "  if (c.type === 'code' && !c.executionCount) return false; }"
                "return true;"
            )
        )

    def wait_until_done(self, timeout: float) -> None:
        time.sleep(1.0)
        self.wait_for(
            "const m = jupyterapp.shell.currentWidget.content.model;"
            "const k = jupyterapp.shell.currentWidget.sessionContext.session.kernel;"
            "if (k.status !== 'idle') return false;"
            "for (let i = 0; i < m.cells.length; i++) { const c = m.cells.get(i);"
            "  if (c.type === 'code' && !c.executionCount) return false; }"
            "return true;",
            timeout,
            "all cells to run",
        )

    def outputs(self) -> list[list[dict]]:
        """The outputs of every code cell, as nbformat dicts."""
        return json.loads(
            self.js(
                "const m = jupyterapp.shell.currentWidget.content.model; const out = [];"
                "for (let i = 0; i < m.cells.length; i++) { const c = m.cells.get(i);"
                "  out.push(c.type === 'code' ? c.outputs.toJSON() : []); }"
                "return JSON.stringify(out);"
            )
        )

    def errors(self) -> list[str]:
        """Error outputs (tracebacks) of any cell, as 'cell i: ename: evalue'."""
        found = []
        for i, outs in enumerate(self.outputs()):
            for o in outs:
                if o.get("output_type") == "error":
                    found.append(f"cell {i}: {o.get('ename')}: {o.get('evalue')}")
        return found

    def text_of_outputs(self) -> str:
        parts = []
        for outs in self.outputs():
            for o in outs:
                if o.get("output_type") == "stream":
                    parts.append("".join(o.get("text", "")))
                elif "data" in o and "text/plain" in o["data"]:
                    parts.append("".join(o["data"]["text/plain"]))
        return "\n".join(parts)

    def screenshot(self, stem: str) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{stem}.png"
        self.driver.save_screenshot(str(path))
        return path

    def shoot_element(self, element, stem: str) -> np.ndarray:
        """Screenshot of one element, saved under out/browser/ and returned as an RGB array."""
        import cv2

        SHOTS.mkdir(parents=True, exist_ok=True)
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
        time.sleep(0.3)
        png = element.screenshot_as_png
        (SHOTS / f"{stem}.png").write_bytes(png)
        return cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)


def differ(a: np.ndarray, b: np.ndarray, min_fraction: float = 0.002) -> bool:
    """True when two screenshots differ in more than ``min_fraction`` of their pixels."""
    if a.shape != b.shape:
        return True
    changed = (np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=2) > 16).mean()
    return bool(changed > min_fraction)
