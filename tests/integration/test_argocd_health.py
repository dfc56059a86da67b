"""Argo CD's health back into the registry, through ``gitops-watcher run``.

Argo CD cannot run here (it needs a cluster), so its API is the one test double:
tests/servers/argocd_api.py, a local HTTP server with the endpoints and payload
shapes of Argo CD's API reference. Everything else is real: an MLflow server (status
write-back through its REST API), a bare remote, and an HTTP receiver for the
``healthy`` and ``degraded`` notifications.

Checked: the Application the ApplicationSet made for the deployed folder is found by
its labels and name; ``/status`` shows its sync, health and revision; once it is
Synced and Healthy at the pushed commit the version gets ``gitops.staging.health`` and
``gitops.staging.synced`` tags, one ``healthy`` event is sent and the times from the
push are measured; a Degraded application sends one ``degraded``; an Argo CD that
fails or is gone changes nothing else: a promotion still reaches git and is notified.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.stack import FAST, metric, remote_subjects
from tests.servers.argocd_api import ArgoCDApi, FakeApp, start_argocd_api
from tests.servers.mlflow_fixtures import ModelNames
from tests.servers.mlflow_server import MlflowServer, register_version
from tests.servers.mlflow_webhook import DaemonProcess, base_config, start_daemon
from tests.servers.receiver import Receiver, start_receiver
from watcher.core.app_health import application_name

pytestmark = [pytest.mark.slow]

TOKEN = "argocd-read-only-token-0123456789"
LABELS = {"app.kubernetes.io/managed-by": "gitops-watcher",
          "app.kubernetes.io/part-of": "gitops-watcher"}  # fmt: skip


def _release(daemon: DaemonProcess, name: str) -> dict[str, object]:
    (found,) = [r for r in daemon.status()["releases"] if r["name"] == name]
    return dict(found)


def _argocd(daemon: DaemonProcess, name: str) -> dict[str, object]:
    found = _release(daemon, name).get("argocd")
    return dict(found) if isinstance(found, dict) else {}


def _metrics(daemon: DaemonProcess, name: str) -> float:
    return metric(daemon.get("/metrics")[1].decode(), name)


@dataclass
class Scene:
    """The daemon, the Argo CD double, the receiver and the MLflow client of one test."""

    daemon: DaemonProcess
    api: ArgoCDApi
    receiver: Receiver
    client: Any
    name: str

    def tags(self) -> dict[str, str]:
        tags: dict[str, str] = self.client.get_model_version(self.name, "1").tags
        return tags

    def health_tag(self) -> str | None:
        return self.tags().get("gitops.staging.health")


def test_argocd_health_reaches_status_metrics_tags_and_notifications(
    mlflow_server: MlflowServer, bare_remote: Path, tmp_path: Path, unique_model_name: ModelNames
) -> None:
    api = start_argocd_api(ArgoCDApi(token=TOKEN))
    receiver = start_receiver()
    daemon: DaemonProcess | None = None
    try:
        config = base_config(mlflow_server, bare_remote, tmp_path / "s", unique_model_name.prefix)
        config["argocd"] = {"api_url": api.url, "poll_interval_seconds": 0.3}
        config["notifications"] = [
            {"name": "health", "url": f"{receiver.url}/json", "events": ["healthy", "degraded"]},
            {"name": "all", "url": f"{receiver.url}/all"},
        ]
        client = mlflow_server.client()
        name = unique_model_name("model")
        register_version(client, name)
        client.set_registered_model_alias(name, "staging", "1")
        daemon = start_daemon(
            tmp_path / "d", config, {**FAST, "status_writeback": {"enabled": "true"}},
            {"ARGOCD_AUTH_TOKEN": TOKEN},
        )  # fmt: skip
        scene = Scene(daemon, api, receiver, client, name)
        daemon.wait_for("the promotion", lambda: len(remote_subjects(bare_remote)) == 1)
        daemon.wait_for("the commit", lambda: bool(_release(scene.daemon, name)["commit"]))
        release = _release(daemon, name)
        commit, folder = str(release["commit"]), str(release["folder"])
        app = application_name(folder)
        assert app == folder.replace("/", "-") and app.endswith("-staging")
        _missing_then_progressing(scene, app)
        _healthy_once_with_tags_and_times(scene, app, commit)
        # Degraded: one event, and the tag says so.
        api.apps[app] = FakeApp(app, LABELS, "Synced", "Degraded", revision=commit,
                                reconciled_at=time.time())  # fmt: skip
        daemon.wait_for("the degraded event", lambda: len(receiver.events("/json")) == 2)
        assert receiver.events("/json")[1]["event"] == "degraded"
        daemon.wait_for("the degraded tag", lambda: scene.health_tag() == "Degraded")
        _argocd_gone_changes_nothing_else(scene, bare_remote)
    finally:
        if daemon is not None:
            daemon.kill()
        api.stop()
        receiver.stop()


def _missing_then_progressing(scene: Scene, app: str) -> None:
    """No application yet: Missing. Then syncing: Progressing, nothing sent."""
    daemon, name = scene.daemon, scene.name
    daemon.wait_for("Missing in /status", lambda: _argocd(daemon, name).get("health") == "Missing")
    scene.api.apps[app] = FakeApp(app, LABELS, sync="OutOfSync", health="Progressing")
    scene.api.apps["someone-else"] = FakeApp("someone-else", {"team": "b"}, "Synced", "Degraded")
    daemon.wait_for(
        "Progressing in /status", lambda: _argocd(daemon, name).get("health") == "Progressing"
    )
    assert scene.receiver.events("/json") == []


def _healthy_once_with_tags_and_times(scene: Scene, app: str, commit: str) -> None:
    """Synced at the pushed commit and Healthy: tags, one event, the times measured."""
    daemon, receiver, api = scene.daemon, scene.receiver, scene.api
    api.apps[app] = FakeApp(app, LABELS, "Synced", "Healthy", revision=commit,
                            reconciled_at=time.time())  # fmt: skip
    daemon.wait_for("the healthy event", lambda: len(receiver.events("/json")) == 1)
    healthy = receiver.events("/json")[0]
    assert (healthy["event"], healthy["name"], healthy["stage"]) == (
        "healthy", scene.name, "staging",
    )  # fmt: skip
    assert healthy["to_revision"] == "1" and healthy["commit"] == commit
    assert healthy["url"].endswith("/versions/1")
    argocd = _argocd(daemon, scene.name)
    assert argocd == {**argocd, "application": app, "sync": "Synced", "health": "Healthy",
                      "revision": commit, "synced": True}  # fmt: skip
    # One request per tag (the registry has no batch for version tags): a reader may
    # see .health before .synced, so wait for both.
    daemon.wait_for(
        "the health tags", lambda: scene.tags().get("gitops.staging.synced") == "true"
    )
    tags = scene.tags()
    assert tags["gitops.staging.health"] == "Healthy"
    assert tags["gitops.staging.commit"] == commit
    text = daemon.get("/metrics")[1].decode()
    assert metric(text, "gitops_watcher_argocd_up") == 1
    assert metric(text, "gitops_watcher_argocd_synced_seconds_count", stage="staging") == 1
    assert metric(text, "gitops_watcher_argocd_healthy_seconds_count", stage="staging") == 1
    assert metric(text, "gitops_watcher_argocd_applications", health="Healthy",
                  sync="Synced") == 1  # fmt: skip
    polls = len(api.requests)
    daemon.wait_for("more polls", lambda: len(api.requests) >= polls + 3)
    assert len(receiver.events("/json")) == 1  # healthy once, not once per poll
    assert all(auth == f"Bearer {TOKEN}" for auth, _ in api.requests)
    assert all(path.startswith("/api/v1/applications?selector=") for _, path in api.requests)


def _argocd_gone_changes_nothing_else(scene: Scene, remote: Path) -> None:
    """Argo CD fails, then is gone: promotions go on and are notified as before."""
    daemon, receiver = scene.daemon, scene.receiver
    scene.api.status = 503
    daemon.wait_for("argocd_up 0", lambda: _metrics(daemon, "gitops_watcher_argocd_up") == 0)
    scene.api.stop()
    register_version(scene.client, scene.name)
    scene.client.set_registered_model_alias(scene.name, "staging", "2")
    daemon.wait_for("the update", lambda: len(remote_subjects(remote)) == 2)
    daemon.wait_for(
        "the updated event",
        lambda: [b["event"] for b in receiver.events("/all")][-1:] == ["updated"],
    )
    status = daemon.status()
    assert status["ready"] and "Argo CD" in status["argocd_problem"]
    assert daemon.log().count("cannot read Argo CD's applications") <= 2  # once per cause
    assert daemon.stop() == 0
