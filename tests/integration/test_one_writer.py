"""One writer per state: the daemon and ``reconcile --once`` take the same lock, as processes.

The lock lives in the resolved state folder (with ``state_dir`` unset, the per-user
default, whatever folder a process starts in), or is the lease row of a shared
PostgreSQL state database. A second writer refuses with exit code 2 and names
the process that holds the state.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.servers.mlflow_server import MlflowServer, register_version
from tests.servers.mlflow_webhook import REPO_ROOT, base_config, deployed, start_daemon
from tests.servers.postgres import PASSWORD, PostgresServer
from tests.servers.tcp_proxy import start_proxy

pytestmark = [pytest.mark.slow]


def _env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a user's shell: none of our variables, the checkout importable."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLFLOW_", "GIT_", "GITOPS_WATCHER_", "AWS_"))
    }
    env["PYTHONPATH"] = str(REPO_ROOT)
    env.update(extra or {})
    return env


def _write_config(folder: Path, config: Mapping[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(dict(config)), encoding="utf-8")
    return path


def _reconcile_once(
    config: Path, cwd: Path, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "watcher", "--config", str(config), "reconcile", "--once"],
        capture_output=True, text=True, cwd=cwd, env=_env(env), timeout=180, check=False,
    )  # fmt: skip


def _without_state_dir(config: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in config.items() if key != "state_dir"}


def test_two_daemons_started_in_two_folders_share_the_default_state_folder_and_one_refuses(
    mlflow_server: MlflowServer, bare_remote: Path, tmp_path: Path, unique_model_name: Any
) -> None:
    xdg = tmp_path / "xdg-state"
    state = xdg / "gitops-watcher"
    config = _without_state_dir(
        base_config(mlflow_server, bare_remote, tmp_path / "unused", unique_model_name.prefix)
    )
    env = {"XDG_STATE_HOME": str(xdg)}
    quiet = {"resync_interval_seconds": 600}
    first = start_daemon(tmp_path / "here", config, quiet, env)
    try:
        second = start_daemon(tmp_path / "there", config, quiet, env, wait=False)
        assert second.process.wait(timeout=60) == 2, second.log()
        log = second.log()
        assert f"another gitops-watcher (pid {first.process.pid}, gitops-watcher run)" in log
        assert f"is the writer for state folder {state}" in log
        assert (state / "writer.lock").is_file()
        assert not (tmp_path / "here" / "writer.lock").exists()
        assert first.get("/healthz")[0] == 200
    finally:
        assert first.stop() == 0


def test_reconcile_once_refuses_while_the_daemon_writes_and_runs_once_it_stopped(
    mlflow_server: MlflowServer, bare_remote: Path, tmp_path: Path, unique_model_name: Any
) -> None:
    client = mlflow_server.client()
    name = unique_model_name("m")
    register_version(client, name)
    client.set_registered_model_alias(name, "staging", "1")
    state = tmp_path / "state"
    config = base_config(mlflow_server, bare_remote, state, unique_model_name.prefix)
    config_path = _write_config(tmp_path / "cli", config)
    daemon = start_daemon(tmp_path / "daemon", config, {"resync_interval_seconds": 600})
    try:
        refused = _reconcile_once(config_path, tmp_path / "cli")
        assert refused.returncode == 2, refused.stderr
        assert (
            f"another gitops-watcher (pid {daemon.process.pid}, gitops-watcher run) is the "
            f"writer for state folder {state}"
        ) in refused.stderr
    finally:
        assert daemon.stop() == 0
    ran = _reconcile_once(config_path, tmp_path / "cli")
    assert ran.returncode == 0, ran.stderr
    assert deployed(bare_remote)[(name, "staging")] == "1"


@pytest.fixture
def silent_registry() -> Iterator[str]:
    """An http URL whose server takes connections and never answers: a reconcile reading it
    hangs (while it holds the writer lock) until it is stopped."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def test_a_second_reconcile_once_refuses_while_the_first_runs(
    silent_registry: str, bare_remote: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    config = {
        "registry": {"tracking_uri": silent_registry},
        "git": {"repo_url": str(bare_remote)},
    }
    config_path = _write_config(tmp_path, config)
    env = {"XDG_STATE_HOME": str(tmp_path / "xdg")}
    env_file = {**env, "GITOPS_WATCHER_STATE_DIR": str(state)}
    first = subprocess.Popen(
        [sys.executable, "-m", "watcher", "--config", str(config_path), "reconcile", "--once"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path, env=_env(env_file),
        start_new_session=True,
    )  # fmt: skip
    try:
        lock = state / "writer.lock"
        deadline = time.monotonic() + 60
        while not (lock.is_file() and lock.read_text().startswith(f"{first.pid} ")):
            assert first.poll() is None, "the first reconcile ended before it was raced"
            assert time.monotonic() < deadline, "the first reconcile never took the lock"
            time.sleep(0.1)
        second = _reconcile_once(config_path, tmp_path, env_file)
        assert second.returncode == 2, second.stderr
        assert (
            f"another gitops-watcher (pid {first.pid}, gitops-watcher reconcile --once)"
        ) in second.stderr
        assert first.poll() is None
    finally:
        first.kill()
        first.wait(timeout=30)


def test_reconcile_once_on_postgresql_refuses_while_a_daemon_holds_the_lease_then_takes_it(
    mlflow_server: MlflowServer,
    postgres_server: PostgresServer,
    bare_remote: Path,
    tmp_path: Path,
    unique_model_name: Any,
) -> None:
    client = mlflow_server.client()
    name = unique_model_name("pg")
    register_version(client, name)
    db_url = postgres_server.create_database(f"once_{unique_model_name.prefix[-6:]}")

    def config(replica: str) -> dict[str, Any]:
        data = base_config(mlflow_server, bare_remote, tmp_path / replica, unique_model_name.prefix)
        return {**data, "state": {"database_url": db_url}}

    # The one-shot has a state folder of its own: only the lease can keep it from racing.
    config_path = _write_config(tmp_path / "cli", config("state-cli"))
    quiet = {"resync_interval_seconds": 600, "probe_interval_seconds": 0}
    daemon = start_daemon(tmp_path / "daemon", config("state-daemon"), quiet)
    try:
        daemon.wait_for("the writer lease", lambda: daemon.status()["writer"] is True)
        client.set_registered_model_alias(name, "staging", "1")
        refused = _reconcile_once(config_path, tmp_path / "cli")
        assert refused.returncode == 2, refused.stderr
        assert "holds the writer lease in the state database" in refused.stderr
        assert f":{daemon.process.pid}:" in refused.stderr
        assert "gitops-watcher run" in refused.stderr
        assert PASSWORD not in refused.stderr + refused.stdout
    finally:
        assert daemon.stop() == 0  # a clean stop gives the lease up at once
    ran = _reconcile_once(config_path, tmp_path / "cli")
    assert ran.returncode == 0, ran.stderr
    assert deployed(bare_remote)[(name, "staging")] == "1"


def test_a_standby_that_cannot_reach_the_lease_database_is_not_ready_until_it_can(
    mlflow_server: MlflowServer,
    postgres_server: PostgresServer,
    bare_remote: Path,
    tmp_path: Path,
    unique_model_name: Any,
) -> None:
    """Ready means "can take over": without its database a standby cannot."""
    db_url = postgres_server.create_database(f"standby_{unique_model_name.prefix[-6:]}")
    proxy = start_proxy(("127.0.0.1", postgres_server.port))
    through_proxy = db_url.replace(f":{postgres_server.port}/", f":{proxy.port}/")
    quiet = {
        "resync_interval_seconds": 600, "probe_interval_seconds": 0,
        "lock_renew_seconds": 0.5, "lock_takeover_seconds": 3,
    }  # fmt: skip

    def config(replica: str, url: str) -> dict[str, Any]:
        data = base_config(mlflow_server, bare_remote, tmp_path / replica, unique_model_name.prefix)
        return {**data, "state": {"database_url": url}}

    writer = start_daemon(tmp_path / "writer", config("state-w", db_url), quiet)
    standby = None
    try:
        writer.wait_for("the writer lease", lambda: writer.status()["writer"] is True)
        standby = start_daemon(tmp_path / "standby", config("state-s", through_proxy), quiet)
        standby.wait_for("a Ready standby", lambda: standby.get("/readyz")[0] == 200)
        proxy.rules.refuse = True
        proxy.close_open()
        standby.wait_for("an unready standby", lambda: standby.get("/readyz")[0] == 503)
        reason = standby.status()["ready_reason"]
        assert "cannot take over: database error" in reason and PASSWORD not in reason
        proxy.rules.refuse = False
        standby.wait_for("a Ready standby again", lambda: standby.get("/readyz")[0] == 200)
        assert standby.status()["role"] == "standby"
    finally:
        if standby is not None:
            assert standby.stop() == 0
        assert writer.stop() == 0
        proxy.stop()
