"""What the daemon needs of the lock that makes one process the writer.

Two kinds exist (``wiring.writer_lock`` picks one): a file lock in a SQLite state
folder, which a second process is refused at once, and a lease row in a state
database that replicas share, which a standby waits for and hands webhooks to.
The daemon tells them apart by what they can do, not by their adapter classes.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class WriterLock(Protocol):
    """One writer at a time; ``holder`` names this process in refusals and ``/status``."""

    holder: str

    def acquire_or_refuse(self) -> None: ...
    def try_acquire(self) -> bool: ...
    def renew(self) -> bool: ...
    def valid(self) -> bool: ...
    def release(self) -> None: ...
    def describe_holder(self) -> str: ...


@runtime_checkable
class SharedLease(WriterLock, Protocol):
    """A lease several replicas share: a standby waits for it and hands a webhook it took
    to the writer through it."""

    #: Why the last attempt to take the lease failed ("" after a success).
    last_error: str

    def request_reconcile(self, observed_at: float) -> bool: ...
    def take_reconcile_request(self) -> float | None: ...
