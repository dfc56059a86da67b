"""The daemon's own ledger: every reconcile and every promotion it applied or failed.

SQLAlchemy, so the embedded default is a SQLite file and a shared install can
point at PostgreSQL. Tables are created on first use; the ledger is append-only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime

from sqlalchemy import (
    DateTime,
    Integer,
    String,
    Text,
    create_engine,
    event,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from watcher.adapters.sql_urls import engine_url
from watcher.errors import StateStoreError

log = logging.getLogger(__name__)


class _Base(DeclarativeBase):
    pass


class PromotionRow(_Base):
    """One (model, stage) outcome of one reconcile."""

    __tablename__ = "promotions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reconcile_id: Mapped[str] = mapped_column(String(64), index=True)
    folder: Mapped[str] = mapped_column(String(255), index=True)
    model_name: Mapped[str] = mapped_column(Text)
    stage: Mapped[str] = mapped_column(String(63))
    version: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(16))
    commit: Mapped[str] = mapped_column(String(64), default="")
    error: Mapped[str] = mapped_column(Text, default="")
    artifact_uri: Mapped[str] = mapped_column(Text, default="")
    artifact_digest: Mapped[str] = mapped_column(String(80), default="")


@dataclass(frozen=True)
class PromotionRecord:
    """A ledger entry as callers see it."""

    folder: str
    model_name: str
    stage: str
    version: str
    action: str
    outcome: str
    commit: str = ""
    error: str = ""
    artifact_uri: str = ""
    artifact_digest: str = ""
    recorded_at: datetime | None = None
    reconcile_id: str = ""


class StateStore:
    def __init__(self, url: str) -> None:
        self._url = url
        try:
            self._engine: Engine = create_engine(engine_url(url), future=True)
            if url.startswith("sqlite"):
                event.listen(self._engine, "connect", _sqlite_pragmas)
            _Base.metadata.create_all(self._engine)
            _add_missing_columns(self._engine)
        except SQLAlchemyError as exc:
            raise StateStoreError(f"cannot open the state database: {_short(exc)}") from exc

    def record(self, reconcile_id: str, records: Iterable[PromotionRecord]) -> None:
        now = datetime.now(UTC)
        rows = [
            PromotionRow(**{**asdict(record), "recorded_at": now, "reconcile_id": reconcile_id})
            for record in records
        ]
        if not rows:
            return
        try:
            with Session(self._engine) as session, session.begin():
                session.add_all(rows)
        except SQLAlchemyError as exc:
            raise StateStoreError(f"cannot write to the state database: {_short(exc)}") from exc

    def history(self, limit: int = 50) -> list[PromotionRecord]:
        """The newest entries first."""
        try:
            with Session(self._engine) as session:
                rows = session.scalars(
                    select(PromotionRow).order_by(PromotionRow.id.desc()).limit(limit)
                ).all()
        except SQLAlchemyError as exc:
            raise StateStoreError(f"cannot read the state database: {_short(exc)}") from exc
        names = [f.name for f in fields(PromotionRecord)]
        return [PromotionRecord(**{name: getattr(row, name) for name in names}) for row in rows]

    def close(self) -> None:
        self._engine.dispose()


def _add_missing_columns(engine: Engine) -> None:
    """Additive upgrade of a ledger made by an older version: new columns, empty for old rows."""
    table = _Base.metadata.tables[PromotionRow.__tablename__]
    present = {column["name"] for column in inspect(engine).get_columns(table.name)}
    with engine.begin() as conn:
        for column in table.columns:
            if column.name not in present:
                log.info("adding column %s to the ledger table %s", column.name, table.name)
                kind = column.type.compile(dialect=engine.dialect)
                conn.execute(
                    text(f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind} DEFAULT ''")
                )


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA busy_timeout = 5000")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.close()


def _short(exc: SQLAlchemyError) -> str:
    # SQLAlchemy messages embed the statement and parameters; the first line is the cause.
    cause = getattr(exc, "orig", None)
    return str(cause if cause is not None else exc).splitlines()[0]


def open_state_engine(url: str) -> Engine:
    """An engine on the daemon's own database (SQLite pragmas applied), or StateStoreError."""
    try:
        engine = create_engine(engine_url(url), future=True)
        if url.startswith("sqlite"):
            event.listen(engine, "connect", _sqlite_pragmas)
    except (SQLAlchemyError, ImportError) as exc:
        raise StateStoreError(f"cannot open the state database: {exc!s:.300}") from exc
    return engine


def short_error(exc: SQLAlchemyError) -> str:
    """The first line of the cause: SQLAlchemy messages embed statements and parameters."""
    return _short(exc)
