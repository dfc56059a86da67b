"""Single-flight reconcile runner: triggers only ask, one thread does the work.

Never two reconciles at once; any number of requests while one runs coalesce
into exactly one more run; a run that could not complete is retried after a
doubling, bounded delay, reset by the next success. The daemon has one runner per
source, so a source that is slow or down delays only its own runs. Hints coalesce
too: the next run reads what every request named, or the whole source if one
request named nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from watcher.spine.triggers import Hint, merge_hints

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunRequest:
    """What a run was asked for by: the triggers, and when the first of them saw a change."""

    reasons: tuple[str, ...]
    first_observed_at: float
    #: True when ``first_observed_at`` is a registry's own time (a webhook's timestamp),
    #: not when a trigger of ours noticed the change.
    from_registry: bool = False
    #: What the triggers named (read only that again); None: the whole source.
    hint: Hint | None = None


class Backoff:
    """Doubling delay between ``low`` and ``high``; ``reset`` after a success."""

    def __init__(self, low: float, high: float) -> None:
        self._low, self._high = low, high
        self.failures = 0

    def failed(self) -> float:
        self.failures += 1
        return float(min(self._high, self._low * 2 ** min(self.failures - 1, 60)))

    def reset(self) -> None:
        self.failures = 0


class SingleFlightRunner:
    """Runs ``job`` on its own thread whenever asked; ``job`` returns False or raises on failure."""

    def __init__(
        self,
        job: Callable[[RunRequest], bool],
        backoff: Backoff,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        name: str = "reconcile",
    ) -> None:
        self._job = job
        self._name = name
        self._backoff = backoff
        self._clock = clock
        self._wall = wall_clock
        self._cond = threading.Condition()
        self._reasons: dict[str, None] = {}
        self._first_observed: float | None = None
        self._first_from_registry = False
        #: What the pending requests named (None: the whole source).
        self._hint: Hint | None = None
        self._not_before = 0.0
        self._stopping = False
        self._running = False
        self._thread: threading.Thread | None = None
        self.runs = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
        self._thread.start()

    def request(
        self, reason: str, observed_at: float | None = None, hint: Hint | None = None
    ) -> None:
        """Ask for a reconcile (of what ``hint`` names; None: everything); cheap and
        non-blocking, safe from any thread."""
        when = self._wall() if observed_at is None else observed_at
        with self._cond:
            if self._stopping:
                return
            self._hint = merge_hints(self._hint, hint) if self._reasons else hint
            self._reasons[reason] = None
            if self._first_observed is None or when < self._first_observed:
                self._first_observed = when
                self._first_from_registry = observed_at is not None
            self._cond.notify_all()

    @property
    def busy(self) -> bool:
        with self._cond:
            return self._running

    @property
    def pending(self) -> bool:
        with self._cond:
            return bool(self._reasons)

    def stop(self, timeout: float) -> bool:
        """Take no more requests and wait for the running job; False if it is still running."""
        self.refuse()
        return self.join(timeout)

    def refuse(self) -> None:
        """Take no more requests; what is pending is dropped (the running job goes on)."""
        with self._cond:
            self._stopping = True
            self._reasons.clear()
            self._cond.notify_all()

    def join(self, timeout: float) -> bool:
        """Wait for the running job; False if it is still running."""
        if self._thread is None:
            return True
        self._thread.join(max(timeout, 0.0))
        return not self._thread.is_alive()

    def _take(self) -> RunRequest | None:
        """Wait for a request whose backoff has passed; None when stopping."""
        with self._cond:
            while True:
                if self._stopping:
                    return None
                wait = self._not_before - self._clock()
                if self._reasons and wait <= 0:
                    request = RunRequest(
                        tuple(self._reasons),
                        self._first_observed or self._wall(),
                        self._first_observed is not None and self._first_from_registry,
                        self._hint,
                    )
                    self._reasons.clear()
                    self._first_observed = None
                    self._first_from_registry = False
                    self._running = True
                    return request
                self._cond.wait(timeout=wait if self._reasons else None)

    def _loop(self) -> None:
        while (request := self._take()) is not None:
            ok = False
            try:
                ok = self._job(request)
            except Exception:  # the job reports its own errors; the loop must survive them
                log.exception("reconcile job crashed")
            finally:
                self.runs += 1
                with self._cond:
                    self._running = False
                    if ok:
                        self._backoff.reset()
                        self._not_before = 0.0
                    else:
                        delay = self._backoff.failed()
                        self._not_before = self._clock() + delay
                        # Retry by itself: a failed run must not wait for the next trigger.
                        retried = request.hint
                        self._hint = merge_hints(self._hint, retried) if self._reasons else retried
                        self._reasons.setdefault("retry", None)
                        if self._first_observed is None:
                            self._first_observed = request.first_observed_at
                            self._first_from_registry = request.from_registry
                        log.warning(
                            "reconcile did not complete (%d in a row); retrying in %.1f s",
                            self._backoff.failures,
                            delay,
                        )
                    self._cond.notify_all()
