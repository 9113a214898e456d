"""Dataset registry and downloads, against an HTTP server on 127.0.0.1 with Range support."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from nmc import datasets
from nmc.errors import DependencyError, InputError
from tests.conftest import shared_data_dir

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves PAYLOAD at /data.bin, honouring ``Range: bytes=N-``; records the requests."""

    requests: list[str | None] = []
    honour_ranges = True

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path != "/data.bin":
            self.send_error(404)
            return
        header = self.headers.get("Range")
        type(self).requests.append(header)
        start = int(header[6:-1]) if header and self.honour_ranges else 0
        if start >= len(PAYLOAD):
            self.send_response(416)
            self.end_headers()
            return
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(PAYLOAD) - start))
        self.end_headers()
        self.wfile.write(PAYLOAD[start:])

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _RangeHandler.requests = []
    _RangeHandler.honour_ranges = True
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RangeHandler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        thread.join()


def test_download_whole_file_with_checksum(server: str, tmp_path: Path) -> None:
    dest = tmp_path / "d" / "data.bin"
    seen = []
    digest = datasets.download(f"{server}/data.bin", dest, SHA, lambda d, t: seen.append((d, t)))
    assert digest == SHA and dest.read_bytes() == PAYLOAD
    assert not dest.with_name("data.bin.part").exists()
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD))


def test_download_resumes_a_partial_file_with_a_range_request(server: str, tmp_path: Path) -> None:
    dest = tmp_path / "data.bin"
    dest.with_name("data.bin.part").write_bytes(PAYLOAD[:300_000])
    assert datasets.download(f"{server}/data.bin", dest, SHA) == SHA
    assert _RangeHandler.requests == ["bytes=300000-"]
    assert dest.read_bytes() == PAYLOAD


def test_download_starts_over_when_the_server_ignores_ranges(server: str, tmp_path: Path) -> None:
    _RangeHandler.honour_ranges = False
    dest = tmp_path / "data.bin"
    dest.with_name("data.bin.part").write_bytes(b"stale bytes")
    assert datasets.download(f"{server}/data.bin", dest, SHA) == SHA
    assert dest.read_bytes() == PAYLOAD


def test_complete_part_file_is_finished_without_new_data(server: str, tmp_path: Path) -> None:
    dest = tmp_path / "data.bin"
    dest.with_name("data.bin.part").write_bytes(PAYLOAD)
    assert datasets.download(f"{server}/data.bin", dest, SHA) == SHA
    assert dest.read_bytes() == PAYLOAD


def test_checksum_mismatch_deletes_the_partial_file(server: str, tmp_path: Path) -> None:
    dest = tmp_path / "data.bin"
    with pytest.raises(InputError, match="checksum mismatch"):
        datasets.download(f"{server}/data.bin", dest, "0" * 64)
    assert not dest.exists() and not dest.with_name("data.bin.part").exists()


def test_network_errors_and_bad_urls(server: str, tmp_path: Path) -> None:
    with pytest.raises(DependencyError, match="404"):
        datasets.download(f"{server}/missing.bin", tmp_path / "x")
    with pytest.raises(InputError, match="http"):
        datasets.download("file:///etc/passwd", tmp_path / "x")


def test_fetch_a_registered_dataset(server: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("NMC_DATA_DIR", str(tmp_path))
    entry = datasets.Dataset(
        "tiny",
        "video",
        "test",
        "none",
        server,
        (datasets.RemoteFile("a.bin", f"{server}/data.bin", SHA),),
    )
    monkeypatch.setitem(datasets.REGISTRY, "tiny", entry)
    assert datasets.status(entry) == "remote"
    with pytest.raises(InputError, match="nmc datasets fetch tiny"):
        datasets.path("tiny")
    folder = datasets.fetch("tiny")
    assert (folder / "a.bin").read_bytes() == PAYLOAD and datasets.path("tiny") == folder
    assert datasets.status(entry) == "fetched"
    assert (folder / "SHA256SUMS").read_text() == f"{SHA}  a.bin\n"
    datasets.fetch("tiny")  # complete files are not downloaded again
    assert _RangeHandler.requests == [None]


def test_registry_entries_are_complete() -> None:
    for entry in datasets.REGISTRY.values():
        assert entry.kind in ("video", "pointcloud", "rd-points")
        assert entry.licence and entry.homepage.startswith("https://")
        assert not (entry.local and entry.files)
        for remote in entry.files:
            assert remote.url.startswith("https://") and remote.name
    with pytest.raises(InputError, match="unknown dataset"):
        datasets.get("nope")


def test_local_entries_resolve(carphone: Path) -> None:
    assert datasets.path("carphone") == carphone
    assert datasets.resolve("carphone", "video") == [("carphone", carphone)]
    assert datasets.resolve(str(carphone), "video") == [("carphone_pristine", carphone)]
    with pytest.raises(InputError, match="not pointcloud"):
        datasets.resolve("carphone", "pointcloud")


def test_shared_data_entries_follow_the_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("NMC_SHARED_DATA", str(tmp_path))
    assert datasets.status(datasets.get("osd")) == "absent"
    (tmp_path / "osd").mkdir()
    (tmp_path / "osd" / "scan1.pcd").write_bytes(b"")
    (tmp_path / "osd" / "notes.txt").write_text("x")
    assert datasets.resolve("osd:scan1", "pointcloud") == [
        ("scan1", tmp_path / "osd" / "scan1.pcd")
    ]
    with pytest.raises(InputError, match="no item"):
        datasets.resolve("osd:scan9", "pointcloud")


def test_real_osd_scans_are_listed_when_present() -> None:
    if not (shared_data_dir() / "osd").is_dir():
        pytest.skip("../shared/data/osd is absent")
    items = datasets.resolve("osd", "pointcloud")
    assert len(items) == 45 and all(path.suffix == ".pcd" for _, path in items)
