"""One writer per GitOps repository: a file lock (SQLite) or a lease row (shared database).

With SQLite the state lives in one folder on one host, so an exclusive
``fcntl`` lock on a file there is exact and dies with the process. With a
shared database (PostgreSQL) replicas run on different hosts: the writer holds
a lease row it renews every few seconds; a standby takes it over once the
writer has not renewed for ``takeover_seconds``. Times are the database's
clock, so replicas with skewed clocks still agree.

Every holder says what it is (``role``: the daemon's ``run`` or a one-shot
``reconcile --once``), so a refusal names the process that holds the state.
Beside the lease, a standby leaves a "reconcile requested" mark for a webhook
it took; the writer picks it up when it next renews (``ReconcileRequests``).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import threading
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from watcher.adapters.state_store import open_state_engine
from watcher.config.settings import UrlLogin
from watcher.errors import StateStoreError, WriterHeldError

log = logging.getLogger(__name__)

LOCK_FILE = "writer.lock"
LEASE_NAME = "gitops-watcher"


class WriterLockHeldError(WriterHeldError):
    """Another process is the writer for this state folder."""


class WriterLeaseHeldError(WriterHeldError):
    """Another process holds the writer lease in the shared state database."""


#: What every refusal tells the user to do.
_REFUSAL_HINT = (
    "only one process may write at a time: wait for it to finish or stop it; a running "
    "'gitops-watcher run' reconciles by itself (on its triggers, or sooner on a webhook)"
)


class WriterLock(Protocol):
    holder: str

    def try_acquire(self) -> bool: ...
    def renew(self) -> bool: ...
    def valid(self) -> bool: ...
    def release(self) -> None: ...
    def describe_holder(self) -> str: ...


def holder_id(role: str = "") -> str:
    """Host, pid and a random suffix (a pid is reused across restarts), then the role."""
    unique = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    return f"{unique}, gitops-watcher {role}" if role else unique


class FileWriterLock:
    """An exclusive, non-blocking ``flock`` on ``<state_dir>/writer.lock`` holding our pid.

    ``state_dir`` is the resolved state folder (``Settings.state_path``), never the raw
    setting: an empty one would put the lock in whatever folder the process started in.
    """

    def __init__(self, state_dir: Path, *, role: str = "") -> None:
        self.path = Path(state_dir) / LOCK_FILE
        self.role = role
        self.holder = holder_id()
        self._file: IO[str] | None = None

    def try_acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()} {self.holder} {self.role}".rstrip() + "\n")
        handle.flush()
        self._file = handle
        return True

    def acquire_or_refuse(self) -> None:
        if not self.try_acquire():
            raise WriterLockHeldError(
                f"another gitops-watcher ({self.describe_holder()}) is the writer for state "
                f"folder {self.path.parent}",
                hint=f"{_REFUSAL_HINT}; for replicas with failover use a PostgreSQL state "
                "database (state.database_url)",
            )

    def renew(self) -> bool:
        return self._file is not None

    def valid(self) -> bool:
        return self._file is not None

    def describe_holder(self) -> str:
        try:
            text = self.path.read_text(encoding="utf-8").split(maxsplit=2)
        except OSError:
            return "unknown holder"
        if not text:
            return "unknown holder"
        role = text[2].strip() if len(text) > 2 else ""
        return f"pid {text[0]}, gitops-watcher {role}" if role else f"pid {text[0]}"

    def release(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


_METADATA = sa.MetaData()
#: One row per lease; ``generation`` is bumped on every change of holder (a fencing number).
LEASE_TABLE = sa.Table(
    "gitops_watcher_writer_lease",
    _METADATA,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("holder", sa.String(300), nullable=False),
    sa.Column("renewed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("generation", sa.Integer, nullable=False, default=1),
)
#: At most one row per lease: a standby took a webhook, the writer should reconcile.
REQUEST_TABLE = sa.Table(
    "gitops_watcher_reconcile_request",
    _METADATA,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
    #: Unix time the first pending request was observed (a webhook's own timestamp).
    sa.Column("observed_at", sa.Float, nullable=False),
    sa.Column("requests", sa.Integer, nullable=False, default=1),
)


class DatabaseLease:
    """A lease row renewed by the writer; taken over after ``takeover_seconds`` of silence."""

    def __init__(
        self,
        url: str,
        *,
        takeover_seconds: float,
        renew_seconds: float,
        name: str = LEASE_NAME,
        role: str = "",
        login: UrlLogin | None = None,
    ) -> None:
        # The ledger's engine factory: the installed driver, or a ConfigError naming the extra.
        self._engine: Engine = open_state_engine(
            url, login, pool_pre_ping=True, pool_size=1, max_overflow=1, pool_recycle=300
        )
        self._takeover = timedelta(seconds=takeover_seconds)
        self._renew_seconds = renew_seconds
        self._name = name
        self.holder = holder_id(role)
        self._renewed_monotonic: float | None = None
        self._last_holder = ""
        #: The last database error of ``try_acquire`` ("" after a success): a standby that
        #: cannot reach the database cannot take over.
        self.last_error = ""
        self.generation = 0
        self._lock = threading.Lock()
        try:
            _METADATA.create_all(self._engine)
        except SQLAlchemyError as exc:
            self._engine.dispose()
            raise StateStoreError(
                f"cannot create the writer lease table: {type(exc).__name__}"
            ) from exc

    def try_acquire(self) -> bool:
        """Take the lease if it is free, ours, or expired; True when we hold it now."""
        with self._lock:
            started = time.monotonic()
            try:
                held = self._claim()
            except IntegrityError:
                self.last_error = ""
                return False  # another replica inserted the row first
            except SQLAlchemyError as exc:
                log.warning("writer lease: database error: %s", type(exc).__name__)
                self.last_error = f"database error: {type(exc).__name__}"
                return False
            self.last_error = ""
            if held:
                self._renewed_monotonic = started
            return held

    def acquire_or_refuse(self) -> None:
        """Take the lease now, for a one-shot command; refuse while another process holds it."""
        if self.try_acquire():
            return
        if self.last_error:
            raise StateStoreError(f"cannot take the writer lease: {self.last_error}")
        raise WriterLeaseHeldError(
            f"another gitops-watcher ({self.describe_holder()}) holds the writer lease in the "
            "state database",
            hint=_REFUSAL_HINT,
        )

    def renew(self) -> bool:
        """Renew; False when someone else holds the lease now (we lost it)."""
        if self.try_acquire():
            return True
        return self.valid() and not self._last_holder

    def valid(self) -> bool:
        """True while our last renewal is recent enough that nobody can have taken over."""
        if self._renewed_monotonic is None:
            return False
        margin = self._takeover.total_seconds() - self._renew_seconds
        return time.monotonic() - self._renewed_monotonic < margin

    def describe_holder(self) -> str:
        return self._last_holder or "nobody"

    def _claim(self) -> bool:
        with self._engine.begin() as conn:
            now = conn.execute(sa.select(sa.func.current_timestamp())).scalar_one()
            table = LEASE_TABLE
            row = conn.execute(
                sa.select(table.c.holder, table.c.renewed_at, table.c.generation)
                .where(table.c.name == self._name)
                .with_for_update()
            ).first()
            if row is None:
                conn.execute(
                    sa.insert(table).values(
                        name=self._name, holder=self.holder, renewed_at=now, generation=1
                    )
                )
                self.generation, self._last_holder = 1, ""
                log.info("writer lease taken by %s (generation 1)", self.holder)
                return True
            renewed = _aware_like(row.renewed_at, now)
            if row.holder != self.holder and now - renewed < self._takeover:
                self._last_holder = str(row.holder)
                self._renewed_monotonic = None
                return False
            generation = int(row.generation) + (0 if row.holder == self.holder else 1)
            conn.execute(
                sa.update(table)
                .where(table.c.name == self._name)
                .values(holder=self.holder, renewed_at=now, generation=generation)
            )
            if row.holder != self.holder:
                log.warning(
                    "writer lease taken over from %s by %s (generation %d)",
                    row.holder, self.holder, generation,
                )  # fmt: skip
            self.generation, self._last_holder = generation, ""
            return True

    def release(self) -> None:
        """Give the lease up at once, so a standby need not wait for the takeover time."""
        with contextlib.suppress(SQLAlchemyError), self._engine.begin() as conn:
            table = LEASE_TABLE
            conn.execute(
                sa.delete(table).where(table.c.name == self._name, table.c.holder == self.holder)
            )
        self._renewed_monotonic = None
        self._engine.dispose()

    # -- "reconcile requested" marks: a standby hands a webhook to the writer ---------------

    def request_reconcile(self, observed_at: float) -> bool:
        """Leave (or add to) the mark the writer picks up at its next renewal; False on error."""
        table = REQUEST_TABLE
        for _ in range(2):  # a concurrent first insert by another standby: update it instead
            try:
                with self._engine.begin() as conn:
                    now = conn.execute(sa.select(sa.func.current_timestamp())).scalar_one()
                    row = conn.execute(
                        sa.select(table.c.observed_at, table.c.requests)
                        .where(table.c.name == self._name)
                        .with_for_update()
                    ).first()
                    if row is None:
                        conn.execute(
                            sa.insert(table).values(
                                name=self._name, requested_at=now, observed_at=observed_at,
                                requests=1,
                            )
                        )  # fmt: skip
                    else:
                        conn.execute(
                            sa.update(table)
                            .where(table.c.name == self._name)
                            .values(
                                requested_at=now,
                                observed_at=min(float(row.observed_at), observed_at),
                                requests=int(row.requests) + 1,
                            )
                        )
                return True
            except IntegrityError:
                continue
            except SQLAlchemyError as exc:
                log.warning("cannot hand the webhook to the writer: %s", type(exc).__name__)
                return False
        return False

    def take_reconcile_request(self) -> float | None:
        """The pending mark's first observed time, removing the mark; None when there is none."""
        table = REQUEST_TABLE
        try:
            with self._engine.begin() as conn:
                row = conn.execute(
                    sa.select(table.c.observed_at, table.c.requests)
                    .where(table.c.name == self._name)
                    .with_for_update()
                ).first()
                if row is None:
                    return None
                conn.execute(sa.delete(table).where(table.c.name == self._name))
        except SQLAlchemyError as exc:
            log.warning("cannot read reconcile requests: %s", type(exc).__name__)
            return None
        log.info("%d webhook(s) handed over by a standby replica", int(row.requests))
        return float(row.observed_at)


def _aware_like(value: datetime, reference: datetime) -> datetime:
    """SQLite hands back naive datetimes; compare like with like."""
    if value.tzinfo is None and reference.tzinfo is not None:
        return value.replace(tzinfo=reference.tzinfo)
    if value.tzinfo is not None and reference.tzinfo is None:
        return value.replace(tzinfo=None)
    return value


def make_writer_lock(
    state_database_url: str,
    state_dir: Path,
    *,
    takeover_seconds: float,
    renew_seconds: float,
    role: str = "",
    login: UrlLogin | None = None,
) -> FileWriterLock | DatabaseLease:
    """A file lock for a SQLite state DB, a lease row for any shared database (``login``:
    the user info the loader took out of its URL)."""
    if state_database_url.startswith("sqlite"):
        return FileWriterLock(state_dir, role=role)
    return DatabaseLease(
        state_database_url,
        takeover_seconds=takeover_seconds,
        renew_seconds=renew_seconds,
        role=role,
        login=login,
    )
