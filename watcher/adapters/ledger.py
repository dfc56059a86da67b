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
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import DateTime, Integer, String, Text, case, func, inspect, literal, select, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from watcher.adapters.state_store import open_state_engine, short_error
from watcher.closing import Closing
from watcher.config.settings import UrlLogin
from watcher.core.pull_requests import PullRequestEvent
from watcher.core.result import ReconcileResult, ReleaseOutcome
from watcher.errors import StateStoreError, error_kind

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


@dataclass(frozen=True)
class LedgerEntry:
    """A ledger row as callers see it."""

    action: str
    outcome: str
    source: str = ""
    kind: str = ""
    name: str = ""
    stage: str = ""
    folder: str = ""
    revision: str = ""
    commit: str = ""
    error: str = ""
    error_kind: str = ""
    artifact_uri: str = ""
    artifact_digest: str = ""
    detail: str = ""
    recorded_at: datetime | None = None
    reconcile_id: str = ""


#: Ledger errors are cut: a 1 MB tag value must not make a 1 MB row.
_ERROR_LIMIT = 2000


def entries_of(result: ReconcileResult) -> list[LedgerEntry]:
    """What a reconcile contributes to the ledger: applied changes, then every failure."""
    entries = []
    for applied in result.applied:
        info = applied.change.provenance
        artifact = {} if applied.change.action == "remove" else info.artifact
        entries.append(
            LedgerEntry(
                action=applied.change.action,
                outcome="applied" if result.pushed else "unpushed",
                source=info.source,
                kind=info.kind,
                name=info.name,
                stage=info.stage,
                folder=applied.change.folder,
                revision=info.revision,
                commit=applied.commit,
                artifact_uri=str(artifact.get("uri", "")),
                artifact_digest=str(artifact.get("digest", "")),
            )
        )
    for failure in result.failures:
        entries.append(
            LedgerEntry(
                action="deploy",
                outcome="failed",
                source=failure.id.source,
                kind=failure.id.kind,
                name=failure.id.name,
                stage=failure.id.stage,
                folder=failure.folder or "",
                revision=failure.revision,
                error=str(failure.error)[:_ERROR_LIMIT],
                error_kind=error_kind(failure.error),
            )
        )
    for folder, problem in result.problems:
        entries.append(
            LedgerEntry(
                action="plan",
                outcome="failed",
                folder=folder or "",
                error=str(problem)[:_ERROR_LIMIT],
                error_kind=error_kind(problem),
            )
        )
    entries += [_pull_request_entry(event) for event in result.pull_requests if event.news]
    entries += [_policy_entry(outcome) for outcome in result.releases if _policy_state(outcome)]
    for source in result.sources:
        if not source.ok and source.error is not None:
            entries.append(
                LedgerEntry(
                    action="read",
                    outcome="failed",
                    source=source.name,
                    error=str(source.error)[:_ERROR_LIMIT],
                    error_kind=error_kind(source.error),
                )
            )
    return entries


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


LedgerKey = tuple[str, str, str, str, str, str]


def key_of(entry: LedgerEntry) -> LedgerKey:
    """What a row is about: a release, a source's read, or the plan of one folder."""
    if entry.action in ("read", "plan"):
        folder = entry.folder if entry.action == "plan" else ""
        return (entry.action, entry.source, "", "", "", folder)
    return ("release", entry.source, entry.kind, entry.name, entry.stage, "")


def changed_entries(
    result: ReconcileResult, last: dict[LedgerKey, LedgerEntry]
) -> list[LedgerEntry]:
    """The rows of ``result`` that change what the ledger says; ``last`` is its last row
    per key. Commits always; a failure unless the last row is the same failure; and a
    recovery (unchanged release, source read, plan without problem) after a failure."""
    entries = []
    for entry in entries_of(result):
        previous = last.get(key_of(entry))
        if (
            entry.outcome in _STANDING_STATES
            and previous is not None
            and _same_failure(previous, entry)
        ):
            continue
        entries.append(entry)
    failed_now = {key_of(entry) for entry in entries_of(result) if entry.outcome == "failed"}
    for entry in _standing(result):
        previous = last.get(key_of(entry))
        if previous is None or key_of(entry) in failed_now:
            continue
        if previous.outcome in _STANDING_STATES or previous.revision != entry.revision:
            entries.append(entry)
    for key, previous in last.items():
        # A problem of the plan that is gone: said once (a later one is news again).
        if key[0] == "plan" and previous.outcome == "failed" and key not in failed_now:
            entries.append(LedgerEntry(action="plan", outcome="ok", folder=previous.folder))
    return entries


#: Outcomes that stand until something changes: recorded once, not on every retry.
_STANDING_STATES = frozenset({"failed", "held", "gated", "waiting"})


def _same_failure(previous: LedgerEntry, entry: LedgerEntry) -> bool:
    """The same failure (or hold, gate, wait) as the last row: no news."""
    return (
        previous.outcome,
        previous.action,
        previous.revision,
        previous.error,
        previous.detail,
    ) == (entry.outcome, entry.action, entry.revision, entry.error, entry.detail)


def _policy_state(outcome: ReleaseOutcome) -> bool:
    """A hold, gate or wait of the promotion policy (a pull request's says it itself)."""
    return outcome.state in ("held", "gated", "waiting") and outcome.pull_request is None


def _policy_entry(outcome: ReleaseOutcome) -> LedgerEntry:
    """A release the promotion policy kept out: the candidate it judged, and why."""
    return LedgerEntry(
        action="deploy",
        outcome=outcome.state,
        source=outcome.id.source,
        kind=outcome.id.kind,
        name=outcome.id.name,
        stage=outcome.id.stage,
        folder=outcome.folder,
        revision=outcome.candidate or outcome.revision,
        commit=outcome.commit or "",
        detail=outcome.reason[:_ERROR_LIMIT],
    )


def _standing(result: ReconcileResult) -> list[LedgerEntry]:
    """Releases that stand as deployed, and sources that were read: each a possible
    recovery from a failure recorded before."""
    standing = [
        LedgerEntry(
            action="deploy",
            outcome="unchanged",
            source=outcome.id.source,
            kind=outcome.id.kind,
            name=outcome.id.name,
            stage=outcome.id.stage,
            folder=outcome.folder,
            revision=outcome.revision,
        )
        for outcome in result.releases
        if outcome.state == "unchanged"
    ]
    standing += [
        LedgerEntry(action="read", outcome="ok", source=source.name)
        for source in result.sources
        if source.ok
    ]
    return standing


#: Ledger words for what was done with a pull request: (action, outcome).
_PULL_REQUEST_ROWS = {
    "opened": ("", "pr-opened"),
    "updated": ("", "pr-updated"),
    "merged": ("merge", "applied"),
    "closed": ("close", "pr-closed"),
    "held": ("", "held"),
}


def _pull_request_entry(event: PullRequestEvent) -> LedgerEntry:
    action, outcome = _PULL_REQUEST_ROWS.get(event.kind, ("", event.kind))
    ref = event.pull_request
    detail = [f"pull request #{ref.number} {ref.url}".strip()] if ref is not None else []
    if event.lead_seconds is not None:
        detail.append(f"lead time {event.lead_seconds:.0f} s")
    if event.reason:
        detail.append(event.reason)
    return LedgerEntry(
        action=action or event.action or "update",
        outcome=outcome,
        source=event.id.source,
        kind=event.id.kind,
        name=event.id.name,
        stage=event.id.stage,
        folder=event.folder,
        revision=event.revision,
        commit=event.commit,
        detail="; ".join(detail)[:_ERROR_LIMIT],
    )


class Ledger(Closing):
    def __init__(self, url: str, login: UrlLogin | None = None) -> None:
        self._engine: Engine = open_state_engine(url, login)
        #: The last row per key, and the highest row id they cover (None: not read yet).
        self._last: dict[LedgerKey, LedgerEntry] = {}
        self._last_id: int | None = None
        try:
            _Base.metadata.create_all(self._engine)
            _add_detail_column(self._engine)
            _adopt_legacy_rows(self._engine)
        except SQLAlchemyError as exc:
            self._engine.dispose()
            raise StateStoreError(f"cannot open the ledger: {short_error(exc)}") from exc

    def record(self, result: ReconcileResult) -> None:
        """Append what changed since the last rows (nothing when it all stands as it was)."""
        last = self._last_rows()
        entries = changed_entries(result, last)
        self.append(result.reconcile_id, entries)

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
        group = case((LedgerRow.action.in_(("read", "plan")), LedgerRow.action), else_=literal(""))
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

    def append(self, reconcile_id: str, entries: list[LedgerEntry]) -> None:
        if not entries:
            return
        now = datetime.now(UTC)
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
            self._last.update((key_of(entry), entry) for entry in entries)
            self._last_id = max(ids)

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
