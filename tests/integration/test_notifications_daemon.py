"""Notifications and promotion metrics through ``gitops-watcher run``: a real MLflow server
behind an HTTP front that can fail (tests/servers/http_front.py), a bare remote, and real
HTTP receivers (tests/servers/receiver.py): one that takes everything, one that answers
after 8 s, and one that is gone (a port nobody listens on).

Checked: one delivery per event while the daemon retries a failing registry every
second (``failed`` once, then ``recovered`` once), none again after a restart on the
same state; the slow and the dead receiver do not hold a promotion back (measured:
registry write to commit on the remote); the dead one's deliveries are dropped after
``give_up_seconds`` and counted; ``/metrics`` has the lead time and the per-change
counters, and every metric the dashboard queries; ``/status`` has the per-stage summary,
filled again from the ledger after the restart.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.stack import FAST, metric
from tests.servers.http_front import HttpFront, start_http_front
from tests.servers.mlflow_fixtures import ModelNames
from tests.servers.mlflow_server import MlflowServer, free_port, register_version
from tests.servers.mlflow_webhook import DaemonProcess, base_config, deployed, start_daemon
from tests.servers.receiver import Receiver, start_receiver
from tests.unit.test_dashboard import dashboard_metric_names

pytestmark = [pytest.mark.slow]

SECRET = "daemon-notify-secret-42abcdef"
SLOW_SECONDS = 8.0


def json_events(receiver: Receiver) -> list[tuple[str, str, str]]:
    return [(b["event"], b["kind"], b["name"]) for b in receiver.events("/json")]


def test_the_daemon_sends_each_change_once_and_slow_receivers_hold_nothing_back(
    mlflow_server: MlflowServer, bare_remote: Path, tmp_path: Path, unique_model_name: ModelNames
) -> None:
    good = start_receiver()
    slow = start_receiver(Receiver(delay_seconds=SLOW_SECONDS))
    front = start_http_front(HttpFront(upstream=mlflow_server.url))
    daemon: DaemonProcess | None = None
    try:
        config = base_config(
            mlflow_server, bare_remote, tmp_path / "state", unique_model_name.prefix,
            tracking_uri=front.url,
        )  # fmt: skip
        config["notifications"] = [
            {"name": "team", "url": f"{good.url}/json", "secret_env": "NOTIFY_SECRET"},
            {"name": "slow", "url": f"{slow.url}/json", "timeout_seconds": 30},
            {"name": "gone", "url": f"http://127.0.0.1:{free_port()}/hook", "give_up_seconds": 0.5},
        ]
        env = {"NOTIFY_SECRET": SECRET}
        client = mlflow_server.client()
        name = unique_model_name("model")
        register_version(client, name)
        daemon = first = start_daemon(tmp_path / "d1", config, FAST, env)
        first.wait_for("the first reconcile", lambda: bool(first.status()["last_success_at"]))
        _promoted_while_receivers_stall(first, client, bare_remote, good, name)
        _failed_once_then_recovered_once(first, front, good)
        register_version(client, name)
        client.set_registered_model_alias(name, "staging", "2")
        first.wait_for("the updated event", lambda: len(good.delivered) == 4)
        assert json_events(good)[-1] == ("updated", "model", name)
        assert all(d.verify(SECRET) for d in good.delivered)
        first.wait_for("the dead receiver's drops", lambda: _dropped(first, "gone") >= 4)
        _metrics_status_and_dashboard_agree(first)
        assert first.stop() == 0
        assert "dropped the deployed event" in first.log()

        # A restart on the same state: the ledger says nothing changed, so nothing is sent;
        # the stage figures start from the ledger's rows.
        daemon = second = start_daemon(tmp_path / "d2", config, FAST, env)
        second.wait_for(
            "three reconciles after the restart", lambda: second.log().count(" done in ") >= 3
        )
        (summary,) = [s for s in second.status()["stages"] if s["stage"] == "staging"]
        assert summary["deployments_7d"] == 2 and summary["last_deployment_at"]
        assert len(good.delivered) == 4, json.dumps(good.events("/json"), indent=1)
        assert second.stop() == 0
        # The slow receiver got the events too, in order, though late.
        taken = [b["event"] for b in slow.events("/json")]
        assert taken and taken == [b["event"] for b in good.events("/json")][: len(taken)]
    finally:
        if daemon is not None:
            daemon.kill()
        front.stop()
        good.stop()
        slow.stop()


def _promoted_while_receivers_stall(
    daemon: DaemonProcess, client: Any, remote: Path, good: Receiver, name: str
) -> None:
    """A promotion reaches git while one receiver stalls 8 s and another is gone."""
    started = time.monotonic()
    client.set_registered_model_alias(name, "staging", "1")
    daemon.wait_for("the promotion", lambda: (name, "staging") in deployed(remote))
    took = time.monotonic() - started
    assert took < SLOW_SECONDS, f"the promotion took {took:.1f} s"
    daemon.wait_for("the deployed event", lambda: len(good.delivered) == 1)
    assert json_events(good) == [("deployed", "model", name)]


def _failed_once_then_recovered_once(
    daemon: DaemonProcess, front: HttpFront, good: Receiver
) -> None:
    """The registry fails for a while: the daemon retries every second or so, and the
    receiver hears of it once; then once that it recovered."""
    front.status = 503
    daemon.wait_for("a failed event", lambda: len(good.delivered) == 2)
    retries = daemon.log().count("reconcile could not complete")
    daemon.wait_for(
        "two more failed attempts",
        lambda: daemon.log().count("reconcile could not complete") >= retries + 2,
    )
    front.status = None
    daemon.wait_for("the recovered event", lambda: len(good.delivered) == 3)
    failed, recovered = good.events("/json")[1:]
    assert (failed["event"], failed["kind"]) == ("failed", "reconcile")
    assert "FAILED reconcile could not complete" in failed["message"]
    assert (recovered["event"], recovered["kind"]) == ("recovered", "reconcile")


def _metrics_status_and_dashboard_agree(daemon: DaemonProcess) -> None:
    text = daemon.get("/metrics")[1].decode()
    assert metric(text, "gitops_watcher_notifications_total",
                  notification="team", outcome="sent") == 4  # fmt: skip
    assert metric(text, "gitops_watcher_lead_time_seconds_count", stage="staging",
                  kind="model", to="push") == 2  # fmt: skip
    assert metric(text, "gitops_watcher_failures_total", kind="failed") == 1
    assert metric(text, "gitops_watcher_events_total", event="recovered") == 1
    assert metric(text, "gitops_watcher_last_deployment_timestamp_seconds",
                  stage="staging") > time.time() - 120  # fmt: skip
    exported = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")}
    missing = {m for m in dashboard_metric_names() if m not in _series_of(exported)}
    assert not missing, f"the dashboard queries metrics the daemon does not export: {missing}"
    (summary,) = [s for s in daemon.status()["stages"] if s["stage"] == "staging"]
    assert summary["deployments_7d"] == summary["deployments_24h"] == 2
    assert summary["median_lead_time_seconds"] is not None
    assert summary["change_failure_rate_7d"] == 0


def _dropped(daemon: DaemonProcess, notification: str) -> float:
    text = daemon.get("/metrics")[1].decode()
    return metric(
        text, "gitops_watcher_notifications_total", notification=notification, outcome="dropped"
    )


def _series_of(families: set[str]) -> set[str]:
    """Every sample name the exported families can have (``_total``, ``_bucket`` …)."""
    names = set(families)
    for family in families:
        names |= {f"{family}{suffix}" for suffix in ("_total", "_bucket", "_sum", "_count")}
    return names
