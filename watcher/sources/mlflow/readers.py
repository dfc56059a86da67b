"""Open a registry reader: the REST API of an MLflow server, or its backend database."""

from __future__ import annotations

import logging

from watcher.config.settings import Credentials, RegistrySettings
from watcher.errors import ConfigError
from watcher.sources.mlflow.source import RegistryReader

log = logging.getLogger(__name__)


def build_registry(registry: RegistrySettings, credentials: Credentials) -> RegistryReader:
    """The reader the settings ask for; the database reader warns when links cannot be made."""
    if not registry.tracking_uri and not registry.database_uri:
        raise ConfigError(
            "no model registry is configured",
            hint="set MLFLOW_TRACKING_URI (http(s)://… for the REST API, or a database URI)",
        )
    if registry.resolved_kind == "rest":
        from watcher.sources.mlflow.registry_rest import RestRegistry

        return RestRegistry(registry, credentials)
    if not registry.resolved_ui_url:
        # The REST reader links to the server it reads; a database names no UI address.
        log.warning(
            "registry links are left out of manifests and commits: the registry is read from "
            "its database and no UI address is known (set registry.ui_url, or keep the http "
            "tracking URI and set registry.database_uri)"
        )
    from watcher.sources.mlflow.registry_db import DatabaseRegistry

    return DatabaseRegistry(registry, credentials)
