"""``run`` over its lifetime: SIGTERM mid-reconcile, one writer, failover, months of reconciles."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.servers.mlflow_server import MlflowServer, register_version
from tests.servers.mlflow_webhook import (
    base_config,
    deployed,
    remote_subjects,
    remote_tree,
    start_daemon,
)
from tests.servers.postgres import PASSWORD, PostgresServer

pytestmark = [pytest.mark.slow]


def folders_complete(remote: Path) -> dict[str, set[str]]:
    """Every deployment folder on the remote is whole: the same full set of files in each."""
    folders: dict[str, set[str]] = {}
    for path in remote_tree(remote):
        if path.startswith("deployments/"):
            folder, _, name = path.rpartition("/")
            folders.setdefault(folder, set()).add(name)
    sets = {frozenset(files) for files in folders.values()}
    assert len(sets) <= 1, folders
    assert all({"promotion.json", "kustomization.yaml"} <= files for files in folders.values())
    return folders


def test_sigterm_in_the_middle_of_a_reconcile_exits_0_and_leaves_the_remote_consistent(
    mlflow_server: MlflowServer, bare_remote: Path, tmp_path: Path, unique_model_name: Any
) -> None:
    client = mlflow_server.client()
    names = [unique_model_name(f"m{i}") for i in range(6)]
    for name in names:
        register_version(client, name)
        client.set_registered_model_alias(name, "staging", "1")
        client.set_registered_model_alias(name, "champion", "1")
    config = base_config(mlflow_server, bare_remote, tmp_path / "state", unique_model_name.prefix)
    quiet = {"resync_interval_seconds": 600, "probe_interval_seconds": 0}
    daemon = start_daemon(tmp_path / "d1", config, quiet, wait=False)
    daemon.wait_for("the first commit", lambda: "committed" in daemon.log(), timeout=60)
    os.kill(daemon.process.pid, signal.SIGTERM)
    assert daemon.stop() == 0
    log = daemon.log()
    assert "waiting for the running one to finish" in log and "stopped cleanly" in log
    pushed = folders_complete(bare_remote)
    # The running reconcile finished: all of it was pushed, nothing half of it.
    assert len(pushed) in (0, 12) and len(remote_subjects(bare_remote)) == len(pushed)

    again = start_daemon(tmp_path / "d2", config, quiet)  # a restart carries on
    try:
        again.wait_for(
            "the restart's reconcile", lambda: again.status()["last_success_at"] is not None
        )
        assert len(folders_complete(bare_remote)) == 12
        assert len(remote_subjects(bare_remote)) == 12
    finally:
        assert again.stop() == 0


def test_a_second_process_on_a_sqlite_state_folder_refuses_to_start(
    mlflow_server: MlflowServer, bare_remote: Path, tmp_path: Path, unique_model_name: Any
) -> None:
    config = base_config(mlflow_server, bare_remote, tmp_path / "state", unique_model_name.prefix)
    quiet = {"resync_interval_seconds": 600}
    first = start_daemon(tmp_path / "d1", config, quiet)
    try:
        second = start_daemon(tmp_path / "d2", config, quiet, wait=False)
        assert second.process.wait(timeout=30) == 2
        assert "another gitops-watcher (pid" in second.log()
        assert str(tmp_path / "state") in second.log()
        assert first.get("/healthz")[0] == 200
    finally:
        assert first.stop() == 0


def test_two_replicas_on_postgresql_one_writer_and_failover_after_sigkill(
    mlflow_server: MlflowServer,
    postgres_server: PostgresServer,
    bare_remote: Path,
    tmp_path: Path,
    unique_model_name: Any,
) -> None:
    client = mlflow_server.client()
    first_model, second_model = unique_model_name("a"), unique_model_name("b")
    register_version(client, first_model)
    register_version(client, second_model)
    db_url = postgres_server.create_database(f"ha_{unique_model_name.prefix[-6:]}")
    takeover = 3.0
    ha = {
        "resync_interval_seconds": 1,
        "lock_renew_seconds": 0.5,
        "lock_takeover_seconds": takeover,
    }

    def config(replica: str) -> dict[str, Any]:
        data = base_config(mlflow_server, bare_remote, tmp_path / replica, unique_model_name.prefix)
        return {**data, "state": {"database_url": db_url}}

    a = start_daemon(tmp_path / "a", config("state-a"), ha)
    b = None
    try:
        a.wait_for("a to be the writer", lambda: a.get("/readyz")[0] == 200)
        b = start_daemon(tmp_path / "b", config("state-b"), ha)
        b.wait_for("b to wait as standby", lambda: "standby" in b.log())
        client.set_registered_model_alias(first_model, "staging", "1")
        a.wait_for(
            "a's promotion", lambda: deployed(bare_remote).get((first_model, "staging")) == "1"
        )  # fmt: skip
        time.sleep(1.5)
        status = b.status()
        # A standby is Ready (it serves and can take over), and says it is a standby.
        assert status["writer"] is False and status["role"] == "standby"
        assert b.get("/readyz")[0] == 200
        assert status["last_reconcile"] is None and "done in" not in b.log()

        killed_at = time.monotonic()
        a.process.send_signal(signal.SIGKILL)
        a.process.wait(timeout=10)
        took = b.wait_for("b to take over", lambda: b.status()["writer"] is True, timeout=30)
        assert took <= takeover + 3.0, f"failover took {took:.1f} s"
        client.set_registered_model_alias(second_model, "staging", "1")
        b.wait_for(
            "b's promotion", lambda: deployed(bare_remote).get((second_model, "staging")) == "1"
        )  # fmt: skip
        assert time.monotonic() - killed_at < 30
        assert "taken over" in b.log()
        assert PASSWORD not in a.log() + b.log()
        folders_complete(bare_remote)
    finally:
        a.kill()
        if b is not None:
            assert b.stop() == 0


def test_500_reconciles_in_one_process_keep_memory_and_descriptors_flat(
    mlflow_server: MlflowServer, bare_remote: Path, tmp_path: Path, unique_model_name: Any
) -> None:
    """The daemon's own job path, in-process: reconciler, metrics and /status bookkeeping."""
    from watcher import wiring
    from watcher.config.daemon_settings import DaemonSettings
    from watcher.config.settings import Credentials, Settings
    from watcher.daemon.runner import RunRequest
    from watcher.daemon.service import Daemon

    assert mlflow_server.db_path is not None
    client = mlflow_server.client()
    name = unique_model_name("soak")
    register_version(client, name)
    register_version(client, name)
    client.set_registered_model_alias(name, "staging", "1")
    settings = Settings.model_validate(
        base_config(
            mlflow_server, bare_remote, tmp_path / "state", unique_model_name.prefix,
            tracking_uri=mlflow_server.db_uri,
        )
    )  # fmt: skip
    daemon = Daemon(settings, Credentials(), DaemonSettings(), env={})

    class Held:
        def valid(self) -> bool:
            return True

    def rss_kb() -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def fds() -> int:
        return sum(1 for _ in Path("/proc/self/fd").iterdir())

    samples: list[tuple[int, int, int]] = []
    request = RunRequest(("soak",), time.time())
    with wiring.open_reconciler(settings, Credentials()) as reconcile:
        for i in range(1, 501):
            if i % 100 == 0:  # now and then a real promotion, so commits and pushes happen too
                client.set_registered_model_alias(name, "staging", "2" if i % 200 else "1")
            assert daemon._job(reconcile, Held(), "mlflow", request)  # type: ignore[arg-type]
            if i in (50, 150, 300, 500):
                gc.collect()  # what is still referenced, not what awaits the collector
                samples.append((i, rss_kb(), fds()))
    (_, rss_50, _), _, (_, rss_300, fds_300), (_, rss_500, fds_500) = samples
    # Measured flat within 1 MB from run 50 to 500 once the registry's tables were reflected
    # once (reflecting on each read filled SQLAlchemy's statement cache: +60 MB by run 500).
    assert rss_500 - rss_300 < 8_000, samples  # KiB
    assert rss_500 - rss_50 < 24_000, samples
    # git's persistent cat-file helpers start the first time a blob is read (a change):
    # a leak would grow with the promotions at runs 300, 400 and 500.
    assert fds_500 - fds_300 <= 2, samples
    subprocess.run(["git", "-C", str(bare_remote), "fsck", "--no-progress"], check=True)
    assert len(remote_subjects(bare_remote)) == 6
    status = daemon.board.snapshot()
    assert status["releases"][0]["state"] == "deployed"
