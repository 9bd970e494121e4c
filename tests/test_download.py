"""fetch_archive against a real local HTTP server with failure injection, and local-file sources."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

import pytest

from astgenre import download
from astgenre.download import (
    OFFLINE_HINT,
    SERVER_HINT,
    ChecksumError,
    DownloadError,
    fetch_archive,
    md5sum,
    verify_fetched,
)

NAME = "ismir04_genre.zip"
FILE_PATH = f"/records/1302992/files/{NAME}"
RECORD_PATH = "/api/records/1302992"
PAYLOAD = random.Random(2004).randbytes(3 * (1 << 20) + 12345)  # a bit over 3 MiB: several 1 MiB chunks
PAYLOAD_MD5 = hashlib.md5(PAYLOAD).hexdigest()
FAST = {"backoff": 0.001, "progress": False}


@dataclass
class ServerState:
    """What the handler serves and the failures it injects (each counter is consumed per request)."""

    payload: bytes = PAYLOAD
    record: dict = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    drops: int = 0  # send `drop_at` bytes of the body, then close the connection
    drop_at: int = 0
    stalls: int = 0  # send `drop_at` bytes, then go silent for `stall_s`
    stall_s: float = 0.0
    fail_500: int = 0
    corrupt: bool = False
    ignore_range: bool = False

    def ranges(self, path: str = FILE_PATH) -> list[str | None]:
        return [rng for p, rng in self.requests if urlparse(p).path == path]


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in {"Content-Length": str(len(body)), **(headers or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        state: ServerState = self.server.state
        rng = self.headers.get("Range")
        state.requests.append((self.path, rng))
        path = urlparse(self.path).path
        if path == RECORD_PATH:
            return self._send(200, json.dumps(state.record).encode(), {"Content-Type": "application/json"})
        if path != FILE_PATH:
            return self._send(404, b"not found")
        if state.fail_500:
            state.fail_500 -= 1
            return self._send(500, b"internal error")
        data = state.payload
        if state.corrupt:
            data = bytearray(data)
            data[len(data) // 2] ^= 0xFF
            data = bytes(data)
        if rng is None or state.ignore_range:
            status, start, extra = 200, 0, {}
        else:
            start = int(re.fullmatch(r"bytes=(\d+)-", rng).group(1))
            if start >= len(data):
                return self._send(416, b"", {"Content-Range": f"bytes */{len(data)}"})
            status, extra = 206, {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"}
        body = data[start:]
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        for key, value in extra.items():
            self.send_header(key, value)
        self.end_headers()
        if state.drops:
            state.drops -= 1
            self.wfile.write(body[: state.drop_at])
            return  # HTTP/1.0: returning closes the connection mid-body
        if state.stalls:
            state.stalls -= 1
            self.wfile.write(body[: state.drop_at])
            self.wfile.flush()
            time.sleep(state.stall_s)
            return
        self.wfile.write(body)


@pytest.fixture(autouse=True)
def no_proxy_no_wait(monkeypatch):
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    sleeps: list[float] = []
    monkeypatch.setattr(download, "_sleep", sleeps.append)
    return sleeps


@pytest.fixture
def sleeps(no_proxy_no_wait):
    return no_proxy_no_wait


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.state = ServerState(
        record={
            "id": 1302992,
            "files": [
                {"key": "README.txt", "checksum": "md5:" + "0" * 32},
                {"key": NAME, "checksum": "md5:" + PAYLOAD_MD5, "size": len(PAYLOAD)},
            ],
        }
    )
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.file_url, httpd.record_url = base + FILE_PATH, base + RECORD_PATH
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def assert_complete(dest: Path, digest: str) -> None:
    assert digest == PAYLOAD_MD5
    assert dest.read_bytes() == PAYLOAD
    assert not dest.with_name(dest.name + ".part").exists()
    assert dest.with_name(dest.name + ".md5").read_text() == f"{PAYLOAD_MD5}  {dest.name}\n"


def test_plain_download_writes_file_and_sidecar(server, tmp_path, sleeps):
    dest = tmp_path / "raw" / NAME
    digest = fetch_archive(server.file_url, dest, md5=PAYLOAD_MD5, **FAST)
    assert_complete(dest, digest)
    assert not dest.is_symlink()
    assert server.state.ranges() == [None]
    assert sleeps == []


def test_md5sum_matches_hashlib(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(PAYLOAD)
    assert md5sum(path, chunk=4096) == md5sum(path) == PAYLOAD_MD5


def test_resume_after_dropped_connection(server, tmp_path, sleeps):
    server.state.drops, server.state.drop_at = 1, 1_500_000
    dest = tmp_path / NAME
    digest = fetch_archive(server.file_url, dest, md5=PAYLOAD_MD5, **FAST)
    assert_complete(dest, digest)
    ranges = server.state.ranges()
    assert ranges[0] is None and len(ranges) == 2
    assert ranges[1] == "bytes=1500000-"  # resumed exactly where the dropped body ended
    assert sleeps == [0.001]


def test_resume_after_read_timeout(server, tmp_path, sleeps):
    server.state.stalls, server.state.drop_at, server.state.stall_s = 1, 1 << 20, 1.0
    dest = tmp_path / NAME
    digest = fetch_archive(server.file_url, dest, md5=PAYLOAD_MD5, timeout=0.3, **FAST)
    assert_complete(dest, digest)
    ranges = server.state.ranges()
    assert len(ranges) == 2 and ranges[1] is not None and ranges[1].startswith("bytes=")
    assert int(ranges[1][6:-1]) > 0


def test_resume_from_existing_part_file(server, tmp_path):
    dest = tmp_path / NAME
    dest.with_name(NAME + ".part").write_bytes(PAYLOAD[:2_000_000])
    digest = fetch_archive(server.file_url, dest, md5=PAYLOAD_MD5, **FAST)
    assert_complete(dest, digest)  # the digest covers the bytes that were already on disk
    assert server.state.ranges() == ["bytes=2000000-"]


def test_server_ignoring_range_restarts_from_zero(server, tmp_path):
    server.state.ignore_range = True
    dest = tmp_path / NAME
    dest.with_name(NAME + ".part").write_bytes(b"stale bytes that must not survive" * 1000)
    digest = fetch_archive(server.file_url, dest, md5=PAYLOAD_MD5, **FAST)
    assert_complete(dest, digest)
    assert server.state.ranges() == [f"bytes={33 * 1000}-"]


def test_complete_part_file_and_416_finishes_without_refetch(server, tmp_path):
    dest = tmp_path / NAME
    dest.with_name(NAME + ".part").write_bytes(PAYLOAD)
    digest = fetch_archive(server.file_url, dest, md5=PAYLOAD_MD5, **FAST)
    assert_complete(dest, digest)
    assert server.state.ranges() == [f"bytes={len(PAYLOAD)}-"]


def test_oversized_part_file_and_416_restarts(server, tmp_path):
    dest = tmp_path / NAME
    dest.with_name(NAME + ".part").write_bytes(PAYLOAD + b"junk")
    digest = fetch_archive(server.file_url, dest, md5=PAYLOAD_MD5, **FAST)
    assert_complete(dest, digest)
    assert server.state.ranges() == [f"bytes={len(PAYLOAD) + 4}-", None]


def test_retry_after_500(server, tmp_path, sleeps):
    server.state.fail_500 = 2
    dest = tmp_path / NAME
    digest = fetch_archive(server.file_url, dest, md5=PAYLOAD_MD5, backoff=0.01, progress=False)
    assert_complete(dest, digest)
    assert len(server.state.ranges()) == 3
    assert sleeps == [0.01, 0.02]  # exponential backoff


def test_persistent_500_exhausts_retries(server, tmp_path, sleeps):
    server.state.fail_500 = 100
    dest = tmp_path / NAME
    with pytest.raises(DownloadError, match="HTTP 500") as info:
        fetch_archive(server.file_url, dest, md5=PAYLOAD_MD5, retries=2, **FAST)
    assert server.file_url in str(info.value)
    assert len(server.state.ranges()) == 3 and len(sleeps) == 2
    assert not dest.exists()


def test_persistent_500_does_not_blame_the_internet_connection(server, tmp_path, sleeps):
    server.state.fail_500 = 100
    with pytest.raises(DownloadError) as info:
        fetch_archive(server.file_url, tmp_path / NAME, md5=PAYLOAD_MD5, retries=2, **FAST)
    message = str(info.value)
    assert "HTTP 500" in message and message.endswith(SERVER_HINT)
    assert OFFLINE_HINT not in message and "no internet" not in message


def test_only_attempts_without_progress_count(server, tmp_path, sleeps):
    """A connection that drops after every MiB, but delivers it, completes however few retries are allowed."""
    server.state.drops, server.state.drop_at = 100, 1 << 20
    dest = tmp_path / NAME
    digest = fetch_archive(server.file_url, dest, md5=PAYLOAD_MD5, retries=1, **FAST)
    assert_complete(dest, digest)
    assert server.state.ranges() == [None, "bytes=1048576-", "bytes=2097152-", "bytes=3145728-"]
    assert sleeps == [0.001] * 3  # each progress restarts the backoff


def test_drops_without_progress_still_end(server, tmp_path, sleeps):
    server.state.drops, server.state.drop_at = 100, 0
    with pytest.raises(DownloadError, match=r"3 attempt\(s\) in a row made no progress") as info:
        fetch_archive(server.file_url, tmp_path / NAME, md5=PAYLOAD_MD5, retries=2, **FAST)
    assert str(info.value).endswith(SERVER_HINT)
    assert sleeps == [0.001, 0.002]


def test_checksum_mismatch_deletes_partial_data(server, tmp_path):
    server.state.corrupt = True
    corrupted = bytearray(PAYLOAD)
    corrupted[len(PAYLOAD) // 2] ^= 0xFF
    actual = hashlib.md5(corrupted).hexdigest()
    dest = tmp_path / NAME
    with pytest.raises(ChecksumError) as info:
        fetch_archive(server.file_url, dest, md5=PAYLOAD_MD5, **FAST)
    message = str(info.value)
    assert PAYLOAD_MD5 in message and actual in message and NAME in message
    assert not dest.exists()
    assert not dest.with_name(NAME + ".part").exists()
    assert not dest.with_name(NAME + ".md5").exists()


def test_md5_from_record_api(server, tmp_path):
    dest = tmp_path / NAME
    digest = fetch_archive(server.file_url, dest, record_api=server.record_url, **FAST)
    assert_complete(dest, digest)
    assert [urlparse(p).path for p, _ in server.state.requests] == [RECORD_PATH, FILE_PATH]


def test_record_api_checksum_is_enforced(server, tmp_path):
    server.state.record["files"][1]["checksum"] = "md5:" + "f" * 32
    with pytest.raises(ChecksumError, match="f" * 32):
        fetch_archive(server.file_url, tmp_path / NAME, record_api=server.record_url, **FAST)


def test_record_api_without_the_file(server, tmp_path):
    server.state.record["files"] = server.state.record["files"][:1]
    with pytest.raises(DownloadError, match=f"no file named '{NAME}'.*README.txt"):
        fetch_archive(server.file_url, tmp_path / NAME, record_api=server.record_url, **FAST)
    assert server.state.ranges() == []  # nothing downloaded without a checksum to verify it


def test_given_md5_wins_over_record_api(server, tmp_path):
    server.state.record["files"][1]["checksum"] = "md5:" + "f" * 32
    dest = tmp_path / NAME
    digest = fetch_archive(
        server.file_url, dest, md5="MD5:" + PAYLOAD_MD5.upper(), record_api=server.record_url, **FAST
    )
    assert_complete(dest, digest)
    assert server.state.ranges(RECORD_PATH) == []


def test_malformed_md5_is_rejected(server, tmp_path):
    with pytest.raises(DownloadError, match="dataset.md5.*not an MD5"):
        fetch_archive(server.file_url, tmp_path / NAME, md5="abc", **FAST)


def test_404_fails_at_once(server, tmp_path, sleeps):
    url = server.file_url.replace(NAME, "missing.zip")
    with pytest.raises(DownloadError, match="HTTP 404") as info:
        fetch_archive(url, tmp_path / NAME, md5=PAYLOAD_MD5, **FAST)
    assert url in str(info.value)
    assert len(server.state.requests) == 1 and sleeps == []


def test_connection_refused_gives_offline_hint(tmp_path, sleeps):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/{NAME}"
    with pytest.raises(DownloadError) as info:
        fetch_archive(url, tmp_path / NAME, md5=PAYLOAD_MD5, retries=2, **FAST)
    message = str(info.value)
    assert url in message and "Connection refused" in message
    assert message.endswith(OFFLINE_HINT)
    assert "study=demo" in message and "file:///path/to/ismir04_genre.zip" in message
    assert sleeps == [0.001, 0.002]
    assert not (tmp_path / NAME).exists()


def test_progress_bar_reports_bytes(server, tmp_path, capsys):
    fetch_archive(server.file_url, tmp_path / "a.zip", md5=PAYLOAD_MD5, backoff=0.001, progress=True)
    shown = capsys.readouterr().err
    assert "a.zip" in shown and "B/s" in shown and "3.01M" in shown
    fetch_archive(server.file_url, tmp_path / "b.zip", md5=PAYLOAD_MD5, **FAST)
    assert "b.zip" not in capsys.readouterr().err


# --- local sources -----------------------------------------------------------------------------------------


@pytest.fixture
def local_archive(tmp_path) -> Path:
    path = tmp_path / "mirror" / NAME
    path.parent.mkdir()
    path.write_bytes(PAYLOAD)
    return path


def assert_linked(dest: Path, source: Path, digest: str) -> None:
    assert digest == PAYLOAD_MD5
    assert dest.is_symlink() and os.readlink(dest) == str(source.resolve())
    assert dest.read_bytes() == PAYLOAD
    assert dest.with_name(dest.name + ".md5").read_text() == f"{PAYLOAD_MD5}  {dest.name}\n"


def test_file_url_becomes_symlink(local_archive, tmp_path):
    dest = tmp_path / "raw" / NAME
    assert_linked(dest, local_archive, fetch_archive(local_archive.as_uri(), dest, md5=PAYLOAD_MD5, **FAST))
    # fetching again replaces the link atomically and leaves no temporary link behind
    assert_linked(dest, local_archive, fetch_archive(local_archive.as_uri(), dest, md5=PAYLOAD_MD5, **FAST))
    assert sorted(p.name for p in dest.parent.iterdir()) == [NAME, NAME + ".md5"]


def test_relative_path_becomes_absolute_symlink(local_archive, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    dest = tmp_path / "raw" / "archive.zip"
    assert_linked(dest, local_archive, fetch_archive(f"mirror/{NAME}", dest, md5=PAYLOAD_MD5, **FAST))


def test_local_checksum_mismatch(local_archive, tmp_path):
    dest = tmp_path / "raw" / NAME
    with pytest.raises(ChecksumError) as info:
        fetch_archive(str(local_archive), dest, md5="0" * 32, **FAST)
    message = str(info.value)
    assert "0" * 32 in message and PAYLOAD_MD5 in message and str(local_archive) in message
    assert not dest.exists() and not dest.is_symlink()
    assert local_archive.read_bytes() == PAYLOAD  # the source is never touched


def test_missing_local_file(tmp_path):
    missing = tmp_path / "nowhere" / NAME
    for url in (str(missing), missing.as_uri()):
        with pytest.raises(DownloadError, match=re.escape(str(missing))):
            fetch_archive(url, tmp_path / "raw" / NAME, md5=PAYLOAD_MD5, **FAST)


def test_no_checksum_available(local_archive, server, tmp_path):
    for url in (str(local_archive), server.file_url):
        with pytest.raises(DownloadError, match="dataset.md5 must be set"):
            fetch_archive(url, tmp_path / "raw" / NAME, **FAST)
    assert server.state.requests == []
    assert not (tmp_path / "raw" / NAME).exists()


def _refused_url(path: str) -> str:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}{path}"


def test_local_copy_offline_without_md5_asks_for_the_md5(local_archive, tmp_path, sleeps):
    """dataset.url already points at a local copy: the remedy is dataset.md5, not a local copy."""
    with pytest.raises(DownloadError) as info:
        fetch_archive(str(local_archive), tmp_path / "raw" / NAME, record_api=_refused_url(RECORD_PATH), **FAST)
    message = str(info.value)
    assert "Connection refused" in message and "set dataset.md5" in message
    assert OFFLINE_HINT not in message and "point dataset.url" not in message
    assert not (tmp_path / "raw" / NAME).exists()


def test_a_local_source_replaced_after_the_fetch_is_caught(local_archive, tmp_path):
    dest = tmp_path / "raw" / NAME
    fetch_archive(local_archive.as_uri(), dest, md5=PAYLOAD_MD5, **FAST)
    assert verify_fetched(dest) == PAYLOAD_MD5
    local_archive.write_bytes(PAYLOAD[:-1] + b"X")  # same size, other bytes
    changed = hashlib.md5(local_archive.read_bytes()).hexdigest()
    with pytest.raises(ChecksumError) as info:
        verify_fetched(dest)
    message = str(info.value)
    assert f"{dest} (a link to {local_archive.resolve()}) has MD5 {changed}" in message
    assert f"but {PAYLOAD_MD5} was verified" in message and "set dataset.md5" in message
    local_archive.unlink()
    with pytest.raises(DownloadError, match=f"{re.escape(str(dest))} .* cannot be read"):
        verify_fetched(dest)
    dest.with_name(NAME + ".md5").unlink()
    with pytest.raises(DownloadError, match=r"\.md5 .* is missing or empty"):
        verify_fetched(dest)


def test_unsupported_scheme(tmp_path):
    with pytest.raises(DownloadError, match="unsupported scheme 'ftp'"):
        fetch_archive(f"ftp://example.org/{NAME}", tmp_path / NAME, md5=PAYLOAD_MD5, **FAST)


def test_zenodo_content_url_name():
    assert download._url_file_name(f"https://zenodo.org/api/records/1302992/files/{NAME}/content") == NAME
    assert download._url_file_name(f"https://zenodo.org/records/1302992/files/{NAME}?download=1") == NAME
