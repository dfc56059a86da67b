"""Shared pytest set-up: the real test servers are plugins under tests/servers/."""

from __future__ import annotations

import gc
import logging
import os
import sys
from collections.abc import Iterator

import pytest

from tests.servers.mlflow_server import TELEMETRY_OFF

# Before anything imports mlflow (it starts its telemetry client on import): the tests'
# own MlflowClient, and every process they start, run with MLflow's telemetry off.
os.environ.update(TELEMETRY_OFF)

pytest_plugins = [
    "tests.servers.mlflow_fixtures",
    "tests.servers.mlflow_proxy_fixtures",
    "tests.servers.postgres_fixtures",
    "tests.servers.sshd_fixtures",
    "tests.servers.seaweedfs_fixtures",
    "tests.servers.git_http_fixtures",
]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite golden folders from the current output",
    )


@pytest.fixture(autouse=True)
def _process_state_is_restored() -> Iterator[None]:
    """A test that runs the CLI in-process (``main([...])``) sets logger levels, root
    handlers and garbage-collector thresholds for the whole process; later tests must
    not inherit them (a ``caplog`` would miss INFO lines, a memory test would measure
    the collector's timing instead of a leak)."""
    root = logging.getLogger()
    ours = logging.getLogger("watcher")
    saved = (root.level, list(root.handlers), ours.level, gc.get_threshold())
    yield
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]
    ours.setLevel(saved[2])
    gc.set_threshold(*saved[3])


#: What ``mlflow.set_tracking_uri`` and ``mlflow.set_registry_uri`` export for subprocesses.
_MLFLOW_URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


@pytest.fixture(autouse=True)
def _mlflow_uris_are_restored() -> Iterator[None]:
    """A test that runs the demo in-process, or logs a model with ``mlflow``, sets MLflow's
    process-wide URIs, and MLflow exports them to ``os.environ``: later tests (and the
    daemons they start) must not inherit a server that has stopped, nor pass only
    because an earlier test left one behind."""
    saved = {name: os.environ.get(name) for name in _MLFLOW_URI_VARIABLES}
    yield
    if all(os.environ.get(name) == value for name, value in saved.items()):
        return
    mlflow = sys.modules.get("mlflow")
    if mlflow is not None:
        # None unsets the tracking URI (and its variable); the registry's falls back to it.
        mlflow.set_tracking_uri(saved["MLFLOW_TRACKING_URI"])
        mlflow.set_registry_uri(saved["MLFLOW_REGISTRY_URI"])
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
