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
from watcher.core.release import ReleaseFailure, ReleaseId
from watcher.errors import WatcherError, error_kind

ReleaseState = Literal["deployed", "unchanged", "removed", "failed", "held"]


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
            "url": self.url,
            "running_revision": self.running_revision,
        }


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
    #: What the ledger recorded as changed by this run (empty in a dry run, or when the
    #: ledger could not be written): the source of events and promotion metrics.
    changes: list[StateChange] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures and not self.problems and all(s.ok for s in self.sources)

    def counts(self) -> dict[str, int]:
        states = [outcome.state for outcome in self.releases]
        return {
            "planned": len(self.planned),
            "applied": len(self.applied),
            "removed": sum(1 for a in self.applied if a.change.action == "remove"),
            "unchanged": states.count("unchanged"),
            "held": states.count("held"),
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
            "problems": [
                {"error": str(error), "folder": folder} for folder, error in self.problems
            ],
            "sources": [source.to_dict() for source in self.sources],
            "changes": [change.to_dict() for change in self.changes],
        }
