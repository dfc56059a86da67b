"""The one place that turns settings into adapters, sources and targets, and plugs them in.

Settings are translated into plain core types here (the core never sees the
settings model). A new source or target is registered here, once.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping, MutableSet
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

from watcher.adapters.git_repo import GitOpsRepo
from watcher.adapters.ledger import Ledger
from watcher.adapters.object_store import LocalFolderStore
from watcher.adapters.templates import template_loader
from watcher.adapters.validation_cache import ValidationCache
from watcher.config.settings import (
    DEFAULT_SOURCE,
    ArtifactSettings,
    Credentials,
    RegistrySettings,
    RenderSettings,
    Settings,
    StageSettings,
)
from watcher.core.model_context import model_context
from watcher.core.names import join_folder
from watcher.core.stages import NameFilter, RoutePolicy, StagePolicy, VersionSelector
from watcher.core.targets import Target, TemplateTarget, make_environment
from watcher.errors import ConfigError
from watcher.sources.mlflow.artifact_sources import ArtifactLocator, SourceResolver
from watcher.sources.mlflow.registry_db import DatabaseRegistry
from watcher.sources.mlflow.registry_rest import RestRegistry
from watcher.sources.mlflow.source import MlflowSource, ModelArtifacts, RegistryReader
from watcher.spine.artifact_copy import ArtifactSync
from watcher.spine.copy_ports import ObjectStore
from watcher.spine.desired_state import Source
from watcher.spine.publisher import DirectPushPublisher
from watcher.spine.reconciler import Reconciler

if TYPE_CHECKING:
    from watcher.adapters.s3_store import S3Store

log = logging.getLogger(__name__)

#: Model targets: name -> template folder. Each renders from the model context; a stage
#: picks one with ``stages[].target``. ``deployment``: Deployment + Service, serving the
#: fetched copy; ``kserve``: InferenceService + ServiceAccount; ``knative``: Knative Service.
MODEL_TARGETS = {"deployment": "model", "kserve": "kserve", "knative": "knative"}


@dataclass(frozen=True)
class MlflowEndpoint:
    """One MLflow registry as the daemon's triggers and status write-back see it."""

    name: str
    path: str
    registry: RegistrySettings
    credentials: Credentials
    stages: tuple[StageSettings, ...]
    artifacts: ArtifactSettings
    #: Key prefix and local sub-folder of this source's copies, so teams never share one.
    artifact_subpath: str = ""


def mlflow_endpoints(
    settings: Settings, credentials: Credentials, env: Mapping[str, str] | None = None
) -> list[MlflowEndpoint]:
    """Every configured MLflow registry: the top-level one (if set) and each of ``sources``.

    Each gets only its own secrets: a source's variables (else none of the top level's),
    and the user info of its own URLs (Basic auth from its tracking URI's, when no
    variable gives a token or a user).
    """
    env = os.environ if env is None else env
    endpoints = []
    top = settings.registry
    if top.tracking_uri or top.database_uri or not (settings.sources or settings.functions):
        endpoints.append(
            MlflowEndpoint(
                DEFAULT_SOURCE,
                "",
                top,
                credentials.scoped("").with_registry_login(),
                settings.stages,
                settings.artifacts,
            )
        )
    for source in settings.sources:
        path = source.path or source.name
        own = source.credentials.read(env)
        scoped = credentials.scoped(f"sources.{source.name}.")
        endpoints.append(
            MlflowEndpoint(
                source.name,
                path,
                source.registry,
                (scoped.model_copy(update=own) if own else _without_registry(scoped))
                .with_registry_login(),
                source.stages or settings.stages,
                source.artifacts or settings.artifacts,
                artifact_subpath="" if source.artifacts else path,
            )
        )
    return endpoints


def _without_registry(credentials: Credentials) -> Credentials:
    """A team's registry never receives the top-level registry's secrets by default."""
    return credentials.model_copy(
        update={"mlflow_token": "", "mlflow_username": "", "mlflow_password": ""}
    )


def stage_policy(stage: StageSettings, render: RenderSettings) -> StagePolicy:
    """The core's view of a configured stage; ``render`` gives the default fetch image."""
    resources: dict[str, dict[str, str]] = {}
    for section in ("requests", "limits"):
        amounts = getattr(stage.resources, section)
        values = {k: v for k, v in (("cpu", amounts.cpu), ("memory", amounts.memory)) if v}
        if values:
            resources[section] = values
    return StagePolicy(
        name=stage.name,
        select=tuple(VersionSelector(s.alias, s.stage) for s in stage.select),
        namespace=stage.namespace,
        target=stage.target,
        replicas=stage.replicas,
        min_replicas=stage.min_replicas or 0,
        max_replicas=stage.max_replicas,
        resources=resources,
        image=stage.image,
        env=stage.env,
        env_from=stage.env_from,
        service_account=stage.service_account,
        fetch_image=stage.fetch_image or (render or RenderSettings()).fetch_image,
        service_template=stage.service_template,
        route=None
        if stage.route.kind == "none"
        else RoutePolicy(
            stage.route.kind, stage.route.hosts, stage.route.gateway, stage.route.path_prefix
        ),
        network_policy=stage.network_policy,
        network_policy_ingress_namespaces=stage.network_policy_ingress_namespaces,
    )


def build_registry(registry: RegistrySettings, credentials: Credentials) -> RegistryReader:
    if not registry.tracking_uri and not registry.database_uri:
        raise ConfigError(
            "no model registry is configured",
            hint="set MLFLOW_TRACKING_URI (http(s)://… for the REST API, or a database URI)",
        )
    if registry.resolved_kind == "rest":
        return RestRegistry(registry, credentials)
    if not registry.resolved_ui_url:
        # The REST reader links to the server it reads; a database names no UI address.
        log.warning(
            "registry links are left out of manifests and commits: the registry is read from "
            "its database and no UI address is known (set registry.ui_url, or keep the http "
            "tracking URI and set registry.database_uri)"
        )
    return DatabaseRegistry(registry, credentials)


def build_artifacts(
    settings: Settings, endpoint: MlflowEndpoint, registry: RegistryReader
) -> ModelArtifacts | None:
    """The artifact step for a source's store; None when manifests serve models:/ URIs."""
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
        # boto3 is imported only when a bucket is used: 18 MB a process need not carry.
        from watcher.adapters.s3_store import S3Store

        store = s3_store = S3Store(s3)
        prefix = join_folder(s3.prefix, endpoint.artifact_subpath)
    else:
        local = Path(config.local_dir) if config.local_dir else settings.artifact_dir
        store = LocalFolderStore(
            local / endpoint.artifact_subpath if endpoint.artifact_subpath else local
        )
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
    return ModelArtifacts(
        ArtifactSync(store, resolver, prefix=prefix, staging_dir=settings.staging_path), opened
    )


def build_model_sources(
    settings: Settings, credentials: Credentials, *, with_artifacts: bool = True
) -> list[MlflowSource]:
    sources = []
    for endpoint in mlflow_endpoints(settings, credentials):
        registry = build_registry(endpoint.registry, endpoint.credentials)
        artifacts = build_artifacts(settings, endpoint, registry) if with_artifacts else None
        models = endpoint.registry.models
        sources.append(
            MlflowSource(
                endpoint.name,
                endpoint.path,
                registry,
                tuple(stage_policy(stage, settings.render) for stage in endpoint.stages),
                NameFilter(models.include, models.exclude),
                artifacts,
            )
        )
    return sources


def build_sources(
    settings: Settings, credentials: Credentials, *, with_artifacts: bool = True
) -> list[Source]:
    sources: list[Source] = [
        *build_model_sources(settings, credentials, with_artifacts=with_artifacts)
    ]
    if settings.functions:
        from watcher.sources.functions.source import build_function_sources

        sources += build_function_sources(
            settings.functions, settings.state_path, credentials.scoped("functions.")
        )
    return sources


def build_templates(settings: Settings) -> jinja2.Environment:
    return make_environment(template_loader(settings.render.templates_dir))


def build_targets(
    settings: Settings,
    env: jinja2.Environment | None = None,
    known_valid: MutableSet[str] | None = None,
) -> dict[str, Target]:
    """Every target a release may name; model stages and function specs pick from these."""
    env = env or build_templates(settings)
    render = settings.render
    version = render.kubernetes_version if render.validate_manifests else None
    targets: dict[str, Target] = {
        name: TemplateTarget(name, env, folder, model_context, version, known_valid)
        for name, folder in MODEL_TARGETS.items()
    }
    try:
        from watcher.core.functions.targets import function_targets
    except ImportError:  # pragma: no cover - the function targets ship with the package
        return targets
    targets.update(function_targets(env, version))
    return targets


def check_stage_targets(settings: Settings, targets: Mapping[str, Target]) -> None:
    """A stage that names an unknown target is a configuration error, found before any work."""
    for endpoint_stages in [settings.stages, *(s.stages or () for s in settings.sources)]:
        for stage in endpoint_stages:
            if stage.target not in MODEL_TARGETS:
                raise ConfigError(
                    f"stage {stage.name!r} names an unknown model target {stage.target!r}",
                    hint=f"choose one of: {', '.join(sorted(MODEL_TARGETS))}",
                )


def build_reconciler(settings: Settings, credentials: Credentials) -> Reconciler:
    """A reconciler with every adapter open; use it as a context manager to close them."""
    settings.state_path.mkdir(parents=True, exist_ok=True)
    validated = ValidationCache(settings.state_path)
    targets = build_targets(settings, known_valid=validated)
    check_stage_targets(settings, targets)
    sources = build_sources(settings, credentials)
    if not settings.git.repo_url:
        for source in sources:
            source.close()
        raise ConfigError(
            "no GitOps repository is configured", hint="set GIT_REPO_URL or git.repo_url"
        )
    git = settings.git
    publisher = DirectPushPublisher(
        GitOpsRepo(git, settings.checkout_path, credentials.scoped("")),
        git.path,
        attempts=git.push_attempts,
        backoff_seconds=git.push_backoff_seconds,
    )
    return Reconciler(
        sources,
        targets,
        publisher,
        Ledger(settings.state_database_url, credentials.url_login("state.database_url")),
        max_delete_fraction=settings.safety.max_delete_fraction,
        closers=(validated,),
    )
