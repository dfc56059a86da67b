"""From what the ledger recorded as changed to the events a notification carries.

Pure: the changes (``core.events.StateChange``) and the reconcile's result give
every field; the words are the CLI's (``committed … <subject>``, ``FAILED …``), so
a message reads the same in a terminal, a log and a chat.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from watcher.core.diffs import cut_lines, folder_diff
from watcher.core.events import Event, StateChange, event_id, event_names, iso_time
from watcher.core.names import describe
from watcher.core.release import ReleaseId
from watcher.core.result import ReconcileResult

#: The diff a notification carries: at most this many lines and characters.
DIFF_MAX_LINES = 120
DIFF_MAX_CHARS = 12_000
#: Messages (error texts come from registries and specs) are cut to this length.
MESSAGE_LIMIT = 2000


@dataclass(frozen=True)
class ReleaseFacts:
    """What one reconcile knows of a release: the fields of its events."""

    from_revision: str | None
    to_revision: str | None
    commit: str | None
    url: str
    message: str
    diff: str = ""


def release_facts(result: ReconcileResult | None) -> dict[ReleaseId, ReleaseFacts]:
    """The facts of every release a result names; commits first, as they say the most."""
    facts: dict[ReleaseId, ReleaseFacts] = {}
    if result is None:
        return facts
    for applied in result.applied:
        change = applied.change
        info = change.provenance
        removed = change.action == "remove"
        previous = info if removed else change.previous
        facts[info.id] = ReleaseFacts(
            from_revision=previous.revision if previous is not None else None,
            to_revision=None if removed else info.revision,
            commit=applied.commit,
            url=info.url,
            message=_cut(f"committed {applied.commit[:10]} {change.subject}"),
            diff=cut_lines(folder_diff(change), DIFF_MAX_LINES, DIFF_MAX_CHARS),
        )
    for outcome in result.releases:
        if outcome.id in facts:
            continue
        if outcome.state == "failed":
            facts[outcome.id] = ReleaseFacts(
                from_revision=outcome.running_revision or None,
                to_revision=outcome.revision or None,
                commit=None,
                url=outcome.url,
                message=_cut(f"FAILED {outcome.id.describe()}: {outcome.error}"),
            )
        else:
            facts[outcome.id] = ReleaseFacts(
                from_revision=outcome.revision or None,
                to_revision=outcome.revision or None,
                commit=outcome.commit,
                url=outcome.url,
                message=_cut(f"{outcome.id.describe()} runs revision {outcome.revision}"),
            )
    return facts


def build_events(
    changes: Sequence[StateChange],
    result: ReconcileResult | None,
    *,
    extra: Mapping[ReleaseId, ReleaseFacts] | None = None,
) -> list[Event]:
    """Every event the changes send, in the order they happened. ``extra``: facts of
    releases the result does not name (Argo CD health reads)."""
    facts = {**release_facts(result), **(extra or {})}
    events: list[Event] = []
    for change in changes:
        names = event_names(change)
        if not names:
            continue
        known = facts.get(ReleaseId(change.source, change.kind, change.name, change.stage))
        for name in names:
            events.append(_event(name, change, known))
    return events


def _event(name: str, change: StateChange, known: ReleaseFacts | None) -> Event:
    if change.scope != "release" and change.scope != "health":
        return _other_event(name, change)
    if known is None:
        known = ReleaseFacts(
            from_revision=change.previous_revision or None,
            to_revision=change.revision or None,
            commit=change.commit or None,
            url="",
            message="",
        )
    message = known.message or _message(name, change)
    if name == "recovered":
        message = _cut(
            f"RECOVERED {_describe(change)}: works again"
            + (f" ({known.message})" if known.message else "")
        )
    elif change.scope == "health":
        message = _message(name, change)
    return Event(
        event=name, kind=change.kind, source=change.source, name=change.name,
        stage=change.stage, folder=change.folder,
        from_revision=known.from_revision, to_revision=known.to_revision,
        commit=known.commit if name not in ("refused", "failed") else None,
        url=known.url, message=message,
        diff=known.diff if name in ("deployed", "updated", "removed") else "",
        time=iso_time(change.at), id=event_id(change, name),
    )  # fmt: skip


def _other_event(name: str, change: StateChange) -> Event:
    """A source that could not be read, a folder the plan refused, a run that could not
    complete: no revision, no commit; the source (or folder) is what it is about."""
    kind = {"read": "source", "plan": "folder", "run": "reconcile"}.get(change.scope, change.scope)
    about = change.source or change.folder
    if name == "recovered":
        message = (
            f"RECOVERED {kind} {describe(about)}: works again"
            if about
            else ("RECOVERED reconcile: completes again")
        )
    elif change.scope == "read":
        message = f"FAILED source {change.source!r}: {change.error} (its folders are kept)"
    elif change.scope == "run":
        message = f"FAILED reconcile could not complete: {change.error}"
    else:
        message = f"FAILED {change.error}"
    return Event(
        event=name, kind=kind, source=change.source, name=change.folder or change.source,
        stage="", folder=change.folder, from_revision=None, to_revision=None, commit=None,
        url="", message=_cut(message), diff="", time=iso_time(change.at),
        id=event_id(change, name),
    )  # fmt: skip


def _message(name: str, change: StateChange) -> str:
    if change.scope == "health":
        what = "is healthy and synced" if name == "healthy" else "is degraded"
        return _cut(f"{name.upper()} {_describe(change)}: revision {change.revision} {what}")
    if name in ("refused", "failed"):
        return _cut(f"FAILED {_describe(change)}: {change.error}")
    return _cut(f"{name.upper()} {_describe(change)}")


def _describe(change: StateChange) -> str:
    return ReleaseId(change.source, change.kind, change.name, change.stage).describe()


def _cut(text: str) -> str:
    return text if len(text) <= MESSAGE_LIMIT else f"{text[: MESSAGE_LIMIT - 1]}…"
