"""Pytest plugin: a real MLflow server shared by the session, and unique model names."""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator

import pytest

from tests.servers.mlflow_server import MlflowServer, start_mlflow_server, stop_mlflow_server
from tests.servers.mlflow_webhook import start_webhook_mlflow_server

_counter = itertools.count(1)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """``mlflow server`` on a SQLite backend; ``.url``, ``.db_path``, ``.db_uri``, ``.client()``."""
    try:
        server = start_mlflow_server(tmp_path_factory.mktemp("mlflow"))
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        stop_mlflow_server(server)


@pytest.fixture(scope="module")
def webhook_mlflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """``mlflow server`` with webhooks on, one per test module: the webhooks one module
    registers never fire into another's daemons."""
    try:
        server = start_webhook_mlflow_server(tmp_path_factory.mktemp("mlflow-webhooks"))
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        stop_mlflow_server(server)


class ModelNames:
    """Makes model names unique to one test, all sharing ``prefix`` (handy for globs)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._count = itertools.count(1)

    def __call__(self, label: str = "") -> str:
        return f"{self.prefix}-{label or next(self._count)}"


@pytest.fixture
def unique_model_name(request: pytest.FixtureRequest) -> ModelNames:
    """A name factory: tests sharing the session server never collide on model names."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "w0")
    base = request.node.name.split("[", 1)[0].removeprefix("test_")[:40].replace("_", "-")
    return ModelNames(f"{base}-{worker}-{next(_counter)}-{uuid.uuid4().hex[:6]}")
