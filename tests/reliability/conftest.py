"""Fixtures of the reliability tests that more than one module uses."""

from __future__ import annotations

import urllib.parse
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from tests.reliability.secret_scan import new_secret
from tests.servers.postgres import PostgresServer

PG_ROLE = "watcher_state"


@pytest.fixture
def state_db(postgres_server: PostgresServer) -> Iterator[tuple[str, str, sa.Engine]]:
    """A role with a password that must be percent-encoded, its own database; the URL
    the daemon is given, the password, and an admin engine on that database."""
    password = new_secret("pg")
    role = f"{PG_ROLE}_{uuid.uuid4().hex[:8]}"
    dbname = f"state_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(postgres_server.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE ROLE {role} LOGIN PASSWORD :pw"), {"pw": password})
        conn.exec_driver_sql(f'CREATE DATABASE "{dbname}" OWNER {role}')
    admin.dispose()
    url = (
        f"postgresql://{role}:{urllib.parse.quote(password, safe='')}"
        f"@127.0.0.1:{postgres_server.port}/{dbname}"
    )
    engine = sa.create_engine(postgres_server.url(dbname))
    try:
        yield url, password, engine
    finally:
        engine.dispose()
