"""What a source offers to make a reconcile come sooner: triggers, as plain data.

A source plug-in describes its triggers; the daemon runs them (watchdog for
files, APScheduler for polls, its HTTP server for webhook routes) and every one
of them only *asks* for a reconcile. Nothing here carries the truth: the next
full resync heals whatever a trigger missed.

A trigger that knows what changed says so with a *hint*: keys that only the
source's own kind interprets (model names for a registry, file paths for a
folder of specs). The source then reads just those again; a hint never says what
the change was, so a forged or stale one costs at most a harmless re-read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

#: What a trigger knows changed in one source: keys the source's kind interprets.
Hint = frozenset[str]
#: A poll's answer: nothing changed (False, or an empty hint), something it cannot name
#: (True: read the whole source), or these keys.
Changed = bool | Hint


def merge_hints(first: Hint | None, second: Hint | None) -> Hint | None:
    """Two requests as one: None (the whole source) wins over any hint."""
    if first is None or second is None:
        return None
    return first | second


def hint_of(keys: Iterable[str] | None) -> Hint | None:
    """A hint from what a trigger saw (None, or nothing named: the whole source)."""
    if keys is None:
        return None
    found = frozenset(key for key in keys if key)
    return found or None


@dataclass(frozen=True)
class FileTrigger:
    """Ask when a file in ``folder`` changes: one of ``names``, or any file below it."""

    source: str
    folder: Path
    #: File names in ``folder`` (not below it) to watch; None: every file, recursively.
    names: frozenset[str] | None = None
    #: For the start-up log: ``the registry database /…/mlflow.db``.
    describe: str = ""
    #: The changed files' paths (relative to ``folder``) are a hint for the source; False
    #: when a file event says nothing about what changed (a database file).
    hints: bool = False


@dataclass(frozen=True)
class PollTrigger:
    """Ask when ``changed()`` says the input changed; called every ``interval_seconds``.

    ``changed`` answers False, True or a hint (``Changed``), and raises a
    ``WatcherError`` when it cannot tell (logged once per outage); ``prime`` takes the
    baseline before the start-up reconcile reads the input.
    """

    source: str
    interval_seconds: float
    changed: Callable[[], Changed]
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
    #: What the delivery names (a model), as a hint; None: read the whole source.
    hint: Hint | None = None


@dataclass(frozen=True)
class WebhookTrigger:
    """Ask when a delivery to ``POST path`` is accepted by ``verify`` (signature, age, replay)."""

    source: str
    path: str
    verify: Callable[[Mapping[str, str], bytes], Verdict]
    #: False: the route answers, but refuses every delivery (e.g. no secret is set).
    enabled: bool = True
    describe: str = ""
    #: The sources an accepted delivery asks (one route may serve several registries).
    sources: tuple[str, ...] = ()
    #: ``narrow(source, hint)``: the part of a hint the source selects (its own name
    #: patterns); None: every source takes every hint.
    narrow: Callable[[str, Hint], Hint] | None = None

    def asks(self, hint: Hint | None) -> list[tuple[tuple[str, ...], Hint | None]]:
        """Whom an accepted delivery asks, each with what: a source that selects nothing a
        hint names is not asked at all (a shard hears of every shard's models; reading
        none of them would be a run that manages nothing). No hint: every source, whole."""
        if hint is None or self.narrow is None or not self.sources:
            return [(self.sources, hint)]
        asked: dict[Hint, list[str]] = {}
        for source in self.sources:
            part = self.narrow(source, hint)
            if part:
                asked.setdefault(part, []).append(source)
        return [(tuple(sources), part) for part, sources in asked.items()]


Trigger = FileTrigger | PollTrigger | WebhookTrigger
