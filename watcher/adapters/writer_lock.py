"""One writer per GitOps repository: a file lock (SQLite) or a lease row (shared database).

With SQLite the state lives in one folder on one host, so an exclusive
``fcntl`` lock on a file there is exact and dies with the process. With a
shared database (PostgreSQL) replicas run on different hosts: the writer holds
a lease row it renews every few seconds; a standby takes it over once the
writer has not renewed for ``takeover_seconds``. Times are the database's
clock, so replicas with skewed clocks still agree.
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

from watcher.adapters.state_store import with_login
from watcher.config.settings import UrlLogin
from watcher.errors import StateStoreError, WriterHeldError

log = logging.getLogger(__name__)

LOCK_FILE = "writer.lock"
LEASE_NAME = "gitops-watcher"


class WriterLockHeldError(WriterHeldError):
    """Another process is the writer for this state folder."""


class WriterLock(Protocol):
    holder: str

    def try_acquire(self) -> bool: ...
    def renew(self) -> bool: ...
    def valid(self) -> bool: ...
    def release(self) -> None: ...
    def describe_holder(self) -> str: ...


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class FileWriterLock:
    """An exclusive, non-blocking ``flock`` on ``<state_dir>/writer.lock`` holding our pid."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / LOCK_FILE
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
        handle.write(f"{os.getpid()} {self.holder}\n")
        handle.flush()
        self._file = handle
        return True

    def acquire_or_refuse(self) -> None:
        if not self.try_acquire():
            raise WriterLockHeldError(
                f"another gitops-watcher ({self.describe_holder()}) is the writer for state "
                f"folder {self.path.parent}",
                hint="only one process may run per state folder; stop the other one, or use a "
                "PostgreSQL state database (state.database_url) for replicas with failover",
            )

    def renew(self) -> bool:
        return self._file is not None

    def valid(self) -> bool:
        return self._file is not None

    def describe_holder(self) -> str:
        try:
            text = self.path.read_text(encoding="utf-8").split()
        except OSError:
            return "unknown holder"
        return f"pid {text[0]}" if text else "unknown holder"

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


class DatabaseLease:
    """A lease row renewed by the writer; taken over after ``takeover_seconds`` of silence."""

    def __init__(
        self,
        url: str,
        *,
        takeover_seconds: float,
        renew_seconds: float,
        name: str = LEASE_NAME,
        login: UrlLogin | None = None,
    ) -> None:
        self._engine: Engine = sa.create_engine(
            with_login(sa.make_url(url), login),
            pool_pre_ping=True,
            pool_size=1,
            max_overflow=1,
            pool_recycle=300,
        )
        self._takeover = timedelta(seconds=takeover_seconds)
        self._renew_seconds = renew_seconds
        self._name = name
        self.holder = holder_id()
        self._renewed_monotonic: float | None = None
        self._last_holder = ""
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
                return False  # another replica inserted the row first
            except SQLAlchemyError as exc:
                log.warning("writer lease: database error: %s", type(exc).__name__)
                return False
            if held:
                self._renewed_monotonic = started
            return held

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
    login: UrlLogin | None = None,
) -> FileWriterLock | DatabaseLease:
    """A file lock for a SQLite state DB, a lease row for any shared database (``login``:
    the user info the loader took out of its URL)."""
    if state_database_url.startswith("sqlite"):
        return FileWriterLock(state_dir)
    return DatabaseLease(
        state_database_url,
        takeover_seconds=takeover_seconds,
        renew_seconds=renew_seconds,
        login=login,
    )
