"""A stand-in for Argo CD's API server: the one test double here, because Argo CD cannot run
in this test environment (it needs a Kubernetes cluster to sync into).

It implements only what gitops-watcher reads, with the payload shapes of Argo CD's
API reference (https://argo-cd.readthedocs.io/en/stable/developer-guide/api-docs/;
the OpenAPI document is ``assets/swagger.json`` of argoproj/argo-cd):

- ``GET /api/v1/applications?selector=…`` (ApplicationService ``List``): a
  ``v1alpha1ApplicationList``, ``{"metadata": {...}, "items": [Application, …]}``,
  only the Applications whose labels match the selector (equality terms joined by
  commas, as Kubernetes label selectors are written);
- ``GET /api/v1/applications/{name}`` (ApplicationService ``Get``): one
  ``v1alpha1Application``, or 404 with ``{"error": …, "code": 5, "message": …}``
  (gRPC NotFound, as the gateway answers).

An Application carries ``metadata.name``, ``metadata.namespace``,
``metadata.labels``, ``spec.source`` and ``status``: ``sync`` (``status``:
Synced/OutOfSync/Unknown, ``revision``: the commit it compared with),
``health`` (``status``: Healthy/Progressing/Degraded/Suspended/Missing/Unknown),
``reconciledAt`` (RFC 3339) and ``operationState.phase``. Without the bearer token
it answers 401, as Argo CD does. ``status`` (an HTTP code) makes every answer a
failure; ``stop()`` makes it unreachable. Every request is recorded.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class FakeApp:
    """What the test says Argo CD shows for one Application."""

    name: str
    labels: dict[str, str]
    sync: str = "OutOfSync"
    health: str = "Progressing"
    revision: str = ""
    reconciled_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        reconciled = (
            datetime.fromtimestamp(self.reconciled_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            if self.reconciled_at is not None
            else None
        )
        status: dict[str, Any] = {
            "sync": {"status": self.sync, "revision": self.revision,
                     "comparedTo": {"source": {"path": self.name}}},
            "health": {"status": self.health},
            "operationState": {"phase": "Succeeded" if self.sync == "Synced" else "Running"},
        }  # fmt: skip
        if reconciled is not None:
            status["reconciledAt"] = reconciled
        return {
            "metadata": {"name": self.name, "namespace": "argocd", "labels": dict(self.labels)},
            "spec": {"project": "gitops-watcher", "source": {"path": self.name}},
            "status": status,
        }


@dataclass
class ArgoCDApi:
    token: str
    apps: dict[str, FakeApp] = field(default_factory=dict)
    #: When set, every request gets this HTTP status.
    status: int | None = None
    url: str = ""
    requests: list[tuple[str, str]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


def _matches(labels: dict[str, str], selector: str) -> bool:
    for term in filter(None, (part.strip() for part in selector.split(","))):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True


def start_argocd_api(api: ArgoCDApi) -> ArgoCDApi:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _json(self, status: int, data: Any) -> None:
            body = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            parsed = urllib.parse.urlsplit(self.path)
            with api._lock:
                api.requests.append((self.headers.get("Authorization", ""), self.path))
            if api.status is not None:
                self._json(api.status, {"error": "unavailable", "code": 14})
                return
            if self.headers.get("Authorization") != f"Bearer {api.token}":
                self._json(401, {"error": "invalid session", "code": 16,
                                 "message": "invalid session"})  # fmt: skip
                return
            if parsed.path == "/api/v1/applications":
                query = urllib.parse.parse_qs(parsed.query)
                selector = (query.get("selector") or [""])[0]
                with api._lock:
                    items = [a.to_json() for a in api.apps.values() if _matches(a.labels, selector)]
                self._json(200, {"metadata": {"resourceVersion": "1"}, "items": items})
                return
            name = parsed.path.removeprefix("/api/v1/applications/")
            with api._lock:
                app = api.apps.get(name) if "/" not in name else None
            if app is None:
                message = f'applications.argoproj.io "{name}" not found'
                self._json(404, {"error": message, "code": 5, "message": message})
                return
            self._json(200, app.to_json())

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    api._server = server
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    api._thread = threading.Thread(target=server.serve_forever, daemon=True)
    api._thread.start()
    return api
