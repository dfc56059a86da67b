"""The HTTP endpoints on a real socket: health, readiness, metrics, status, webhook limits."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from watcher.daemon.http import DaemonHttp
from watcher.daemon.metrics import DaemonMetrics
from watcher.daemon.status import StatusBoard
from watcher.daemon.triggers import FileWatch
from watcher.sources.mlflow.triggers import sqlite_path
from watcher.sources.mlflow.webhook import WebhookVerifier, sign
from watcher.spine.triggers import FileTrigger, WebhookTrigger

SECRET = "http-test-secret"


@pytest.fixture
def served() -> Iterator[tuple[DaemonHttp, list[tuple[str, float]], StatusBoard]]:
    calls: list[tuple[str, float]] = []
    board = StatusBoard(ready_max_age=60, first_run_bound=30)
    server = DaemonHttp(
        ("127.0.0.1", 0),
        metrics=DaemonMetrics(),
        board=board,
        webhooks=[
            WebhookTrigger(
                "mlflow",
                "/webhooks/mlflow",
                WebhookVerifier(SECRET, max_age_seconds=60, replay_window=10).verify,
            )
        ],
        max_body=2048,
        on_webhook=lambda hook, verdict: calls.append((verdict.event, verdict.timestamp)),
    )
    server.start()
    try:
        yield server, calls, board
    finally:
        server.stop()


def request(server: DaemonHttp, method: str, path: str, body: bytes = b"", headers=None):  # type: ignore[no-untyped-def]
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


def signed(body: bytes, delivery: str) -> dict[str, str]:
    stamp = str(int(time.time()))
    return {
        "X-MLflow-Delivery-Id": delivery,
        "X-MLflow-Timestamp": stamp,
        "X-MLflow-Signature": sign(SECRET, delivery, stamp, body),
        "Content-Type": "application/json",
    }


def test_endpoints_answer(served) -> None:  # type: ignore[no-untyped-def]
    server, _calls, board = served
    assert request(server, "GET", "/healthz") == (200, b"ok\n")
    status, body = request(server, "GET", "/readyz")
    assert status == 200 and json.loads(body)["reason"].startswith("standby")  # can take over
    board.standby_problem = "database error: OperationalError"
    status, body = request(server, "GET", "/readyz")
    assert status == 503 and "cannot take over" in json.loads(body)["reason"]
    board.became_writer("me")
    assert request(server, "GET", "/readyz")[0] == 200  # first run within its bound
    status, body = request(server, "GET", "/metrics")
    assert status == 200 and b"gitops_watcher_reconciles_total" in body
    status, body = request(server, "GET", "/status")
    assert status == 200 and json.loads(body)["releases"] == []
    assert request(server, "GET", "/nope")[0] == 404
    assert request(server, "DELETE", "/status")[0] == 405


def test_webhook_accepts_signed_refuses_the_rest_and_survives_junk(served) -> None:  # type: ignore[no-untyped-def]
    server, calls, _board = served
    body = b'{"entity": "model_version", "action": "created", "data": {}}'
    assert request(server, "POST", "/webhooks/mlflow", body, signed(body, "a"))[0] == 202
    assert calls and calls[0][0] == "model_version.created"
    assert request(server, "POST", "/webhooks/mlflow", body, signed(body, "a"))[0] == 409
    forged = {**signed(body, "b"), "X-MLflow-Signature": sign("guess", "b", "1", body)}
    assert request(server, "POST", "/webhooks/mlflow", body, forged)[0] == 401
    assert request(server, "POST", "/webhooks/mlflow", body, {})[0] == 401
    big = b"x" * 4096
    assert request(server, "POST", "/webhooks/mlflow", big, signed(big, "c"))[0] == 413
    junk = b"\x00\xff{{"
    assert request(server, "POST", "/webhooks/mlflow", junk, signed(junk, "d"))[0] == 400
    assert len(calls) == 1
    assert request(server, "GET", "/healthz")[0] == 200  # still serving
    _status, metrics = request(server, "GET", "/metrics")
    assert b'gitops_watcher_webhook_deliveries_total{outcome="bad_signature"} 1.0' in metrics


def test_sqlite_watch_fires_once_per_burst_of_commits(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "mlflow.db"
    assert sqlite_path(f"sqlite:///{db}") == db
    assert sqlite_path("postgresql://h/db") is None
    conn = sqlite3.connect(db)
    conn.execute("create table t (x)")
    conn.commit()
    calls: list[tuple[str, float | None]] = []
    names = frozenset({db.name, f"{db.name}-wal", f"{db.name}-journal"})
    trigger = FileTrigger("mlflow", db.parent, names)
    watch = FileWatch(trigger, 0.2, lambda reason, at, hint: calls.append((reason, at)))
    watch.start()
    try:
        (tmp_path / "unrelated.txt").write_text("x")
        time.sleep(0.4)
        assert calls == []
        for i in range(20):
            conn.execute("insert into t values (?)", (i,))
            conn.commit()
        deadline = time.monotonic() + 5
        while not calls and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.4)
        assert len(calls) == 1 and calls[0][0] == "watch"
        conn.execute("select * from t").fetchall()  # reads do not count
        time.sleep(0.4)
        assert len(calls) == 1
    finally:
        watch.stop()
        conn.close()
