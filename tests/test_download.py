"""The download code against a local HTTP server on 127.0.0.1 serving fixture files:
resume, checksum refusal, safe extraction, host metadata, never a prompt."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from neuronbench.data import download as dl
from neuronbench.errors import NeuronbenchError

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


class _Handler(BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    log: list[tuple[str, str | None]] = []
    honour_range = True
    cut_next = False

    def do_GET(self):  # noqa: N802 (http.server's name)
        body = self.files.get(self.path)
        self.log.append((self.path, self.headers.get("Range")))
        if body is None:
            self.send_error(404)
            return
        rng = self.headers.get("Range")
        if self.cut_next:  # the connection drops halfway (the body ends early)
            type(self).cut_next = False
            body = body[: len(body) // 2]
        if rng and self.honour_range:
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(body):
                self.send_response(416)
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            body = body[start:]
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture()
def server():
    handler = type("Handler", (_Handler,), {"files": {}, "log": [], "honour_range": True, "cut_next": False})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    handler.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield handler
    httpd.shutdown()
    httpd.server_close()


def _source(server, path="/data/file.bin", body=PAYLOAD, name="file.bin", **kw) -> dl.Source:
    server.files[path] = body
    kw.setdefault("sha256", hashlib.sha256(body).hexdigest())
    return dl.Source(url=server.base + path, name=name, size=len(body), **kw)


def test_fetch_downloads_and_verifies(server, tmp_path):
    path = dl.fetch(_source(server), tmp_path, progress=False)
    assert path == tmp_path / "file.bin" and path.read_bytes() == PAYLOAD
    assert not (tmp_path / "file.bin.part").exists()
    # a second call finds the verified file and makes no request
    n = len(server.log)
    dl.fetch(_source(server), tmp_path, progress=False)
    assert len(server.log) == n


def test_fetch_resumes_a_partial_download_with_a_range_request(server, tmp_path):
    (tmp_path / "file.bin.part").write_bytes(PAYLOAD[:300_000])
    path = dl.fetch(_source(server), tmp_path, progress=False)
    assert path.read_bytes() == PAYLOAD
    assert server.log[-1] == ("/data/file.bin", "bytes=300000-")


def test_fetch_resumes_after_the_connection_drops(server, tmp_path):
    server.cut_next = True
    assert dl.fetch(_source(server), tmp_path, progress=False).read_bytes() == PAYLOAD
    assert [r for _, r in server.log] == [None, f"bytes={len(PAYLOAD) // 2}-"]


def test_fetch_starts_over_when_the_server_ignores_the_range(server, tmp_path):
    server.honour_range = False
    (tmp_path / "file.bin.part").write_bytes(b"garbage" * 10)
    assert dl.fetch(_source(server), tmp_path, progress=False).read_bytes() == PAYLOAD


def test_fetch_accepts_a_complete_part_file(server, tmp_path):
    (tmp_path / "file.bin.part").write_bytes(PAYLOAD)
    assert dl.fetch(_source(server), tmp_path, progress=False).read_bytes() == PAYLOAD


def test_fetch_refuses_a_file_whose_checksum_does_not_match(server, tmp_path):
    src = _source(server, sha256="0" * 64)
    with pytest.raises(NeuronbenchError, match=r"file\.bin: field 'sha256': expected 0{64}"):
        dl.fetch(src, tmp_path, progress=False)
    assert not (tmp_path / "file.bin").exists() and not (tmp_path / "file.bin.part").exists()


def test_fetch_refuses_a_wrong_md5_and_a_wrong_size(server, tmp_path):
    body = b"hello world"
    with pytest.raises(NeuronbenchError, match="field 'md5'"):
        dl.fetch(dl.Source(url=_source(server, "/a", body).url, name="a", md5="f" * 32), tmp_path, progress=False)
    good_md5 = hashlib.md5(body).hexdigest()
    with pytest.raises(NeuronbenchError, match="field 'size'"):
        dl.fetch(dl.Source(url=server.base + "/a", name="a", md5=good_md5, size=999), tmp_path, progress=False)
    assert (
        dl.fetch(dl.Source(url=server.base + "/a", name="a", md5=good_md5), tmp_path, progress=False).read_bytes()
        == body
    )


def test_an_old_copy_is_kept_until_a_verified_download_replaces_it(server, tmp_path):
    (tmp_path / "file.bin").write_bytes(b"an older release")
    src = dl.Source(url=server.base + "/gone", name="file.bin", sha256=hashlib.sha256(PAYLOAD).hexdigest())
    with pytest.raises(NeuronbenchError, match="HTTP 404"):
        dl.fetch(src, tmp_path, progress=False)
    assert (tmp_path / "file.bin").read_bytes() == b"an older release"
    assert dl.fetch(_source(server), tmp_path, progress=False).read_bytes() == PAYLOAD


def test_a_source_without_checksum_or_escaping_name_is_refused():
    with pytest.raises(NeuronbenchError, match="no sha256 or md5"):
        dl.Source(url="http://127.0.0.1/x", name="x")
    with pytest.raises(NeuronbenchError, match="escape"):
        dl.Source(url="http://127.0.0.1/x", name="../x", md5="0" * 32)


def test_missing_file_names_the_url(server, tmp_path):
    src = dl.Source(url=server.base + "/nothing", name="n", md5="0" * 32)
    with pytest.raises(NeuronbenchError, match="HTTP 404"):
        dl.fetch(src, tmp_path, progress=False)


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _tar(members: list[tarfile.TarInfo], data: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for m in members:
            payload = data.get(m.name)
            if payload is not None:
                m.size = len(payload)
            tf.addfile(m, io.BytesIO(payload) if payload is not None else None)
    return buf.getvalue()


def test_extract_unpacks_zip_and_tar(tmp_path):
    (tmp_path / "a.zip").write_bytes(_zip({"SB025/2019-10-04/neuron.ttype.txt": b"EC\n"}))
    dl.extract(tmp_path / "a.zip", tmp_path / "out")
    assert (tmp_path / "out/SB025/2019-10-04/neuron.ttype.txt").read_bytes() == b"EC\n"
    (tmp_path / "b.tar").write_bytes(
        _tar([tarfile.TarInfo("Cori_2016-12-14/spikes.times.npy")], {"Cori_2016-12-14/spikes.times.npy": b"x"})
    )
    dl.extract(tmp_path / "b.tar", tmp_path / "out")
    assert (tmp_path / "out/Cori_2016-12-14/spikes.times.npy").read_bytes() == b"x"


@pytest.mark.parametrize("name", ["../evil.txt", "sub/../../evil.txt", "/tmp/evil.txt"])
def test_extract_refuses_a_zip_entry_escaping_the_target(tmp_path, name):
    (tmp_path / "bad.zip").write_bytes(_zip({"ok.txt": b"fine", name: b"pwned"}))
    target = tmp_path / "target"
    with pytest.raises(NeuronbenchError, match="would escape the target folder"):
        dl.extract(tmp_path / "bad.zip", target)
    assert not (tmp_path / "evil.txt").exists()
    assert not (target / "ok.txt").exists()  # nothing is written from a refused archive


def test_extract_refuses_tar_traversal_and_links(tmp_path):
    target = tmp_path / "target"
    (tmp_path / "up.tar").write_bytes(_tar([tarfile.TarInfo("../evil.txt")], {"../evil.txt": b"pwned"}))
    with pytest.raises(NeuronbenchError, match="would escape"):
        dl.extract(tmp_path / "up.tar", target)
    link = tarfile.TarInfo("data/link")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    (tmp_path / "link.tar").write_bytes(_tar([link], {}))
    with pytest.raises(NeuronbenchError, match="symlink"):
        dl.extract(tmp_path / "link.tar", target)
    assert not (tmp_path / "evil.txt").exists() and not (target / "data" / "link").exists()


def test_download_all_resolves_figshare_once_and_unpacks(server, tmp_path):
    archive = _zip({"SB025/2019-10-04/neuron.ttype.txt": b"EC\nIN\n"})
    server.files["/files/38046633"] = archive
    meta = {
        "id": 38046633,
        "name": "Bugeon et al 2022 v2.zip",
        "size": len(archive),
        "computed_md5": hashlib.md5(archive).hexdigest(),
        "download_url": server.base + "/files/38046633",
    }
    server.files["/api/articles/19448531/files/38046633"] = json.dumps(meta).encode()
    pinned = {"figshare_article": 19448531, "files": [38046633]}

    def resolve():
        return dl.figshare_sources(19448531, file_ids=(38046633,), api=server.base + "/api")

    dl.download_all(tmp_path, pinned, resolve, progress=False)
    assert (tmp_path / "SB025/2019-10-04/neuron.ttype.txt").read_text() == "EC\nIN\n"
    assert json.loads((tmp_path / dl.PLAN_FILE).read_text())["pinned"] == pinned
    n_meta = sum(p.startswith("/api") for p, _ in server.log)
    dl.download_all(tmp_path, pinned, resolve, progress=False)  # rerun: plan reused, nothing fetched
    assert sum(p.startswith("/api") for p, _ in server.log) == n_meta


def test_dandi_sources_carry_the_published_sha256(server):
    api = server.base + "/api"
    server.files["/api/dandisets/000021/versions/0.1/assets/?page_size=200"] = json.dumps(
        {
            "next": None,
            "results": [
                {"asset_id": "a1", "path": "sub-1/sub-1_ses-715093703.nwb", "size": 10},
                {"asset_id": "a2", "path": "sub-1/sub-1_ses-715093703_probe-9_ecephys.nwb", "size": 99},
            ],
        }
    ).encode()
    server.files["/api/dandisets/000021/versions/0.1/assets/a1/"] = json.dumps(
        {"digest": {"dandi:sha2-256": "ab" * 32}}
    ).encode()
    (src,) = dl.dandi_sources("000021", "0.1", keep=lambda p: "_probe-" not in p, api=api)
    assert (src.name, src.sha256, src.size, src.url) == (
        "sub-1/sub-1_ses-715093703.nwb",
        "ab" * 32,
        10,
        f"{api}/assets/a1/download/",
    )
