"""Triggers: each one only asks the runner for a reconcile.

- ``Scheduler``: APScheduler jobs, the full resync on an interval and the REST
  change probes.
- ``DatabaseWatch``: watchdog on the MLflow SQLite file and its ``-wal`` and
  ``-journal``, debounced, so a burst of commits makes one request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler  # type: ignore[import-untyped]
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from watcher.errors import WatcherError

log = logging.getLogger(__name__)

Request = Callable[[str, float | None], None]
#: Events that mean a file's content changed (not opens or read-only closes).
_CHANGE_EVENTS = frozenset({"modified", "created", "moved", "deleted", "closed"})


def sqlite_path(database_uri: str) -> Path | None:
    """The file behind a ``sqlite:///…`` URI; None for other databases or in-memory ones."""
    if not database_uri.startswith("sqlite"):
        return None
    try:
        database = make_url(database_uri).database
    except Exception:  # sqlalchemy raises ArgumentError and friends; any means "not a file"
        return None
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).absolute()


class Debouncer:
    """Calls ``fire(first_seen)`` once ``delay`` seconds passed without another ``poke``."""

    def __init__(self, delay: float, fire: Callable[[float], None]) -> None:
        self._delay, self._fire = delay, fire
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._first: float | None = None
        self._closed = False

    def poke(self) -> None:
        with self._lock:
            if self._closed:
                return
            if self._first is None:
                self._first = time.time()
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self._delay, self._due)
            self._timer.daemon = True
            self._timer.start()

    def _due(self) -> None:
        with self._lock:
            first, self._first, self._timer = self._first, None, None
        if first is not None:
            self._fire(first)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
            self._timer = None


class _DatabaseEvents(FileSystemEventHandler):
    def __init__(self, names: frozenset[str], poke: Callable[[], None]) -> None:
        self._names, self._poke = names, poke

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory or event.event_type not in _CHANGE_EVENTS:
            return
        paths = [event.src_path, getattr(event, "dest_path", "")]
        if any(Path(str(p)).name in self._names for p in paths if p):
            self._poke()


class DatabaseWatch:
    """Watches one SQLite registry file; ``request('watch', first_event_time)`` after quiet."""

    def __init__(self, path: Path, debounce_seconds: float, request: Request) -> None:
        self.path = path
        self._debouncer = Debouncer(debounce_seconds, lambda first: request("watch", first))
        names = frozenset({path.name, f"{path.name}-wal", f"{path.name}-journal"})
        self._observer = Observer()
        self._observer.daemon = True
        self._observer.schedule(_DatabaseEvents(names, self._debouncer.poke), str(path.parent))

    def start(self) -> None:
        self._observer.start()
        log.info("watching %s (and its -wal/-journal) for registry changes", self.path)

    def stop(self) -> None:
        self._debouncer.close()
        self._observer.stop()
        self._observer.join(timeout=5)


class Scheduler:
    """APScheduler in a background thread: interval resync and change probes."""

    def __init__(self) -> None:
        self._scheduler = BackgroundScheduler(daemon=True, timezone="UTC")

    def every(self, seconds: float, name: str, job: Callable[[], None]) -> None:
        self._scheduler.add_job(
            job,
            IntervalTrigger(seconds=seconds),
            id=name,
            name=name,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(1, int(seconds)),
        )

    def start(self) -> None:
        self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)


class ProbeJob:
    """One change probe per call; asks for a reconcile when the registry answer changed."""

    def __init__(self, name: str, probe: Callable[[], bool], request: Request) -> None:
        self._name, self._probe, self._request = name, probe, request
        self._failing = False
        self._primed = self._prime()

    def _prime(self) -> bool:
        """Take the baseline now, before the startup reconcile reads the registry.

        Otherwise a change made between that read and the first probe would be
        remembered as the baseline and wait for the resync (minutes, not seconds).
        """
        try:
            self._probe()
        except WatcherError:
            return False
        return True

    def __call__(self) -> None:
        started = time.time()
        try:
            changed = self._probe()
        except WatcherError as exc:
            # Logged once per outage; the resync and the retry after recovery cover it.
            if not self._failing:
                log.warning("change probe of %s failed: %s", self._name, exc)
            self._failing = True
            return
        if self._failing:
            log.info("change probe of %s works again", self._name)
            self._failing = False
            changed = True  # we may have missed something while it was down
        if not self._primed:
            self._primed = True
            changed = True  # no baseline from before the startup read: ask once
        if changed:
            log.info("change probe: registry %s changed", self._name)
            self._request("probe", started)
