"""A real HTTP server on 127.0.0.1 for the store's tests: serves in-memory files with Range
support, logs every request, and injects faults one request at a time (drop the connection
after N bytes, stall, wrong bytes, HTTP errors, ignore Range). Plus small manifest helpers."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from mgie_desktop.store.http import RetryPolicy

# Tiny timeouts and backoff keep fault tests fast.
FAST = RetryPolicy(retries=2, backoff=0.001, max_backoff=0.01, stall_timeout=0.3, chunk_size=1024)


@dataclass
class Fault:
    kind: str  # "drop" | "stall" | "wrong" | "status" | "ignore_range"
    after: int = 0  # body bytes sent before a drop or stall
    status: int = 500


@dataclass
class Hit:
    method: str
    path: str
    range: str | None
    status: int
    start: int = 0  # first body byte sent
    sent: int = 0  # body bytes sent


class FaultServer:
    def __init__(self, files: dict[str, bytes] | None = None):
        self.files: dict[str, bytes] = dict(files or {})
        self.faults: dict[str, list[Fault]] = {}
        self.log: list[Hit] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda request, address: None  # dropped connections are the point
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> FaultServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def add_fault(self, name: str, *faults: Fault) -> None:
        with self.lock:
            self.faults.setdefault(name, []).extend(faults)

    def hits(self, name: str, method: str = "GET") -> list[Hit]:
        return [h for h in self.log if h.path == name and h.method == method]

    def _next_fault(self, name: str) -> Fault | None:
        with self.lock:
            queue = self.faults.get(name)
            return queue.pop(0) if queue else None


def _handler(server: FaultServer):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def do_HEAD(self):
            self._serve(head=True)

        def do_GET(self):
            self._serve(head=False)

        def _serve(self, head: bool):
            name = self.path.lstrip("/")
            rng = self.headers.get("Range")
            hit = Hit(self.command, name, rng, 200)
            server.log.append(hit)
            if name not in server.files:
                hit.status = 404
                self.send_error(404)
                return
            fault = None if head else server._next_fault(name)
            if fault and fault.kind == "status":
                hit.status = fault.status
                self.send_error(fault.status)
                return
            body = server.files[name]
            if fault and fault.kind == "wrong":
                body = bytes(b ^ 0x5A for b in body)
            start, end = 0, len(body) - 1
            m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng or "")
            if m and not (fault and fault.kind == "ignore_range"):
                start = int(m.group(1))
                end = int(m.group(2)) if m.group(2) else end
                if start >= len(body):
                    hit.status = 416
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                hit.status = 206
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(body)}")
            else:
                self.send_response(200)
            payload = body[start : end + 1]
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            hit.start = start
            if head:
                return
            if fault and fault.kind in ("drop", "stall"):
                payload = payload[: fault.after]
            self.wfile.write(payload)
            self.wfile.flush()
            hit.sent = len(payload)
            if fault and fault.kind == "stall":
                server.stop.wait(5)
            if fault and fault.kind in ("drop", "stall"):
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    return Handler


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def blob(n: int, seed: int = 0) -> bytes:
    """Deterministic, incompressible-looking test bytes."""
    out, counter = bytearray(), 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:n])


def manifest_dict(
    server: FaultServer,
    names: list[str],
    *,
    sizes: bool = True,
    hashes: bool = True,
    prefix: str = "sources/",
    license_name: str = "Test License",
) -> dict:
    files = [
        {
            "path": prefix + name,
            "size": len(server.files[name]) if sizes else None,
            "sha256": sha256(server.files[name]) if hashes else None,
            "source": {"url": server.url(name)},
        }
        for name in names
    ]
    return {
        "schema": 1,
        "models": [
            {
                "id": "test",
                "name": "Test model",
                "license": {"name": license_name, "url": "https://example.invalid/license"},
                "files": files,
            }
        ],
    }


def write_manifest(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path
