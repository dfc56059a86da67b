"""The daemon's HTTP endpoints on one address: health, readiness, metrics, status, webhooks.

Webhook routes are the ``WebhookTrigger``s the sources offer (``POST /webhooks/mlflow``
for MLflow registries); a delivery they accept only asks for a reconcile.

``ThreadingHTTPServer`` from the standard library: a handful of endpoints that
answer from memory need no framework. Bodies are read only up to a limit with
a socket timeout, so a slow or huge request cannot tie the daemon up.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from watcher.daemon.metrics import DaemonMetrics
from watcher.daemon.status import StatusBoard
from watcher.spine.triggers import Verdict, WebhookTrigger

#: Told of each accepted delivery: the route's trigger and its verdict (with any hint);
#: returns the verdict to answer with when it says more (None: the same).
OnWebhook = Callable[[WebhookTrigger, Verdict], Verdict | None]

log = logging.getLogger(__name__)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class DaemonHttp:
    """Serves the endpoints; ``on_webhook(trigger, verdict)`` is called for accepted deliveries."""

    def __init__(
        self,
        address: tuple[str, int],
        *,
        metrics: DaemonMetrics,
        board: StatusBoard,
        webhooks: Sequence[WebhookTrigger],
        max_body: int,
        on_webhook: OnWebhook,
    ) -> None:
        self._routes = {hook.path: hook for hook in webhooks}
        handler = _make_handler(metrics, board, self._routes, max_body, on_webhook)
        server_class = _Server6 if ":" in address[0] else _Server
        try:
            self._server = server_class(address, handler)
        except OSError as exc:
            from watcher.errors import ConfigError

            raise ConfigError(
                f"cannot listen on {address[0]}:{address[1]}: {exc.strerror or exc}",
                hint="choose another --listen address (daemon.listen)",
            ) from exc
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, name="http",
            daemon=True,
        )  # fmt: skip

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else str(host)
        shown = f"[{name}]" if ":" in name else name
        return f"http://{shown}:{port}"

    def start(self) -> None:
        self._thread.start()
        routes = " ".join(f"POST {path}" for path in sorted(self._routes))
        log.info("serving /healthz /readyz /metrics /status %s on %s", routes, self.url)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _make_handler(
    metrics: DaemonMetrics,
    board: StatusBoard,
    routes: Mapping[str, WebhookTrigger],
    max_body: int,
    on_webhook: OnWebhook,
) -> type[BaseHTTPRequestHandler]:
    """The handler class for one server, bound to the daemon's parts."""
    parts = {
        "metrics": metrics,
        "board": board,
        "routes": routes,
        "max_body": max_body,
        "on_webhook": staticmethod(on_webhook),
    }
    return type("Handler", (_Handler,), parts)


class _Handler(BaseHTTPRequestHandler):
    """The endpoints; the daemon's parts are class attributes of a subclass made per server
    (``_make_handler``), since ``http.server`` makes one handler object per request."""

    metrics: DaemonMetrics
    board: StatusBoard
    routes: Mapping[str, WebhookTrigger]
    max_body: int
    on_webhook: OnWebhook

    server_version = "gitops-watcher"
    sys_version = ""
    timeout = 10  # seconds a client may take to send its request
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http %s: " + format, self.client_address[0], *args)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data: Any) -> None:
        body = json.dumps(data, sort_keys=True, default=str).encode() + b"\n"
        self._send(status, body, "application/json")

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            self._send(200, b"ok\n", "text/plain; charset=utf-8")
        elif path == "/readyz":
            ready, why = self.board.ready()
            self._json(200 if ready else 503, {"ready": ready, "reason": why})
        elif path == "/metrics":
            self._send(200, self.metrics.render(), self.metrics.content_type)
        elif path == "/status":
            self._json(200, self.board.snapshot())
        else:
            self._json(404, {"error": "not found"})

    do_HEAD = do_GET

    def do_POST(self) -> None:
        hook = self.routes.get(self.path.split("?", 1)[0])
        if hook is None:
            self._json(404, {"error": "not found"})
            return
        length_text = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding") or length_text is None:
            self.close_connection = True
            self._webhook_answer(411, "no_length", "Content-Length is required")
            return
        try:
            length = int(length_text)
        except ValueError:
            length = -1
        if length < 0 or length > self.max_body:
            self.close_connection = True
            self._webhook_answer(413, "too_large", f"body larger than {self.max_body} bytes")
            return
        try:
            body = self.rfile.read(length)
        except OSError:
            self.close_connection = True
            self.metrics.webhooks.labels("broken").inc()
            return
        if len(body) != length:
            self.close_connection = True
            self._webhook_answer(400, "short_body", "body shorter than Content-Length")
            return
        headers = {k: v for k, v in self.headers.items()}
        verdict = hook.verify(_Headers(headers), body)
        if verdict.status == 202:
            verdict = self.on_webhook(hook, verdict) or verdict
        self._webhook_answer(verdict.status, verdict.outcome, verdict.message)

    def _webhook_answer(self, status: int, outcome: str, message: str) -> None:
        self.metrics.webhooks.labels(outcome).inc()
        level = logging.INFO if status == 202 else logging.WARNING
        log.log(level, "webhook from %s: %s (%s)", self.client_address[0], outcome, message)
        self._json(status, {"outcome": outcome, "message": message})

    def do_PUT(self) -> None:
        self._json(405, {"error": "method not allowed"})

    do_DELETE = do_PATCH = do_PUT


class _Headers(dict[str, str]):
    """Case-insensitive lookups over a plain header dict."""

    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__({k.lower(): v for k, v in headers.items()})

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)
