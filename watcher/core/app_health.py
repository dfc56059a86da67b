"""Argo CD's word on what the daemon deployed: one Application's status, and what it
means for a release. Plain data shared by the reader, the ledger and the daemon."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AppStatus:
    """What Argo CD says of one Application."""

    name: str
    sync: str
    health: str
    revision: str
    #: When Argo CD last compared it with git (unix time; None when not said).
    reconciled_at: float | None = None


@dataclass(frozen=True)
class HealthReport:
    """What Argo CD says of one deployed release: ``healthy``, ``degraded`` or "" (neither)."""

    source: str
    kind: str
    name: str
    stage: str
    folder: str
    revision: str
    commit: str
    state: str


def application_name(folder: str) -> str:
    """The Application the ApplicationSet makes for a folder (below ``git.path``): the
    folder with ``/`` replaced by ``-`` (docs/argocd.md)."""
    return folder.strip("/").replace("/", "-")
