"""The artifact step of an MLflow source: where its copies go and how versions are read.

boto3 is imported only when a bucket is used: 18 MB a process need not carry.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from watcher.adapters.object_store import LocalFolderStore
from watcher.config.settings import Settings
from watcher.core.names import join_folder
from watcher.core.urls import redact_url
from watcher.errors import ConfigError
from watcher.sources.mlflow.artifact_sources import ArtifactLocator, SourceResolver
from watcher.sources.mlflow.settings_view import MlflowEndpoint
from watcher.sources.mlflow.source import ModelArtifacts, RegistryReader
from watcher.spine.artifact_copy import ArtifactSync
from watcher.spine.copy_ports import ObjectStore

if TYPE_CHECKING:
    from watcher.adapters.s3_store import S3Store
    from watcher.sources.mlflow.registry_rest import RestRegistry


def copy_location(settings: Settings, endpoint: MlflowEndpoint) -> str | None:
    """Where this source's copies live, as one comparable string; None without copies."""
    config = endpoint.artifacts
    kind = config.resolved_store
    if kind == "none":
        return None
    if kind == "s3":
        s3 = config.s3
        prefix = join_folder(s3.prefix, endpoint.artifact_subpath)
        return f"s3://{s3.bucket}/{prefix} at {redact_url(s3.endpoint_url) or 'AWS S3'}"
    return str(_local_folder(settings, endpoint).resolve())


def _local_folder(settings: Settings, endpoint: MlflowEndpoint) -> Path:
    config = endpoint.artifacts
    local = Path(config.local_dir) if config.local_dir else settings.artifact_dir
    return local / endpoint.artifact_subpath if endpoint.artifact_subpath else local


def build_artifacts(
    settings: Settings, endpoint: MlflowEndpoint, registry: RegistryReader
) -> ModelArtifacts | None:
    """The artifact step for a source's store; None when manifests serve models:/ URIs."""
    from watcher.sources.mlflow.registry_db import DatabaseRegistry
    from watcher.sources.mlflow.registry_rest import RestRegistry

    config = endpoint.artifacts
    kind = config.resolved_store
    if kind == "none":
        return None
    if not isinstance(registry, RestRegistry | DatabaseRegistry):
        raise ConfigError("artifact copies need the REST or database registry adapter")
    proxy: RestRegistry | None = registry if isinstance(registry, RestRegistry) else None
    opened: tuple[RestRegistry, ...] = ()
    if proxy is None and endpoint.registry.tracking_uri.startswith(("http://", "https://")):
        proxy = RestRegistry(endpoint.registry, endpoint.credentials)
        opened = (proxy,)
    store: ObjectStore
    s3 = config.s3
    s3_store: S3Store | None = None
    if kind == "s3":
        from watcher.adapters.s3_store import S3Store

        store = s3_store = S3Store(s3)
        prefix = join_folder(s3.prefix, endpoint.artifact_subpath)
    else:
        store = LocalFolderStore(_local_folder(settings, endpoint))
        prefix = ""

    @functools.cache
    def source_client() -> tuple[Any, bool]:
        """The client for s3:// sources; the store's own (server-side copies) when they match."""
        source_endpoint = config.sources.s3_endpoint_url or s3.endpoint_url
        profile = config.sources.s3_profile or s3.profile
        if s3_store is not None and source_endpoint == s3.endpoint_url and profile == s3.profile:
            return s3_store.client, True
        from watcher.adapters.s3_store import make_s3_client

        return make_s3_client(s3, endpoint_url=source_endpoint, profile=profile), False

    locator: ArtifactLocator = registry
    resolver = SourceResolver(config.sources, locator, proxy=proxy, source_s3_client=source_client)
    # Whose copies these are, recorded in each manifest: the registry without credentials.
    identity = redact_url(endpoint.registry.tracking_uri or endpoint.registry.database_uri)
    sync = ArtifactSync(
        store,
        resolver,
        prefix=prefix,
        staging_dir=settings.staging_path,
        registry=identity.rstrip("/"),
        source_name=endpoint.name,
    )
    return ModelArtifacts(sync, opened)


def version_files(endpoint: MlflowEndpoint, registry: ArtifactLocator) -> SourceResolver:
    """Where a version's files are read from, without a copy step (store ``none``): for
    the promotion policy, which reads a version's ``MLmodel``."""
    from watcher.sources.mlflow.registry_rest import RestRegistry

    config = endpoint.artifacts
    proxy = registry if isinstance(registry, RestRegistry) else None

    @functools.cache
    def source_client() -> tuple[Any, bool]:
        from watcher.adapters.s3_store import make_s3_client

        endpoint_url = config.sources.s3_endpoint_url or config.s3.endpoint_url
        profile = config.sources.s3_profile or config.s3.profile
        return make_s3_client(config.s3, endpoint_url=endpoint_url, profile=profile), False

    return SourceResolver(config.sources, registry, proxy=proxy, source_s3_client=source_client)
