"""The ports the promotion policy step calls: a source's evidence, and the folders' history.

Both are optional for a source: one without ``evidence`` has no gates or contract
to check (holds and rollbacks still apply to it, from git).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from watcher.core.policy.history import FolderCommit
from watcher.core.policy.signature import Signature


class PromotionEvidence(Protocol):
    """What a source knows of a revision beyond what it deploys (its marker ``details``)."""

    def metrics(self, details: Mapping[str, Any]) -> Mapping[str, float]:
        """The metrics the revision logged; raise a ``WatcherError`` when they cannot be read."""
        ...

    def signature(self, details: Mapping[str, Any]) -> Signature | None:
        """Its serving signature (None: it has none); raise when it cannot be read."""
        ...


class FolderHistory(Protocol):
    """The GitOps branch's history of deployment folders (paths relative to the repo)."""

    def folder_log(self, path: str, limit: int = 50) -> list[FolderCommit]: ...

    def recent_logs(self, prefix: str, folders: Iterable[str]) -> dict[str, list[FolderCommit]]:
        """For each of ``folders`` (relative to ``prefix``), its newest commits down to and
        including the newest of ours: one pass over the history, stopped early."""
        ...


def evidence_of(source: object) -> PromotionEvidence | None:
    """A source's evidence port, when it offers one."""
    evidence = getattr(source, "evidence", None)
    return evidence if evidence is not None else None
