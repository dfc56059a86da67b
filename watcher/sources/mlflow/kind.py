"""The MLflow registry kind: how its sources are built, checked, triggered and reported to.

Registered once in ``watcher.sources``. Its settings are the built-in tree's
``registry``, ``stages``, ``artifacts`` and ``sources`` sections (see
``settings_view``); readers, copies, the change probe, the database watch, the
webhook route and status write-back are all of this package.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from watcher.config.settings import RegistrySettings, Settings
from watcher.core.stages import NameFilter
from watcher.errors import ConfigError
from watcher.sources.mlflow.copies import build_artifacts, copy_location
from watcher.sources.mlflow.readers import build_registry
from watcher.sources.mlflow.settings_view import MlflowEndpoint, mlflow_endpoints, stage_policy
from watcher.sources.mlflow.source import MlflowSource, ModelArtifacts, RegistryReader
from watcher.spine.policy_ports import PromotionEvidence
from watcher.spine.source_kinds import BuildContext, SourceEntry, StatusReporter
from watcher.spine.triggers import Trigger

log = logging.getLogger(__name__)

#: Where MLflow posts its webhooks (MLflow 3.3+, registry events).
WEBHOOK_PATH = "/webhooks/mlflow"


class MlflowKind:
    """MLflow model registries, read over REST or from the backend database."""

    key = "mlflow"
    section: type[BaseModel] | None = None

    def entries(self, settings: Settings) -> list[SourceEntry]:
        from watcher.config.settings import Credentials

        # Credentials are bound at build time; the entries only name the registries.
        endpoints = mlflow_endpoints(settings, Credentials(), {})
        return [SourceEntry(self.key, e.name, e.path, e) for e in endpoints]

    def endpoints(self, context: BuildContext) -> list[MlflowEndpoint]:
        """The registries with their credentials (each source's own, never another's)."""
        return mlflow_endpoints(context.settings, context.credentials, context.env)

    def check(self, entries: Sequence[SourceEntry], context: BuildContext) -> None:
        """No two sources may copy into the same place: one would overwrite the other's copies."""
        seen: dict[str, str] = {}
        for endpoint in self.endpoints(context):
            location = copy_location(context.settings, endpoint)
            if location is None:
                continue
            other = seen.setdefault(location, endpoint.name)
            if other != endpoint.name:
                raise ConfigError(
                    f"sources {other!r} and {endpoint.name!r} copy model files to the same place "
                    f"({location}): one would overwrite the other's copies",
                    hint="give one of them its own artifacts.s3.prefix (or artifacts.local_dir), "
                    "or leave out its artifacts section to copy into a sub-folder named after it",
                )

    def build(self, entry: SourceEntry, context: BuildContext) -> MlflowSource:
        endpoint = next(e for e in self.endpoints(context) if e.name == entry.name)
        registry = build_registry(endpoint.registry, endpoint.credentials)
        artifacts = (
            build_artifacts(context.settings, endpoint, registry)
            if context.with_artifacts
            else None
        )
        source = mlflow_source(context.settings, endpoint, registry, artifacts)
        source.evidence = _evidence(endpoint, registry, artifacts)
        return source

    def triggers(self, entries: Sequence[SourceEntry], context: BuildContext) -> list[Trigger]:
        from watcher.sources.mlflow.triggers import registry_triggers, webhook_trigger

        found: list[Trigger] = []
        configured = [e for e in self.endpoints(context) if e.configured]
        for endpoint in configured:
            found += registry_triggers(endpoint, context.daemon_settings)
        if configured:
            selections = {e.name: name_filter(e.registry) for e in configured}
            found.append(webhook_trigger(WEBHOOK_PATH, context, selections))
        return found

    def reporters(
        self, entries: Sequence[SourceEntry], context: BuildContext
    ) -> dict[str, StatusReporter]:
        from watcher.sources.mlflow.status_writeback import status_reporters

        return status_reporters(self.endpoints(context), context.daemon_settings)


def mlflow_source(
    settings: Settings, endpoint: MlflowEndpoint, registry: RegistryReader, artifacts: Any
) -> MlflowSource:
    """One registry as a source, with its stages as core policies."""
    return MlflowSource(
        endpoint.name,
        endpoint.path,
        registry,
        tuple(stage_policy(stage, settings.render) for stage in endpoint.stages),
        name_filter(endpoint.registry),
        artifacts,
    )


def name_filter(registry: RegistrySettings) -> NameFilter:
    """The models a registry source manages (``registry.models``)."""
    return NameFilter(registry.models.include, registry.models.exclude)


KIND = MlflowKind()


def snapshot_source(settings: Settings, path: Path) -> MlflowSource:
    """The top-level registry read from a snapshot file (``gitops-watcher snapshot``)."""
    from watcher.config.settings import DEFAULT_SOURCE, Credentials
    from watcher.sources.mlflow.snapshot_file import SnapshotFile

    endpoint = MlflowEndpoint(
        DEFAULT_SOURCE, "", settings.registry, Credentials(), settings.stages, settings.artifacts
    )
    return mlflow_source(settings, endpoint, SnapshotFile.read(path), None)


def _evidence(
    endpoint: MlflowEndpoint, registry: RegistryReader, artifacts: ModelArtifacts | None
) -> PromotionEvidence | None:
    """Metrics and signatures for the policy, from the readers that can give them."""
    from watcher.sources.mlflow.copies import version_files
    from watcher.sources.mlflow.evidence import MlflowEvidence
    from watcher.sources.mlflow.registry_db import DatabaseRegistry
    from watcher.sources.mlflow.registry_rest import RestRegistry

    if not isinstance(registry, RestRegistry | DatabaseRegistry):
        return None  # a snapshot file: offline, nothing to read
    files = artifacts.sync.files if artifacts is not None else version_files(endpoint, registry)
    return MlflowEvidence(registry, files)
