"""The one place that picks adapters for the settings and plugs them into the reconciler."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from watcher.adapters.artifact_sources import ArtifactLocator, SourceResolver
from watcher.adapters.git_repo import GitOpsRepo
from watcher.adapters.object_store import LocalFolderStore, ObjectStore
from watcher.adapters.registry_db import DatabaseRegistry
from watcher.adapters.registry_rest import RestRegistry
from watcher.adapters.s3_store import S3Store, make_s3_client
from watcher.adapters.state_store import StateStore
from watcher.adapters.templates import template_loader
from watcher.artifact_sync import ArtifactSync
from watcher.config.settings import Credentials, Settings
from watcher.core.render import make_environment
from watcher.errors import ConfigError
from watcher.reconciler import Reconciler, RegistryReader


def build_registry(settings: Settings, credentials: Credentials) -> RegistryReader:
    registry = settings.registry
    if not registry.tracking_uri and not registry.database_uri:
        raise ConfigError(
            "no model registry is configured",
            hint="set MLFLOW_TRACKING_URI (http(s)://… for the REST API, or a database URI)",
        )
    if registry.resolved_kind == "rest":
        return RestRegistry(registry, credentials)
    return DatabaseRegistry(registry)


def build_artifacts(
    settings: Settings, credentials: Credentials, registry: RegistryReader
) -> ArtifactSync | None:
    """The artifact step for the configured store; None when manifests serve models:/ URIs."""
    config = settings.artifacts
    kind = config.resolved_store
    if kind == "none":
        return None
    if not isinstance(registry, RestRegistry | DatabaseRegistry):
        raise ConfigError("artifact copies need the REST or database registry adapter")
    proxy: RestRegistry | None = registry if isinstance(registry, RestRegistry) else None
    if proxy is None and settings.registry.tracking_uri.startswith(("http://", "https://")):
        proxy = RestRegistry(settings.registry, credentials)
    store: ObjectStore
    s3 = config.s3
    if kind == "s3":
        store = S3Store(s3)
        prefix = s3.prefix
    else:
        store = LocalFolderStore(settings.artifact_dir)
        prefix = ""

    @functools.cache
    def source_client() -> tuple[Any, bool]:
        """The client for s3:// sources; the store's own (server-side copies) when they match."""
        endpoint = config.sources.s3_endpoint_url or s3.endpoint_url
        profile = config.sources.s3_profile or s3.profile
        if isinstance(store, S3Store) and endpoint == s3.endpoint_url and profile == s3.profile:
            return store.client, True
        return make_s3_client(s3, endpoint_url=endpoint, profile=profile), False

    locator: ArtifactLocator = registry
    resolver = SourceResolver(config.sources, locator, proxy=proxy, source_s3_client=source_client)
    return ArtifactSync(store, resolver, prefix=prefix, staging_dir=settings.staging_path)


def build_reconciler(settings: Settings, credentials: Credentials) -> Reconciler:
    registry = build_registry(settings, credentials)
    if not settings.git.repo_url:
        raise ConfigError(
            "no GitOps repository is configured", hint="set GIT_REPO_URL or git.repo_url"
        )
    Path(settings.state_dir).mkdir(parents=True, exist_ok=True)
    return Reconciler(
        settings,
        registry=registry,
        target=GitOpsRepo(settings.git, settings.checkout_path, credentials),
        templates=make_environment(template_loader(settings.render.templates_dir)),
        ledger=StateStore(settings.state_database_url),
        artifacts=build_artifacts(settings, credentials, registry),
    )
