"""Git trouble while the daemon runs: remote down, auth refused, host key changed, a hook
that refuses large pushes. Each gives a clear error in the log, a bounded number of
attempts (the runner's doubling backoff, not a retry storm), nothing pushed half-way,
and recovery without a restart once the remote is right again.

Real parts: the smart-HTTP git server (git http-backend, Basic auth) behind a TCP proxy
that can refuse connections, the session sshd, a bare repository with a real
pre-receive hook, and ``python -m watcher run`` as a process.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.stack import (
    FAST,
    assert_one_commit_per_change,
    folders,
    remote_subjects,
    wait_until,
)
from tests.servers.git_http import GitHttpServer, start_git_http
from tests.servers.mlflow_server import MlflowServer, register_version
from tests.servers.mlflow_webhook import DaemonProcess, base_config, start_daemon
from tests.servers.tcp_proxy import TcpProxy, start_proxy

pytestmark = [pytest.mark.slow]

TOKEN = "glpat-" + "Rel1abl3T0k3n" * 2
WATCH = 8.0  # seconds of trouble over which attempts are counted
#: With backoff 1, 2, 4, 4 s, about 4 reconciles fit in 8 s; a storm would be hundreds.
MAX_RECONCILES = 7


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


def _daemon(
    tmp_path: Path, mlflow: MlflowServer, prefix: str, git: dict[str, Any], env: dict[str, str]
) -> DaemonProcess:
    config = base_config(mlflow, tmp_path / "unused.git", tmp_path / "state", prefix)
    config["git"].update(git)
    return start_daemon(tmp_path / "d", config, FAST, env)


def _failures(daemon: DaemonProcess) -> int:
    return daemon.log().count("reconcile could not complete")


def _promote(mlflow: MlflowServer, name: str, version: str = "1") -> None:
    client = mlflow.client()
    register_version(client, name)
    client.set_registered_model_alias(name, "staging", version)


def test_remote_down_backs_off_and_recovers(
    mlflow_server: MlflowServer,
    http_remote: tuple[GitHttpServer, TcpProxy, Path],
    tmp_path: Path,
    unique_model_name: Any,
) -> None:
    _server, proxy, remote = http_remote
    first = unique_model_name("first")
    _promote(mlflow_server, first)
    url = f"http://{proxy.address}/repo.git"
    env = {"GIT_USERNAME": "deploy-bot", "GIT_TOKEN": TOKEN}
    daemon = _daemon(tmp_path, mlflow_server, unique_model_name.prefix, {"repo_url": url}, env)
    try:
        wait_until("the first push", lambda: len(remote_subjects(remote)) == 1)
        proxy.rules.refuse = True
        before = len(proxy.connections)
        second = unique_model_name("second")
        _promote(mlflow_server, second)
        daemon.wait_for("a failed reconcile", lambda: _failures(daemon) >= 1)
        time.sleep(WATCH)
        failures = _failures(daemon)
        assert 2 <= failures <= MAX_RECONCILES, failures
        assert len(proxy.connections) - before <= 2 * MAX_RECONCILES
        assert "temporary error" in daemon.log()
        assert len(remote_subjects(remote)) == 1
        status = daemon.status()
        assert status["last_error"], status

        proxy.rules.refuse = False
        daemon.wait_for("the held promotion", lambda: len(remote_subjects(remote)) == 2, 30)
        assert len(folders(remote)) == 2
        assert_one_commit_per_change(remote)
    finally:
        assert daemon.stop() == 0


def test_refused_credentials_are_named_back_off_and_recover_after_rotation(
    mlflow_server: MlflowServer,
    http_remote: tuple[GitHttpServer, TcpProxy, Path],
    tmp_path: Path,
    unique_model_name: Any,
) -> None:
    server, _proxy, remote = http_remote
    server.password = "the-server-wants-another-one"
    _promote(mlflow_server, unique_model_name("m"))
    env = {"GIT_USERNAME": "deploy-bot", "GIT_TOKEN": TOKEN}
    url = server.url_for()
    daemon = _daemon(tmp_path, mlflow_server, unique_model_name.prefix, {"repo_url": url}, env)
    try:
        daemon.wait_for("a failed reconcile", lambda: _failures(daemon) >= 1)
        started = len(server.requests)
        time.sleep(WATCH)
        assert _failures(daemon) <= MAX_RECONCILES + 1
        assert len(server.requests) - started <= 3 * MAX_RECONCILES, len(server.requests)
        log = daemon.log()
        assert "auth" in log.lower() or "refused" in log.lower(), log[-2000:]
        assert TOKEN not in log
        assert remote_subjects(remote) == []

        server.password = TOKEN  # the operator fixes the server side (or rotates ours)
        daemon.wait_for("the promotion", lambda: len(remote_subjects(remote)) == 1, 30)
    finally:
        assert daemon.stop() == 0


def test_a_changed_host_key_is_refused_clearly_and_trusted_again_only_when_known(
    mlflow_server: MlflowServer,
    ssh_git_server: Any,
    bare_remote: Path,
    tmp_path: Path,
    unique_model_name: Any,
) -> None:
    known = tmp_path / "known_hosts"
    shutil.copy(ssh_git_server.known_hosts_file, known)
    _promote(mlflow_server, unique_model_name("a"))
    git = {
        "repo_url": ssh_git_server.url_for(bare_remote),
        "ssh_key_file": str(ssh_git_server.key_file),
        "known_hosts_file": str(known),
    }
    daemon = _daemon(tmp_path, mlflow_server, unique_model_name.prefix, git, {})
    try:
        wait_until("the first push", lambda: len(remote_subjects(bare_remote)) == 1)
        # The server now presents a key other than the one we trust (a new host key, or
        # someone in the middle): what the client sees is exactly this mismatch.
        shutil.copy(ssh_git_server.wrong_known_hosts_file, known)
        _promote(mlflow_server, unique_model_name("b"))
        daemon.wait_for("a failed reconcile", lambda: _failures(daemon) >= 1)
        time.sleep(WATCH / 2)
        assert _failures(daemon) <= MAX_RECONCILES
        log = daemon.log().lower()
        assert "host key" in log, log[-2000:]
        assert len(remote_subjects(bare_remote)) == 1  # nothing pushed to an unknown host

        shutil.copy(ssh_git_server.known_hosts_file, known)  # the operator checks and updates
        daemon.wait_for("the promotion", lambda: len(remote_subjects(bare_remote)) == 2, 30)
    finally:
        assert daemon.stop() == 0


PRE_RECEIVE = """#!/bin/sh
# Refuse pushes that add more than LIMIT objects (as a forge's size limit does).
echo "attempt" >> "$GIT_DIR/push-attempts.log"
while read old new ref; do
  if [ "$old" = "0000000000000000000000000000000000000000" ]; then
    count=$(git rev-list --objects "$new" --not --all | wc -l)
  else
    count=$(git rev-list --objects "$old..$new" | wc -l)
  fi
  if [ "$count" -gt LIMIT ]; then
    echo "push too large: $count objects, this server accepts LIMIT" >&2
    exit 1
  fi
done
exit 0
"""


def test_a_remote_that_refuses_large_pushes_is_reported_and_not_hammered(
    mlflow_server: MlflowServer, bare_remote: Path, tmp_path: Path, unique_model_name: Any
) -> None:
    hook = bare_remote / "hooks" / "pre-receive"
    hook.write_text(PRE_RECEIVE.replace("LIMIT", "20"))
    hook.chmod(0o755)
    names = [unique_model_name(f"m{i}") for i in range(4)]
    for name in names:
        _promote(mlflow_server, name)
    config = base_config(mlflow_server, bare_remote, tmp_path / "state", unique_model_name.prefix)
    daemon = start_daemon(tmp_path / "d", config, FAST)
    attempts = bare_remote / "push-attempts.log"
    try:
        daemon.wait_for("a refused push", lambda: _failures(daemon) >= 1)
        time.sleep(WATCH)
        count = len(attempts.read_text().splitlines())
        # One push per reconcile: a hook's refusal is not a race, so no re-plan loop.
        assert count <= MAX_RECONCILES + 1, count
        log = daemon.log()
        assert "push too large" in log, log[-2000:]
        assert remote_subjects(bare_remote) == []

        hook.unlink()  # the operator raises the limit
        daemon.wait_for("all four", lambda: len(remote_subjects(bare_remote)) == 4, 30)
        assert len(folders(bare_remote)) == 4
        assert_one_commit_per_change(bare_remote)
    finally:
        assert daemon.stop() == 0
