"""The daemon's own database: one engine factory for the ledger and the writer lock.

SQLAlchemy, so the embedded default is a SQLite file (WAL, a busy timeout) and a
shared install can point at PostgreSQL; URLs as users write them
(``postgresql://``) get the driver that is installed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from watcher.adapters.sql_urls import MissingDriverError, engine_url
from watcher.config.settings import UrlLogin
from watcher.core.urls import redact_url
from watcher.errors import ConfigError, StateStoreError


def open_state_engine(url: str, login: UrlLogin | None = None, **options: Any) -> Engine:
    """An engine on the daemon's own database (SQLite pragmas applied).

    ``login``: the user info the settings loader took out of ``url``, put back only in
    the URL object SQLAlchemy connects with (which never prints the password). A URL
    that is not one, or whose driver is not installed, is a ConfigError (the message
    names the extra to install); anything else a StateStoreError.
    """
    try:
        engine = create_engine(with_login(engine_url(url), login), future=True, **options)
        if url.startswith("sqlite"):
            event.listen(engine, "connect", _sqlite_pragmas)
    except (MissingDriverError, ArgumentError, ImportError) as exc:
        raise ConfigError(
            f"cannot open the state database {redact_url(url)}: {str(exc)[:300]}",
            hint=""
            if isinstance(exc, MissingDriverError)
            else "check state.database_url (GITOPS_WATCHER_STATE_DB_URL)",
        ) from exc
    except SQLAlchemyError as exc:
        raise StateStoreError(
            f"cannot open the state database {redact_url(url)}: {str(exc)[:300]}"
        ) from exc
    return engine


def with_login(url: URL, login: UrlLogin | None) -> URL:
    """``url`` with the user info the loader took out of it put back, for connecting only."""
    if login is None:
        return url
    return url.set(username=login.username or url.username, password=login.password or None)


def short_error(exc: SQLAlchemyError) -> str:
    """The first line of the cause: SQLAlchemy messages embed statements and parameters."""
    cause = getattr(exc, "orig", None)
    return str(cause if cause is not None else exc).splitlines()[0]


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA busy_timeout = 5000")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.close()
