"""A model artifact store over HTTP on 127.0.0.1: GET with Range, PUT, and faults on demand.

Faults a real store or network produces: a connection dropped mid-body, a server that ignores
Range, a slow body, a refused upload.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from servers.local_http import QuietHTTPServer

_RANGE_RE = re.compile(r"^bytes=(\d+)-$")


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class ModelStore:
    """Files in memory by URL path. Set the fault attributes before the request they should hit."""

    files: dict[str, bytes] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    drop_after_bytes: int | None = None  # close the connection after this many body bytes ...
    drops_left: int = 0  # ... this many times (then answer normally)
    ignore_range: bool = False
    bytes_per_s: float | None = None  # slow body, to kill a client mid-download
    put_status: int = 201

    def start(self) -> ModelStore:
        store = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                store.seen.append(Seen("GET", self.path, dict(self.headers.items())))
                body = store.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                match = _RANGE_RE.match(self.headers.get("Range", ""))
                if match and not store.ignore_range and int(match.group(1)) < len(body):
                    start = int(match.group(1))
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                payload = body[start:]
                if store.drops_left > 0 and store.drop_after_bytes is not None:
                    store.drops_left -= 1
                    self.wfile.write(payload[: store.drop_after_bytes])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if store.bytes_per_s:
                    for i in range(0, len(payload), 1024):
                        self.wfile.write(payload[i : i + 1024])
                        self.wfile.flush()
                        time.sleep(1024 / store.bytes_per_s)
                    return
                self.wfile.write(payload)

            def do_PUT(self) -> None:
                store.seen.append(Seen("PUT", self.path, dict(self.headers.items())))
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    body = self._read_chunked()
                else:
                    body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if store.put_status < 300:
                    store.files[self.path] = body
                self.send_response(store.put_status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _read_chunked(self) -> bytes:
                parts = []
                while size := int(self.rfile.readline().split(b";")[0], 16):
                    parts.append(self.rfile.read(size))
                    self.rfile.readline()
                self.rfile.readline()
                return b"".join(parts)

        self._server = QuietHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@dataclass(frozen=True)
class S3Store:
    """A bucket on a local S3-compatible server (moto), with a boto3 client for checks."""

    endpoint_url: str
    bucket: str
    client: Any
