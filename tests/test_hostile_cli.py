"""The CLI promise under hostile input: one line ``posekit: error: ...`` and exit 2, never a traceback,
a usage block, a hang or a crash; Ctrl-C exits 130, SIGTERM 143, with every output file complete."""

from __future__ import annotations

import argparse
import csv
import http.server
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import zipfile

import cv2
import numpy as np
import pytest
from conftest import IMAGES, ROOT, VIDEOS

from posekit.cli import build_parser, main
from posekit.cli import image as image_command
from posekit.cli._args import fraction, positive_float, scales, size, upsample

CLIP = VIDEOS / "vtest_pair.mp4"
PERSON = str(IMAGES / "person.jpg")


def run_cli(*args, timeout=120, env=None, **kw) -> subprocess.CompletedProcess:
    """``python -m posekit ARGS`` in a subprocess, as a user runs it."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "posekit", *map(str, args)],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env, **kw,
    )  # fmt: skip


def one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err and "usage:" not in err
    return lines[0]


# ----------------------------------------------------------------- a. argument errors are one line


@pytest.mark.parametrize(
    "argv, expected",
    [
        (
            ["image", PERSON, "--resize", "big"],
            "posekit: error: argument --resize: size must look like WIDTHxHEIGHT, e.g. 432x368, got 'big'",
        ),
        (
            ["image", PERSON, "--upsample", "lots"],
            "posekit: error: argument --upsample: expected a positive number, got 'lots'",
        ),
        (
            ["video", str(CLIP), "--out", "o.mp4", "--max-frames", "0"],
            "posekit: error: argument --max-frames: expected a positive integer, got '0'",
        ),
        (
            ["video", str(CLIP), "--out", "o.mp4", "--max-frames", "2.5"],
            "posekit: error: argument --max-frames: expected a positive integer, got '2.5'",
        ),
        (["image", PERSON, "--bogus"], "posekit: error: unrecognized arguments: --bogus"),
        (["image"], "posekit: error: the following arguments are required: path"),
        (["image", PERSON, "--model"], "posekit: error: argument --model: expected one argument"),
        ([], "posekit: error: the following arguments are required: COMMAND"),
        (
            ["evaluate", "--images", "."],
            "posekit: error: the following arguments are required: --annotations",
        ),
        (
            ["image", PERSON, "--engine", "cuda"],
            "posekit: error: argument --engine: invalid choice: 'cuda' "
            "(choose from 'auto', 'tf', 'tflite', 'openvino')",
        ),
    ],
)
def test_argument_errors_are_one_line(argv, expected, capsys):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert one_line(captured.err) == expected
    assert captured.out == ""


def test_unknown_command_is_one_line(capsys):
    assert main(["dance"]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith("posekit: error: argument COMMAND: invalid choice: 'dance' (choose from ")
    for name in ("image", "video", "camera", "evaluate", "fetch"):
        assert f"'{name}'" in line


def test_argument_error_in_a_subprocess_is_one_line():
    proc = run_cli("image", PERSON, "--resize", "12x", timeout=60)
    assert proc.returncode == 2
    expected = "posekit: error: argument --resize: size must look like WIDTHxHEIGHT, e.g. 432x368, got '12x'"
    assert one_line(proc.stderr) == expected and proc.stdout == ""


@pytest.mark.parametrize("argv", [["--help"], ["image", "--help"], ["video", "-h"], ["camera", "--help"]])
def test_help_still_prints_usage_and_exits_0(argv, capsys):
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("usage: posekit") and captured.err == ""
    if argv[0] != "--help":
        assert "--model" in captured.out and "--architecture NAME" in captured.out


# ----------------------------------------------------------------- b. non-finite numbers


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (sub,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _float_options():
    """(command, option) for every option of every command that takes a number with a fraction."""
    found = []
    for name, p in _subparsers(build_parser()).items():
        for action in p._actions:
            if action.type in (positive_float, upsample, fraction, scales) and action.option_strings:
                found.append((name, action.option_strings[0]))
    return found


def test_every_float_option_uses_a_finite_type():
    options = _float_options()
    assert ("video", "--out-fps") in options and ("image", "--upsample") in options
    assert ("evaluate", "--scales") in options and ("camera", "--out-fps") in options
    for name, p in _subparsers(build_parser()).items():
        for action in p._actions:
            assert action.type is not float, (
                f"posekit {name} {action.option_strings}: plain float lets inf in"
            )


@pytest.mark.parametrize("value", ["inf", "nan", "-inf", "Infinity", "1e999"])
def test_non_finite_numbers_are_refused_for_every_float_option(value, capsys):
    for name, option in _float_options():
        # the value is checked as it is read, before any missing argument is noticed
        assert main([name, f"{option}={value}"]) == 2, (name, option)
        line = one_line(capsys.readouterr().err)
        assert line.startswith(f"posekit: error: argument {option}: expected "), line
        assert repr(value) in line


def test_infinite_out_fps_does_not_hang(tmp_path):
    # once, OpenCV's VideoWriter spun forever on fps=inf; now the argument is refused before anything opens
    out = tmp_path / "o.mp4"
    proc = run_cli("video", CLIP, "--out", out, "--out-fps", "inf", "--max-frames", "3", timeout=60)
    assert proc.returncode == 2
    assert one_line(
        proc.stderr
    ) == "posekit: error: argument --out-fps: expected a positive number, got 'inf' " + (
        "(not a finite number)"
    )
    assert not out.exists()


@pytest.mark.parametrize(
    "argtype, text",
    [
        (positive_float, "0"),
        (positive_float, "-1"),
        (fraction, "1.5"),
        (scales, "1,0"),
        (scales, "1,x"),
        (size, "8x8"),
    ],
)
def test_argument_types_refuse(argtype, text):
    with pytest.raises(argparse.ArgumentTypeError):
        argtype(text)


def test_argument_types_accept():
    assert positive_float("2.5") == 2.5 and fraction("0") == 0.0 and fraction("1") == 1.0
    assert scales("1, 0.75,1.25") == (1.0, 0.75, 1.25) and size("320x240") == (320, 240)


# ----------------------------------------------------------------- c. exceptions and signals


def _command_raising(monkeypatch, exc: BaseException) -> None:
    """Make `posekit image` raise ``exc`` from posekit's code (the command module)."""

    def cmd_image(args):
        raise exc

    monkeypatch.setattr(image_command, "cmd_image", cmd_image)


@pytest.mark.parametrize(
    "exc, expected",
    [
        (
            cv2.error("OpenCV(4.x) resize.cpp:4065: error: (-215:Assertion failed) !ssize.empty()"),
            "OpenCV(4.x)",
        ),
        (MemoryError(), "out of memory"),
        (MemoryError("Unable to allocate 74.5 GiB"), "out of memory: Unable to allocate 74.5 GiB"),
        (zipfile.BadZipFile("File is not a zip file"), "File is not a zip file"),
        (
            EOFError("Compressed file ended before the end-of-stream marker was reached"),
            "Compressed file ended",
        ),
        (OSError(28, "No space left on device"), "No space left on device"),
    ],
)
def test_user_facing_errors_are_one_line(monkeypatch, capsys, exc, expected):
    _command_raising(monkeypatch, exc)
    assert main(["image", PERSON]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith("posekit: error: ") and expected in line


def test_a_multi_line_message_is_cut_to_one_line(monkeypatch, capsys):
    _command_raising(monkeypatch, ValueError("first line\nsecond line\nthird"))
    assert main(["image", PERSON]) == 2
    assert one_line(capsys.readouterr().err) == "posekit: error: first line ..."


def test_a_runtime_error_from_posekit_is_one_line(monkeypatch, capsys, graph_path):
    # a machine without a TFLite interpreter, asked for the TFLite engine: posekit.network.engines says so
    import posekit.network.engines

    monkeypatch.setattr(posekit.network.engines, "tflite_available", lambda: False)
    assert main(["image", PERSON, "--engine", "tflite"]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith("posekit: error: no TFLite interpreter: pip install ai-edge-litert")


def test_a_runtime_error_from_elsewhere_is_a_bug_with_its_traceback(monkeypatch):
    _command_raising(monkeypatch, RuntimeError("not raised by posekit"))  # raised in this test module
    with pytest.raises(RuntimeError, match="not raised by posekit"):
        main(["image", PERSON])


def test_keyboard_interrupt_is_never_exit_0(monkeypatch, capsys):
    _command_raising(monkeypatch, KeyboardInterrupt())
    assert main(["image", PERSON]) == 130
    assert one_line(capsys.readouterr().err) == "posekit: interrupted"


def test_main_leaves_the_sigterm_handler_as_it_found_it(monkeypatch, capsys):
    before = signal.getsignal(signal.SIGTERM)
    seen = []

    def cmd_image(args):
        seen.append(signal.getsignal(signal.SIGTERM))
        os.kill(os.getpid(), signal.SIGTERM)  # delivered to the main thread: raises there
        time.sleep(5)
        raise AssertionError("SIGTERM did not stop the command")

    monkeypatch.setattr(image_command, "cmd_image", cmd_image)
    assert main(["image", PERSON]) == 143
    assert one_line(capsys.readouterr().err) == "posekit: terminated"
    assert seen and seen[0] is not before and callable(seen[0])
    assert signal.getsignal(signal.SIGTERM) is before


def test_importing_the_cli_installs_no_signal_handler():
    code = "import signal, posekit.cli; print(signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.stdout.strip() == "True", proc.stderr


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM to a child process is POSIX")
def test_sigterm_finalises_every_output(tmp_path):
    out, coco, table = tmp_path / "o.mp4", tmp_path / "c.json", tmp_path / "c.csv"
    args = ["video", str(CLIP), "--out", str(out), "--coco", str(coco), "--csv", str(table), "--no-progress"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.Popen(
        [sys.executable, "-m", "posekit", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        # the CSV grows as frames are written: wait for a few frames' rows
        while proc.poll() is None and time.monotonic() < deadline:
            if table.exists() and table.stat().st_size > 4096:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be terminated"
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 143, stderr
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert re.fullmatch(r"posekit: terminated after \d+ frames; the files written are complete", last), stderr
    n = int(last.split()[3])
    assert 0 < n < 100
    cap = cv2.VideoCapture(str(out))
    assert cap.isOpened()
    frames = 0
    while cap.read()[0]:
        frames += 1
    cap.release()
    assert frames == n
    results = json.loads(coco.read_text())
    assert isinstance(results, list) and results
    assert {r["image_id"] for r in results} <= set(range(n))
    with table.open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0][0] == "frame" and len(rows) > 1
    assert {int(r[0]) for r in rows[1:]} <= set(range(n))


# ----------------------------------------------------------------- d. a .pb file that is not a pose graph


def test_random_pb_model_is_one_line_naming_the_option(tmp_path):
    graph = tmp_path / "random.pb"
    graph.write_bytes(np.random.default_rng(0).bytes(4096))
    proc = run_cli(
        "image", PERSON, "--model", graph, env={"POSEKIT_HOME": str(tmp_path / "home")}, timeout=120
    )
    assert proc.returncode == 2
    line = one_line(proc.stderr)
    assert line.startswith("posekit: error: ") and str(graph) in line
    assert "--architecture NAME" in line


def test_architecture_option_reaches_the_estimator(tmp_path):
    # with --architecture the file is read as that network: the error is about the graph, not the guess
    graph = tmp_path / "random.pb"
    graph.write_bytes(np.random.default_rng(0).bytes(4096))
    args = ["image", PERSON, "--model", graph, "--architecture", "mobilenet_thin"]
    proc = run_cli(*args, env={"POSEKIT_HOME": str(tmp_path / "home")}, timeout=120)
    assert proc.returncode == 2
    line = one_line(proc.stderr)
    assert line.startswith("posekit: error: ") and "cannot tell the architecture" not in line


def test_unknown_architecture_is_one_line(capsys):
    assert main(["image", PERSON, "--architecture", "resnet"]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith("posekit: error: argument --architecture: invalid choice: 'resnet' (choose from ")
    assert "'mobilenet_thin'" in line and "'cmu'" in line


# ----------------------------------------------------------------- e. sizes and upsampling out of bounds


@pytest.mark.parametrize("text", ["100000x100000", "20000x20000"])
def test_huge_resize_is_refused_before_anything_loads(tmp_path, text):
    home = tmp_path / "home"
    home.mkdir()
    proc = run_cli("image", PERSON, "--resize", text, env={"POSEKIT_HOME": str(home)}, timeout=60)
    assert proc.returncode == 2
    line = one_line(proc.stderr)
    assert line == (
        f"posekit: error: argument --resize: size {text} exceeds the limit of 4096 pixels per side "
        "(the network and its fields would not fit in memory)"
    )
    assert list(home.rglob("*")) == []  # no model converted, no .tflite written


@pytest.mark.parametrize("value", ["1000", "32"])
def test_huge_upsample_is_refused_with_the_reason(value, capsys):
    assert main(["image", PERSON, "--upsample", value]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"posekit: error: argument --upsample: upsample {value} is above ")
    assert "use upsample <= " in line  # the reason and the way out


def test_upsampled_grid_too_large_is_refused_before_the_model_loads(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    args = ["image", PERSON, "--resize", "4096x4096", "--upsample", "8"]
    proc = run_cli(*args, env={"POSEKIT_HOME": str(home)}, timeout=60)
    assert proc.returncode == 2
    line = one_line(proc.stderr)
    assert line.startswith("posekit: error: upsample 8 on a 4096x4096 input gives a 4096x4096 grid, above ")
    assert list(home.rglob("*")) == []


# ----------------------------------------------------------------- f. a live MJPEG stream that ends


class MjpegServer:
    """multipart/x-mixed-replace JPEG frames of the bundled clip on 127.0.0.1, until ``kill()``."""

    def __init__(self, fps: float = 25.0) -> None:
        cap = cv2.VideoCapture(str(CLIP))
        jpegs = []
        while len(jpegs) < 30:
            ok, frame = cap.read()
            assert ok
            jpegs.append(cv2.imencode(".jpg", frame)[1].tobytes())
        cap.release()
        self.served = 0
        self.dead = threading.Event()
        self.closed = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                try:
                    while not server.dead.is_set():
                        jpg = jpegs[server.served % len(jpegs)]
                        head = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpg)
                        self.wfile.write(head + jpg + b"\r\n")
                        self.wfile.flush()
                        server.served += 1
                        time.sleep(1 / fps)
                finally:
                    server.closed.set()  # the handler returns: the connection closes

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/stream.mjpg"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def kill(self) -> None:
        """Stop serving: the open connection ends after the frame being sent, the server goes away."""
        self.dead.set()
        assert self.closed.wait(10)
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        if not self.dead.is_set():
            self.kill()


@pytest.mark.slow
def test_camera_on_a_stream_stops_cleanly_when_the_server_dies(tmp_path):
    table = tmp_path / "s.csv"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    with MjpegServer() as server:
        args = ["camera", server.url, "--no-window", "--csv", str(table)]
        proc = subprocess.Popen(
            [sys.executable, "-m", "posekit", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 180
            while proc.poll() is None and time.monotonic() < deadline:  # frames go through the network
                if table.exists() and table.stat().st_size > 4096:
                    break
                time.sleep(0.05)
            assert proc.poll() is None, proc.communicate()
            server.kill()
            killed = time.monotonic()
            stdout, stderr = proc.communicate(timeout=60)
            elapsed = time.monotonic() - killed
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 0, stderr
    assert elapsed < 30, elapsed
    ended = [ln for ln in stdout.splitlines() if "ended" in ln]
    assert ended == [f"stream ended after {server.served} frames"], (server.served, stdout)
    assert "Traceback" not in stderr and "error" not in stderr.lower(), stderr
    with table.open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0][0] == "frame" and len(rows) > 1
    assert max(int(r[0]) for r in rows[1:]) < server.served


# ----------------------------------------------------------------- imports flow one way


def test_the_library_never_imports_the_cli():
    code = """
import importlib, pathlib, sys
import posekit
root = pathlib.Path(posekit.__file__).parent
# from the files, not pkgutil.walk_packages, which imports every package (posekit.cli too) to look inside
names = [
    ".".join(("posekit", *p.relative_to(root).with_suffix("").parts)).removesuffix(".__init__")
    for p in root.rglob("*.py")
]
names = [n for n in names if not n.startswith("posekit.cli") and n != "posekit.__main__"]
for name in names:
    try:
        importlib.import_module(name)
    except ImportError as exc:  # an optional dependency (ray, ipywidgets) missing here
        print("skipped", name, exc, file=sys.stderr)
print(len(names), sorted(m for m in sys.modules if m.startswith("posekit.cli")))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    count, cli_modules = proc.stdout.split(" ", 1)
    assert int(count) > 20 and cli_modules.strip() == "[]", proc.stdout
