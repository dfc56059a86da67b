"""Pull requests as data: what gitops-watcher remembers of one, and what a reconcile did.

A stage that publishes pull requests gets one branch and one pull request per
changed (source, name, stage). Whether a pull request is current, merged or
obsolete is decided by content: the folder's files as the pull request proposes
them, as the GitOps branch holds them, and as the registry wants them now,
each reduced to a ``content_id``. Commit ids are never compared, so a merge, a
squash and a rebase are all recognised the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

from watcher.core.release import ReleaseId
from watcher.core.tree import blob_ids_of, git_blob_id

PullRequestState = Literal["open", "closed"]

#: What a reconcile did with a pull request (the report's, the ledger's and /status's words).
EventKind = Literal[
    "opened",  # a new pull request
    "updated",  # its branch and text follow a new revision or a moved base
    "current",  # open and already what the stage should get
    "merged",  # the GitOps branch now holds what it proposed: deployed
    "closed",  # closed by gitops-watcher: the stage runs what is selected again
    "held",  # closed by a person without merging: that revision stays out
    "would-open",  # dry run
    "would-update",  # dry run
]


def content_id(files: Mapping[str, bytes]) -> str:
    """One id for a folder's names and contents (by git blob id; cheap on a git tree)."""
    ids = blob_ids_of(files)
    digest = hashlib.sha256()
    for name in sorted(files):
        known = ids(name) if ids is not None else None
        digest.update(f"{name}\0{known or git_blob_id(files[name])}\n".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class ForgePullRequest:
    """A pull request (a GitLab merge request) as the forge describes it."""

    number: int
    url: str
    state: Literal["open", "closed", "merged"]
    branch: str
    #: When it was merged (seconds since the epoch), and the commit the merge made.
    merged_at: float | None = None
    merge_commit: str = ""


@dataclass(frozen=True)
class PullRequestRef:
    """A pull request as reports show it."""

    number: int
    url: str
    branch: str

    def to_dict(self) -> dict[str, object]:
        return {"number": self.number, "url": self.url, "branch": self.branch}


@dataclass(frozen=True)
class PullRequestRecord:
    """What gitops-watcher remembers of the pull request of one folder, between reconciles."""

    folder: str
    id: ReleaseId
    branch: str
    number: int
    url: str
    #: The revision it proposes, and how it reads (``v7``).
    revision: str
    label: str
    #: ``content_id`` of the folder as proposed, and of the GitOps branch's folder it was
    #: based on: when either differs from now, the branch is pushed again.
    content: str
    base: str
    state: PullRequestState = "open"
    #: When this revision was first proposed (seconds since the epoch): lead times start here.
    first_seen: float = 0.0

    @property
    def ref(self) -> PullRequestRef:
        return PullRequestRef(self.number, self.url, self.branch)

    def closed(self) -> PullRequestRecord:
        return replace(self, state="closed")


@dataclass(frozen=True)
class PullRequestEvent:
    """What one reconcile did with the pull request of one (source, name, stage)."""

    id: ReleaseId
    folder: str
    revision: str
    label: str
    kind: EventKind
    #: The change's action: deploy, update or remove.
    action: str
    subject: str
    pull_request: PullRequestRef | None = None
    #: Why, in words (a close, a hold, a refused merge).
    reason: str = ""
    #: The commit: the branch's head for an open one, the GitOps branch's for a merge.
    commit: str = ""
    #: From the first time this revision was proposed to the merge.
    lead_seconds: float | None = None
    #: False when it only repeats what an earlier reconcile said (still open, still held).
    news: bool = True

    @property
    def number(self) -> str:
        return f"#{self.pull_request.number}" if self.pull_request is not None else ""
