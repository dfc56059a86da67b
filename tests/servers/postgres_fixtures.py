"""Pytest plugin: a PostgreSQL server for the session, and an MLflow server backed by it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers.mlflow_server import MlflowServer, start_mlflow_server, stop_mlflow_server
from tests.servers.postgres import PostgresServer, start_postgres, stop_postgres


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """PostgreSQL on 127.0.0.1: ``.url(dbname)``, ``.create_database(name)``, ``.port``."""
    try:
        server = start_postgres()
    except RuntimeError as exc:
        pytest.fail(f"cannot start PostgreSQL: {exc}", pytrace=False)
    try:
        yield server
    finally:
        stop_postgres(server)


@pytest.fixture(scope="session")
def mlflow_server_postgres(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MlflowServer]:
    """A second MLflow server whose backend store is PostgreSQL (``.db_path`` is None)."""
    db_uri = postgres_server.create_database("mlflow")
    try:
        server = start_mlflow_server(tmp_path_factory.mktemp("mlflow-pg"), backend_uri=db_uri)
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        stop_mlflow_server(server)
