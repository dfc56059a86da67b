"""What changed, as the ledger sees it: the rows a reconcile adds, and the changes of state
they are (each with what it was before), for events and promotion metrics.

Pure comparison over plain rows; the ledger (``ledger.py``) reads the last row per
key and writes what this module says changed. A key is a release (source, kind,
name, stage), a source's read, the plan of one folder, the whole run, or the
health Argo CD reports for a release.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from watcher.core.app_health import HealthReport
from watcher.core.events import StateChange
from watcher.core.pull_requests import PullRequestEvent
from watcher.core.result import Applied, ReconcileResult, ReleaseOutcome
from watcher.errors import WatcherError, error_kind

#: Actions of rows that are not a release's: each is its own kind of key.
OWN_KEYS = ("read", "plan", "run", "health")


@dataclass(frozen=True)
class LedgerEntry:
    """A ledger row as callers see it."""

    action: str
    outcome: str
    source: str = ""
    kind: str = ""
    name: str = ""
    stage: str = ""
    folder: str = ""
    revision: str = ""
    commit: str = ""
    error: str = ""
    error_kind: str = ""
    artifact_uri: str = ""
    artifact_digest: str = ""
    detail: str = ""
    recorded_at: datetime | None = None
    reconcile_id: str = ""


#: Ledger errors are cut: a 1 MB tag value must not make a 1 MB row.
_ERROR_LIMIT = 2000


def entries_of(result: ReconcileResult) -> list[LedgerEntry]:
    """What a reconcile contributes to the ledger: applied changes, then every failure."""
    entries = [_applied_entry(applied, result.pushed) for applied in result.applied]
    for failure in result.failures:
        entries.append(
            LedgerEntry(
                action="deploy",
                outcome="failed",
                source=failure.id.source,
                kind=failure.id.kind,
                name=failure.id.name,
                stage=failure.id.stage,
                folder=failure.folder or "",
                revision=failure.revision,
                error=str(failure.error)[:_ERROR_LIMIT],
                error_kind=error_kind(failure.error),
            )
        )
    for folder, problem in result.problems:
        entries.append(
            LedgerEntry(
                action="plan",
                outcome="failed",
                source=result.problem_sources.get(folder or "", ""),
                folder=folder or "",
                error=str(problem)[:_ERROR_LIMIT],
                error_kind=error_kind(problem),
            )
        )
    entries += [_pull_request_entry(event) for event in result.pull_requests if event.news]
    entries += [_policy_entry(outcome) for outcome in result.releases if _policy_state(outcome)]
    for source in result.sources:
        if not source.ok and source.error is not None:
            entries.append(
                LedgerEntry(
                    action="read",
                    outcome="failed",
                    source=source.name,
                    error=str(source.error)[:_ERROR_LIMIT],
                    error_kind=error_kind(source.error),
                )
            )
    return entries


def _applied_entry(applied: Applied, pushed: bool) -> LedgerEntry:
    info = applied.change.provenance
    artifact = {} if applied.change.action == "remove" else info.artifact
    return LedgerEntry(
        action=applied.change.action,
        outcome="applied" if pushed else "unpushed",
        source=info.source,
        kind=info.kind,
        name=info.name,
        stage=info.stage,
        folder=applied.change.folder,
        revision=info.revision,
        commit=applied.commit,
        artifact_uri=str(artifact.get("uri", "")),
        artifact_digest=str(artifact.get("digest", "")),
    )


#: Ledger words for what was done with a pull request: (action, outcome).
_PULL_REQUEST_ROWS = {
    "opened": ("", "pr-opened"),
    "updated": ("", "pr-updated"),
    "merged": ("merge", "applied"),
    "closed": ("close", "pr-closed"),
    "held": ("", "held"),
}


def _pull_request_entry(event: PullRequestEvent) -> LedgerEntry:
    action, outcome = _PULL_REQUEST_ROWS.get(event.kind, ("", event.kind))
    ref = event.pull_request
    detail = [f"pull request #{ref.number} {ref.url}".strip()] if ref is not None else []
    if event.lead_seconds is not None:
        detail.append(f"lead time {event.lead_seconds:.0f} s")
    if event.reason:
        detail.append(event.reason)
    return LedgerEntry(
        action=action or event.action or "update",
        outcome=outcome,
        source=event.id.source,
        kind=event.id.kind,
        name=event.id.name,
        stage=event.id.stage,
        folder=event.folder,
        revision=event.revision,
        commit=event.commit,
        detail="; ".join(detail)[:_ERROR_LIMIT],
    )


def _policy_state(outcome: ReleaseOutcome) -> bool:
    """A hold, gate or wait of the promotion policy (a pull request's says it itself)."""
    return outcome.state in ("held", "gated", "waiting") and outcome.pull_request is None


def _policy_entry(outcome: ReleaseOutcome) -> LedgerEntry:
    """A release the promotion policy kept out: the candidate it judged, and why."""
    return LedgerEntry(
        action="deploy",
        outcome=outcome.state,
        source=outcome.id.source,
        kind=outcome.id.kind,
        name=outcome.id.name,
        stage=outcome.id.stage,
        folder=outcome.folder,
        revision=outcome.candidate or outcome.revision,
        commit=outcome.commit or "",
        detail=outcome.reason[:_ERROR_LIMIT],
    )


#: Outcomes that stand until something changes: recorded once, not on every retry.
_STANDING_STATES = frozenset({"failed", "held", "gated", "waiting"})


LedgerKey = tuple[str, str, str, str, str, str]


def key_of(entry: LedgerEntry) -> LedgerKey:
    """What a row is about: a release, a source's read, the plan of one folder, the whole
    run, or a release's health."""
    if entry.action == "health":
        return ("health", entry.source, entry.kind, entry.name, entry.stage, "")
    if entry.action in OWN_KEYS:
        folder = entry.folder if entry.action == "plan" else ""
        return (entry.action, entry.source, "", "", "", folder)
    return ("release", entry.source, entry.kind, entry.name, entry.stage, "")


def changed_entries(
    result: ReconcileResult, last: dict[LedgerKey, LedgerEntry]
) -> list[LedgerEntry]:
    """The rows of ``result`` that change what the ledger says; ``last`` is its last row
    per key. Commits always; a failure unless the last row is the same failure; and a
    recovery (unchanged release, source read, plan without problem) after a failure."""
    entries = []
    for entry in entries_of(result):
        previous = last.get(key_of(entry))
        if (
            entry.outcome in _STANDING_STATES
            and previous is not None
            and _same_failure(previous, entry)
        ):
            continue
        entries.append(entry)
    failed_now = {key_of(entry) for entry in entries_of(result) if entry.outcome == "failed"}
    for entry in _standing(result):
        previous = last.get(key_of(entry))
        if previous is None or key_of(entry) in failed_now:
            continue
        if previous.outcome in _STANDING_STATES or previous.revision != entry.revision:
            entries.append(entry)
    for key, previous in last.items():
        # A problem of the plan that is gone: said once (a later one is news again), by a
        # run that speaks for the folder (the daemon runs each source on its own).
        if (
            key[0] == "plan"
            and previous.outcome == "failed"
            and key not in failed_now
            and _speaks_for(result, previous)
        ):
            source, folder = previous.source, previous.folder
            entries.append(LedgerEntry(action="plan", outcome="ok", source=source, folder=folder))
        # The run completes again after one that could not.
        if key[0] == "run" and previous.outcome == "failed" and _speaks_for(result, previous):
            entries.append(LedgerEntry(action="run", outcome="ok", source=previous.source))
    return entries


def _speaks_for(result: ReconcileResult, previous: LedgerEntry) -> bool:
    """Whether ``result`` has a word on a plan's or a run's earlier failure: a run of its
    source (for a hinted run, of its folder); one that names no source (written before
    runs had sources, or by a run of several) by any run that read its sources whole."""
    if not previous.source:
        return not result.coverage
    return result.speaks_for(previous.source, folder=previous.folder or None)


def _same_failure(previous: LedgerEntry, entry: LedgerEntry) -> bool:
    """The same failure (or hold, gate, wait) as the last row: no news."""
    return (
        previous.outcome,
        previous.action,
        previous.revision,
        previous.error,
        previous.detail,
    ) == (entry.outcome, entry.action, entry.revision, entry.error, entry.detail)


def _standing(result: ReconcileResult) -> list[LedgerEntry]:
    """Releases that stand as deployed, and sources that were read: each a possible
    recovery from a failure recorded before."""
    standing = [
        LedgerEntry(
            action="deploy",
            outcome="unchanged",
            source=outcome.id.source,
            kind=outcome.id.kind,
            name=outcome.id.name,
            stage=outcome.id.stage,
            folder=outcome.folder,
            revision=outcome.revision,
        )
        for outcome in result.releases
        if outcome.state == "unchanged"
    ]
    standing += [
        LedgerEntry(action="read", outcome="ok", source=source.name)
        for source in result.sources
        if source.ok
    ]
    return standing


def run_failure(error: WatcherError, source: str = "") -> LedgerEntry:
    """The row of a run that could not complete (``source``: a run of one source's own)."""
    return LedgerEntry(
        action="run", outcome="failed", source=source, error=str(error)[:_ERROR_LIMIT],
        error_kind=error_kind(error),
    )  # fmt: skip


def new_run_failure(entry: LedgerEntry, last: Mapping[LedgerKey, LedgerEntry]) -> bool:
    """False when the run failed the same way last time (a retry is not history)."""
    previous = last.get(key_of(entry))
    return previous is None or not _same_failure(previous, entry)


def changed_health(
    reports: Sequence[HealthReport], last: Mapping[LedgerKey, LedgerEntry]
) -> list[LedgerEntry]:
    """A row per release whose health became ``healthy`` or ``degraded`` (again, or for
    another revision); in-between states (progressing, out of sync) write nothing."""
    entries = []
    for report in reports:
        if report.state not in ("healthy", "degraded"):
            continue
        entry = LedgerEntry(
            action="health", outcome=report.state, source=report.source, kind=report.kind,
            name=report.name, stage=report.stage, folder=report.folder,
            revision=report.revision, commit=report.commit,
        )  # fmt: skip
        previous = last.get(key_of(entry))
        if previous is not None and (previous.outcome, previous.revision) == (
            entry.outcome,
            entry.revision,
        ):
            continue
        entries.append(entry)
    return entries


def state_of(entry: LedgerEntry) -> str:
    """A row's state: the action of a commit that reached the remote (``deploy``,
    ``update``, ``remove``), ``failed``, ``ok``, or the outcome another state wrote."""
    if entry.outcome == "applied":
        return entry.action
    if entry.outcome in ("unchanged", "ok"):
        return "ok"
    return entry.outcome


def state_change(
    entry: LedgerEntry,
    previous: LedgerEntry | None,
    at: datetime,
    *,
    reconcile_id: str = "",
    rollback: bool = False,
    first_seen_at: float | None = None,
) -> StateChange:
    """One written row as a change of state, with what its key was before."""
    return StateChange(
        scope=key_of(entry)[0], state=state_of(entry), source=entry.source, kind=entry.kind,
        name=entry.name, stage=entry.stage, folder=entry.folder, revision=entry.revision,
        commit=entry.commit, error=entry.error, error_kind=entry.error_kind,
        previous_state=state_of(previous) if previous is not None else "",
        previous_revision=previous.revision if previous is not None else "",
        previous_error=previous.error if previous is not None else "",
        previous_error_kind=previous.error_kind if previous is not None else "",
        rollback=rollback, first_seen_at=first_seen_at, at=at.timestamp(),
        reconcile_id=reconcile_id,
    )  # fmt: skip


def is_new_deployment(entry: LedgerEntry, previous: LedgerEntry | None) -> bool:
    """A commit that makes a release run a revision it did not run just before (a deploy,
    an update to another revision, or one after a failure): lead time and rollbacks."""
    if entry.outcome != "applied" or entry.action not in ("deploy", "update"):
        return False
    return previous is None or previous.outcome != "applied" or previous.revision != entry.revision


def release_history_facts(
    entry: LedgerEntry, rows: Sequence[LedgerEntry]
) -> tuple[bool, float | None]:
    """From a release's rows before ``entry`` (newest first): is ``entry`` a rollback (a
    revision it ran before, not the one just before), and since when was that revision
    failing right before it deployed (unix time, or None)."""
    first_seen: float | None = None
    for row in rows:
        if row.outcome != "failed" or row.revision != entry.revision:
            break
        if row.recorded_at is not None:
            first_seen = row.recorded_at.timestamp()
    ran = [row.revision for row in rows if row.outcome == "applied" and row.action in _RUNS]
    rollback = bool(ran) and ran[0] != entry.revision and entry.revision in ran[1:]
    return rollback, first_seen


def with_rollbacks(entries: Sequence[LedgerEntry]) -> list[tuple[LedgerEntry, bool]]:
    """Applied rows (oldest first), each with whether it was a rollback: the rule of
    :func:`release_history_facts`, over a stretch of history read at once."""
    ran: dict[LedgerKey, list[str]] = {}
    marked = []
    for entry in entries:
        if entry.outcome != "applied" or entry.action not in _RUNS:
            marked.append((entry, False))
            continue
        earlier = ran.setdefault(key_of(entry), [])
        rollback = bool(earlier) and earlier[-1] != entry.revision and entry.revision in earlier
        earlier.append(entry.revision)
        marked.append((entry, rollback))
    return marked


_RUNS = ("deploy", "update")
