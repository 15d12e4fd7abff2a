"""A real HTTP/1.1 file server on 127.0.0.1 (threaded), with Range support and fault injection."""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest


@dataclass
class ServerState:
    """What the server serves and how it misbehaves; tests mutate it between requests."""

    root: Path
    ranges: bool = True
    truncate_next: int = 0  # number of upcoming responses cut short
    truncate_to: int = 0  # bytes sent in a truncated response
    fail_next: int = 0  # number of upcoming responses answered with 503
    content_length: bool = True  # False: no Content-Length, the body ends when the connection closes
    validators: bool = True  # send ETag (a digest of the content) and honour If-Range
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range header)


def _handler(state: ServerState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep pytest output clean
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server API
            range_header = self.headers.get("Range")
            state.requests.append((self.path, range_header))
            if state.fail_next > 0:
                state.fail_next -= 1
                self._plain(503, b"unavailable")
                return
            path = state.root / self.path.lstrip("/")
            if not path.is_file():
                self._plain(404, b"not found")
                return
            data = path.read_bytes()
            etag = f'"{hashlib.sha256(data).hexdigest()[:16]}"'
            start, status = 0, 200
            match = re.fullmatch(r"bytes=(\d+)-", range_header or "")
            if_range = self.headers.get("If-Range")
            stale = state.validators and if_range is not None and if_range != etag
            if state.ranges and match and not stale:
                start = int(match.group(1))
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = 206
            body = data[start:]
            self.send_response(status)
            if state.content_length:
                self.send_header("Content-Length", str(len(body)))
            if state.validators:
                self.send_header("ETag", etag)
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            if state.ranges:
                self.send_header("Accept-Ranges", "bytes")
            self.send_header("Connection", "close")
            self.end_headers()
            if state.truncate_next > 0:
                state.truncate_next -= 1
                body = body[: state.truncate_to]
            self.wfile.write(body)
            self.close_connection = True

        def _plain(self, code: int, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True

    return Handler


@dataclass
class FileServer:
    """A running server: ``url(name)`` gives the address of ``root / name``."""

    state: ServerState
    base: str

    @property
    def root(self) -> Path:
        return self.state.root

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[FileServer]:
    """Serve ``tmp_path / "www"`` over HTTP on an ephemeral 127.0.0.1 port."""
    root = tmp_path / "www"
    root.mkdir()
    state = ServerState(root=root)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield FileServer(state=state, base=f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
