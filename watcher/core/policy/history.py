"""A folder's history as gitops-watcher reads it: who changed it, and what it then ran.

Git's history is the truth for holds, rollbacks and soak: it survives restarts
and the loss of the daemon's state folder, and it is what Argo CD deploys. Our
own commits carry trailers (``Gitops-Watcher-Action``, ``Release-Revision``); a
commit without them is a person's (or another tool's) change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: Trailers a commit of ours carries (see core/messages.py).
ACTION_TRAILER = "Gitops-Watcher-Action"
REVISION_TRAILER = "Release-Revision"
ROLLBACK_TRAILER = "Gitops-Watcher-Rollback"


@dataclass(frozen=True)
class FolderCommit:
    """One commit that touched a folder."""

    sha: str
    #: Commit time, unix seconds (what git records; the soak clock).
    time: int
    author: str
    subject: str
    trailers: Mapping[str, str]

    @property
    def ours(self) -> bool:
        return bool(self.trailers.get(ACTION_TRAILER))

    @property
    def action(self) -> str:
        return self.trailers.get(ACTION_TRAILER, "")

    @property
    def revision(self) -> str:
        """What the folder ran after this commit, when the commit is ours ("" otherwise)."""
        return self.trailers.get(REVISION_TRAILER, "") if self.ours else ""

    @property
    def rollback(self) -> bool:
        return bool(self.trailers.get(ROLLBACK_TRAILER))

    def describe(self) -> str:
        """``abc1234 (Alice): Revert "update churn…"`` for messages."""
        return f"{self.sha[:10]} ({self.author}): {self.subject}"


def human_changes(log: Sequence[FolderCommit]) -> list[FolderCommit]:
    """The commits newer than our newest one (``log`` is newest first)."""
    found = []
    for commit in log:
        if commit.ours:
            break
        found.append(commit)
    return found


def last_ours(log: Sequence[FolderCommit]) -> FolderCommit | None:
    return next((commit for commit in log if commit.ours), None)


def revisions_run(log: Sequence[FolderCommit]) -> list[str]:
    """What the folder ran, oldest first, as a stack: a rollback undoes the step before it.

    So after v5, v6, v7 and a rollback to v6 the stack is [v5, v6]: a second
    rollback goes one further back, to v5.
    """
    stack: list[str] = []
    for commit in reversed(log):
        if not commit.ours or commit.action == "remove" or not commit.revision:
            if commit.ours and commit.action == "remove":
                stack = []
            continue
        if commit.rollback and len(stack) >= 2 and stack[-2] == commit.revision:
            stack.pop()
        elif not stack or stack[-1] != commit.revision:
            stack.append(commit.revision)
    return stack


def ran_before(log: Sequence[FolderCommit], revision: str) -> bool:
    """Whether the folder ran ``revision`` before its current one (a rollback to it)."""
    stack = revisions_run(log)
    return revision in stack[:-1]
