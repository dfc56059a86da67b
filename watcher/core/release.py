"""Releases: what a source wants running, in one shape for every kind of input.

A source (an MLflow registry, a folder of function specs) reads its input and
yields releases: for one (kind, name, stage), the folder it lives in, the target
that renders it, and the payload that target needs. Everything after that
(artifact copies, rendering, the plan, commits, the ledger, ``/status``) works
on releases and never learns what a model version or a function spec is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from watcher.core.policy.rules import PromotionRules
from watcher.core.publishing import DIRECT, Publishing
from watcher.errors import WatcherError


@dataclass(frozen=True, order=True)
class ReleaseId:
    """Who a release is: the source that owns it, its kind, its name and its stage."""

    source: str
    kind: str
    name: str
    stage: str

    def describe(self) -> str:
        """``model 'fraud' in staging``, for logs and messages (names cut to a readable length)."""
        from watcher.core.names import describe

        return f"{self.kind} {describe(self.name)} in {self.stage}"

    def to_dict(self) -> dict[str, str]:
        return {"source": self.source, "kind": self.kind, "name": self.name, "stage": self.stage}


@dataclass(frozen=True)
class ArtifactNeed:
    """Files a release serves that must be copied and verified before it is rendered.

    ``key`` identifies one copy: releases with equal keys (the same model version
    in two stages) share it. ``payload`` is what the source's copier needs.
    """

    key: tuple[str, ...]
    payload: Any


@dataclass(frozen=True)
class Release:
    """One (kind, name, stage) that should run, with everything its target needs."""

    id: ReleaseId
    #: Folder under the deployments path, ``/``-separated, owned by the source.
    folder: str
    #: Name of the target that renders it (``deployment``, ``kserve``, ``function-serve`` …).
    target: str
    #: What runs: a model version, a spec revision. Shown in subjects as ``revision_label``.
    revision: str
    namespace: str
    #: Target-specific input (a model deployment, a function spec with its overlay).
    payload: Any
    #: How the revision reads in a subject: ``v4`` for a model version, ``rev 3f2a9c`` …
    revision_label: str = ""
    #: How the stage's changes reach the GitOps branch: a commit, or a pull request.
    publish: Publishing = DIRECT
    #: Kind-specific provenance written into promotion.json under ``details``.
    details: Mapping[str, Any] = field(default_factory=dict)
    #: Settings that change the pods (replicas, image …); their changes are named in commits.
    settings: Mapping[str, str] = field(default_factory=dict)
    #: Lines of the commit body, after the generic first line.
    summary: tuple[str, ...] = ()
    #: Extra commit trailers, e.g. ``("Model-Version", "4")``.
    trailers: tuple[tuple[str, str], ...] = ()
    #: Link to the input's page (registry UI, spec in git), for commits and Argo CD.
    url: str = ""
    artifact: ArtifactNeed | None = None
    #: What the stage asks before this release newly runs there (holds apply to every release).
    rules: PromotionRules = field(default_factory=PromotionRules)

    @property
    def label(self) -> str:
        return self.revision_label or self.revision

    @cached_property
    def fingerprint(self) -> str:
        """A SHA-256 of the ``repr`` of every field, made once per release object.

        Render caches key on it; a source that hands out the same object while
        its input is unchanged (see ``ModelReleaseMemo``) pays for it once.
        Fields are frozen dataclasses of strings, numbers, tuples and mappings,
        whose ``repr`` shows every value; "" when some value is shown only by
        its address (``<… at 0x…>``), which could stand for different contents
        at different times: such a release is never cached.
        """
        text = repr(self)
        if " at 0x" in text:
            return ""
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class ReleaseFailure:
    """A release that could not be decided, copied or rendered; its folder is kept as it is."""

    id: ReleaseId
    error: WatcherError
    #: The folder it would use, when a safe one could be derived (kept untouched).
    folder: str | None = None
    #: The revision that was wanted, when known.
    revision: str = ""
    #: The wanted revision's page (registry UI, spec in git), when known.
    url: str = ""


@dataclass(frozen=True)
class Coverage:
    """What a partial read of a source speaks for (a hinted reconcile): the release names
    it read again, and the folders their releases live in or lived in. Nothing else of
    the source is read, planned, removed or reported by that reconcile."""

    names: frozenset[str] = frozenset()
    #: Folders under the deployments path; a folder at or below one of them is covered.
    folders: frozenset[str] = frozenset()

    def holds(self, folder: str) -> bool:
        return any(folder == top or folder.startswith(f"{top}/") for top in self.folders)


@dataclass(frozen=True)
class SourceRead:
    """Everything one source wants, and what it could not turn into a release."""

    releases: tuple[Release, ...] = ()
    failures: tuple[ReleaseFailure, ...] = ()
    #: Registry UI or repository URL, for logs.
    origin: str = ""
    #: False when some input could not be tied to a release for sure (a spec whose
    #: name cannot be read): then nothing of this source is removed this time.
    complete: bool = True
    #: How each of the source's stages publishes (a stage not listed: directly); a
    #: removal has no release to say it, so the plan asks here.
    publishing: Mapping[str, Publishing] = field(default_factory=dict)
    #: A partial read (a hint): what it speaks for; None for a read of the whole input.
    coverage: Coverage | None = None


def release_sort_key(release: Release) -> tuple[str, str]:
    return (release.folder, release.id.source)
