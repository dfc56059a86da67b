"""Small pieces every function pod is built from: container fields, ports, volume names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from watcher.core.functions.model import Workload

SOURCE_VOLUME = "source"
FETCH_VOLUME = "fetch"
CODE_VOLUME = "code"
DEPS_VOLUME = "deps"


def with_fields(container: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """The container with the extra keys that are not empty (Kubernetes omits empty ones)."""
    return {**container, **{k: v for k, v in extra.items() if v}}


def env_from(workload: Workload) -> list[dict[str, Any]]:
    """The workload's Secrets, each as an ``envFrom`` entry."""
    return [{"secretRef": {"name": name}} for name in workload.secrets]


def container_ports(fn: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ``ports`` of the main container, from the template variable ``fn.ports``."""
    return [{"name": p["name"], "containerPort": p["port"], "protocol": "TCP"} for p in fn["ports"]]
