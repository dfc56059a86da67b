"""``run`` as the README runs it: with only the documented variables, against a REST
registry, a promotion reaches git in seconds, and the log says which triggers run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.servers.mlflow_server import MlflowServer, register_version
from tests.servers.mlflow_webhook import base_config, deployed, start_daemon

pytestmark = [pytest.mark.slow]


def test_a_rest_promotion_lands_in_seconds_with_no_trigger_configured(
    mlflow_server: MlflowServer, bare_remote: Path, tmp_path: Path, unique_model_name: Any
) -> None:
    client = mlflow_server.client()
    name = unique_model_name("defaults")
    register_version(client, name)
    config = base_config(mlflow_server, bare_remote, tmp_path / "state", unique_model_name.prefix)
    daemon = start_daemon(tmp_path / "d", config)  # no daemon.* setting at all
    try:
        daemon.wait_for("startup", lambda: daemon.status()["last_success_at"] is not None)
        client.set_registered_model_alias(name, "staging", "1")
        took = daemon.wait_for(
            "the promotion on the remote", lambda: deployed(bare_remote).get((name, "staging"))
        )
        assert took < 15  # one probe interval (5 s) and one reconcile, on a loaded machine
        log = daemon.log()
        assert f"trigger: change probe of {mlflow_server.url} every 5.0 s" in log
        assert "trigger: MLflow webhooks at POST /webhooks/mlflow (off:" in log
        assert "nothing but the resync" not in log
    finally:
        assert daemon.stop() == 0


def test_the_log_says_when_only_the_resync_sees_a_change(
    mlflow_server: MlflowServer, bare_remote: Path, tmp_path: Path, unique_model_name: Any
) -> None:
    config = base_config(mlflow_server, bare_remote, tmp_path / "state", unique_model_name.prefix)
    daemon = start_daemon(tmp_path / "d", config, {"probe_interval_seconds": 0})
    try:
        daemon.wait_for("startup", lambda: daemon.status()["last_success_at"] is not None)
        assert "source 'mlflow': nothing but the resync (every 300 s) sees its changes" in (
            daemon.log()
        )
    finally:
        assert daemon.stop() == 0
