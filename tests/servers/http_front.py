"""A small HTTP server on 127.0.0.1 in front of a real one: fail, stall, check auth, or forward.

For registry trouble without mocks: the daemon talks HTTP to this server, which
either answers by itself (``status=503``: a registry that is up but failing;
``delay_seconds``: one slower than the client's timeout) or forwards to a real
MLflow server. ``require_auth`` makes it an auth proxy (the tracking server then
sits behind credentials, as in production), and ``on_request`` lets a test act
on the real server at the exact moment a request arrives (delete a model when
page 2 of a search is asked for). Every request is counted with its path.

Plain code, no pytest; ``stop()`` ends it.
"""

from __future__ import annotations

import http.client
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: Called with (method, path with query) before a request is forwarded.
Hook = Callable[[str, str], None]

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


@dataclass
class HttpFront:
    upstream: str = ""
    #: When set, every request gets this status (and ``body``), nothing is forwarded.
    status: int | None = None
    body: bytes = b'{"error_code": "TEMPORARILY_UNAVAILABLE", "message": "maintenance"}'
    #: Seconds to wait before answering or forwarding.
    delay_seconds: float = 0.0
    #: An ``Authorization`` header value that must be sent; it is not forwarded.
    require_auth: str = ""
    on_request: Hook | None = None
    url: str = ""
    requests: list[tuple[str, str]] = field(default_factory=list)
    auth_headers: list[str] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, path_contains: str = "") -> int:
        with self._lock:
            return sum(1 for _, path in self.requests if path_contains in path)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


def start_http_front(front: HttpFront) -> HttpFront:
    handler = type("Handler", (_Handler,), {"front": front})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    front.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    front._server = httpd
    front._thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    front._thread.start()
    return front


class _Handler(BaseHTTPRequestHandler):
    front: HttpFront
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _reply(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _handle(self) -> None:
        front = self.front
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        auth = self.headers.get("Authorization", "")
        with front._lock:
            front.requests.append((self.command, self.path))
            if auth:
                front.auth_headers.append(auth)
        if front.delay_seconds:
            time.sleep(front.delay_seconds)
        if front.require_auth and auth != front.require_auth:
            self._reply(401, [("WWW-Authenticate", 'Basic realm="mlflow"')], b"")
            return
        if front.status is not None or not front.upstream:
            self._reply(front.status or 503, [("Content-Type", "application/json")], front.body)
            return
        if front.on_request is not None:
            front.on_request(self.command, self.path)
        target = urllib.parse.urlsplit(front.upstream)
        connection = http.client.HTTPConnection(
            target.hostname or "127.0.0.1", target.port, timeout=60
        )
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
            headers.pop("Authorization", None)
            connection.request(self.command, self.path, body=body, headers=headers)
            answer = connection.getresponse()
            payload = answer.read()
            kept = [(k, v) for k, v in answer.getheaders() if k.lower() not in _HOP]
            self._reply(answer.status, kept, payload)
        finally:
            connection.close()
