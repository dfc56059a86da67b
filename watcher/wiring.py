"""The one place that picks adapters for the settings and plugs them into the reconciler."""

from __future__ import annotations

from pathlib import Path

from watcher.adapters.git_repo import GitOpsRepo
from watcher.adapters.registry_db import DatabaseRegistry
from watcher.adapters.registry_rest import RestRegistry
from watcher.adapters.state_store import StateStore
from watcher.adapters.templates import template_loader
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
    )
