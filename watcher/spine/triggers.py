"""What a source offers to make a reconcile come sooner: triggers, as plain data.

A source plug-in describes its triggers; the daemon runs them (watchdog for
files, APScheduler for polls, its HTTP server for webhook routes) and every one
of them only *asks* for a reconcile. Nothing here carries the truth: the next
full resync heals whatever a trigger missed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FileTrigger:
    """Ask when a file in ``folder`` changes: one of ``names``, or any file below it."""

    source: str
    folder: Path
    #: File names in ``folder`` (not below it) to watch; None: every file, recursively.
    names: frozenset[str] | None = None
    #: For the start-up log: ``the registry database /…/mlflow.db``.
    describe: str = ""


@dataclass(frozen=True)
class PollTrigger:
    """Ask when ``changed()`` says the input changed; called every ``interval_seconds``.

    ``changed`` raises a ``WatcherError`` when it cannot tell (logged once per outage);
    ``prime`` takes the baseline before the start-up reconcile reads the input.
    """

    source: str
    interval_seconds: float
    changed: Callable[[], bool]
    prime: Callable[[], None]
    close: Callable[[], None]
    describe: str = ""


@dataclass(frozen=True)
class Verdict:
    """The answer to one webhook delivery: HTTP status, a short reason, the event if accepted."""

    status: int
    outcome: str
    message: str
    event: str = ""
    timestamp: float = 0.0


@dataclass(frozen=True)
class WebhookTrigger:
    """Ask when a delivery to ``POST path`` is accepted by ``verify`` (signature, age, replay)."""

    source: str
    path: str
    verify: Callable[[Mapping[str, str], bytes], Verdict]
    #: False: the route answers, but refuses every delivery (e.g. no secret is set).
    enabled: bool = True
    describe: str = ""


Trigger = FileTrigger | PollTrigger | WebhookTrigger
