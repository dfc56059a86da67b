"""What one reconcile did, as data: for the CLI report, the ledger, ``/status`` and ``/metrics``.

Kind-neutral: every entry names its (source, kind, name, stage), so models and
functions are reported the same way, and ``to_dict()`` is plain JSON.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

from watcher.core.artifacts import CopyStats
from watcher.core.events import StateChange
from watcher.core.plan import Change
from watcher.core.pull_requests import PullRequestEvent, PullRequestRef
from watcher.core.release import Coverage, ReleaseFailure, ReleaseId
from watcher.errors import WatcherError, error_kind

#: The state of one (source, kind, name, stage) after a reconcile (docs/policy.md):
#:
#: - ``deployed``, ``removed``: changed by this run; ``unchanged``: as wanted already;
#: - ``planned``: a dry run would change it;
#: - ``pr-open``: a pull request proposes the change; the stage runs what it ran until it merges;
#: - ``held``: a person's change, or ``gitops-watcher hold``, keeps it as it is;
#: - ``gated``: the new version fails a gate or the serving contract (someone must look);
#: - ``waiting``: the new version has not soaked long enough in the stage before;
#: - ``kept``: its source could not be read this time, so its folder is kept as it is;
#: - ``blocked``: its removal is held back by the mass-deletion guard;
#: - ``failed``: it could not be decided, copied or rendered (its folder is kept).
ReleaseState = Literal[
    "deployed",
    "unchanged",
    "removed",
    "planned",
    "pr-open",
    "held",
    "gated",
    "waiting",
    "kept",
    "blocked",
    "failed",
]
#: States that are refusals someone must look at: the run exits 1.
REFUSALS = frozenset({"gated"})


@dataclass(frozen=True)
class Applied:
    """A change that became a commit."""

    change: Change
    commit: str


@dataclass(frozen=True)
class ReleaseOutcome:
    """One (source, kind, name, stage) after the reconcile."""

    id: ReleaseId
    folder: str
    revision: str
    state: ReleaseState
    action: str | None = None
    commit: str | None = None
    error: WatcherError | None = None
    #: Something to know about a release that is not failed: its copy was not re-checked.
    warning: str | None = None
    #: Why it is in this state, in words (a pull request closed without merging …).
    reason: str = ""
    pull_request: PullRequestRef | None = None
    #: For a merged pull request: from the first time the revision was proposed to the merge.
    lead_seconds: float | None = None
    #: For ``held``, ``gated`` and ``waiting``: the revision the registry selects (not applied).
    candidate: str = ""
    #: The revision's page (registry UI, spec in git), when known.
    url: str = ""
    #: For a failed release: the revision its folder runs now ("" when none).
    running_revision: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.id.to_dict(),
            "folder": self.folder,
            "revision": self.revision,
            "state": self.state,
            "action": self.action,
            "commit": self.commit,
            "error": str(self.error) if self.error is not None else None,
            "error_kind": error_kind(self.error) if self.error is not None else None,
            "warning": self.warning,
            "reason": self.reason,
            "pull_request": self.pull_request.to_dict() if self.pull_request else None,
            "lead_seconds": self.lead_seconds,
            "candidate": self.candidate or None,
            "url": self.url,
            "running_revision": self.running_revision,
        }


#: What each pull request event means for its release's state (a close by gitops-watcher
#: leaves the plan's word, ``unchanged``, standing).
_EVENT_STATES: dict[str, ReleaseState] = {
    "opened": "pr-open",
    "updated": "pr-open",
    "current": "pr-open",
    "merged": "deployed",
    "held": "held",
    "would-open": "planned",
    "would-update": "planned",
}


def pull_request_outcome(event: PullRequestEvent) -> ReleaseOutcome | None:
    """The release's state after what was done with its pull request."""
    state = _EVENT_STATES.get(event.kind)
    if state is None:
        return None
    return ReleaseOutcome(
        event.id,
        event.folder,
        event.revision,
        state,
        action=event.action or None,
        commit=event.commit or None,
        reason=event.reason,
        pull_request=event.pull_request,
        lead_seconds=event.lead_seconds,
    )


@dataclass(frozen=True)
class SourceOutcome:
    name: str
    ok: bool
    error: WatcherError | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "error": str(self.error) if self.error else None}


@dataclass
class ReconcileResult:
    """What one reconcile did; ``ok`` is False when anything failed or was held back."""

    reconcile_id: str
    dry_run: bool = False
    started_at: float = field(default_factory=time.time)
    finished_at: float = 0.0
    planned: tuple[Change, ...] = ()
    applied: list[Applied] = field(default_factory=list)
    releases: list[ReleaseOutcome] = field(default_factory=list)
    failures: list[ReleaseFailure] = field(default_factory=list)
    #: Problems of the plan itself: folders we do not own, removals held back.
    problems: list[tuple[str | None, WatcherError]] = field(default_factory=list)
    sources: list[SourceOutcome] = field(default_factory=list)
    pushed: bool = False
    push_attempts: int = 0
    artifacts: CopyStats = field(default_factory=CopyStats)
    #: Copies a dry run would make: (what, the copy's URI, files, bytes).
    planned_copies: list[tuple[str, str, int, int]] = field(default_factory=list)
    #: Changes of pull-request stages: proposed on branches, not committed on the branch.
    proposed: tuple[Change, ...] = ()
    #: What was done with each pull request (opened, updated, merged, closed …).
    pull_requests: list[PullRequestEvent] = field(default_factory=list)
    #: When a release waiting for its soak may be ready: reconcile again then.
    wake_at: float | None = None
    #: What the ledger recorded as changed by this run (empty in a dry run, or when the
    #: ledger could not be written): the source of events and promotion metrics.
    changes: list[StateChange] = field(default_factory=list)
    #: The sources this run read and planned (None: every configured one). The daemon
    #: reconciles each source on its own; what lies outside is another run's word.
    scope_sources: tuple[str, ...] | None = None
    #: Sources read in part (a hint): what this run speaks for of each.
    coverage: dict[str, Coverage] = field(default_factory=dict)
    #: The source each problem is reported for, by folder ("" for a held mass deletion).
    problem_sources: dict[str, str] = field(default_factory=dict)

    def speaks_for(self, source: str, name: str | None = None, folder: str | None = None) -> bool:
        """Whether this run read, planned and reports ``source`` (its release ``name``,
        its ``folder``); what it does not speak for stands as the last run that did left it."""
        if self.scope_sources is not None and source not in self.scope_sources:
            return False
        cover = self.coverage.get(source)
        if cover is None:
            return True
        if name is not None and name not in cover.names:
            return False
        return folder is None or cover.holds(folder)

    @property
    def whole(self) -> bool:
        """Every source, read completely."""
        return self.scope_sources is None and not self.coverage

    @property
    def ok(self) -> bool:
        refused = any(outcome.state in REFUSALS for outcome in self.releases)
        return (
            not self.failures
            and not self.problems
            and not refused
            and all(s.ok for s in self.sources)
        )

    def counts(self) -> dict[str, int]:
        states = [outcome.state for outcome in self.releases]
        return {
            "planned": len(self.planned),
            "applied": len(self.applied),
            "removed": sum(1 for a in self.applied if a.change.action == "remove"),
            "unchanged": states.count("unchanged"),
            "held": states.count("held"),
            "gated": states.count("gated"),
            "waiting": states.count("waiting"),
            "kept": states.count("kept"),
            "blocked": states.count("blocked"),
            "pull_requests_open": states.count("pr-open"),
            "failed": len(self.failures) + len(self.problems),
            "sources_failed": sum(1 for s in self.sources if not s.ok),
            "artifact_files_sent": self.artifacts.files_sent,
            "artifact_bytes_sent": self.artifacts.bytes_sent,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "reconcile_id": self.reconcile_id,
            "dry_run": self.dry_run,
            "ok": self.ok,
            "pushed": self.pushed,
            "push_attempts": self.push_attempts,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "counts": self.counts(),
            "releases": [outcome.to_dict() for outcome in self.releases],
            "problems": [self._problem(folder, error) for folder, error in self.problems],
            "sources": [source.to_dict() for source in self.sources],
            "wake_at": self.wake_at,
            "changes": [change.to_dict() for change in self.changes],
            "scope": self.scope_dict(),
        }

    def _problem(self, folder: str | None, error: WatcherError) -> dict[str, Any]:
        source = self.problem_sources.get(folder or "", "")
        return {"error": str(error), "folder": folder, "source": source}

    def scope_dict(self) -> dict[str, Any]:
        """What this run speaks for, as ``/status`` merges it: ``sources`` (None: all) and,
        for hinted reads, each source's ``names`` and ``folders``."""
        return {
            "sources": list(self.scope_sources) if self.scope_sources is not None else None,
            "hints": {
                name: {"names": sorted(cover.names), "folders": sorted(cover.folders)}
                for name, cover in sorted(self.coverage.items())
            },
        }
