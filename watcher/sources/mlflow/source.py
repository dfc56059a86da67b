"""The MLflow model registry as a source: read a snapshot, decide, yield releases.

The registry is read through the REST API or the backend database (both build
the same snapshot); deciding which version each stage runs is the pure core's
job. A read that fails raises, so the spine keeps every folder of this source.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

from watcher.closing import Closing
from watcher.core.artifacts import ArtifactRef, CopyStats
from watcher.core.model import RegistrySnapshot
from watcher.core.model_releases import (
    MODEL_KIND,
    ModelDeployment,
    ModelReleaseMemo,
    model_releases,
)
from watcher.core.names import join_folder, model_slug
from watcher.core.release import ArtifactNeed, Coverage, SourceRead
from watcher.core.stages import NameFilter, StagePolicy
from watcher.errors import InternalError, InvalidNameError
from watcher.spine.artifact_copy import ArtifactSync
from watcher.spine.policy_ports import PromotionEvidence


class RegistryReader(Protocol):
    def snapshot(self) -> RegistrySnapshot: ...
    def close(self) -> None: ...


class ModelArtifacts:
    """Copies the files of the model version a release serves (one copy per version)."""

    def __init__(self, sync: ArtifactSync, closers: tuple[RegistryReader, ...] = ()) -> None:
        self.sync = sync
        self._closers = closers

    def close(self) -> None:
        """Close what the copier opened of its own (a REST proxy beside a DB registry)."""
        for closer in self._closers:
            closer.close()

    def describe(self) -> str:
        return self.sync.describe()

    def check(self, *, dry_run: bool = False) -> None:
        self.sync.check(dry_run=dry_run)

    def ensure(self, need: ArtifactNeed, *, dry_run: bool = False) -> tuple[ArtifactRef, CopyStats]:
        deployment = _deployment(need)
        return self.sync.ensure(deployment.version, deployment.slug, dry_run=dry_run)

    def copy_uri(self, need: ArtifactNeed) -> str:
        deployment = _deployment(need)
        return self.sync.copy_uri(deployment.version, deployment.slug)


def _deployment(need: ArtifactNeed) -> ModelDeployment:
    deployment = need.payload
    if not isinstance(deployment, ModelDeployment):
        raise InternalError(f"model artifacts asked to copy a {type(deployment).__name__}")
    return deployment


class MlflowSource(Closing):
    """One MLflow registry, its stages, and the folder of the GitOps repo it owns."""

    kinds = frozenset({MODEL_KIND})

    def __init__(
        self,
        name: str,
        path: str,
        registry: RegistryReader,
        stages: tuple[StagePolicy, ...],
        models: NameFilter,
        artifacts: ModelArtifacts | None = None,
        evidence: PromotionEvidence | None = None,
    ) -> None:
        self._name = name
        self._path = path
        self.registry = registry
        self._stages = stages
        self._models = models
        self._artifacts = artifacts
        #: Metrics and signatures for the promotion policy (None: nothing to read them from).
        self.evidence = evidence
        self._memo = ModelReleaseMemo()

    @property
    def name(self) -> str:
        return self._name

    @property
    def path(self) -> str:
        return self._path

    @property
    def artifacts(self) -> ModelArtifacts | None:
        return self._artifacts

    @property
    def selects(self) -> NameFilter:
        """The names it owns (``registry.models``): another shard's folders are left alone."""
        return self._models

    def read(self) -> SourceRead:
        return model_releases(
            self.registry.snapshot(),
            self._stages,
            self._models,
            source=self._name,
            path=self._path,
            memo=self._memo,
        )

    def read_hinted(self, hint: frozenset[str]) -> SourceRead:
        """The models a trigger named (a webhook, the change probe), read again: the names
        are only a hint, what they deploy comes from the registry. The folders of the
        models found, under ``<path>/<model>``, are what this read speaks for; a named
        model the read did not find (deleted, or a stale or forged name) is left to the
        full reconcile: a hint never removes a folder on the word of an empty answer."""
        names = frozenset(name for name in hint if self._models.matches(name))
        some = getattr(self.registry, "snapshot_of", None)
        if names and callable(some):
            snapshot: RegistrySnapshot = some(names)
        else:  # a snapshot file reads whole (offline); nothing named: nothing read
            whole = self.registry.snapshot() if names else RegistrySnapshot()
            models = tuple(model for model in whole.models if model.name in names)
            snapshot = RegistrySnapshot(models, whole.ui_url, whole.origin)
        read = model_releases(
            snapshot, self._stages, self._models, source=self._name, path=self._path,
            memo=self._memo, partial=True,
        )  # fmt: skip
        found = frozenset(m.name for m in snapshot.models if self._models.matches(m.name))
        return dataclasses.replace(read, coverage=Coverage(found, self._folders(found)))

    def _folders(self, names: frozenset[str]) -> frozenset[str]:
        folders = set()
        for name in names:
            try:
                folders.add(join_folder(self._path, model_slug(name)))
            except InvalidNameError:
                continue  # such a model deploys nothing: it has no folder to speak for
        return frozenset(folders)

    def close(self) -> None:
        self.registry.close()
        if self._artifacts is not None:
            self._artifacts.close()
