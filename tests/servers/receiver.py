"""A real HTTP receiver of notifications on 127.0.0.1: it records every request, and can be
slow, fail (any status, e.g. 503 or 429 with ``Retry-After``) or vanish.

Plain code, no pytest: ``start_receiver()`` serves on a free port from a thread
(one thread per request, so a slow answer does not hold the others), ``stop()``
closes the port (a vanished receiver: connections are refused from then on).
``verify(secret)`` checks a delivery the way docs/notifications.md tells a
receiver to: the HMAC-SHA256 of the raw body against ``X-Gitops-Watcher-Signature``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    status: int

    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data

    def verify(self, secret: str) -> bool:
        given = self.headers.get("x-gitops-watcher-signature", "")
        expected = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(given, expected)


@dataclass
class Receiver:
    #: Answers for the next requests, used up one by one; then ``status``.
    statuses: list[int] = field(default_factory=list)
    status: int = 200
    #: Seconds to wait before answering each request.
    delay_seconds: float = 0.0
    retry_after: str = ""
    url: str = ""
    #: Every request, failed ones included, in arrival order.
    requests: list[Delivery] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def delivered(self) -> list[Delivery]:
        """The requests answered with a 2xx: what the receiver took."""
        with self._lock:
            return [d for d in self.requests if 200 <= d.status < 300]

    def events(self, path: str = "") -> list[dict[str, Any]]:
        """The json bodies taken (at ``path``, when given), in order."""
        return [d.json() for d in self.delivered if not path or d.path == path]

    def _answer(self) -> int:
        with self._lock:
            return self.statuses.pop(0) if self.statuses else self.status

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


def start_receiver(given: Receiver | None = None) -> Receiver:
    receiver: Receiver = given or Receiver()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if receiver.delay_seconds:
                time.sleep(receiver.delay_seconds)
            status = receiver._answer()
            headers = {k.lower(): v for k, v in self.headers.items()}
            with receiver._lock:
                receiver.requests.append(Delivery(self.path, headers, body, time.time(), status))
            self.send_response(status)
            if status == 429 and receiver.retry_after:
                self.send_header("Retry-After", receiver.retry_after)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver._server = server
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    receiver._thread = threading.Thread(target=server.serve_forever, daemon=True)
    receiver._thread.start()
    return receiver
