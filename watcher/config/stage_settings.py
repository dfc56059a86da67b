"""Deployment stages of a model source: what selects a version and how it runs."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from watcher.config.base import Frozen, check_dns_label, check_quantity
from watcher.core.model_context import DEFAULT_FETCH_IMAGE as DEFAULT_FETCH_IMAGE

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
#: An image reference with a tag or a digest (an untagged name would float to latest).
_IMAGE = re.compile(
    r"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[0-9a-f]{64}|:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
    r"@sha256:[0-9a-f]{64})$"
)
#: Stages named so must keep at least one replica unless the config says otherwise.
PRODUCTION_NAMES = frozenset({"production", "prod"})
#: The image that serves the model copy: MLflow's own scoring server, pinned to the
#: MLflow release the serving test runs (it loads the local folder the init container
#: fetched; the model's own libraries must be in the image, see docs/serving.md).
DEFAULT_SERVING_IMAGE = "ghcr.io/mlflow/mlflow:v3.17.2"


class Selector(Frozen):
    """One way a stage picks a version: a registry alias, or a registry stage."""

    alias: str | None = Field(None, description="Registry alias, e.g. 'champion'.")
    stage: Literal["Staging", "Production", "Archived", "None"] | None = Field(
        None, description="Registry stage; the newest version in it is chosen."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Selector:
        if (self.alias is None) == (self.stage is None):
            raise ValueError("a selector needs exactly one of 'alias' or 'stage'")
        return self


class ResourceAmounts(Frozen):
    cpu: str | None = Field(None, description="CPU, a Kubernetes quantity such as 500m or 2.")
    memory: str | None = Field(None, description="Memory, a Kubernetes quantity such as 2Gi.")

    @field_validator("cpu", "memory")
    @classmethod
    def _quantity(cls, value: str | None) -> str | None:
        return check_quantity(value, "resource amount")


class RouteSettings(Frozen):
    """An optional HTTP route in front of the model's Service (off by default)."""

    kind: Literal["none", "httproute", "virtualservice"] = Field(
        "none",
        description="'httproute' (Gateway API), 'virtualservice' (Istio), or 'none'.",
    )
    hosts: tuple[str, ...] = Field(
        (), description="Host names the route answers for (at least one unless kind is none)."
    )
    gateway: str = Field(
        "",
        description="The Gateway (Gateway API) or Istio gateway, as 'namespace/name' or 'name'.",
    )
    path_prefix: str = Field(
        "/", description="Path prefix routed to the model; {model} is replaced by its folder name."
    )

    @field_validator("hosts")
    @classmethod
    def _host_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for host in value:
            bare = host.removeprefix("*.")
            if len(host) > 253 or not _DNS_SUBDOMAIN.match(bare):
                raise ValueError(f"route host {host[:80]!r} is not a valid DNS name")
        return value

    @field_validator("path_prefix")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/") or any(c in value for c in " \t\n\r\"'#?"):
            raise ValueError(f"route path_prefix {value[:80]!r} must be an absolute URL path")
        return value

    @model_validator(mode="after")
    def _complete(self) -> RouteSettings:
        if self.kind != "none" and (not self.hosts or not self.gateway):
            raise ValueError(f"a route of kind {self.kind!r} needs hosts and a gateway")
        return self


class Resources(Frozen):
    requests: ResourceAmounts = Field(default_factory=ResourceAmounts)
    limits: ResourceAmounts = Field(default_factory=ResourceAmounts)


class GateSettings(Frozen):
    """One gate on a version's logged metrics (docs/policy.md)."""

    metric: str = Field(description="Metric key as the run (or logged model) logged it.")
    min: float | None = Field(None, description="The metric must be at least this.")
    max: float | None = Field(None, description="The metric must be at most this.")
    not_worse_than: Literal["", "deployed"] = Field(
        "", description="'deployed': not worse than the version the stage runs now."
    )
    direction: Literal["higher", "lower"] | None = Field(
        None, description="Which way is better (needed with not_worse_than)."
    )
    tolerance: float = Field(
        0.0, ge=0, description="How much worse than deployed still passes, in the metric's units."
    )

    @model_validator(mode="after")
    def _complete(self) -> GateSettings:
        if self.min is None and self.max is None and not self.not_worse_than:
            raise ValueError(f"gate on {self.metric!r} needs min, max or not_worse_than")
        if self.not_worse_than and self.direction is None:
            raise ValueError(
                f"gate on {self.metric!r}: not_worse_than needs direction: higher or lower"
            )
        return self


class StageSettings(Frozen):
    """One deployment stage: what selects its version and how it runs."""

    name: str = Field(description="Stage name; folder deployments/<model>/<name>/.")
    select: tuple[Selector, ...] = Field(
        description="Selectors tried in order; the first that matches a version wins."
    )
    namespace: str = Field("", description="Kubernetes namespace (default: models-<name>).")
    target: str = Field(
        "deployment",
        description="What serves the model in this stage: 'deployment' (Deployment + "
        "Service), or another model target (see docs/templates.md).",
    )
    replicas: int = Field(1, ge=0, le=1000, description="Default replica count.")
    min_replicas: int | None = Field(
        None,
        ge=0,
        le=1000,
        description="Lower bound for the 'deploy.replicas' version tag (default: 1 for a "
        "stage named production or prod, else 0).",
    )
    max_replicas: int = Field(
        20, ge=0, le=1000, description="Upper bound for the 'deploy.replicas' version tag."
    )
    resources: Resources = Field(default_factory=Resources)
    image: str = Field(
        DEFAULT_SERVING_IMAGE, description="Container image that serves the model (pin a tag)."
    )
    env: tuple[tuple[str, str], ...] = Field(
        (), description="Extra, non-secret environment variables for the serving container."
    )
    env_from: tuple[str, ...] = Field(
        (),
        description="Names of Kubernetes Secrets whose keys the serving container gets as "
        "environment variables (e.g. the S3 credentials); only the names go to git.",
    )
    service_account: str = Field(
        "", description="ServiceAccount the serving pods run as (default: the namespace's)."
    )
    fetch_image: str = Field(
        "",
        description="Image of the init container that downloads and verifies the model copy "
        "(default: render.fetch_image; pin a tag).",
    )
    service_template: str = Field(
        "",
        description="For the 'knative' target: a Knative Service as YAML text in which $name, "
        "$namespace and $image are filled in (default: built in; see docs/serving.md).",
    )
    target_options: dict[str, str] = Field(
        default_factory=dict,
        description="Settings of the stage's target, by the keys it declares (a target "
        "plug-in's own settings; an unknown key is a configuration error).",
    )
    gates: tuple[GateSettings, ...] = Field(
        (), description="Gates a version must pass to newly run in this stage (docs/policy.md)."
    )
    contract: Literal["strict", "warn", "off"] = Field(
        "warn",
        description="The serving contract against the version that runs: 'strict' refuses a "
        "breaking signature change, 'warn' deploys and says so in the commit, 'off' ignores it.",
    )
    after: str = Field(
        "", description="A stage of the same source a version must run in first (soak)."
    )
    soak_seconds: float = Field(
        0.0, ge=0, description="How long the version must have run in the 'after' stage."
    )
    route: RouteSettings = Field(default_factory=RouteSettings)
    publish: Literal["direct", "pull-request"] = Field(
        "direct",
        description="'direct': commit each change on git.branch; 'pull-request': open one "
        "pull request per change on git.forge (docs/pull-requests.md).",
    )
    auto_merge: bool = Field(
        False,
        description="With publish: pull-request, gitops-watcher merges its own pull requests "
        "(git.forge.merge_method); otherwise it never merges.",
    )
    network_policy: bool = Field(
        False,
        description="Render NetworkPolicies that let only this namespace (and the ingress "
        "namespaces in network_policy_ingress_namespaces) reach the model's pods.",
    )
    network_policy_ingress_namespaces: tuple[str, ...] = Field(
        (),
        description="Namespaces (by name) whose pods may reach the model, e.g. the gateway's.",
    )

    @field_validator("name")
    @classmethod
    def _name_is_label(cls, value: str) -> str:
        return check_dns_label(value, "stage name")

    @field_validator("target")
    @classmethod
    def _target_is_label(cls, value: str) -> str:
        return check_dns_label(value, "target")

    @field_validator("env", mode="before")
    @classmethod
    def _env_from_mapping(cls, value: object) -> object:
        if isinstance(value, dict):
            return tuple(sorted((str(k), str(v)) for k, v in value.items()))
        return value

    @field_validator("env_from")
    @classmethod
    def _secret_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
                raise ValueError(f"env_from entry {name[:80]!r} is not a valid Kubernetes name")
        return value

    @field_validator("fetch_image")
    @classmethod
    def _pinned_image(cls, value: str) -> str:
        if value and (not _IMAGE.match(value) or value.endswith(":latest")):
            raise ValueError(
                f"image {value[:120]!r} must be pinned: name:tag (not latest) or name@sha256:…"
            )
        return value

    @field_validator("network_policy_ingress_namespaces")
    @classmethod
    def _namespaces(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            check_dns_label(name, "network_policy_ingress_namespaces entry")
        return value

    @field_validator("service_account")
    @classmethod
    def _account_name(cls, value: str) -> str:
        if value and (len(value) > 253 or not _DNS_SUBDOMAIN.match(value)):
            raise ValueError(f"service_account {value[:80]!r} is not a valid Kubernetes name")
        return value

    @field_validator("select")
    @classmethod
    def _some_selector(cls, value: tuple[Selector, ...]) -> tuple[Selector, ...]:
        if not value:
            raise ValueError("a stage needs at least one selector")
        return value

    @model_validator(mode="after")
    def _defaults(self) -> StageSettings:
        if not self.namespace:
            object.__setattr__(self, "namespace", f"models-{self.name}")
        check_dns_label(self.namespace, "namespace")
        if self.min_replicas is None:
            floor = 1 if self.name in PRODUCTION_NAMES else 0
            object.__setattr__(self, "min_replicas", floor)
        low = self.min_replicas or 0
        if not low <= self.max_replicas:
            raise ValueError(f"min_replicas {low} is above max_replicas {self.max_replicas}")
        if not low <= self.replicas <= self.max_replicas:
            raise ValueError(
                f"replicas {self.replicas} must lie between min_replicas {low} and "
                f"max_replicas {self.max_replicas}"
            )
        return self


def default_stages() -> tuple[StageSettings, ...]:
    return (
        StageSettings(
            name="staging",
            select=(Selector(alias="staging"), Selector(stage="Staging")),
        ),
        StageSettings(
            name="production",
            select=(Selector(alias="champion"), Selector(stage="Production")),
            replicas=2,
        ),
    )
