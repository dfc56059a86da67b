"""MLflow's tables as its database has them, reflected again only now and then.

Reflecting on every read built new ``Table`` objects each time, and each one became
new entries in SQLAlchemy's compiled-statement cache: a daemon's memory grew with
every reconcile until that cache was full. The tables are reflected again when the
set of tables changes (an MLflow upgrade adds some) and after ``REFLECT_EVERY``
seconds (a migration that only changes columns); reading ``alembic_version`` instead
would need a grant a read-only registry role may not have.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

#: Columns are reflected again at least this often (seconds).
REFLECT_EVERY = 900.0


class ReflectedTables:
    """Reflected tables, kept while the database's tables stay the same (for a while)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._meta = sa.MetaData()
        self._names: frozenset[str] | None = None
        self._since = 0.0

    def present(self, conn: Connection) -> frozenset[str]:
        """The tables the database has now (forgets what was reflected when that moved)."""
        names = frozenset(sa.inspect(conn).get_table_names())
        now = self._clock()
        with self._lock:
            if names != self._names or now - self._since >= REFLECT_EVERY:
                self._meta, self._names, self._since = sa.MetaData(), names, now
        return names

    def table(self, conn: Connection, name: str) -> sa.Table:
        """``name`` as reflected (call :meth:`present` first in the same read)."""
        with self._lock:
            meta = self._meta
            if name not in meta.tables:
                sa.Table(name, meta, autoload_with=conn)
            return meta.tables[name]
