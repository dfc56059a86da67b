"""The writer lock for a one-shot command (``reconcile --once``): the daemon's lock, held briefly.

A one-shot reconcile writes what the daemon writes (the checkout, the ledger, the
remote), so it takes the same lock: the file lock in the resolved state folder
with SQLite, the lease row with a shared database. It refuses, naming the
holder, while a daemon or another one-shot holds it. A lease is renewed while
the command runs, so a standby daemon does not take over in the middle of it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

from watcher.adapters.writer_lock import DatabaseLease, FileWriterLock, make_writer_lock
from watcher.config.settings import Settings, UrlLogin

log = logging.getLogger(__name__)


@contextlib.contextmanager
def hold_writer_lock(
    settings: Settings, *, role: str, login: UrlLogin | None = None
) -> Iterator[FileWriterLock | DatabaseLease]:
    """Hold the writer lock for the block; WriterHeldError (exit 2) while someone else holds it."""
    daemon = settings.daemon
    lock = make_writer_lock(
        settings.state_database_url,
        settings.state_path,
        takeover_seconds=daemon.lock_takeover_seconds,
        renew_seconds=daemon.lock_renew_seconds,
        role=role,
        login=login,
    )
    stop = threading.Event()
    try:
        lock.acquire_or_refuse()
        if isinstance(lock, DatabaseLease):
            _start_renewer(lock, daemon.lock_renew_seconds, stop)
        yield lock
    finally:
        stop.set()
        lock.release()


def _start_renewer(lease: DatabaseLease, every: float, stop: threading.Event) -> None:
    def renew() -> None:
        while not stop.wait(every):
            if not lease.renew():
                log.error(
                    "lost the writer lease to %s while running: another process may write now",
                    lease.describe_holder(),
                )
                return

    threading.Thread(target=renew, name="lease-renewer", daemon=True).start()
