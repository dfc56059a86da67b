"""``kill -9`` of a running daemon at each step of a reconcile, then a restart.

The daemon (``python -m watcher run``) pushes over the real git HTTP server
through a TCP proxy that holds one kind of request, so the kill lands at a known
step without mocks: while the fetch after the artifact copy is held (copied, not
committed), while the push request is held and then dropped (committed locally,
never pushed), while it is held and then delivered after the kill (the push the
dead process sent lands), and while the ledger's SQLite file is locked by the test
after the push (killed in the ledger write). After a restart: the remote converges,
one commit per changed (name, stage), every folder complete, every commit's
artifact copy complete, and the ledger never claims what git does not hold.

A kill during an artifact upload is test_artifacts_s3.py::
test_an_upload_killed_half_way_is_completed_later_and_never_committed_before.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.stack import (
    assert_ledger_agrees_with_git,
    assert_one_commit_per_change,
    deployed_revisions,
    folders,
    git,
    remote_files,
    remote_subjects,
    wait_until,
)
from tests.servers.git_http import GitHttpServer, start_git_http
from tests.servers.mlflow_server import MlflowServer, register_version
from tests.servers.mlflow_webhook import DaemonProcess, base_config, start_daemon
from tests.servers.tcp_proxy import TcpProxy, http_request_contains, start_proxy
from watcher.core.names import model_slug

pytestmark = [pytest.mark.slow]

TOKEN = "glpat-" + "Cr4shT3st" * 3
FETCH = http_request_contains("git-upload-pack")
PUSH = http_request_contains("POST /repo.git/git-receive-pack")
QUIET = {"resync_interval_seconds": 600, "probe_interval_seconds": 0, "backoff_min_seconds": 1}


@pytest.fixture
def http_remote(tmp_path: Path) -> Iterator[tuple[GitHttpServer, TcpProxy, Path]]:
    server = start_git_http(tmp_path / "git-root", "deploy-bot", TOKEN)
    remote = server.create_repo()
    host, port = server.url.removeprefix("http://").split(":")
    proxy = start_proxy((host, int(port)))
    try:
        yield server, proxy, remote
    finally:
        proxy.stop()
        server.stop()


def _kill(daemon: DaemonProcess) -> None:
    os.killpg(daemon.process.pid, signal.SIGKILL)
    daemon.process.wait(timeout=10)


def _checkout_subjects(state: Path) -> list[str]:
    checkout = state / "checkout"
    if not (checkout / ".git").exists():
        return []
    try:
        return git("log", "--format=%s", "HEAD", cwd=checkout).splitlines()
    except Exception:
        return []


@pytest.mark.parametrize("step", ["after-copy", "after-commit", "during-push", "ledger-write"])
def test_kill_9_at_each_step_then_restart_converges(
    step: str,
    mlflow_server: MlflowServer,
    http_remote: tuple[GitHttpServer, TcpProxy, Path],
    tmp_path: Path,
    unique_model_name: Any,
) -> None:
    _server, proxy, remote = http_remote
    client = mlflow_server.client()
    a, b = unique_model_name("a"), unique_model_name("b")
    register_version(client, a)
    client.set_registered_model_alias(a, "staging", "1")
    state = tmp_path / "state"
    config = base_config(mlflow_server, tmp_path / "unused", state, unique_model_name.prefix)
    config["git"]["repo_url"] = f"http://{proxy.address}/repo.git"
    env = {"GIT_USERNAME": "deploy-bot", "GIT_TOKEN": TOKEN}
    first = start_daemon(tmp_path / "d1", config, QUIET, env)
    try:
        wait_until("the baseline", lambda: len(remote_subjects(remote)) == 1)
        hold = FETCH if step == "after-copy" else PUSH
        proxy.rules.delay_match, proxy.rules.delay_seconds = hold, 4.0
        proxy.rules.drop_held = step != "during-push"
        seen = proxy.requests_matching(hold)
        register_version(client, a)
        register_version(client, b)
        client.set_registered_model_alias(a, "staging", "2")
        client.set_registered_model_alias(b, "staging", "1")
        db: sqlite3.Connection | None = None
        # The daemon's next resync is 600 s away: ask now through its change path.
        first.stop(signal.SIGTERM)
        first = start_daemon(tmp_path / "d1b", config, QUIET, env)
        if step == "after-copy":
            copy = state / "artifacts" / model_slug(b) / "1" / "gitops-watcher-manifest.json"
            wait_until("the copy", copy.exists, 30)
            wait_until("the held fetch", lambda: proxy.requests_matching(hold) > seen, 30)
            # proxy: the fetch after the copy is held; nothing committed yet
        elif step in ("after-commit", "during-push"):
            wait_until("the held push", lambda: proxy.requests_matching(hold) > seen + 0, 30)
            assert any(b in s for s in _checkout_subjects(state))
        else:
            proxy.rules.delay_seconds = 0.0
            db = sqlite3.connect(state / "state.db", timeout=1, isolation_level=None)
            db.execute("BEGIN EXCLUSIVE")  # the ledger write now waits on this lock
            wait_until("the push", lambda: len(remote_subjects(remote)) == 3, 30)
            time.sleep(1.0)
        _kill(first)
        if db is not None:
            db.rollback()
            db.close()
        if step == "during-push":
            # The request the dead process sent is delivered after all.
            wait_until("the delivered push", lambda: len(remote_subjects(remote)) == 3, 15)
        elif step in ("after-copy", "after-commit"):
            time.sleep(4.5)
            assert len(remote_subjects(remote)) == 1
    finally:
        first.kill()
    proxy.rules.delay_seconds, proxy.rules.drop_held = 0.0, False

    again = start_daemon(tmp_path / "d2", config, QUIET, env)
    try:
        again.wait_for("a successful reconcile",
                       lambda: again.status()["last_success_at"] is not None, 60)  # fmt: skip
    finally:
        assert again.stop() == 0
    revisions = deployed_revisions(remote)
    assert revisions == {
        f"deployments/{model_slug(a)}/staging": "2",
        f"deployments/{model_slug(b)}/staging": "1",
    }
    assert len(folders(remote)) == 2
    subjects = remote_subjects(remote)
    assert len(subjects) == 3, subjects  # baseline + one per changed (name, stage)
    assert_one_commit_per_change(remote)
    for path, data in remote_files(remote).items():
        if path.endswith("promotion.json"):
            uri = json.loads(data)["details"]["artifact"]["uri"]
            manifest = Path(uri.removeprefix("file://")).parent / "gitops-watcher-manifest.json"
            assert manifest.is_file(), uri
    unrecorded = assert_ledger_agrees_with_git(state, remote)
    if step != "ledger-write":
        assert len(unrecorded) <= 0 or step == "during-push", unrecorded
