"""The ports the promotion policy step calls: a source's evidence, and the folders' history.

Both are optional for a source: one without ``evidence`` has no gates or contract
to check (holds and rollbacks still apply to it, from git).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, TypeVar

from watcher.core.policy.history import FolderCommit
from watcher.core.policy.signature import Signature
from watcher.errors import WatcherError

_T = TypeVar("_T")


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
    """A source's evidence port, when it offers one, remembering what it read.

    Made anew for each reconcile: the gates, the contract and the review notes
    ask for the same revisions, and the registry is asked once for each.
    """
    evidence = getattr(source, "evidence", None)
    return RememberedEvidence(evidence) if evidence is not None else None


class RememberedEvidence:
    """Answers each question about a revision once (failures too: a slow registry
    is not asked again for the same answer in the same reconcile)."""

    def __init__(self, evidence: PromotionEvidence) -> None:
        self._evidence = evidence
        self._answers: dict[tuple[str, str], object] = {}

    def metrics(self, details: Mapping[str, Any]) -> Mapping[str, float]:
        return self._remembered("metrics", details, self._evidence.metrics)

    def signature(self, details: Mapping[str, Any]) -> Signature | None:
        return self._remembered("signature", details, self._evidence.signature)

    def _remembered(
        self, question: str, details: Mapping[str, Any], ask: Callable[[Mapping[str, Any]], _T]
    ) -> _T:
        key = (question, json.dumps(details, sort_keys=True, default=str))
        if key not in self._answers:
            try:
                self._answers[key] = ask(details)
            except WatcherError as exc:
                self._answers[key] = exc
        answer = self._answers[key]
        if isinstance(answer, WatcherError):
            raise answer
        return answer  # type: ignore[return-value]
