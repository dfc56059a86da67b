"""Pytest plugin: a second MLflow server that proxies artifacts (``mlflow-artifacts:/``).

The session ``mlflow_server`` keeps artifacts in a local folder; sources that
only a proxying server produces (``mlflow-artifacts:/…``, logged models behind
it) need this one. Session-scoped, so the session starts at most one extra server.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers.mlflow_server import MlflowServer, start_mlflow_server, stop_mlflow_server


@pytest.fixture(scope="session")
def mlflow_proxy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """``mlflow server --artifacts-destination``; ``.artifact_root`` is the proxied folder."""
    try:
        server = start_mlflow_server(tmp_path_factory.mktemp("mlflow-proxy"), proxy_artifacts=True)
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        stop_mlflow_server(server)
