"""A 300 MB upload against the production server (`reflex run --env prod`, the bench's
PortalServer): refused with 413 by its declared Content-Length before a byte is spooled, and cut
off at PORTAL_MAX_UPLOAD_BYTES when it streams chunked with no length; a stranger's upload is
refused (401) before the body is read. The body comes from a generator (1 MiB at a time), never
held in memory.

What "the temp directory" holds is measured where Reflex's upload spools it: Starlette's
multipart parser writes each file part to a tempfile in the worker's temporary directory (the
server gets a private TMPDIR here), usually an unnamed O_TMPFILE, invisible to `ls`. So a
sampler thread sums, every 20 ms, the sizes of the files the server's processes hold open under
that directory plus whatever is listed in it, and the test checks the peak."""

from __future__ import annotations

import re
import secrets
import select
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import psutil
import pytest

from portal_app.config import DEFAULT_MAX_UPLOAD_BYTES

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from _server import PortalServer

TOTAL = 300 * 1024 * 1024
CHUNK = 1024 * 1024
LIMIT = DEFAULT_MAX_UPLOAD_BYTES  # the server runs with the default setting
BOUNDARY = "portal-fault-boundary"
PASSWORD = "Corr3ct-horse-" + secrets.token_urlsafe(8)


def body_chunks(file_bytes: int) -> Iterator[bytes]:
    """A multipart form with one file of `file_bytes`, as the catalog's upload sends it."""
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; '
        'filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    block = b"\0" * CHUNK
    left = file_bytes
    while left > 0:
        yield block[: min(CHUNK, left)]
        left -= CHUNK
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def body_length(file_bytes: int) -> int:
    return sum(len(c) for c in body_chunks(0)) + file_bytes


class SpoolSampler(threading.Thread):
    """The peak bytes the server keeps under `tmpdir` (open files, deleted or not, and listed)."""

    def __init__(self, server: PortalServer, tmpdir: Path):
        super().__init__(daemon=True)
        self.server, self.tmpdir = server, str(tmpdir)
        self.peak = 0
        self.running = True

    def sample(self) -> int:
        total, seen = 0, set()
        for proc in self.server.processes():
            fd_dir = Path(f"/proc/{proc.pid}/fd")
            try:
                fds = list(fd_dir.iterdir())
            except OSError:
                continue
            for fd in fds:
                try:
                    target = str(fd.readlink())
                    if not target.startswith(self.tmpdir):
                        continue
                    info = fd.stat()
                except OSError:
                    continue
                if (info.st_dev, info.st_ino) not in seen:
                    seen.add((info.st_dev, info.st_ino))
                    total += info.st_size
        for path in Path(self.tmpdir).rglob("*"):
            try:
                info = path.stat()
            except OSError:
                continue
            if path.is_file() and (info.st_dev, info.st_ino) not in seen:
                seen.add((info.st_dev, info.st_ino))
                total += info.st_size
        return total

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.sample())
            time.sleep(0.02)

    def stop(self) -> int:
        self.running = False
        self.join(5)
        return max(self.peak, self.sample())


def upload(server: PortalServer, cookie: str | None, *, chunked: bool) -> tuple[int, bytes, int]:
    """POST /_upload with a 300 MB file; stop sending once the server answers. Returns (status,
    response body, bytes of the body sent)."""
    from portal_app.state.merchant_catalog import MerchantCatalogState

    handler = f"{MerchantCatalogState.get_full_name()}.upload_file"
    lines = [
        "POST /_upload HTTP/1.1",
        f"Host: {server.host}:{server.port}",
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}",
        f"Reflex-Client-Token: {uuid.uuid4()}",
        f"Reflex-Event-Handler: {handler}",
        f"Origin: {server.base_url}",
        "Transfer-Encoding: chunked" if chunked else f"Content-Length: {body_length(TOTAL)}",
    ]
    if cookie:
        lines.append(f"Cookie: portal_staff_sid={cookie}")
    sock = socket.create_connection((server.host, server.port), timeout=120)
    sent = 0
    try:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        try:
            for chunk in body_chunks(TOTAL):
                if select.select([sock], [], [], 0)[0]:
                    break  # the server has answered: stop sending, as a browser does
                frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" if chunked else chunk
                sock.sendall(frame)
                sent += len(chunk)
            else:
                if chunked:
                    sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the server closed the connection after answering
        response = b""
        sock.settimeout(120)
        while b"\r\n\r\n" not in response or not _complete(response):
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            response += data
    finally:
        sock.close()
    match = re.match(rb"HTTP/1\.[01] (\d{3})", response)
    assert match, f"no HTTP answer: {response[:200]!r}"
    return int(match.group(1)), response.partition(b"\r\n\r\n")[2], sent


def _complete(response: bytes) -> bool:
    head, _, body = response.partition(b"\r\n\r\n")
    length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    return length is not None and len(body) >= int(length.group(1))


def staff_cookie(server: PortalServer) -> str:
    server._run(
        "-m", "portal_app.cli", "create-admin", "--email", "owner@acme.example",
        "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    import http.client

    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    conn.request(
        "POST",
        "/auth/staff/login",
        body=urlencode({"email": "owner@acme.example", "password": PASSWORD}),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": server.base_url},
    )
    response = conn.getresponse()
    response.read()
    found = re.search(r"portal_staff_sid=([^;]+)", response.getheader("set-cookie") or "")
    assert response.status == 303 and found, (response.status, response.getheaders())
    return found.group(1)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    work = tmp_path_factory.mktemp("upload-limit")
    spool = work / "tmp"
    spool.mkdir()
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("TMPDIR", str(spool))  # the server's temp directory (it copies os.environ)
    portal = PortalServer(f"sqlite:///{work / 'app.db'}", workdir=work / "server")
    try:
        portal.prepare()
        portal.start(workers=1)
        portal.spool_dir = spool
        yield portal
    except BaseException:
        print(portal.log_tail())
        raise
    finally:
        portal.close()
        monkeypatch.undo()


@pytest.fixture(scope="module")
def cookie(server) -> str:
    return staff_cookie(server)


def measured(server: PortalServer, cookie: str | None, *, chunked: bool):
    sampler = SpoolSampler(server, server.spool_dir)
    baseline = sampler.sample()
    sampler.start()
    started = time.monotonic()
    status, body, sent = upload(server, cookie, chunked=chunked)
    peak = sampler.stop() - baseline
    print(
        f"chunked={chunked} cookie={'yes' if cookie else 'no'}: {status} after sending "
        f"{sent / 2**20:.0f} MiB in {time.monotonic() - started:.1f} s; "
        f"temp directory peak {peak / 2**20:.1f} MiB (limit {LIMIT / 2**20:.0f} MiB)"
    )
    return status, body, sent, peak


def test_a_300_mb_upload_with_its_length_is_refused_before_it_is_spooled(server, cookie):
    status, body, sent, peak = measured(server, cookie, chunked=False)
    assert status == 413, body[:300]
    assert b"larger than the limit" in body
    assert peak < CHUNK  # nothing of it reached the temp directory
    assert sent < TOTAL


def test_a_300_mb_chunked_upload_is_cut_off_at_the_limit(server, cookie):
    status, body, sent, peak = measured(server, cookie, chunked=True)
    assert status == 413, body[:300]
    assert b"larger than the limit" in body
    assert peak <= LIMIT  # spooled up to the limit at most, then dropped
    assert sent < TOTAL
    # and the spooled part is gone once refused
    time.sleep(1)
    assert SpoolSampler(server, server.spool_dir).sample() < CHUNK


def test_a_strangers_upload_is_refused_before_reading(server):
    for chunked in (False, True):
        status, body, _sent, peak = measured(server, None, chunked=chunked)
        assert status == 401, body[:300]
        assert peak < CHUNK
    assert server.proc is not None and psutil.pid_exists(server.proc.pid)
