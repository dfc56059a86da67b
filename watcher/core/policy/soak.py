"""Stage order and soak: a version runs in a stage only after it ran long enough in another.

The clock is the GitOps history: the commit that first deployed the version in
the earlier stage (in its current run: a rollback or another version in between
starts it again), so waiting survives restarts, and a re-render of the same
version does not restart it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from watcher.core.policy.history import FolderCommit, human_changes


@dataclass(frozen=True)
class Wait:
    """Not yet: why, and when to look again (None: only a change in the registry helps)."""

    reason: str
    wake_at: float | None = None


def check_soak(
    after_log: Sequence[FolderCommit],
    after_stage: str,
    revision_label: str,
    revision: str,
    soak_seconds: float,
    now: float,
) -> Wait | None:
    """None when ``revision`` has run in ``after_stage`` for ``soak_seconds``; else a Wait.

    ``after_log`` is the earlier stage folder's history, newest first.
    """
    if human_changes(after_log):
        return Wait(f"{revision_label} is held in {after_stage} (changed by hand there)")
    started: FolderCommit | None = None
    for commit in after_log:
        if commit.revision != revision or commit.action == "remove":
            break
        started = commit
    if started is None:
        return Wait(f"{revision_label} does not run in {after_stage} yet")
    ready_at = started.time + soak_seconds
    if now >= ready_at:
        return None
    left = ready_at - now
    return Wait(f"{left:,.0f} s more in {after_stage}", wake_at=ready_at)
