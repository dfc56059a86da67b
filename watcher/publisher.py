"""Publishers: how a plan reaches the GitOps remote.

The reconciler hands a publisher a *planner* (the current tree in, a plan out)
rather than a plan, because a publisher may have to plan again: the direct
publisher commits one change per folder and pushes; when another writer pushed
first, it fetches, re-plans on the new head and pushes again with backoff. A
pull-request publisher would implement the same method.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from watcher.core.plan import Plan
from watcher.errors import PushRejectedError
from watcher.result import Applied

log = logging.getLogger(__name__)

Planner = Callable[[Mapping[str, bytes]], Plan]


class GitOpsRepository(Protocol):
    def sync(self) -> str | None: ...
    def read_tree(self, prefix: str) -> dict[str, bytes]: ...
    def apply_folder(self, folder: str, files: Mapping[str, bytes], message: str) -> str | None: ...
    def push(self) -> None: ...
    def close(self) -> None: ...


@dataclass
class Publication:
    """The plan that was applied last, the commits it made, and whether they reached the remote."""

    plan: Plan
    applied: list[Applied] = field(default_factory=list)
    pushed: bool = False
    attempts: int = 0


class Publisher(Protocol):
    def publish(self, planner: Planner, *, dry_run: bool = False) -> Publication: ...
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

    def publish(self, planner: Planner, *, dry_run: bool = False) -> Publication:
        delay = self._backoff
        for attempt in range(1, self._attempts + 1):
            self._repo.sync()
            plan = planner(_relative(self._repo.read_tree(self._path), self._path))
            publication = Publication(plan, attempts=attempt)
            if dry_run or not plan.changes:
                return publication
            publication.applied = self._commit(plan)
            if not publication.applied:
                return publication
            try:
                self._repo.push()
            except PushRejectedError:
                if attempt == self._attempts:
                    raise
                log.warning(
                    "push rejected (attempt %d of %d): re-planning on the new head",
                    attempt,
                    self._attempts,
                )
                self._sleep(delay)
                delay *= 2
                continue
            publication.pushed = True
            return publication
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _commit(self, plan: Plan) -> list[Applied]:
        applied = []
        for change in plan.changes:
            folder = f"{self._path}/{change.folder}"
            commit = self._repo.apply_folder(folder, change.files, change.message)
            if commit:
                log.info("committed %s: %s", commit[:10], change.subject)
                applied.append(Applied(change, commit))
        return applied

    def close(self) -> None:
        self._repo.close()


def _relative(tree: Mapping[str, bytes], prefix: str) -> dict[str, bytes]:
    start = f"{prefix}/"
    return {path[len(start) :]: data for path, data in tree.items() if path.startswith(start)}
