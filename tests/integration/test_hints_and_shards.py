"""Hints against a real MLflow server and ``run`` as a process (issue 22).

A hinted reconcile (a webhook names a model) lands that model's change and touches
nothing else; a hint it missed is healed by the full resync; a hint for a model that
is gone removes nothing; a hint that arrives while a full reconcile runs is not lost;
a source whose registry hangs never holds up another source's promotion.

Deliveries the test sends itself are signed with the daemon's secret, as MLflow signs
them (``watcher.sources.mlflow.webhook.sign``): a stale or forged-but-signed hint is
exactly what the daemon must take as a hint only.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.servers.mlflow_server import MlflowServer, register_version
from tests.servers.mlflow_webhook import (
    WEBHOOK_EVENTS,
    DaemonProcess,
    base_config,
    deployed,
    remote_subjects,
    remote_tree,
    start_daemon,
)
from tests.servers.tcp_proxy import Rules, start_proxy
from watcher.sources.mlflow.webhook import sign

pytestmark = [pytest.mark.slow]

SECRET = "webhook-secret-for-the-hints-test-0022"
HOOK_ENV = {"GITOPS_WATCHER_WEBHOOK_SECRET": SECRET}
QUIET = {"resync_interval_seconds": 600, "probe_interval_seconds": 0}
#: How long a request to the hung registry waits for an answer (a request that times out
#: is tried again: a read of it gives up after a few times this).
HUNG_TIMEOUT = 3.0


def deliver(daemon: DaemonProcess, name: str | None) -> None:
    """A signed ``model_version_alias.created`` delivery naming ``name`` (None: no name)."""
    data = {"name": name, "alias": "staging", "version": "1"} if name else {}
    body = json.dumps({"entity": "model_version_alias", "action": "created", "data": data})
    delivery, now = uuid.uuid4().hex, str(int(time.time()))
    headers = {
        "X-MLflow-Delivery-Id": delivery,
        "X-MLflow-Timestamp": now,
        "X-MLflow-Signature": sign(SECRET, delivery, now, body.encode()),
        "Content-Type": "application/json",
    }
    assert daemon.post("/webhooks/mlflow", body.encode(), headers) == 202


def runs_done(daemon: DaemonProcess, named: bool | None = None, reason: str = "") -> int:
    """Reconciles the daemon logged as done (``named``: hinted ones only, or full ones)."""
    lines = [line for line in daemon.log().splitlines() if re.search(r"reconcile \S+ of ", line)]
    lines = [line for line in lines if " done in " in line and reason in line]
    if named is not None:
        lines = [line for line in lines if (" named) done" in line) == named]
    return len(lines)


def two_versions(server: MlflowServer, *names: str) -> None:
    client = server.client()
    for name in names:
        register_version(client, name)
        register_version(client, name)
        client.set_registered_model_alias(name, "staging", "1")


def at(remote: Path, name: str, version: int, stage: str = "staging") -> bool:
    return deployed(remote).get((name, stage)) == str(version)


def moved(name: str) -> str:
    """The subject of the commit that moves ``name``'s staging folder from v1 to v2."""
    return f"update {name} in staging: v1 \u2192 v2"


def move_alias_in_the_database(server: MlflowServer, name: str, version: int) -> None:
    """Move ``@staging`` in MLflow's own database: the registry changes, no webhook says so
    (a delivery that got lost)."""
    assert server.db_path is not None
    with sqlite3.connect(server.db_path) as db:
        moved = db.execute(
            "UPDATE registered_model_aliases SET version = ? WHERE name = ? AND alias = ?",
            (version, name, "staging"),
        ).rowcount
    assert moved == 1


def test_a_webhook_hint_lands_its_model_only_and_the_resync_heals_a_lost_one(
    webhook_mlflow: MlflowServer, bare_remote: Path, tmp_path: Path, unique_model_name: Any
) -> None:
    named, missed = unique_model_name("named"), unique_model_name("missed")
    two_versions(webhook_mlflow, named, missed)
    client = webhook_mlflow.client()
    config = base_config(webhook_mlflow, bare_remote, tmp_path / "state", unique_model_name.prefix)
    keys = {"resync_interval_seconds": 10, "probe_interval_seconds": 0}
    daemon = start_daemon(tmp_path / "d", config, keys, HOOK_ENV)
    hook = None
    try:
        daemon.wait_for("startup", lambda: at(bare_remote, named, 1) and at(bare_remote, missed, 1))
        hook = client.create_webhook(
            name=f"hints-{uuid.uuid4().hex[:8]}", url=f"{daemon.url}/webhooks/mlflow",
            events=WEBHOOK_EVENTS, secret=SECRET,  # type: ignore[arg-type]
        )  # fmt: skip
        time.sleep(1.5)  # MLflow caches its webhook list (1 s here)
        # Right after a resync, so that the next one is ~10 s away: the hinted run comes first.
        resyncs = runs_done(daemon, False, "asked by resync")
        daemon.wait_for("a resync", lambda: runs_done(daemon, False, "resync") > resyncs)
        before = remote_subjects(bare_remote)
        move_alias_in_the_database(webhook_mlflow, missed, 2)
        client.set_registered_model_alias(named, "staging", "2")
        daemon.wait_for("the named model's promotion", lambda: at(bare_remote, named, 2))
        assert at(bare_remote, missed, 1), "a hinted run deployed another model"
        assert remote_subjects(bare_remote)[len(before):] == [moved(named)]
        assert runs_done(daemon, True, "asked by webhook") >= 1

        daemon.wait_for("the resync to heal the lost hint", lambda: at(bare_remote, missed, 2))
        assert remote_subjects(bare_remote)[len(before):] == [
            moved(named), moved(missed),
        ]  # fmt: skip
        assert daemon.status()["last_error"] is None
    finally:
        if hook is not None:
            client.delete_webhook(hook.webhook_id)
        assert daemon.stop() == 0


def test_a_hint_for_a_deleted_or_unknown_model_changes_nothing(
    webhook_mlflow: MlflowServer, bare_remote: Path, tmp_path: Path, unique_model_name: Any
) -> None:
    kept, gone = unique_model_name("kept"), unique_model_name("gone")
    two_versions(webhook_mlflow, kept, gone)
    client = webhook_mlflow.client()
    config = base_config(webhook_mlflow, bare_remote, tmp_path / "state", unique_model_name.prefix)
    daemon = start_daemon(tmp_path / "d", config, QUIET, HOOK_ENV)
    try:
        daemon.wait_for("startup", lambda: at(bare_remote, kept, 1) and at(bare_remote, gone, 1))
        daemon.wait_for("startup", lambda: daemon.status()["last_success_at"] is not None)
        subjects, tree = remote_subjects(bare_remote), remote_tree(bare_remote)
        client.delete_registered_model(gone)
        hinted = runs_done(daemon, True)
        # One at a time: two deliveries in a row may coalesce into one run naming both.
        deliver(daemon, gone)
        daemon.wait_for("the deleted model's run", lambda: runs_done(daemon, True) > hinted)
        deliver(daemon, unique_model_name("never-registered"))
        daemon.wait_for("the unknown model's run", lambda: runs_done(daemon, True) > hinted + 1)
        assert remote_subjects(bare_remote) == subjects
        assert remote_tree(bare_remote) == tree
        status = daemon.status()
        assert status["last_error"] is None and daemon.get("/healthz")[0] == 200
        assert daemon.get("/readyz")[0] == 200

        # The daemon goes on: a real promotion after them lands.
        client.set_registered_model_alias(kept, "staging", "2")
        deliver(daemon, kept)
        daemon.wait_for("the next promotion", lambda: at(bare_remote, kept, 2))
        assert at(bare_remote, gone, 1)

        # A full reconcile (a delivery that names no model) removes the deleted model's folder.
        deliver(daemon, None)
        daemon.wait_for("the removal", lambda: (gone, "staging") not in deployed(bare_remote))
        assert remote_subjects(bare_remote)[len(subjects):] == [
            moved(kept), f"remove {gone} v1 from staging",
        ]  # fmt: skip
    finally:
        assert daemon.stop() == 0


def test_the_change_probe_leaves_a_deleted_model_to_a_full_reconcile(
    webhook_mlflow: MlflowServer, bare_remote: Path, tmp_path: Path, unique_model_name: Any
) -> None:
    kept, gone = unique_model_name("kept"), unique_model_name("gone")
    two_versions(webhook_mlflow, kept, gone)
    config = base_config(webhook_mlflow, bare_remote, tmp_path / "state", unique_model_name.prefix)
    daemon = start_daemon(tmp_path / "d", config, {**QUIET, "probe_interval_seconds": 0.5})
    try:
        daemon.wait_for("startup", lambda: at(bare_remote, kept, 1) and at(bare_remote, gone, 1))
        subjects = remote_subjects(bare_remote)
        webhook_mlflow.client().delete_registered_model(gone)
        daemon.wait_for(
            "the removal", lambda: (gone, "staging") not in deployed(bare_remote), timeout=60
        )
        assert remote_subjects(bare_remote)[len(subjects):] == [f"remove {gone} v1 from staging"]
        assert at(bare_remote, kept, 1)
        assert runs_done(daemon, False, "probe") >= 1, daemon.log()
    finally:
        assert daemon.stop() == 0


def test_a_hint_that_arrives_during_a_full_reconcile_is_not_lost(
    webhook_mlflow: MlflowServer, bare_remote: Path, tmp_path: Path, unique_model_name: Any
) -> None:
    late, other = unique_model_name("late"), unique_model_name("other")
    two_versions(webhook_mlflow, late, other)
    client = webhook_mlflow.client()
    host, port = webhook_mlflow.url.removeprefix("http://").split(":")

    def full_version_search(data: bytes) -> bool:  # a hinted read searches "name IN (…)"
        line = data.split(b"\r\n", 1)[0]
        return b"model-versions/search" in line and b"ILIKE" in line

    proxy = start_proxy((host, int(port)), Rules(delay_match=full_version_search))
    config = base_config(
        webhook_mlflow, bare_remote, tmp_path / "state", unique_model_name.prefix,
        tracking_uri=f"http://{proxy.address}",
    )  # fmt: skip
    daemon = start_daemon(tmp_path / "d", config, QUIET, HOOK_ENV)
    try:
        daemon.wait_for("startup", lambda: at(bare_remote, late, 1) and at(bare_remote, other, 1))
        daemon.wait_for("startup", lambda: daemon.status()["last_success_at"] is not None)
        subjects = remote_subjects(bare_remote)
        # A full reconcile with a change to push, held after it listed the models.
        client.set_registered_model_alias(other, "staging", "2")
        held = proxy.requests_matching(full_version_search)
        proxy.rules.delay_seconds = 4.0
        deliver(daemon, None)
        daemon.wait_for(
            "the full read to be held",
            lambda: proxy.requests_matching(full_version_search) > held,
        )
        # Its list of models is in: this change is news to it, the hint must carry it.
        client.set_registered_model_alias(late, "staging", "2")
        hinted = runs_done(daemon, True, "; pushed")
        deliver(daemon, late)
        daemon.wait_for("the hinted promotion", lambda: at(bare_remote, late, 2), timeout=60)
        proxy.rules.delay_seconds = 0.0
        assert at(bare_remote, other, 2)
        assert sorted(remote_subjects(bare_remote)[len(subjects):]) == sorted(
            [moved(other), moved(late)]
        )
        assert runs_done(daemon, True, "; pushed") > hinted, "the full reconcile landed it"
        assert daemon.status()["last_error"] is None
    finally:
        proxy.rules.delay_seconds = 0.0
        try:
            assert daemon.stop() == 0
        finally:
            proxy.stop()


def test_a_hung_registry_holds_up_no_other_source(
    webhook_mlflow: MlflowServer, bare_remote: Path, tmp_path: Path, unique_model_name: Any
) -> None:
    """Two sources in one daemon, the change probe on (the default); one registry is behind
    a proxy that accepts and never answers. The other source's promotions land while the
    hung one's first request is still waiting (it is tried again after ``HUNG_TIMEOUT``, so
    twice that is a bound that cannot be met by waiting for it), and /status tells the
    two apart."""
    prefix = unique_model_name.prefix
    healthy, stuck = unique_model_name("healthy"), unique_model_name("stuck")
    two_versions(webhook_mlflow, healthy, stuck)
    host, port = webhook_mlflow.url.removeprefix("http://").split(":")
    asked: list[float] = []

    def held(_data: bytes) -> bool:  # every request to the hung registry, when it came
        asked.append(time.monotonic())
        return True

    proxy = start_proxy((host, int(port)), Rules(delay_seconds=3600, delay_match=held))
    config = {
        "state_dir": str(tmp_path / "state"),
        "git": {"repo_url": str(bare_remote), "push_backoff_seconds": 0},
        "artifacts": {"sources": {"local_roots": [str(webhook_mlflow.artifact_root)]}},
        "sources": [
            {"name": "healthy", "registry": {
                "tracking_uri": webhook_mlflow.url, "models": {"include": [f"{healthy}*"]}}},
            {"name": "hung", "registry": {
                "tracking_uri": f"http://{proxy.address}", "timeout_seconds": HUNG_TIMEOUT,
                "models": {"include": [f"{prefix}-stuck*"]}}},
        ],
    }  # fmt: skip
    keys = {"resync_interval_seconds": 600, "probe_interval_seconds": 1,
            "shutdown_grace_seconds": 2}  # fmt: skip
    daemon = start_daemon(tmp_path / "d", config, keys, HOOK_ENV)
    try:
        daemon.wait_for("the healthy source's startup", lambda: at(bare_remote, healthy, 1))
        landed = time.monotonic()
        assert asked, "the hung registry was never asked"
        assert landed < asked[0] + 2 * HUNG_TIMEOUT, "the healthy source waited for the hung one"

        webhook_mlflow.client().set_registered_model_alias(healthy, "staging", "2")
        asked.clear()
        deliver(daemon, healthy)
        daemon.wait_for("the healthy promotion", lambda: at(bare_remote, healthy, 2))
        assert not asked or time.monotonic() < asked[0] + 2 * HUNG_TIMEOUT

        def sources() -> dict[str, Any]:
            return {s["name"]: s for s in daemon.status()["sources"]}

        daemon.wait_for(
            "/status to show the hung source failing",
            lambda: sources().get("hung", {}).get("ok") is False, timeout=12 * HUNG_TIMEOUT,
        )  # fmt: skip
        found = sources()
        assert found["healthy"]["ok"] is True and not found["healthy"]["error"]
        assert found["hung"]["error"]
        assert (stuck, "staging") not in deployed(bare_remote)
        assert remote_subjects(bare_remote) == [
            f"deploy {healthy} v1 to staging", moved(healthy),
        ]  # fmt: skip
    finally:
        try:
            assert daemon.stop() == 0
        finally:
            proxy.stop()
