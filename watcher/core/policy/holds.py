"""Holds: a person's change to a folder is honoured, and a hold set by hand is kept.

A commit on the GitOps branch that changes a folder gitops-watcher owns without
our trailers (a ``git revert`` of a promotion, a hand edit during an incident)
holds that folder as the person left it. The hold lifts when the registry
selects a different version than the one the folder ran before the change (a
new decision), or with ``gitops-watcher unhold``; a hold set with
``gitops-watcher hold`` lifts only with ``unhold``. Both are kept in git: the
change itself, and a record under ``.gitops-watcher/holds/`` of the deployments
folder, never in the held folder (whose bytes stay exactly as they are).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

from watcher.core.policy.history import FolderCommit, human_changes, last_ours

#: Where hold records live, under the deployments folder (never inside a deployment).
HOLDS_FOLDER = ".gitops-watcher/holds"
RECORD_FILE = "hold.json"
RECORD_FORMAT = 1


@dataclass(frozen=True)
class HoldRecord:
    """A record under ``.gitops-watcher/holds/<folder>/``: a hold set by hand
    (``manual``), or a person's change released by ``unhold`` (``released``)."""

    kind: Literal["manual", "released"]
    source: str
    name: str
    stage: str
    folder: str
    reason: str = ""
    by: str = ""
    #: When it was set (UTC, ISO 8601).
    since: str = ""
    #: What the registry selected when a manual hold began (reported, not applied).
    selected: str = ""
    #: The person's commit that ``unhold`` released.
    commit: str = ""

    def to_json(self) -> bytes:
        data = {"format": RECORD_FORMAT, **asdict(self)}
        return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()

    @classmethod
    def from_json(cls, raw: bytes) -> HoldRecord | None:
        """The record, or None when the file is not one this version can read."""
        try:
            data = json.loads(raw)
            if not isinstance(data, dict) or data.get("format") != RECORD_FORMAT:
                return None
            if data.get("kind") not in ("manual", "released"):
                return None
            fields = {k: str(data.get(k) or "") for k in cls.__dataclass_fields__}
            return cls(**fields)  # type: ignore[arg-type]
        except (ValueError, TypeError, RecursionError):
            return None


def record_folder(folder: str) -> str:
    """Where the record of ``folder`` lives, relative to the deployments folder."""
    return f"{HOLDS_FOLDER}/{folder}"


@dataclass(frozen=True)
class Hold:
    """A folder left as it is, and why."""

    cause: Literal["change", "manual"]
    reason: str
    #: The person's commit (for a change), so /status and the ledger can name it.
    commit: str = ""
    #: The revision the folder ran before the change; a different selection lifts the hold.
    baseline: str = ""


def decide_hold(
    log: Sequence[FolderCommit],
    record: HoldRecord | None,
    desired_revision: str | None,
) -> Hold | None:
    """Whether a change to this folder must wait: ``log`` is its history, newest first
    (at least down to our newest commit); ``desired_revision`` is what the registry
    selects now (None when nothing does: a demotion never lifts a hold)."""
    if record is not None and record.kind == "manual":
        moved = ""
        if desired_revision is not None and record.selected and desired_revision != record.selected:
            moved = f"; the registry now selects {desired_revision} (not applied)"
        by = f" by {record.by}" if record.by else ""
        why = f": {record.reason}" if record.reason else ""
        return Hold("manual", f"held{by} with gitops-watcher hold{why}{moved}")
    changes = human_changes(log)
    if not changes:
        return None
    newest = changes[0]
    if record is not None and record.kind == "released" and record.commit == newest.sha:
        return None
    ours = last_ours(log)
    baseline = ours.revision if ours is not None and ours.action != "remove" else ""
    if desired_revision is not None and baseline and desired_revision != baseline:
        return None  # a new decision in the registry: it wins over the person's change
    return Hold("change", f"changed by {newest.describe()}", newest.sha, baseline)
