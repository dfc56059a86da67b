"""Registry trouble: down, answering 503, slower than the timeout, changing between pages.

Whatever the registry does, nothing deployed is deleted: a read that fails is a
failed read, never an empty registry. Work resumes by itself when it is back.
The daemon talks to a real MLflow server through a TCP proxy (which can refuse
every connection) and a small HTTP front (which can answer 503 or stall); the
paging case deletes a model through MlflowClient at the moment page 2 is asked for.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.stack import FAST, deployed_revisions, folders, remote_subjects
from tests.servers.http_front import HttpFront, start_http_front
from tests.servers.mlflow_server import MlflowServer, register_version
from tests.servers.mlflow_webhook import base_config, start_daemon
from tests.servers.tcp_proxy import TcpProxy, start_proxy
from watcher.config.settings import Credentials, Settings
from watcher.core.names import model_slug
from watcher.wiring import build_reconciler

pytestmark = [pytest.mark.slow]


@pytest.fixture
def front(mlflow_server: MlflowServer) -> Iterator[tuple[HttpFront, TcpProxy]]:
    http = start_http_front(HttpFront(upstream=mlflow_server.url))
    host, port = http.url.removeprefix("http://").split(":")
    proxy = start_proxy((host, int(port)))
    try:
        yield http, proxy
    finally:
        proxy.stop()
        http.stop()


def test_down_503_and_slow_registry_delete_nothing_and_work_resumes(
    mlflow_server: MlflowServer,
    front: tuple[HttpFront, TcpProxy],
    bare_remote: Path,
    tmp_path: Path,
    unique_model_name: Any,
) -> None:
    http, proxy = front
    client = mlflow_server.client()
    names = [unique_model_name(f"m{i}") for i in range(3)]
    for name in names:
        register_version(client, name)
        client.set_registered_model_alias(name, "staging", "1")
    config = base_config(mlflow_server, bare_remote, tmp_path / "state", unique_model_name.prefix)
    config["registry"].update({"tracking_uri": f"http://{proxy.address}", "timeout_seconds": 1})
    daemon = start_daemon(tmp_path / "d", config, FAST)
    try:
        daemon.wait_for("three promotions", lambda: len(remote_subjects(bare_remote)) == 3, 60)
        deployed = deployed_revisions(bare_remote)
        # While the registry is in trouble, a reviewer demotes one model and promotes another.
        for trouble in ("503", "slow", "down"):
            failures = daemon.log().count("reconcile could not complete")
            if trouble == "503":
                http.status = 503
            elif trouble == "slow":
                http.status, http.delay_seconds = None, 2.5  # past the 1 s timeout
            else:
                http.delay_seconds, proxy.rules.refuse = 0.0, True
            started = http.count()

            def failed_again(before: int = failures) -> bool:
                return daemon.log().count("reconcile could not complete") > before

            daemon.wait_for(f"a failed read ({trouble})", failed_again, timeout=40)
            time.sleep(3)
            assert deployed_revisions(bare_remote) == deployed, trouble
            assert len(remote_subjects(bare_remote)) == 3, trouble
            # Bounded: the client's few retries per reconcile, reconciles backing off.
            assert http.count() - started <= 60, (trouble, http.count() - started)
        assert "registry" in daemon.log().lower()

        client.delete_registered_model_alias(names[0], "staging")
        register_version(client, names[1])
        client.set_registered_model_alias(names[1], "staging", "2")
        proxy.rules.refuse = False
        daemon.wait_for(
            "the changes made meanwhile", lambda: len(remote_subjects(bare_remote)) == 5, 40
        )
        now = deployed_revisions(bare_remote)
        assert f"deployments/{model_slug(names[0])}/staging" not in now
        assert now[f"deployments/{model_slug(names[1])}/staging"] == "2"
        folders(bare_remote)
    finally:
        assert daemon.stop() == 0


def test_a_model_deleted_between_two_pages_is_not_skipped(
    mlflow_server: MlflowServer, bare_remote: Path, tmp_path: Path, unique_model_name: Any
) -> None:
    """MLflow's page tokens are offsets: delete page 1's first model while page 2 is
    asked for, and a naive reader never sees the first model of page 2 (it slid onto
    page 1). That model must not be removed from git."""
    client = mlflow_server.client()
    names = [unique_model_name(f"m{i}") for i in range(5)]  # sorted by name in the search
    for name in names:
        register_version(client, name)
        client.set_registered_model_alias(name, "staging", "1")
    http = start_http_front(HttpFront(upstream=mlflow_server.url))
    try:
        config = base_config(
            mlflow_server, bare_remote, tmp_path / "state", unique_model_name.prefix
        )
        config["registry"].update({"tracking_uri": http.url, "page_size": 2})
        config["safety"] = {"max_delete_fraction": 1.0}
        settings = Settings.model_validate(config)
        with build_reconciler(settings, Credentials()) as reconciler:
            assert reconciler.reconcile().pushed
            assert len(folders(bare_remote)) == 5
            deleted: list[str] = []

            def delete_on_page_two(method: str, path: str) -> None:
                if "registered-models/search" in path and "page_token" in path and not deleted:
                    deleted.append(names[0])
                    client.delete_registered_model(names[0])

            http.on_request = delete_on_page_two
            reconciler.reconcile()
        assert deleted, "the reader never asked for a second page"
        left = deployed_revisions(bare_remote)
        # names[2] was the first model of page 2 before the deletion.
        for name in names[1:]:
            assert f"deployments/{model_slug(name)}/staging" in left, (name, sorted(left))
    finally:
        http.stop()
