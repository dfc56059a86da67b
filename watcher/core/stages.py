"""Stage policies as plain core types: what selects a version and how it runs.

The configuration layer validates the user's settings and translates them into
these values where the adapters are wired, so the core never imports the
settings model (an import-linter contract says so).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field

from watcher.core.policy.rules import PromotionRules
from watcher.core.publishing import DIRECT, Publishing


@dataclass(frozen=True)
class VersionSelector:
    """A registry alias, or a registry stage (the newest version in it)."""

    alias: str | None = None
    registry_stage: str | None = None

    def describe(self) -> str:
        if self.alias is not None:
            return f"alias '{self.alias}'"
        return f"stage '{self.registry_stage}'"


@dataclass(frozen=True)
class RoutePolicy:
    """An HTTP route in front of a model: Gateway API ``httproute`` or Istio ``virtualservice``."""

    kind: str
    hosts: tuple[str, ...]
    gateway: str
    path_prefix: str = "/"


@dataclass(frozen=True)
class StagePolicy:
    """One deployment stage of a model source."""

    name: str
    select: tuple[VersionSelector, ...]
    namespace: str
    target: str = "deployment"
    replicas: int = 1
    min_replicas: int = 0
    max_replicas: int = 20
    #: ``{"requests": {"cpu": "500m"}, "limits": {...}}``; quantities already checked.
    resources: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    image: str = ""
    #: Image of the init container that fetches and verifies the model copy.
    fetch_image: str = ""
    env: tuple[tuple[str, str], ...] = ()
    env_from: tuple[str, ...] = ()
    #: Name of the ServiceAccount the serving pods run as ("" = the namespace default).
    service_account: str = ""
    #: Settings of the stage's target, by the keys it declares (its ``TargetSpec.options``).
    target_options: Mapping[str, str] = field(default_factory=dict)
    route: RoutePolicy | None = None
    network_policy: bool = False
    #: Namespaces allowed to reach the pods besides their own (e.g. the ingress gateway's).
    network_policy_ingress_namespaces: tuple[str, ...] = ()
    #: Gates, the serving contract and soak: what a version must pass to newly run here.
    rules: PromotionRules = field(default_factory=PromotionRules)
    #: A commit on the GitOps branch, or a pull request per change (``stages[].publish``).
    publish: Publishing = DIRECT


@dataclass(frozen=True)
class NameFilter:
    """Glob patterns of the names a source manages."""

    include: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = ()

    def matches(self, name: str) -> bool:
        included = any(fnmatch.fnmatchcase(name, pattern) for pattern in self.include)
        return included and not any(fnmatch.fnmatchcase(name, p) for p in self.exclude)
