"""A reconcile that would remove too large a share of deployments stops, in the daemon too.

Real MLflow server, real bare remote, ``python -m watcher run``: three of four
models lose their alias (75 % > safety.max_delete_fraction 50 %). The daemon
removes nothing, reports the block in its log and ``/status``, and keeps holding
over further resyncs, until an operator allows it: ``gitops-watcher
allow-mass-delete`` for the running daemon (once), or the CLI's
``reconcile --once --allow-mass-delete`` with the daemon stopped.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.stack import FAST, folders, remote_subjects
from tests.servers.mlflow_server import MlflowServer, register_version
from tests.servers.mlflow_webhook import REPO_ROOT, base_config, start_daemon

pytestmark = [pytest.mark.slow]

#: What the daemon says when it holds back removing 3 of its 4 deployments (limit: 50 %).
BLOCKED = "this reconcile would remove 3 of 4 deployments (limit 2); nothing was removed"


def four_deployed_models(
    mlflow_server: MlflowServer, bare_remote: Path, tmp_path: Path, unique_model_name: Any
) -> tuple[Any, list[str], Any]:
    """Four models on staging and a daemon running over them."""
    client = mlflow_server.client()
    names = [unique_model_name(f"m{i}") for i in range(4)]
    for name in names:
        register_version(client, name)
        client.set_registered_model_alias(name, "staging", "1")
    config = base_config(mlflow_server, bare_remote, tmp_path / "state", unique_model_name.prefix)
    return client, names, start_daemon(tmp_path / "d", config, FAST)


def test_mass_removal_is_held_in_the_daemon_until_an_operator_allows_it(
    mlflow_server: MlflowServer, bare_remote: Path, tmp_path: Path, unique_model_name: Any
) -> None:
    client, names, daemon = four_deployed_models(
        mlflow_server, bare_remote, tmp_path, unique_model_name
    )
    try:
        daemon.wait_for("four promotions", lambda: len(remote_subjects(bare_remote)) == 4, 60)
        for name in names[:3]:
            client.delete_registered_model_alias(name, "staging")
        daemon.wait_for("the block", lambda: BLOCKED in daemon.log(), 30)
        time.sleep(4)  # several resyncs: it stays stopped
        assert len(folders(bare_remote)) == 4
        assert len(remote_subjects(bare_remote)) == 4
        status = daemon.status()
        errors = [str(p.get("error")) for p in status["problems"]]
        assert [e for e in errors if BLOCKED in e] == errors and errors, errors
        code, _metrics = daemon.get("/metrics")
        assert code == 200
    finally:
        stopped = daemon.stop()  # asserted below: a failure above must not be masked
    assert stopped == 0
    # The operator allows it once, with the CLI on the same settings.
    allowed = subprocess.run(
        [sys.executable, "-m", "watcher", "--config", str(daemon.config_path), "reconcile",
         "--once", "--allow-mass-delete"],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=120, check=False,
    )  # fmt: skip
    assert allowed.returncode == 0, allowed.stderr[-2000:]
    assert len(folders(bare_remote)) == 1
    assert len(remote_subjects(bare_remote)) == 7  # one removal commit per folder


def test_an_operator_allows_the_running_daemon_one_mass_removal(
    mlflow_server: MlflowServer, bare_remote: Path, tmp_path: Path, unique_model_name: Any
) -> None:
    client, names, daemon = four_deployed_models(
        mlflow_server, bare_remote, tmp_path, unique_model_name
    )
    try:
        daemon.wait_for("four promotions", lambda: len(remote_subjects(bare_remote)) == 4, 60)
        for name in names[:3]:
            client.delete_registered_model_alias(name, "staging")
        daemon.wait_for("the block", lambda: BLOCKED in daemon.log(), 30)
        assert len(folders(bare_remote)) == 4
        allowed = subprocess.run(
            [sys.executable, "-m", "watcher", "--config", str(daemon.config_path),
             "allow-mass-delete"],
            capture_output=True, text=True, cwd=REPO_ROOT, timeout=60, check=False,
        )  # fmt: skip
        assert allowed.returncode == 0, allowed.stderr[-2000:]
        daemon.wait_for("the removals", lambda: len(folders(bare_remote)) == 1, 30)
        assert len(remote_subjects(bare_remote)) == 7
        # The allowance is used up by that run once it returns (its push comes before the
        # ledger and the events: under load the remote shows the removals first).
        flag = tmp_path / "state" / "allow-mass-delete"
        daemon.wait_for("the allowance used up", lambda: not flag.exists(), 30)
        assert "an operator allowed mass deletion" in daemon.log()
    finally:
        stopped = daemon.stop()  # asserted below: a failure above must not be masked
    assert stopped == 0

