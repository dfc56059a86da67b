"""Running the triggers that sources offer; each one only asks the runner for a reconcile.

- ``Scheduler``: APScheduler jobs, the full resync on an interval and each
  source's ``PollTrigger`` (a change probe).
- ``FileWatch``: watchdog on a ``FileTrigger``'s folder, debounced, so a burst
  of writes makes one request (naming the changed files, when the source takes
  them as a hint).

Each request names its source's runner only (``Request``): a source reconciles on
its own, and a hint says what of it to read again.

Webhook routes (``WebhookTrigger``) are served by ``watcher.daemon.http``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler  # type: ignore[import-untyped]
from apscheduler.triggers.date import DateTrigger  # type: ignore[import-untyped]
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from watcher.errors import WatcherError
from watcher.spine.triggers import FileTrigger, Hint, PollTrigger, hint_of

log = logging.getLogger(__name__)

#: ``request(reason, first_observed_at, hint)``: ask the source's runner (hint None: all).
Request = Callable[[str, float | None, Hint | None], None]
#: Events that mean a file's content changed (not opens or read-only closes).
_CHANGE_EVENTS = frozenset({"modified", "created", "moved", "deleted", "closed"})


class Debouncer:
    """Calls ``fire(first_seen, paths)`` once ``delay`` seconds passed without another
    ``poke``; ``paths``: every path poked since (None when one poke named none)."""

    def __init__(self, delay: float, fire: Callable[[float, set[str] | None], None]) -> None:
        self._delay, self._fire = delay, fire
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._first: float | None = None
        self._paths: set[str] | None = set()
        self._closed = False

    def poke(self, paths: Iterable[str] | None = None) -> None:
        with self._lock:
            if self._closed:
                return
            if self._first is None:
                self._first = time.time()
            if paths is None or self._paths is None:
                self._paths = None
            else:
                self._paths.update(paths)
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self._delay, self._due)
            self._timer.daemon = True
            self._timer.start()

    def _due(self) -> None:
        with self._lock:
            first, self._first, self._timer = self._first, None, None
            paths, self._paths = self._paths, set()
        if first is not None:
            self._fire(first, paths)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
            self._timer = None


class _FileEvents(FileSystemEventHandler):
    """Pokes on a content change of a watched name, or of any file when ``names`` is None,
    with the changed paths relative to ``root`` (a folder moved or deleted: None)."""

    def __init__(
        self,
        names: frozenset[str] | None,
        root: Path,
        poke: Callable[[Iterable[str] | None], None],
    ) -> None:
        self._names, self._root, self._poke = names, root, poke

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type not in _CHANGE_EVENTS:
            return
        paths = [str(p) for p in (event.src_path, getattr(event, "dest_path", "")) if p]
        if event.is_directory:
            if self._names is None and event.event_type in ("moved", "deleted"):
                self._poke(None)  # which files went with it is not said: read everything
            return
        if self._names is None or any(Path(p).name in self._names for p in paths):
            self._poke(self._relative(paths))

    def _relative(self, paths: list[str]) -> list[str]:
        found = []
        for path in paths:
            try:
                found.append(Path(path).relative_to(self._root).as_posix())
            except ValueError:
                continue
        return found


class FileWatch:
    """Watches one ``FileTrigger``; ``request('watch', first_event_time, hint)`` after quiet
    (the hint: the changed files, when the trigger offers them as one)."""

    def __init__(self, trigger: FileTrigger, debounce_seconds: float, request: Request) -> None:
        self.trigger = trigger

        def fire(first: float, paths: set[str] | None) -> None:
            request("watch", first, hint_of(paths) if trigger.hints else None)

        self._debouncer = Debouncer(debounce_seconds, fire)
        self._observer = Observer()
        self._observer.daemon = True
        self._observer.schedule(
            _FileEvents(trigger.names, trigger.folder, self._debouncer.poke),
            str(trigger.folder),
            recursive=trigger.names is None,
        )

    def start(self) -> None:
        self._observer.start()

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

    def once(self, when: float, name: str, job: Callable[[], None]) -> None:
        """Run ``job`` once at ``when`` (unix seconds); a later call replaces the time."""
        self._scheduler.add_job(
            job,
            DateTrigger(run_date=datetime.fromtimestamp(max(when, time.time()), UTC)),
            id=name,
            name=name,
            replace_existing=True,
            misfire_grace_time=None,
        )

    def start(self) -> None:
        self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)


#: A change probe keeps the input busy this share of the time at most: one that takes
#: longer than half its interval runs every twice its duration instead. (A tenth made
#: a 1 s probe of 2,000 models run every 10 s, not 5: promotions waited twice as long.)
PROBE_SHARE = 0.5


class ProbeJob:
    """One change probe per call; asks for a reconcile when the input's answer changed.

    A probe that takes long (a registry of many thousands of models answers its
    search in seconds) is paced to ``PROBE_SHARE`` of the time: the calls in
    between are skipped. Only answers pace it: a probe that failed (a registry
    that hung until its timeout) says nothing of how long the next one takes, and
    the one after an outage must come soon. Webhooks are the way to sub-second
    promotions on large registries.
    """

    def __init__(
        self,
        trigger: PollTrigger,
        request: Request,
        clock: Callable[[], float] = time.monotonic,
        *,
        prime: bool = True,
    ) -> None:
        self._name, self._trigger, self._request = trigger.source, trigger, request
        self._clock = clock
        self._failing = False
        #: No probe before this (monotonic seconds): a slow probe is paced.
        self._next_at = 0.0
        self._paced = False
        self._primed = False
        #: Set once the baseline was taken (or could not be): no probe before that.
        self._ready = threading.Event()
        if prime:
            self.prime()

    def prime(self) -> None:
        """Take the baseline now, before the startup reconcile reads the input.

        Otherwise a change made between that read and the first probe would be
        remembered as the baseline and wait for the resync (minutes, not seconds).
        A registry that hangs holds up whoever calls this: the daemon calls it on
        the source's own thread, before that source's startup reconcile.
        """
        try:
            self._trigger.prime()
            self._primed = True
        except WatcherError:
            self._primed = False
        finally:
            self._ready.set()

    def __call__(self) -> None:
        began = self._clock()
        if began < self._next_at or not self._ready.is_set():
            return
        started = time.time()
        try:
            changed = self._trigger.changed()
        except WatcherError as exc:
            # Logged once per outage; the resync and the retry after recovery cover it.
            if not self._failing:
                log.warning("change probe of %s failed: %s", self._name, exc)
            self._failing = True
            return
        self._pace(began, self._clock() - began)
        if self._failing:
            log.info("change probe of %s works again", self._name)
            self._failing = False
            changed = True  # we may have missed something while it was down
        if not self._primed:
            self._primed = True
            changed = True  # no baseline from before the startup read: ask once
        if not changed:
            return
        if isinstance(changed, frozenset):
            log.info("change probe: %s changed (%s)", self._name, shown_names(changed))
            self._request("probe", started, changed)
        else:
            log.info("change probe: %s changed", self._name)
            self._request("probe", started, None)

    def _pace(self, began: float, took: float) -> None:
        """The next probe no sooner than ``took / PROBE_SHARE`` after this one began."""
        gap = took / PROBE_SHARE
        paced = gap > self._trigger.interval_seconds
        if paced != self._paced:
            if paced:
                log.info(
                    "change probe of %s takes %.2f s: probing every %.0f s or so, not every "
                    "%.1f s, to keep the registry busy at most %.0f %% of the time (webhooks "
                    "bring promotions in well under a second)", self._name, took, gap,
                    self._trigger.interval_seconds, 100 * PROBE_SHARE,
                )  # fmt: skip
            else:
                log.info("change probe of %s is quick again: every %.1f s", self._name,
                         self._trigger.interval_seconds)  # fmt: skip
            self._paced = paced
        self._next_at = began + gap - 0.05 if paced else 0.0


def shown_names(hint: Hint, shown: int = 3) -> str:
    """``'a', 'b' and 3 more`` for a log line."""
    names = sorted(hint)
    text = ", ".join(repr(name[:80]) for name in names[:shown])
    return text + (f" and {len(names) - shown} more" if len(names) > shown else "")
