"""Delivering notifications: one bounded queue and one thread per receiver.

A reconcile only puts requests in the queue and goes on: a slow or dead receiver
never slows or fails it. The thread POSTs each request in order; on a
connection error, a timeout, a 5xx or a 429 it tries again after a delay that
starts at 1 s and doubles up to 60 s (a 429's ``Retry-After`` is honoured within
that bound), until the request is ``give_up_seconds`` old: then it is dropped,
counted and logged once. Another 4xx is the receiver refusing the body: dropped
at once. A full queue drops the new request (counted, logged once per spell).
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests

from watcher.core.notify_formats import Request

log = logging.getLogger(__name__)

#: Called with (receiver name, outcome): ``sent``, ``retried``, ``dropped``, ``rejected``.
OnOutcome = Callable[[str, str], None]

FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 60.0


@dataclass(frozen=True)
class Target:
    """Where one receiver's requests go and how long they may take."""

    name: str
    url: str
    timeout_seconds: float
    give_up_seconds: float
    queue_size: int
    auth: tuple[str, str] | None = None


@dataclass
class _Queued:
    request: Request
    queued_at: float


class DeliveryQueue:
    """Sends one receiver's requests in order, from a thread of its own."""

    def __init__(
        self,
        target: Target,
        on_outcome: OnOutcome | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        first_retry: float = FIRST_RETRY_SECONDS,
    ) -> None:
        self._target = target
        self._on_outcome = on_outcome
        self._clock = clock
        self._first_retry = first_retry
        self._items: collections.deque[_Queued] = collections.deque()
        self._cond = threading.Condition()
        self._busy = False
        self._closed = False
        self._full_since: float | None = None
        self._session = requests.Session()
        self._thread = threading.Thread(
            target=self._loop, name=f"notify-{target.name}", daemon=True
        )
        self._thread.start()

    @property
    def name(self) -> str:
        return self._target.name

    def put(self, request: Request) -> bool:
        """Queue ``request``; False (and counted as dropped) when the queue is full."""
        with self._cond:
            if self._closed:
                return False
            if len(self._items) >= self._target.queue_size:
                if self._full_since is None:
                    self._full_since = self._clock()
                    log.warning(
                        "notification %r: %d deliveries are waiting; dropping new ones until "
                        "the receiver catches up",
                        self.name,
                        len(self._items),
                    )
                self._count("dropped")
                return False
            self._full_since = None
            self._items.append(_Queued(request, self._clock()))
            self._cond.notify_all()
            return True

    def flush(self, timeout: float) -> bool:
        """Wait until every queued request is sent or dropped; False when ``timeout`` ran out."""
        deadline = self._clock() + timeout
        with self._cond:
            while self._items or self._busy:
                left = deadline - self._clock()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.1))
        return True

    def close(self, timeout: float = 0.0) -> None:
        """Send what is queued for up to ``timeout`` seconds, then stop (what is left is
        dropped and counted)."""
        if not self.flush(timeout):
            log.warning(
                "notification %r: %d delivery(ies) not sent before exit",
                self.name,
                len(self._items),
            )
        with self._cond:
            self._closed = True
            # The one being sent counts itself (sent, or dropped when it was waiting).
            for _ in range(len(self._items) - (1 if self._busy else 0)):
                self._count("dropped")
            self._cond.notify_all()
        # A request in flight is not waited for: its thread dies with the process.
        self._thread.join(timeout=1.0)
        if not self._thread.is_alive():
            self._session.close()

    # -- the thread ----------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._items and not self._closed:
                    self._cond.wait()
                if self._closed:
                    self._items.clear()
                    return
                item = self._items[0]
                self._busy = True
            try:
                self._deliver(item)
            except Exception:  # the thread must outlive any one request
                log.exception("notification %r: delivery crashed", self.name)
            finally:
                with self._cond:
                    if self._items and self._items[0] is item:
                        self._items.popleft()
                    self._busy = False
                    self._cond.notify_all()

    def _deliver(self, item: _Queued) -> None:
        delay = self._first_retry
        while True:
            verdict, retry_after = self._attempt(item.request)
            if verdict == "sent":
                self._count("sent")
                return
            if verdict == "rejected":
                self._count("rejected")
                return
            age = self._clock() - item.queued_at
            wait = min(max(delay, retry_after or 0.0), MAX_RETRY_SECONDS)
            if age + wait > self._target.give_up_seconds:
                log.warning(
                    "notification %r: dropped the %s event %s after %.0f s of failed attempts "
                    "(%s)",
                    self.name, item.request.event, item.request.id, age, verdict,
                )  # fmt: skip
                self._count("dropped")
                return
            self._count("retried")
            with self._cond:
                if self._cond.wait_for(lambda: self._closed, timeout=wait):
                    self._count("dropped")
                    return
            delay = min(delay * 2, MAX_RETRY_SECONDS)

    def _attempt(self, request: Request) -> tuple[str, float | None]:
        """``sent``, ``rejected`` (a 4xx other than 429) or why to try again, with a
        429's ``Retry-After`` in seconds when it gave one."""
        target = self._target
        try:
            answer = self._session.post(
                target.url,
                data=request.body,
                headers=request.headers,
                timeout=target.timeout_seconds,
                auth=target.auth,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            log.debug("notification %r: %s", self.name, type(exc).__name__)
            return f"no answer: {type(exc).__name__}", None
        status = answer.status_code
        answer.close()
        if 200 <= status < 300:
            return "sent", None
        if status == 429 or status >= 500:
            return f"HTTP {status}", _retry_after(answer.headers.get("Retry-After"))
        log.warning(
            "notification %r: the receiver refused the %s event %s with HTTP %d; not retried",
            self.name, request.event, request.id, status,
        )  # fmt: skip
        return "rejected", None

    def _count(self, outcome: str) -> None:
        if self._on_outcome is not None:
            try:
                self._on_outcome(self.name, outcome)
            except Exception:  # a metric must never stop a delivery
                log.debug("notification outcome callback failed", exc_info=True)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (an HTTP date is not honoured: None)."""
    if not value:
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        return None
