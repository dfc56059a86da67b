"""The chart's rolling update, run as a cluster would run it: real daemons on real PostgreSQL.

The chart runs 2 replicas on a PostgreSQL state database with ``maxSurge: 1,
maxUnavailable: 0`` and a readiness probe on ``/readyz``. Kubernetes then, for
each old pod: starts a new pod, waits until it is Ready, and only then sends
SIGTERM to an old pod. Here the pods are ``gitops-watcher run`` processes, and
MLflow's real webhook sender posts to a new pod while it is a standby (in a
cluster the Service sends a webhook to any Ready pod). What must hold:

- a new pod is Ready while it is a standby (else the rollout never goes on);
- once the writer stops, a standby takes the lease within the bound docs/daemon.md
  states (``lock_renew_seconds`` after a clean stop);
- a webhook that reaches a standby lands in git: handed to the writer through the
  database within ``lock_renew_seconds``, or covered by the next writer's first
  reconcile when the writer is stopping;
- every old pod exits 0, and one new pod is the writer at the end.
"""

from __future__ import annotations

import os
import signal
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
    start_daemon,
)
from tests.servers.postgres import PASSWORD, PostgresServer

pytestmark = [pytest.mark.slow]

SECRET = "webhook-secret-for-the-rollout-test-7731"
RENEW = 0.5
TAKEOVER = 3.0
#: What a test machine adds to the stated bounds: process start, a reconcile, a push.
SLACK = 10.0


class Cluster:
    """The pods of one Deployment: start them, stop them, ask who writes."""

    def __init__(self, tmp_path: Path, config: dict[str, Any]) -> None:
        self._tmp, self._config = tmp_path, config
        self.pods: dict[str, DaemonProcess] = {}
        self.exit_codes: dict[str, int] = {}
        self.terminated: set[str] = set()

    def start(self, pod: str) -> DaemonProcess:
        config = {**self._config, "state_dir": str(self._tmp / pod / "state")}  # an emptyDir
        daemon = {
            "resync_interval_seconds": 600,  # only the webhooks can bring a promotion
            "probe_interval_seconds": 0,
            "lock_renew_seconds": RENEW,
            "lock_takeover_seconds": TAKEOVER,
        }
        started = start_daemon(
            self._tmp / pod, config, daemon, {"GITOPS_WATCHER_WEBHOOK_SECRET": SECRET}
        )
        self.pods[pod] = started
        return started

    def wait_ready(self, pod: str) -> dict[str, Any]:
        daemon = self.pods[pod]
        daemon.wait_for(f"{pod} to be Ready", lambda: daemon.get("/readyz")[0] == 200)
        return daemon.status()

    def terminate(self, pod: str) -> None:
        """What the kubelet does to an old pod: SIGTERM (``stop`` then waits for the exit)."""
        os.kill(self.pods[pod].process.pid, signal.SIGTERM)
        self.terminated.add(pod)

    def stop(self, pod: str) -> None:
        """SIGTERM once, as the kubelet sends it, and wait for the exit."""
        process = self.pods.pop(pod)
        if pod in self.terminated:
            process.process.wait(timeout=30)  # signalled already: a second one is not sent
            self.exit_codes[pod] = int(process.process.returncode)
        else:
            self.exit_codes[pod] = process.stop(signal.SIGTERM)

    def writers(self) -> list[str]:
        return [name for name, pod in self.pods.items() if pod.status()["writer"]]

    def wait_for_writer(self, what: str) -> tuple[str, float]:
        started = time.monotonic()
        deadline = started + 60
        while time.monotonic() < deadline:
            writers = self.writers()
            assert len(writers) <= 1, f"two writers at once: {writers}"
            if writers:
                return writers[0], time.monotonic() - started
            time.sleep(0.1)
        logs = "\n".join(pod.log() for pod in self.pods.values())
        raise AssertionError(f"no writer {what}:\n{logs}")

    def kill_all(self) -> None:
        for pod in self.pods.values():
            pod.kill()


def test_a_rolling_update_of_two_replicas_on_postgresql_completes_and_loses_no_webhook(
    webhook_mlflow: MlflowServer,
    postgres_server: PostgresServer,
    bare_remote: Path,
    tmp_path: Path,
    unique_model_name: Any,
) -> None:
    client = webhook_mlflow.client()
    names = [unique_model_name(f"m{i}") for i in range(3)]
    for name in names:
        register_version(client, name)
    db_url = postgres_server.create_database(f"roll_{unique_model_name.prefix[-6:]}")
    config = base_config(webhook_mlflow, bare_remote, tmp_path / "unused", unique_model_name.prefix)
    cluster = Cluster(tmp_path, {**config, "state": {"database_url": db_url}})
    hook = ""

    def send_webhooks_to(pod: str) -> None:
        """Point MLflow's webhook at this pod alone (the other pods never get one)."""
        nonlocal hook
        if hook:
            client.delete_webhook(hook)
        hook = client.create_webhook(
            name=f"gitops-watcher-{uuid.uuid4().hex[:8]}",
            url=f"{cluster.pods[pod].url}/webhooks/mlflow",
            events=WEBHOOK_EVENTS,
            secret=SECRET,
        ).webhook_id
        time.sleep(1.5)  # MLFLOW_WEBHOOK_CACHE_TTL is 1 s on the test server

    def lands(name: str) -> float:
        started = time.monotonic()
        deadline = started + 60
        while deployed(bare_remote).get((name, "staging")) != "1":
            assert time.monotonic() < deadline, f"{name} never reached git:\n" + "\n".join(
                p.log() for p in cluster.pods.values()
            )
            time.sleep(0.1)
        return time.monotonic() - started

    try:
        # The old ReplicaSet: a writer and a standby, both Ready.
        cluster.start("old-1")
        assert cluster.wait_ready("old-1")["role"] == "writer"
        cluster.start("old-2")
        standby = cluster.wait_ready("old-2")
        assert standby["role"] == "standby" and standby["writer"] is False
        _code, metrics = cluster.pods["old-2"].get("/metrics")
        assert b"gitops_watcher_is_writer 0.0" in metrics

        # Surge: a new pod; the rollout goes on only once it is Ready, as a standby.
        cluster.start("new-1")
        assert cluster.wait_ready("new-1")["role"] == "standby"
        send_webhooks_to("new-1")
        client.set_registered_model_alias(names[0], "staging", "1")
        took = lands(names[0])
        assert took <= RENEW + SLACK, f"the handed-over webhook took {took:.1f} s"
        assert "webhook handed to the writer" in cluster.pods["new-1"].log()
        assert "handed over by a standby replica" in cluster.pods["old-1"].log()

        # Kubernetes stops an old pod (here the writer), and a webhook reaches the standby
        # while the writer is stopping.
        cluster.terminate("old-1")
        client.set_registered_model_alias(names[1], "staging", "1")
        cluster.stop("old-1")
        writer, took = cluster.wait_for_writer("after the old writer stopped")
        assert took <= RENEW + SLACK, f"the takeover took {took:.1f} s"
        lands(names[1])

        # Surge again, then the last old pod goes.
        cluster.start("new-2")
        assert cluster.wait_ready("new-2")["role"] in ("standby", "writer")
        cluster.stop("old-2")
        writer, took = cluster.wait_for_writer("after the last old pod stopped")
        assert writer in ("new-1", "new-2") and took <= RENEW + SLACK
        # The rollout is complete: every pod Ready, exactly one writer.
        for pod in ("new-1", "new-2"):
            cluster.wait_ready(pod)
        assert cluster.writers() == [writer]
        assert cluster.exit_codes == {"old-1": 0, "old-2": 0}

        send_webhooks_to("new-2" if writer == "new-1" else "new-1")
        client.set_registered_model_alias(names[2], "staging", "1")
        lands(names[2])
        logs = "".join(pod.log() for pod in cluster.pods.values())
        assert PASSWORD not in logs
    finally:
        cluster.kill_all()
