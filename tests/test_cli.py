"""The `posekit` command line: outputs, and one clear line for every bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
from conftest import IMAGES, ROOT

from posekit.cli import main


def run_cli(*args, timeout=120):
    """Run `python -m posekit ARGS` in a subprocess, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "posekit", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def test_image_writes_drawing_and_json(tmp_path, graph_path, capsys):
    out, js = tmp_path / "o" / "pose.png", tmp_path / "o" / "kp.json"
    assert main(["image", str(IMAGES / "basketball1.png"), "--out", str(out), "--json", str(js)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(str(IMAGES / "basketball1.png") + ": 3 people")
    assert lines[1].startswith("person 0: 17/18 parts")
    drawn = cv2.imread(str(out))
    original = cv2.imread(str(IMAGES / "basketball1.png"))
    assert drawn.shape == original.shape
    changed = (drawn != original).any(axis=2)
    assert 500 < changed.sum() < 0.2 * changed.size  # skeletons drawn, image otherwise intact
    doc = json.loads(js.read_text())
    assert doc["version"] == 1.3 and len(doc["people"]) == 3
    kp = np.array(doc["people"][0]["pose_keypoints_2d"]).reshape(18, 3)
    assert doc["people"][0]["person_id"] == [-1]
    assert kp[1, 0] == pytest.approx(83.0, abs=1.0) and kp[1, 1] == pytest.approx(156.5, abs=1.0)


def test_image_options(tmp_path, graph_path, capsys):
    js = tmp_path / "kp.json"
    argv = ["image", str(IMAGES / "person.jpg"), "--resize", "320x240", "--upsample", "2", "--json", str(js)]
    assert main(argv) == 0
    assert "1 people" in capsys.readouterr().out
    assert len(json.loads(js.read_text())["people"]) == 1


@pytest.mark.parametrize(
    "args,message",
    [
        (["image", "no/such/file.jpg"], "image file not found: no/such/file.jpg"),
        (["image", "pyproject.toml"], "cannot read pyproject.toml as an image"),
        (
            ["image", "images/person.jpg", "--model", "mobilenet_xl"],
            "unknown model 'mobilenet_xl': valid names are",
        ),
        (
            ["image", "images/person.jpg", "--model", "missing/graph.pb"],
            "model file not found: missing/graph.pb",
        ),
        (["image", "images/person.jpg", "--resize", "big"], "size must look like WIDTHxHEIGHT"),
        (["image", "images/person.jpg", "--upsample", "-2"], "expected a positive number"),
        (["fetch", "cmu_huge"], "unknown model 'cmu_huge'"),
    ],
)
def test_bad_input_is_one_line_without_traceback(args, message, graph_path):
    proc = run_cli(*args)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    # argument errors too: one line, no usage block
    assert len(lines) == 1 and lines[0].startswith("posekit: error: ") and message in lines[0], proc.stderr


def test_unwritable_output_is_reported(tmp_path, graph_path, capsys):
    rc = main(["image", str(IMAGES / "person.jpg"), "--out", str(tmp_path / "x.unknownext")])
    assert rc == 2
    assert "unknown extension" in capsys.readouterr().err


def test_fetch_prints_cached_path(graph_path, capsys):
    assert main(["fetch"]) == 0
    assert capsys.readouterr().out.strip() == str(graph_path)
