"""Publishers: how a plan reaches the GitOps remote.

The reconciler hands a publisher a *planner* (the current tree in, a plan out)
rather than a plan, because a publisher may have to plan again. The direct
publisher plans on the head as last fetched, then fetches: when the branch moved,
the same plan holds if the commits in between touched none of its folders, else it
plans again on the new head. Then it commits one change per folder and pushes; when
another writer pushed first, it fetches and pushes again (with a little jitter), the same way.
So the time between a fetch and its push holds no plan. The pull request publisher
(``pull_requests.py``) routes each change by its stage's publish mode, and hands the
direct ones to this one.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from watcher.core.plan import Change, Plan
from watcher.core.pull_requests import PullRequestEvent
from watcher.core.release import ReleaseFailure
from watcher.core.replay import holds_after
from watcher.core.result import Applied
from watcher.core.tree import FolderView
from watcher.errors import PushRejectedError

log = logging.getLogger(__name__)

Planner = Callable[[Mapping[str, bytes]], Plan]

#: Plans made in one attempt, each after a fetch that found the branch moved in its
#: folders; then the push decides (a rejected one makes the next attempt).
_PLANS_PER_ATTEMPT = 3


class GitOpsRepository(Protocol):
    def sync(self) -> str | None: ...
    def read_tree(self, prefix: str) -> Mapping[str, bytes]:
        """Every file under ``prefix``; a repository may also take ``only=`` folders below
        it (a partial plan reads just those: ``DirectPushPublisher.publish``)."""
        ...

    def apply_folder(self, folder: str, files: Mapping[str, bytes], message: str) -> str | None: ...
    def push(self) -> None: ...
    def close(self) -> None: ...


@runtime_checkable
class BatchCommits(Protocol):
    """A repository that commits many folders at once (still one commit per folder)."""

    def apply_folders(
        self, changes: Sequence[tuple[str, Mapping[str, bytes], str]]
    ) -> list[str | None]: ...


@runtime_checkable
class Rewinds(Protocol):
    """A repository that returns to the remote's head as last fetched without fetching."""

    def rewind(self) -> bool:
        """Point the branch at the remote's head as last fetched or pushed; False when
        there is none yet (sync first)."""
        ...

    def head(self) -> str | None: ...


@runtime_checkable
class TouchedPaths(Protocol):
    """A repository that tells which paths the commits since an older head changed."""

    def touched_since(self, base: str, head: str, prefix: str) -> Sequence[str] | None:
        """Paths under ``prefix``, relative to it, that the commits from ``base`` to
        ``head`` changed; None when ``base`` is not in ``head``'s history."""
        ...


@dataclass
class Publication:
    """The plan that was applied last, the commits it made, and whether they reached the remote;
    for stages that publish pull requests, their changes and what became of them."""

    plan: Plan
    applied: list[Applied] = field(default_factory=list)
    pushed: bool = False
    #: git pushes tried (rejected ones included); 0 when there was nothing to push.
    attempts: int = 0
    #: Changes proposed as pull requests instead of committed (not in ``plan.changes``).
    proposed: tuple[Change, ...] = ()
    pull_requests: list[PullRequestEvent] = field(default_factory=list)
    #: Releases whose pull request could not be opened, updated or closed this time.
    failures: list[ReleaseFailure] = field(default_factory=list)


class Publisher(Protocol):
    def publish(
        self, planner: Planner, *, dry_run: bool = False, only: Sequence[str] | None = None
    ) -> Publication:
        """Plan (again after a race), commit, push. ``only``: the folders under the
        deployments path the planner speaks for (None: all); the rest is not read."""
        ...

    def close(self) -> None: ...


class DirectPushPublisher:
    """One commit per changed folder on the branch, then a plain (never forced) push."""

    def __init__(
        self,
        repo: GitOpsRepository,
        path: str,
        *,
        attempts: int = 5,
        backoff_seconds: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._repo = repo
        self._path = path
        self._attempts = attempts
        self._backoff = backoff_seconds
        self._sleep = sleep

    def publish(
        self, planner: Planner, *, dry_run: bool = False, only: Sequence[str] | None = None
    ) -> Publication:
        if dry_run:
            self._repo.sync()
            return Publication(self._plan(planner, only))
        # Plan first, on the head as last fetched, and fetch afterwards: the time between
        # a fetch and its push, in which another writer (a shard) may push first, then
        # holds no plan (the policy asks the registry about versions, for one).
        head = self._last_head()
        plan = self._plan(planner, only)
        for attempt in range(1, self._attempts + 1):
            head, plan = self._on_latest(head, plan, planner, only)
            # Pushes tried so far: the earlier, rejected ones; this one only if it happens.
            publication = Publication(plan, attempts=attempt - 1)
            if not plan.changes:
                return publication
            publication.applied = self._commit(plan)
            if not publication.applied:
                return publication
            publication.attempts = attempt
            try:
                self._repo.push()
            except PushRejectedError:
                if attempt == self._attempts:
                    raise
                log.warning("push rejected (attempt %d of %d)", attempt, self._attempts)
                # The first retry at once (the branch moved: the new head is there to
                # fetch); later ones after a random share of the backoff, so writers
                # rejected together spread out. Not doubling: a rejection means another
                # writer got through (progress), and a growing wait would only leave the
                # writer that keeps losing further behind (measured: one shard of three
                # starved while the others pushed).
                if attempt > 1:
                    self._sleep(random.uniform(0, self._backoff))  # noqa: S311 (timing, not secrets)
                continue
            publication.pushed = True
            return publication
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _last_head(self) -> str | None:
        """The branch as last fetched or pushed, without fetching (local commits that did
        not reach the remote are dropped); a first sync when there is none yet."""
        if isinstance(self._repo, Rewinds) and self._repo.rewind():
            return self._repo.head()
        return self._repo.sync()

    def _plan(self, planner: Planner, only: Sequence[str] | None) -> Plan:
        return _settled(planner(_relative(self._read(only), self._path)))

    def _on_latest(
        self, head: str | None, plan: Plan, planner: Planner, only: Sequence[str] | None
    ) -> tuple[str | None, Plan]:
        """Fetch: the branch's head now, and the plan for it. ``plan`` itself when the branch
        has not moved or moved only in other folders; else a new plan, and a fetch after
        it again (a few times at most: then the push decides)."""
        for _ in range(_PLANS_PER_ATTEMPT):
            newer = self._repo.sync()
            if newer == head:
                return head, plan
            kept = self._still_holding(head, plan, newer) if head is not None else None
            if kept is not None:
                return newer, kept
            head, plan = newer, self._plan(planner, only)
        return head, plan

    def _still_holding(self, base: str, plan: Plan, head: str | None) -> Plan | None:
        """The plan made on an older head, when the commits since touched none of its
        folders (planning again would give it back); None: plan again on ``head``."""
        if head is None or not isinstance(self._repo, TouchedPaths):
            return None
        touched = self._repo.touched_since(base, head, self._path)
        if touched is None or not holds_after(plan, touched):
            log.info("re-planning on the new head %s", head[:12])
            return None
        if plan.changes:
            log.info(
                "the new head %s changed none of the %d planned folder(s): the same %d "
                "change(s) on it",
                head[:12], len(plan.changes), len(plan.changes),
            )  # fmt: skip
        return plan

    def _read(self, only: Sequence[str] | None) -> Mapping[str, bytes]:
        if only is None:
            return self._repo.read_tree(self._path)
        tree: Mapping[str, bytes] = self._repo.read_tree(self._path, only=only)  # type: ignore[call-arg]
        return tree

    def _commit(self, plan: Plan) -> list[Applied]:
        """All changes in one batch: still one commit per folder, in plan order."""
        batch = [
            (f"{self._path}/{change.folder}", change.files, change.message)
            for change in plan.changes
        ]
        if isinstance(self._repo, BatchCommits):
            commits = self._repo.apply_folders(batch)
        else:
            commits = [self._repo.apply_folder(*one) for one in batch]
        applied = []
        for change, commit in zip(plan.changes, commits, strict=True):
            if commit:
                log.debug("committed %s: %s", commit[:10], change.subject)
                applied.append(Applied(change, commit))
        return applied

    def close(self) -> None:
        self._repo.close()


def _settled(plan: Plan) -> Plan:
    """The plan with its changes' old files read now (the tree reads lazily from the
    checkout, which may be closed before a report shows the diffs). Only changed
    folders are read: the cost follows the change."""
    changes = tuple(
        dataclasses.replace(change, previous_files=dict(change.previous_files))
        for change in plan.changes
    )
    return dataclasses.replace(plan, changes=changes)


def _relative(tree: Mapping[str, bytes], prefix: str) -> Mapping[str, bytes]:
    """The files under ``prefix``, named relative to it; reads and blob ids pass through."""
    start = f"{prefix}/"
    return FolderView(tree, prefix, [path[len(start) :] for path in tree if path.startswith(start)])
