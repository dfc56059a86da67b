"""One writer: the SQLite state folder's file lock, and the lease row (here on SQLite)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from watcher.adapters.writer_lock import (
    DatabaseLease,
    FileWriterLock,
    WriterLeaseHeldError,
    WriterLockHeldError,
)
from watcher.errors import EXIT_CONFIG, exit_code


def test_a_second_process_on_the_same_state_folder_is_refused_with_a_clear_message(
    tmp_path: Path,
) -> None:
    lock = FileWriterLock(tmp_path)
    lock.acquire_or_refuse()
    code = (
        "import sys; from pathlib import Path\n"
        "from watcher.adapters.writer_lock import FileWriterLock\n"
        f"sys.exit(0 if FileWriterLock(Path({str(tmp_path)!r})).try_acquire() else 7)\n"
    )
    other = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[2], check=False)
    assert other.returncode == 7
    second = FileWriterLock(tmp_path)
    try:
        second.acquire_or_refuse()
    except WriterLockHeldError as exc:
        assert f"pid {os.getpid()}" in str(exc) and str(tmp_path) in str(exc)
    else:
        raise AssertionError("a second lock on the same folder was granted")
    lock.release()
    assert second.try_acquire()
    second.release()


def test_a_lease_is_exclusive_renewed_and_taken_over_after_silence(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    first = DatabaseLease(url, takeover_seconds=1.0, renew_seconds=0.2)
    second = DatabaseLease(url, takeover_seconds=1.0, renew_seconds=0.2)
    assert first.try_acquire() and first.valid()
    assert not second.try_acquire()
    assert second.describe_holder() == first.holder
    time.sleep(0.6)
    assert first.renew() and not second.try_acquire()  # renewed: still not expired
    time.sleep(1.3)  # the first stops renewing (as if SIGKILLed)
    assert not first.valid()  # it knows it cannot be sure any more
    assert second.try_acquire() and second.generation == first.generation + 1
    assert first.renew() is False  # and learns it lost the lease
    second.release()  # a clean release hands over at once
    assert first.try_acquire()
    first.release()


def test_a_refusal_names_the_holder_and_what_it_runs(tmp_path: Path) -> None:
    held = FileWriterLock(tmp_path, role="reconcile --once")
    held.acquire_or_refuse()
    try:
        with pytest.raises(WriterLockHeldError) as refused:
            FileWriterLock(tmp_path, role="run").acquire_or_refuse()
        assert f"(pid {os.getpid()}, gitops-watcher reconcile --once)" in str(refused.value)
        assert exit_code(refused.value) == EXIT_CONFIG
    finally:
        held.release()
    url = f"sqlite:///{tmp_path / 'state.db'}"
    daemon = DatabaseLease(url, takeover_seconds=1.0, renew_seconds=0.2, role="run")
    once = DatabaseLease(url, takeover_seconds=1.0, renew_seconds=0.2, role="reconcile --once")
    daemon.acquire_or_refuse()
    try:
        with pytest.raises(WriterLeaseHeldError) as refused_lease:
            once.acquire_or_refuse()
        assert daemon.holder in str(refused_lease.value)
        assert daemon.holder.endswith(", gitops-watcher run")
        assert exit_code(refused_lease.value) == EXIT_CONFIG
    finally:
        daemon.release()
    once.acquire_or_refuse()  # free again: the one-shot takes it
    once.release()


def test_a_standby_hands_reconcile_requests_to_the_writer_through_the_lease_database(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    writer = DatabaseLease(url, takeover_seconds=1.0, renew_seconds=0.2)
    standby = DatabaseLease(url, takeover_seconds=1.0, renew_seconds=0.2)
    assert writer.try_acquire()
    assert writer.take_reconcile_request() is None
    assert standby.request_reconcile(105.0) and standby.request_reconcile(100.0)
    assert standby.request_reconcile(110.0)
    # One mark however many deliveries: the earliest observation, for the latency metric.
    assert writer.take_reconcile_request() == 100.0
    assert writer.take_reconcile_request() is None  # taken once
    writer.release()
    standby.release()
