"""The MLflow registries the settings configure, as this plug-in sees them.

The top-level ``registry`` section is one source (named ``mlflow``, owning the whole
deployments folder); each ``sources[]`` entry is another, with its own folder,
stages, artifact store and credentials. Settings become plain core values here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from watcher.config.settings import (
    DEFAULT_SOURCE,
    ArtifactSettings,
    Credentials,
    RegistrySettings,
    RenderSettings,
    Settings,
    StageSettings,
)
from watcher.core.policy.gates import Gate
from watcher.core.policy.rules import PromotionRules
from watcher.core.publishing import Publishing
from watcher.core.stages import RoutePolicy, StagePolicy, VersionSelector


@dataclass(frozen=True)
class MlflowEndpoint:
    """One MLflow registry: where it is, how it is read, its stages and its copies."""

    name: str
    path: str
    registry: RegistrySettings
    credentials: Credentials
    stages: tuple[StageSettings, ...]
    artifacts: ArtifactSettings
    #: Key prefix and local sub-folder of this source's copies, so teams never share one.
    artifact_subpath: str = ""

    @property
    def configured(self) -> bool:
        return bool(self.registry.tracking_uri or self.registry.database_uri)


def mlflow_endpoints(
    settings: Settings, credentials: Credentials, env: Mapping[str, str]
) -> list[MlflowEndpoint]:
    """Every configured MLflow registry: the top-level one (if set) and each of ``sources``.

    Each gets only its own secrets: a source's variables (else none of the top level's),
    and the user info of its own URLs (Basic auth from its tracking URI's, when no
    variable gives a token or a user).
    """
    endpoints = []
    top = settings.registry
    if top.tracking_uri or top.database_uri:
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
                (
                    scoped.model_copy(update=own) if own else _without_registry(scoped)
                ).with_registry_login(),
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
        target_options=target_options(stage),
        route=None
        if stage.route.kind == "none"
        else RoutePolicy(
            stage.route.kind, stage.route.hosts, stage.route.gateway, stage.route.path_prefix
        ),
        network_policy=stage.network_policy,
        network_policy_ingress_namespaces=stage.network_policy_ingress_namespaces,
        publish=Publishing(stage.publish, stage.auto_merge),
        rules=promotion_rules(stage),
    )


def promotion_rules(stage: StageSettings) -> PromotionRules:
    """Gates, contract and soak of a configured stage, as the core's plain values."""
    return PromotionRules(
        gates=tuple(
            Gate(
                g.metric,
                min=g.min,
                max=g.max,
                not_worse_than=g.not_worse_than,
                direction=g.direction,
                tolerance=g.tolerance,
            )
            for g in stage.gates
        ),
        contract=stage.contract,
        after=stage.after,
        soak_seconds=stage.soak_seconds,
    )


def target_options(stage: StageSettings) -> dict[str, str]:
    """``stages[].target_options``, with ``service_template`` (Knative's, named at the top
    level of a stage since 0.1) among them when set."""
    options = dict(stage.target_options)
    if stage.service_template:
        options["service_template"] = stage.service_template
    return options
