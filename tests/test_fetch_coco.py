"""`posekit fetch coco-val2017` against a local HTTP server serving small stand-in archives (no network)."""

from __future__ import annotations

import hashlib
import http.server
import io
import re
import threading
import zipfile

import pytest
from conftest import IMAGES

from posekit.cli import main
from posekit.datasets import DATASETS, ArchivePart, DatasetError, fetch_dataset

SAMPLE = IMAGES / "coco_val2017"
ANNOTATIONS = "annotations/person_keypoints_val2017.json"


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.files`` (path -> bytes) with Range support; records (path, Range header) per GET."""

    def do_GET(self):  # noqa: N802 (http.server's name)
        data = self.server.files.get(self.path)
        self.server.requests.append((self.path, self.headers.get("Range")))
        if data is None:
            self.send_error(404)
            return
        start = 0
        m = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if m:
            start = int(m.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    """A server on 127.0.0.1 with COCO's two archives as stand-ins (the 4 bundled photos and their labels)."""
    annotations = _zip({ANNOTATIONS: (SAMPLE / "person_keypoints_val2017_sample.json").read_bytes(),
                        "annotations/captions_val2017.json": b"{}"})  # fmt: skip
    images = _zip({f"val2017/{p.name}": p.read_bytes() for p in sorted(SAMPLE.glob("*.jpg"))})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.files = {"/annotations/annotations_trainval2017.zip": annotations, "/zips/val2017.zip": images}
    httpd.requests = []
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.parts = tuple(
        ArchivePart(base + path, hashlib.md5(httpd.files[path]).hexdigest(), real.member, real.target)
        for path, real in zip(httpd.files, DATASETS["coco-val2017"])
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=10)


def test_the_real_archives_are_cocos_with_pinned_md5s():
    urls = [p.url for p in DATASETS["coco-val2017"]]
    assert urls == [
        "http://images.cocodataset.org/annotations/annotations_trainval2017.zip",
        "http://images.cocodataset.org/zips/val2017.zip",
    ]
    assert [p.md5 for p in DATASETS["coco-val2017"]] == [
        "f4bbac642086de4f52a3fdda2de5fa2c",
        "442b8da7639aecaf257c1dceb8ba8c80",
    ]


def test_fetch_unpacks_what_evaluate_needs_and_runs_once(server, tmp_path):
    folder = fetch_dataset(folder=tmp_path / "coco", parts=server.parts, progress=False, log=lambda s: None)
    assert folder == tmp_path / "coco"
    labels = folder / ANNOTATIONS
    assert labels.read_bytes() == (SAMPLE / "person_keypoints_val2017_sample.json").read_bytes()
    jpgs = sorted(p.name for p in (folder / "val2017").iterdir())
    assert jpgs == sorted(p.name for p in SAMPLE.glob("*.jpg"))
    assert (folder / "val2017" / jpgs[0]).read_bytes() == (SAMPLE / jpgs[0]).read_bytes()
    assert not (folder / "annotations" / "captions_val2017.json").exists()  # only what evaluate reads
    assert sorted(p.name for p in folder.iterdir()) == ["annotations", "val2017"]  # archives deleted
    assert len(server.requests) == 2
    fetch_dataset(folder=folder, parts=server.parts, progress=False, log=lambda s: None)
    assert len(server.requests) == 2  # everything present: nothing downloaded again


def test_a_cut_download_resumes_where_it_stopped(server, tmp_path):
    folder = tmp_path / "coco"
    folder.mkdir()
    data = server.files["/zips/val2017.zip"]
    (folder / "val2017.zip.part").write_bytes(data[:1000])  # what a cut download leaves
    fetch_dataset(folder=folder, parts=server.parts, progress=False, log=lambda s: None, keep_archives=True)
    assert ("/zips/val2017.zip", "bytes=1000-") in server.requests
    assert (folder / "val2017.zip").read_bytes() == data and not (folder / "val2017.zip.part").exists()
    assert len(list((folder / "val2017").iterdir())) == 4


def test_a_wrong_md5_is_refused_and_deleted(server, tmp_path):
    bad = (server.parts[0], ArchivePart(server.parts[1].url, "0" * 32, "val2017/", "val2017"))
    with pytest.raises(DatasetError, match="val2017.zip failed its md5 check, deleted"):
        fetch_dataset(folder=tmp_path, parts=bad, progress=False, log=lambda s: None)
    assert not (tmp_path / "val2017").exists() and not (tmp_path / "val2017.zip").exists()
    assert not list(tmp_path.glob("*.part")) and (tmp_path / ANNOTATIONS).is_file()


def test_cli_fetch_coco_val2017(server, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(DATASETS, "coco-val2017", server.parts)
    assert main(["fetch", "coco-val2017", "--dir", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    assert f"--annotations {tmp_path / 'c' / ANNOTATIONS} --images {tmp_path / 'c' / 'val2017'}" in out
    monkeypatch.setitem(
        DATASETS, "coco-val2017", (ArchivePart(server.parts[0].url, "f" * 32, ANNOTATIONS, "x"),)
    )
    assert main(["fetch", "coco-val2017", "--dir", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("posekit: error: annotations_trainval2017.zip failed its md5")


def test_cli_fetch_errors(tmp_path, capsys, monkeypatch):
    dead = ArchivePart(
        "http://127.0.0.1:9/annotations/annotations_trainval2017.zip", "0" * 32, ANNOTATIONS, "x"
    )
    monkeypatch.setitem(DATASETS, "coco-val2017", (dead,))
    assert main(["fetch", "coco-val2017", "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("posekit: error: cannot download http://127.0.0.1:9/")
    assert "(run again to resume)" in err[0]
    assert main(["fetch", "mobilenet_thin", "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["posekit: error: --dir and --keep-archives are for data sets (coco-val2017), not models"]
    assert main(["fetch", "coco-val2017", "--force"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["posekit: error: --force is for models: to fetch coco-val2017 again, delete its folder"]
    with pytest.raises(DatasetError, match="unknown data set 'coco-val2099': known are coco-val2017"):
        fetch_dataset("coco-val2099", tmp_path)
