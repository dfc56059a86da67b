"""``run`` against a real MLflow server: each trigger alone brings a promotion to the remote.

Every test promotes through ``MlflowClient`` and waits for the commit on the
remote, with only one trigger able to cause it (the interval resync is set far
out, except in the interval test).
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.servers.mlflow_server import MlflowServer, register_version
from tests.servers.mlflow_webhook import (
    WEBHOOK_EVENTS,
    base_config,
    deployed,
    remote_subjects,
    start_daemon,
)
from watcher.sources.mlflow.webhook import sign

pytestmark = [pytest.mark.slow]

QUIET = {"resync_interval_seconds": 600, "probe_interval_seconds": 0}
SECRET = "webhook-secret-for-the-daemon-test-0042"


def promoted(remote: Path, name: str, stage: str = "staging", version: int = 1) -> bool:
    return deployed(remote).get((name, stage)) == str(version)


def test_db_watch_picks_up_a_promotion_and_reports_it(
    mlflow_server: MlflowServer, bare_remote: Path, tmp_path: Path, unique_model_name: Any
) -> None:
    assert mlflow_server.db_path is not None
    client = mlflow_server.client()
    name = unique_model_name("watch")
    register_version(client, name)
    config = base_config(
        mlflow_server, bare_remote, tmp_path / "state", unique_model_name.prefix,
        tracking_uri=mlflow_server.db_uri,
    )  # fmt: skip
    daemon = start_daemon(tmp_path / "d", config, {**QUIET, "watch_debounce_seconds": 0.2})
    try:
        daemon.wait_for("the first reconcile", lambda: daemon.get("/readyz")[0] == 200)
        daemon.wait_for("startup", lambda: daemon.status()["last_success_at"] is not None)
        client.set_registered_model_alias(name, "staging", "1")
        took = daemon.wait_for("the promotion on the remote", lambda: promoted(bare_remote, name))
        assert took < 20
        assert "watch" in daemon.log()
        entry = daemon.wait_for(
            "/status to show it",
            lambda: any(r["state"] == "deployed" for r in daemon.status()["releases"]),
        )
        assert entry < 10
        release = next(r for r in daemon.status()["releases"] if r["state"] == "deployed")
        assert release["stage"] == "staging" and release["commit"]
        _code, metrics = daemon.get("/metrics")
        assert b'gitops_watcher_triggers_total{trigger="watch"}' in metrics
        promotion = (
            b'gitops_watcher_promotions_total{action="deploy",kind="model",source="mlflow",'
            b'stage="staging"}'
        )
        assert promotion in metrics
        assert b"gitops_watcher_lead_time_seconds_count" in metrics
    finally:
        assert daemon.stop() == 0
    assert "stopped cleanly" in daemon.log()


def test_the_rest_change_probe_picks_up_an_alias_move(
    mlflow_server: MlflowServer, bare_remote: Path, tmp_path: Path, unique_model_name: Any
) -> None:
    client = mlflow_server.client()
    name = unique_model_name("probe")
    register_version(client, name)
    register_version(client, name)
    client.set_registered_model_alias(name, "staging", "1")
    config = base_config(mlflow_server, bare_remote, tmp_path / "state", unique_model_name.prefix)
    daemon = start_daemon(
        tmp_path / "d", config, {**QUIET, "probe_interval_seconds": 0.5, "watch_database": False}
    )
    try:
        daemon.wait_for("the startup reconcile", lambda: promoted(bare_remote, name))
        time.sleep(1.2)  # a few probes of an unchanged registry
        assert len(remote_subjects(bare_remote)) == 1
        client.set_registered_model_alias(name, "staging", "2")
        took = daemon.wait_for(
            "the alias move on the remote",
            lambda: promoted(bare_remote, name, "staging", 2),
        )
        assert took < 15
        assert "change probe" in daemon.log()
    finally:
        assert daemon.stop() == 0


def test_the_interval_resync_picks_up_a_stage_transition(
    mlflow_server: MlflowServer, bare_remote: Path, tmp_path: Path, unique_model_name: Any
) -> None:
    client = mlflow_server.client()
    name = unique_model_name("interval")
    register_version(client, name)
    config = base_config(mlflow_server, bare_remote, tmp_path / "state", unique_model_name.prefix)
    daemon = start_daemon(
        tmp_path / "d", config, {"resync_interval_seconds": 1, "probe_interval_seconds": 0}
    )
    try:
        daemon.wait_for("startup", lambda: daemon.status()["last_success_at"] is not None)
        with pytest.warns(FutureWarning):
            client.transition_model_version_stage(name, "1", "Production")
        took = daemon.wait_for(
            "the transition on the remote", lambda: promoted(bare_remote, name, "production")
        )
        assert took < 15
    finally:
        assert daemon.stop() == 0


def test_a_webhook_from_the_real_server_triggers_and_forgeries_are_refused(
    webhook_mlflow: MlflowServer, bare_remote: Path, tmp_path: Path, unique_model_name: Any
) -> None:
    client = webhook_mlflow.client()
    name = unique_model_name("hook")
    register_version(client, name)
    config = base_config(webhook_mlflow, bare_remote, tmp_path / "state", unique_model_name.prefix)
    daemon = start_daemon(tmp_path / "d", config, QUIET, {"GITOPS_WATCHER_WEBHOOK_SECRET": SECRET})
    try:
        client.create_webhook(
            name=f"gitops-watcher-{uuid.uuid4().hex[:8]}",
            url=f"{daemon.url}/webhooks/mlflow",
            events=WEBHOOK_EVENTS,
            secret=SECRET,
        )
        daemon.wait_for("startup", lambda: daemon.status()["last_success_at"] is not None)
        client.set_registered_model_alias(name, "staging", "1")
        took = daemon.wait_for("the webhook's promotion", lambda: promoted(bare_remote, name))
        assert took < 15
        assert "webhook from 127.0.0.1: accepted" in daemon.log()

        body = json.dumps({"entity": "model_version", "action": "created", "data": {}}).encode()
        now = str(int(time.time()))
        good = {
            "X-MLflow-Delivery-Id": "test-delivery-1",
            "X-MLflow-Timestamp": now,
            "X-MLflow-Signature": sign(SECRET, "test-delivery-1", now, body),
            "Content-Type": "application/json",
        }
        forged = {
            **good,
            "X-MLflow-Signature": sign("guess", "test-delivery-1", now, body),
        }
        old = str(int(time.time()) - 3600)
        stale = {
            **good,
            "X-MLflow-Timestamp": old,
            "X-MLflow-Signature": sign(SECRET, "test-delivery-1", old, body),
        }
        assert daemon.post("/webhooks/mlflow", body, forged) == 401
        assert daemon.post("/webhooks/mlflow", body, {"Content-Type": "application/json"}) == 401
        assert daemon.post("/webhooks/mlflow", body, stale) == 401
        assert daemon.post("/webhooks/mlflow", body, good) == 202
        assert daemon.post("/webhooks/mlflow", body, good) == 409  # replayed
        assert daemon.post("/webhooks/mlflow", b"\x00garbage", good) == 401
        assert daemon.get("/healthz")[0] == 200
        _code, metrics = daemon.get("/metrics")
        for outcome, count in (("bad_signature", 2), ("stale", 1), ("replayed", 1)):
            line = f'gitops_watcher_webhook_deliveries_total{{outcome="{outcome}"}} {count}.0'
            assert line.encode() in metrics, outcome
        assert SECRET not in daemon.log()
    finally:
        assert daemon.stop() == 0


def test_status_is_written_back_as_version_tags_without_an_extra_commit(
    webhook_mlflow: MlflowServer, bare_remote: Path, tmp_path: Path, unique_model_name: Any
) -> None:
    client = webhook_mlflow.client()
    name = unique_model_name("status")
    register_version(client, name)
    client.set_registered_model_alias(name, "champion", "1")
    config = base_config(webhook_mlflow, bare_remote, tmp_path / "state", unique_model_name.prefix)
    daemon = start_daemon(
        tmp_path / "d",
        config,
        {
            "resync_interval_seconds": 1,
            "probe_interval_seconds": 0.5,
            "status_writeback": {"enabled": "true"},
        },
    )
    try:
        daemon.wait_for("the promotion", lambda: promoted(bare_remote, name, "production"))

        def tags() -> dict[str, str]:
            return dict(client.get_model_version(name, "1").tags)

        keys = {f"gitops.production.{k}" for k in ("commit", "state", "updated")}
        daemon.wait_for("the status tags", lambda: keys <= set(tags()))
        written = tags()
        assert written["gitops.production.state"] == "deployed"
        assert len(written["gitops.production.commit"]) == 40
        assert written["gitops.production.updated"].endswith("+00:00")
        assert not any(key.startswith("deploy.") for key in written)
        runs = daemon.status()["last_reconcile"]["reconcile_id"]
        daemon.wait_for(  # several resyncs and probes after the write
            "more reconciles", lambda: daemon.status()["last_reconcile"]["reconcile_id"] != runs
        )
        time.sleep(2.5)
        assert len(remote_subjects(bare_remote)) == 1
    finally:
        assert daemon.stop() == 0
