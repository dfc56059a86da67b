"""The daemon's ledger: what changed, as it happened: every commit, and every change of a
release's, a source's or the plan's state (failed, with which error; recovered).

A reconcile that fails the same way as the one before writes nothing: retries are
not history. A row is written when a (source, kind, name, stage) (or a source's
read, or the plan of a folder) differs from its last row in outcome, revision or
error. The last rows are read once per process (one grouped query) and kept
current as rows are written; a cheap ``max(id)`` shows when another process wrote
(a failover), and they are read again.

SQLAlchemy, so the embedded default is a SQLite file and a shared install can
point at PostgreSQL. Rows are kind-neutral (source, kind, name, stage, revision)
and append-only. A ledger written by gitops-watcher 0.1 (table ``promotions``,
models only) is copied into the new table once, the first time it is opened.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import fields, replace
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import DateTime, Integer, String, Text, case, func, inspect, literal, select, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from watcher.adapters.ledger_changes import (
    OWN_KEYS,
    LedgerEntry,
    LedgerKey,
    changed_entries,
    changed_health,
    entries_of,
    is_new_deployment,
    key_of,
    new_run_failure,
    release_history_facts,
    run_failure,
    state_change,
)
from watcher.adapters.state_store import open_state_engine, short_error
from watcher.closing import Closing
from watcher.config.settings import UrlLogin
from watcher.core.app_health import HealthReport
from watcher.core.events import StateChange
from watcher.core.result import ReconcileResult
from watcher.errors import StateStoreError, WatcherError

__all__ = [
    "Ledger",
    "LedgerEntry",
    "LedgerKey",
    "changed_entries",
    "entries_of",
    "key_of",
    "sqlite_file",
]

log = logging.getLogger(__name__)

_LEGACY_TABLE = "promotions"
_LEGACY_ACTIONS = {"create": "deploy", "update": "update", "remove": "remove"}


class _Base(DeclarativeBase):
    pass


class LedgerRow(_Base):
    """One release outcome of one reconcile."""

    __tablename__ = "ledger"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    reconcile_id: Mapped[str] = mapped_column(String(64), index=True)
    source: Mapped[str] = mapped_column(String(63), default="")
    kind: Mapped[str] = mapped_column(String(32), default="")
    name: Mapped[str] = mapped_column(Text, default="")
    stage: Mapped[str] = mapped_column(String(63), default="")
    folder: Mapped[str] = mapped_column(String(512), default="", index=True)
    revision: Mapped[str] = mapped_column(String(128), default="")
    action: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(16))
    commit: Mapped[str] = mapped_column(String(64), default="")
    error: Mapped[str] = mapped_column(Text, default="")
    error_kind: Mapped[str] = mapped_column(String(16), default="")
    artifact_uri: Mapped[str] = mapped_column(Text, default="")
    artifact_digest: Mapped[str] = mapped_column(String(80), default="")
    #: What else the row says: a pull request and its URL, a lead time, a reason.
    detail: Mapped[str] = mapped_column(Text, default="")


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite ledger URL; None for another database or an in-memory one."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    return Path(database)


class Ledger(Closing):
    def __init__(self, url: str, login: UrlLogin | None = None) -> None:
        self._engine: Engine = open_state_engine(url, login)
        #: The last row per key, and the highest row id they cover (None: not read yet).
        self._last: dict[LedgerKey, LedgerEntry] = {}
        self._last_id: int | None = None
        #: The reconcile thread and the Argo CD health poll may both write.
        self._lock = threading.RLock()
        try:
            _Base.metadata.create_all(self._engine)
            _add_detail_column(self._engine)
            _adopt_legacy_rows(self._engine)
        except SQLAlchemyError as exc:
            self._engine.dispose()
            raise StateStoreError(f"cannot open the ledger: {short_error(exc)}") from exc

    def record(self, result: ReconcileResult) -> list[StateChange]:
        """Append what changed since the last rows (nothing when it all stands as it was);
        return those changes, each with what its key was before."""
        with self._lock:
            last = self._last_rows()
            return self._write(result.reconcile_id, changed_entries(result, last), last)

    def record_failure(
        self, reconcile_id: str, error: WatcherError, source: str = ""
    ) -> list[StateChange]:
        """A run that could not complete: a row, unless the last run failed the same way
        (``source``: the daemon's run of that source, which fails on its own)."""
        with self._lock:
            last = self._last_rows()
            entry = run_failure(error, source)
            if not new_run_failure(entry, last):
                return []
            return self._write(reconcile_id, [entry], last)

    def record_health(self, reports: Sequence[HealthReport]) -> list[StateChange]:
        """Rows for releases whose health became ``healthy`` or ``degraded``."""
        with self._lock:
            last = self._last_rows()
            entries = changed_health(reports, last)
            return self._write(f"health-{uuid.uuid4().hex[:24]}", entries, last)

    def _write(
        self, reconcile_id: str, entries: list[LedgerEntry], last: Mapping[LedgerKey, LedgerEntry]
    ) -> list[StateChange]:
        if not entries:
            return []
        before = [last.get(key_of(entry)) for entry in entries]  # append updates ``last``
        facts = self._history_facts(entries, before)
        at = self.append(reconcile_id, entries)
        changes = []
        for entry, previous, (rollback, first_seen) in zip(entries, before, facts, strict=True):
            change = state_change(
                entry, previous, at, reconcile_id=reconcile_id, rollback=rollback,
                first_seen_at=first_seen,
            )  # fmt: skip
            changes.append(change)
        return changes

    def _history_facts(
        self, entries: Sequence[LedgerEntry], before: Sequence[LedgerEntry | None]
    ) -> list[tuple[bool, float | None]]:
        """Per entry: is it a rollback (a revision this release ran before), and since when
        was its revision failing before it deployed. Read only for new deployments."""
        facts: list[tuple[bool, float | None]] = [(False, None)] * len(entries)
        wanted = [
            index for index, entry in enumerate(entries) if is_new_deployment(entry, before[index])
        ]
        if not wanted:
            return facts
        try:
            with Session(self._engine) as session:
                for index in wanted:
                    rows = _newest_rows(session, entries[index])
                    facts[index] = release_history_facts(entries[index], rows)
        except SQLAlchemyError as exc:
            raise StateStoreError(f"cannot read the ledger: {short_error(exc)}") from exc
        return facts

    def _last_rows(self) -> dict[LedgerKey, LedgerEntry]:
        try:
            with Session(self._engine) as session:
                newest = session.scalar(select(func.max(LedgerRow.id))) or 0
                if self._last_id is None or newest > self._last_id:
                    # First use, or another process wrote (a failover): read them again.
                    self._last = {key_of(e): e for e in self._read_last(session)}
                    self._last_id = newest
        except SQLAlchemyError as exc:
            raise StateStoreError(f"cannot read the ledger: {short_error(exc)}") from exc
        return self._last

    @staticmethod
    def _read_last(session: Session) -> list[LedgerEntry]:
        """The newest row of each key, in one grouped query."""
        group = case((LedgerRow.action.in_(OWN_KEYS), LedgerRow.action), else_=literal(""))
        folder = case((LedgerRow.action == "plan", LedgerRow.folder), else_=literal(""))
        newest = (
            select(func.max(LedgerRow.id))
            .group_by(
                group, LedgerRow.source, LedgerRow.kind, LedgerRow.name, LedgerRow.stage, folder
            )
            .scalar_subquery()
        )
        rows = session.scalars(select(LedgerRow).where(LedgerRow.id.in_(newest))).all()
        return [_entry(row) for row in rows]

    def append(self, reconcile_id: str, entries: list[LedgerEntry]) -> datetime:
        """Write ``entries`` as rows of one moment; that moment."""
        now = datetime.now(UTC)
        if not entries:
            return now
        names = [
            f.name for f in fields(LedgerEntry) if f.name not in ("recorded_at", "reconcile_id")
        ]
        rows = [
            LedgerRow(
                **{name: getattr(entry, name) for name in names},
                recorded_at=now,
                reconcile_id=reconcile_id,
            )
            for entry in entries
        ]
        try:
            with Session(self._engine) as session, session.begin():
                session.add_all(rows)
                session.flush()
                ids = [row.id for row in rows]
        except SQLAlchemyError as exc:
            raise StateStoreError(f"cannot write to the ledger: {short_error(exc)}") from exc
        if self._last_id is not None and min(ids) == self._last_id + 1:
            # Ours follow the rows we know: keep them current without reading them again.
            self._last.update(
                (key_of(entry), replace(entry, recorded_at=now, reconcile_id=reconcile_id))
                for entry in entries
            )
            self._last_id = max(ids)
        return now

    def deployments(self, limit: int = 100_000) -> list[LedgerEntry]:
        """Commits that deployed, updated or removed a release, oldest first (the newest
        ``limit``), and holds: what the promotion metrics start from after a restart."""
        query = (
            select(LedgerRow)
            .where(LedgerRow.outcome.in_(("applied", "held")))
            .where(LedgerRow.action.not_in(OWN_KEYS))
            .order_by(LedgerRow.id.desc())
            .limit(limit)
        )
        try:
            with Session(self._engine) as session:
                rows = session.scalars(query).all()
        except SQLAlchemyError as exc:
            raise StateStoreError(f"cannot read the ledger: {short_error(exc)}") from exc
        return [_entry(row) for row in reversed(rows)]

    def history(self, limit: int = 50) -> list[LedgerEntry]:
        """The newest entries first."""
        try:
            with Session(self._engine) as session:
                rows = session.scalars(
                    select(LedgerRow).order_by(LedgerRow.id.desc()).limit(limit)
                ).all()
        except SQLAlchemyError as exc:
            raise StateStoreError(f"cannot read the ledger: {short_error(exc)}") from exc
        return [_entry(row) for row in rows]

    def close(self) -> None:
        self._engine.dispose()


def _newest_rows(session: Session, entry: LedgerEntry, limit: int = 200) -> list[LedgerEntry]:
    """The newest rows of one release, newest first (``limit`` of them)."""
    query = (
        select(LedgerRow)
        .where(LedgerRow.source == entry.source, LedgerRow.kind == entry.kind)
        .where(LedgerRow.name == entry.name, LedgerRow.stage == entry.stage)
        .where(LedgerRow.action.not_in(OWN_KEYS))
        .order_by(LedgerRow.id.desc())
        .limit(limit)
    )
    return [_entry(row) for row in session.scalars(query).all()]


def _entry(row: LedgerRow) -> LedgerEntry:
    values = {f.name: getattr(row, f.name) for f in fields(LedgerEntry)}
    if values["recorded_at"] is not None and values["recorded_at"].tzinfo is None:
        # SQLite stores no zone; we always write UTC.
        values["recorded_at"] = values["recorded_at"].replace(tzinfo=UTC)
    return LedgerEntry(**values)


def _add_detail_column(engine: Engine) -> None:
    """A ledger made before 0.3 has no ``detail`` column: it is added, empty, once."""
    columns = {column["name"] for column in inspect(engine).get_columns("ledger")}
    if "detail" not in columns:
        with engine.begin() as connection:
            add = "ALTER TABLE ledger ADD COLUMN detail TEXT NOT NULL DEFAULT ''"
            connection.execute(text(add))
        log.info("added column 'detail' to the ledger")


def _adopt_legacy_rows(engine: Engine) -> None:
    """Copy a 0.1 ledger's rows into the new table, once (only while the new one is empty)."""
    if _LEGACY_TABLE not in inspect(engine).get_table_names():
        return
    with Session(engine) as session, session.begin():
        if session.scalar(select(LedgerRow.id).limit(1)) is not None:
            return
        legacy = session.execute(
            text(
                f"SELECT recorded_at, reconcile_id, folder, model_name, stage, version, "  # noqa: S608
                f"action, outcome, {_column_or_empty(engine, 'commit')}, error, "
                f"{_column_or_empty(engine, 'artifact_uri')}, "
                f"{_column_or_empty(engine, 'artifact_digest')} "
                f"FROM {_LEGACY_TABLE} ORDER BY id"
            )
        ).all()
        for row in legacy:
            session.add(
                LedgerRow(
                    recorded_at=_as_datetime(row[0]),
                    reconcile_id=row[1],
                    source="",
                    kind="model" if row[3] else "",
                    name=row[3] or "",
                    stage=row[4] or "",
                    folder=row[2] or "",
                    revision=row[5] or "",
                    action=_LEGACY_ACTIONS.get(row[6], row[6]),
                    outcome=row[7],
                    commit=row[8] or "",
                    error=row[9] or "",
                    error_kind="",
                    artifact_uri=row[10] or "",
                    artifact_digest=row[11] or "",
                )
            )
    if legacy:
        log.info("copied %d rows of the 0.1 ledger into table 'ledger'", len(legacy))


def _as_datetime(value: object) -> datetime:
    """SQLite hands back the text it stored; other databases a datetime."""
    if isinstance(value, datetime):
        return value
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return datetime.fromtimestamp(0, UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _column_or_empty(engine: Engine, column: str) -> str:
    present = {c["name"] for c in inspect(engine).get_columns(_LEGACY_TABLE)}
    quoted = '"commit"' if column == "commit" else column
    return quoted if column in present else "''"
