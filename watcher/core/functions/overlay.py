"""Stage overlays: the per-stage settings a spec's SDK export cannot hold.

An overlay is a YAML file beside the spec, named ``<spec>.overlay.yaml``::

    action: serve              # only for a DigitalHub function without a task file
    defaults:                  # every stage
      env: {LOG_LEVEL: info}
    stages:
      production:
        replicas: 3
        image_tag: "1.4.2"
        gateway: {type: ingress, host: app.example.com, auth: basic, secret: app-users}

Keys are strict (a typo is an error). ``defaults`` and the stage's entry are
merged key by key, the stage winning; ``env`` merges by variable name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from watcher.core.functions import fields
from watcher.core.functions.problems import Problems, type_name
from watcher.core.names import describe

OVERLAY_SUFFIXES = (".overlay.yaml", ".overlay.yml")
STAGE_KEYS = frozenset(
    {
        "enabled",
        "replicas",
        "image",
        "image_tag",
        "resources",
        "env",
        "secrets",
        "node_selector",
        "tolerations",
        "affinity",
        "schedule",
        "params",
        "probes",
        "gateway",
        "build",
        "source_secret",
        "service_type",
    }
)
GATEWAY_KEYS = frozenset(
    {
        "type",
        "host",
        "path",
        "port",
        "auth",
        "secret",
        "auth_url",
        "auth_filter",
        "ssl_redirect",
        "tls_secret",
        "ingress_class",
        "parent",
    }
)
_AUTH = ("none", "basic", "access-key")
_GATEWAY_TYPES = ("ingress", "httproute")
_PROBES = {"readiness": "readinessProbe", "liveness": "livenessProbe", "startup": "startupProbe"}
_CRON_FIELDS = 5


@dataclass(frozen=True)
class Gateway:
    """How the app is exposed outside the cluster."""

    type: str
    host: str
    path: str = "/"
    port: int | None = None
    auth: str = "none"
    secret: str = ""
    auth_url: str = ""
    auth_filter: dict[str, str] = field(default_factory=dict)
    ssl_redirect: bool = True
    tls_secret: str = ""
    ingress_class: str = ""
    parent: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StageOverlay:
    """One stage's settings; ``None`` / empty means "as the spec says"."""

    enabled: bool = True
    replicas: int | None = None
    image: str = ""
    image_tag: str = ""
    resources: dict[str, Any] = field(default_factory=dict)
    env: tuple[dict[str, Any], ...] = ()
    secrets: tuple[str, ...] = ()
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[dict[str, Any], ...] = ()
    affinity: dict[str, Any] = field(default_factory=dict)
    schedule: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    probes: dict[str, dict[str, Any]] = field(default_factory=dict)
    gateway: Gateway | None = None
    build_destination: str = ""
    build_push_secret: str = ""
    source_secret: str = ""
    service_type: str = ""


@dataclass(frozen=True)
class Overlay:
    """A parsed overlay file: the bare-function action and each stage's raw entry."""

    file: str = ""
    action: str = ""
    defaults: dict[str, Any] = field(default_factory=dict)
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)

    def raw_for(self, stage: str) -> dict[str, Any]:
        """``defaults`` with the stage's entry over it (env merged by name)."""
        merged = dict(self.defaults)
        entry = self.stages.get(stage, {})
        for key, value in entry.items():
            if key in ("env", "gateway", "build") and isinstance(value, Mapping):
                base = merged.get(key)
                merged[key] = {**(base if isinstance(base, Mapping) else {}), **value}
            else:
                merged[key] = value
        return merged


def is_overlay(path: str) -> bool:
    return path.endswith(OVERLAY_SUFFIXES)


def spec_path_for(overlay_path: str) -> tuple[str, ...]:
    """The spec files an overlay may belong to (``x.overlay.yaml`` → ``x.yaml``, ``x.yml``)."""
    for suffix in OVERLAY_SUFFIXES:
        if overlay_path.endswith(suffix):
            stem = overlay_path[: -len(suffix)]
            return (f"{stem}.yaml", f"{stem}.yml")
    return ()


def parse_overlay(problems: Problems, document: dict[str, Any]) -> Overlay:
    unknown = set(document) - {"action", "defaults", "stages"}
    if unknown:
        problems.add("(top level)", f"unknown keys {sorted(unknown)}; use action, defaults, stages")
    action = problems.string(document, "action", "action")
    if action and action not in ("serve", "job", "build"):
        problems.add("action", f"{describe(action)}: use serve, job or build")
    defaults = problems.mapping(document, "defaults", "defaults")
    _check_keys(problems, defaults, "defaults")
    stages: dict[str, dict[str, Any]] = {}
    for name, entry in problems.mapping(document, "stages", "stages").items():
        if entry is None:
            entry = {}
        if not isinstance(entry, Mapping):
            problems.add(f"stages.{name}", f"must be a mapping, not {type_name(entry)}")
            continue
        stages[name] = {str(k): v for k, v in entry.items()}
        _check_keys(problems, stages[name], f"stages.{name}")
    return Overlay(problems.file, action, defaults, stages)


def _check_keys(problems: Problems, entry: Mapping[str, Any], field: str) -> None:
    unknown = set(entry) - STAGE_KEYS
    if unknown:
        problems.add(field, f"unknown keys {sorted(unknown)}; see docs/functions.md")


def stage_overlay(problems: Problems, raw: dict[str, Any], stage: str) -> StageOverlay:
    """Check and convert one stage's merged entry; fields are named ``stages.<stage>.<key>``."""
    where = f"stages.{stage}"
    gateway = None
    if raw.get("gateway") is not None:
        gateway = _gateway(problems, raw["gateway"], f"{where}.gateway")
    schedule = problems.string(raw, "schedule", f"{where}.schedule")
    if schedule and len(schedule.split()) != _CRON_FIELDS and not schedule.startswith("@"):
        problems.add(f"{where}.schedule", f"{describe(schedule)} is not a 5-field cron schedule")
    probes: dict[str, dict[str, Any]] = {}
    for key, value in problems.mapping(raw, "probes", f"{where}.probes").items():
        if key not in _PROBES:
            problems.add(f"{where}.probes.{key}", f"use one of {sorted(_PROBES)}")
        elif not isinstance(value, Mapping):
            problems.add(f"{where}.probes.{key}", "must be a mapping")
        else:
            probes[_PROBES[key]] = dict(value)
    build = problems.mapping(raw, "build", f"{where}.build")
    unknown_build = set(build) - {"destination", "push_secret"}
    if unknown_build:
        problems.add(f"{where}.build", f"unknown keys {sorted(unknown_build)}")
    source_secret = problems.string(raw, "source_secret", f"{where}.source_secret")
    push_secret = problems.string(build, "push_secret", f"{where}.build.push_secret")
    for key, value in (("source_secret", source_secret), ("build.push_secret", push_secret)):
        if value and not fields.is_secret_name(value):
            problems.add(f"{where}.{key}", f"{describe(value)} is not a Secret name")
    image_tag = problems.string(raw, "image_tag", f"{where}.image_tag")
    if isinstance(raw.get("image_tag"), int | float) and not isinstance(raw["image_tag"], bool):
        image_tag = str(raw["image_tag"])
        problems.found.pop()
    service_type = problems.string(raw, "service_type", f"{where}.service_type")
    if service_type and service_type not in ("ClusterIP", "NodePort", "LoadBalancer"):
        problems.add(f"{where}.service_type", f"{describe(service_type)} is not a Service type")
    params = problems.mapping(raw, "params", f"{where}.params")
    return StageOverlay(
        enabled=problems.boolean(raw, "enabled", f"{where}.enabled", True),
        replicas=problems.integer(raw, "replicas", f"{where}.replicas", None, maximum=1000),
        image=problems.string(raw, "image", f"{where}.image"),
        image_tag=image_tag,
        resources=fields.resources(problems, raw.get("resources"), f"{where}.resources"),
        env=fields.env_mapping(problems, raw.get("env"), f"{where}.env"),
        secrets=fields.secret_names(problems, raw.get("secrets"), f"{where}.secrets"),
        node_selector=fields.string_map(
            problems, raw.get("node_selector"), f"{where}.node_selector"
        ),
        tolerations=fields.mapping_list(problems, raw.get("tolerations"), f"{where}.tolerations"),
        affinity=fields.plain_mapping(problems, raw.get("affinity"), f"{where}.affinity"),
        schedule=schedule,
        params=params,
        probes=probes,
        gateway=gateway,
        build_destination=problems.string(build, "destination", f"{where}.build.destination"),
        build_push_secret=push_secret,
        source_secret=source_secret,
        service_type=service_type,
    )


def _gateway(problems: Problems, raw: object, field: str) -> Gateway | None:
    data = _gateway_data(problems, raw, field)
    if data is None:
        return None
    kind = problems.string(data, "type", f"{field}.type", "ingress")
    if kind not in _GATEWAY_TYPES:
        problems.add(f"{field}.type", f"{describe(kind)}: use ingress or httproute")
    host = problems.string(data, "host", f"{field}.host")
    if not host:
        problems.add(f"{field}.host", "is missing; a gateway needs a host name")
    path = problems.string(data, "path", f"{field}.path", "/")
    if not path.startswith("/"):
        problems.add(f"{field}.path", "must start with /")
    port = None
    if data.get("port") is not None:
        port = fields.port(problems, data["port"], f"{field}.port")
    auth = problems.string(data, "auth", f"{field}.auth", "none")
    secret = problems.string(data, "secret", f"{field}.secret")
    auth_url = problems.string(data, "auth_url", f"{field}.auth_url")
    auth_filter = fields.string_map(problems, data.get("auth_filter"), f"{field}.auth_filter")
    _check_auth(problems, field, kind, auth, secret, auth_url, auth_filter)
    tls_secret = problems.string(data, "tls_secret", f"{field}.tls_secret")
    for key, value in (("secret", secret), ("tls_secret", tls_secret)):
        if value and not fields.is_secret_name(value):
            problems.add(f"{field}.{key}", f"{describe(value)} is not a Secret name")
    return Gateway(
        type=kind,
        host=host,
        path=path,
        port=port,
        auth=auth,
        secret=secret,
        auth_url=auth_url,
        auth_filter=auth_filter,
        ssl_redirect=problems.boolean(data, "ssl_redirect", f"{field}.ssl_redirect", True),
        tls_secret=tls_secret,
        ingress_class=problems.string(data, "ingress_class", f"{field}.ingress_class"),
        parent=_parent(problems, data, field, kind),
    )


def _gateway_data(problems: Problems, raw: object, field: str) -> dict[str, Any] | None:
    """The gateway's keys, without secret values (refused: they never belong in git)."""
    if not isinstance(raw, Mapping):
        problems.add(field, f"must be a mapping, not {type_name(raw)}")
        return None
    data = {str(k): v for k, v in raw.items()}
    for key in ("password", "username", "credentials", "access_key"):
        if key in data:
            problems.add(
                f"{field}.{key}",
                "secret values never belong in git; name a Secret in 'secret' instead",
            )
            data.pop(key)
    unknown = set(data) - GATEWAY_KEYS
    if unknown:
        problems.add(field, f"unknown keys {sorted(unknown)}")
    return data


def _check_auth(
    problems: Problems,
    field: str,
    kind: str,
    auth: str,
    secret: str,
    auth_url: str,
    auth_filter: Mapping[str, str],
) -> None:
    """Each auth mode has what it needs: basic a Secret, access-key a URL, a route a filter."""
    if auth not in _AUTH:
        problems.add(f"{field}.auth", f"{describe(auth)}: use none, basic or access-key")
    elif auth == "basic" and kind == "ingress" and not fields.is_secret_name(secret):
        problems.add(f"{field}.secret", "basic auth needs the name of a Secret with the users")
    elif auth == "access-key" and kind == "ingress" and not auth_url.startswith("http"):
        problems.add(
            f"{field}.auth_url", "access-key auth needs the URL of the key-checking service"
        )
    if kind == "httproute" and auth != "none" and set(auth_filter) != {"group", "kind", "name"}:
        problems.add(
            f"{field}.auth_filter",
            "an HTTPRoute carries auth only through an implementation's filter: set "
            "{group, kind, name} of it (e.g. a SecurityPolicy-backed filter), or use type ingress",
        )


def _parent(problems: Problems, data: Mapping[str, Any], field: str, kind: str) -> dict[str, str]:
    """The Gateway an HTTPRoute attaches to (and its listeners' section names)."""
    parent = fields.string_map(problems, data.get("parent"), f"{field}.parent")
    if kind == "httproute" and not parent.get("name"):
        problems.add(f"{field}.parent.name", "an HTTPRoute needs the name of its Gateway")
    unknown_parent = set(parent) - {"name", "namespace", "https_section", "http_section"}
    if unknown_parent:
        problems.add(f"{field}.parent", f"unknown keys {sorted(unknown_parent)}")
    return parent
