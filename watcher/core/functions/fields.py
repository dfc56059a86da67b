"""Parsers for the Kubernetes-shaped parts both SDKs share: env, resources, probes, ports.

Each takes raw YAML data and a :class:`Problems` collector, and returns clean
data; a wrong value becomes a problem naming its field, never an exception.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from watcher.core.functions.problems import Problems, type_name
from watcher.core.names import describe

_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
#: Variable names whose literal values are credentials: those belong in a Secret.
_SECRET_NAME = re.compile(
    r"(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL)", re.I
)
_PROBE_HANDLERS = ("httpGet", "tcpSocket", "grpc", "exec")
PROBE_KINDS = ("readinessProbe", "livenessProbe", "startupProbe")
_PROBE_TIMINGS = (
    "initialDelaySeconds",
    "periodSeconds",
    "timeoutSeconds",
    "successThreshold",
    "failureThreshold",
    "terminationGracePeriodSeconds",
)
_QUANTITY = re.compile(r"^[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+|[KMGTPE]i?|[mkMGTPE])?$")


def is_secret_name(value: str) -> bool:
    """A name Kubernetes accepts for a Secret (DNS-1123 subdomain)."""
    return len(value) <= 253 and bool(_DNS_SUBDOMAIN.match(value))


def looks_secret(name: str) -> bool:
    """True for variable names such as ``DB_PASSWORD`` or ``API_TOKEN``."""
    return bool(_SECRET_NAME.search(name))


def env_list(problems: Problems, raw: object, field: str) -> tuple[dict[str, Any], ...]:
    """Kubernetes EnvVar entries; a literal value under a secret-looking name is refused."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.add(field, f"must be a list of {{name, value}} entries, not {type_name(raw)}")
        return ()
    out: list[dict[str, Any]] = []
    for index, item in enumerate(raw):
        where = f"{field}[{index}]"
        if not isinstance(item, Mapping):
            problems.add(where, f"must be a mapping with name and value, not {type_name(item)}")
            continue
        name = item.get("name")
        if not isinstance(name, str) or not _ENV_NAME.match(name):
            problems.add(f"{where}.name", f"{describe(str(name), 40)} is not a variable name")
            continue
        unknown = set(item) - {"name", "value", "valueFrom", "value_from"}
        if unknown:
            problems.add(where, f"unknown keys {sorted(map(str, unknown))}")
        entry: dict[str, Any] = {"name": name}
        value_from = item.get("valueFrom", item.get("value_from"))
        if value_from is not None:
            if not isinstance(value_from, Mapping):
                problems.add(f"{where}.valueFrom", "must be a mapping")
                continue
            entry["valueFrom"] = dict(value_from)
        else:
            value = item.get("value", "")
            if isinstance(value, bool | int | float):
                value = str(value).lower() if isinstance(value, bool) else str(value)
            if not isinstance(value, str):
                problems.add(f"{where}.value", f"must be a string, not {type_name(value)}")
                continue
            if value and looks_secret(name):
                problems.add(
                    f"{where}.value",
                    f"{name} holds a literal value that looks like a credential; "
                    "refer to a Secret (valueFrom.secretKeyRef, or 'secrets' in the overlay)",
                )
                continue
            entry["value"] = value
        out.append(entry)
    return tuple(out)


def env_mapping(problems: Problems, raw: object, field: str) -> tuple[dict[str, Any], ...]:
    """Overlay env as ``{NAME: value}``; same credential rule as spec env."""
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        problems.add(field, f"must be a mapping of NAME: value, not {type_name(raw)}")
        return ()
    items = [
        {"name": str(k), "value": v} for k, v in sorted(raw.items(), key=lambda kv: str(kv[0]))
    ]
    return env_list(problems, items, field)


def secret_names(problems: Problems, raw: object, field: str) -> tuple[str, ...]:
    """Names of Secrets; any value that is not a bare name is refused (no values in git)."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.add(field, f"must be a list of Secret names, not {type_name(raw)}")
        return ()
    out: list[str] = []
    for index, item in enumerate(raw):
        where = f"{field}[{index}]"
        if isinstance(item, str) and is_secret_name(item):
            out.append(item)
        elif isinstance(item, Mapping):
            problems.add(where, "must be the name of a Secret; secret values never belong in git")
        else:
            problems.add(where, f"{describe(str(item), 40)} is not a valid Secret name")
    return tuple(out)


def resources(problems: Problems, raw: object, field: str) -> dict[str, Any]:
    """``{requests, limits}`` with quantities; DigitalHub's ``{cpu, mem, gpu}`` too."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        problems.add(field, f"must be a mapping, not {type_name(raw)}")
        return {}
    if set(raw) & {"cpu", "mem", "gpu"}:
        # DigitalHub: one value each, used as request and limit for memory, request for cpu.
        requests: dict[str, str] = {}
        limits: dict[str, str] = {}
        for key, k8s in (("cpu", "cpu"), ("mem", "memory"), ("gpu", "nvidia.com/gpu")):
            value = _quantity(problems, raw.get(key), f"{field}.{key}")
            if value:
                requests[k8s] = value
                if k8s != "cpu":
                    limits[k8s] = value
        return {k: v for k, v in (("requests", requests), ("limits", limits)) if v}
    out: dict[str, Any] = {}
    for part in ("requests", "limits"):
        values = raw.get(part)
        if values is None:
            continue
        if not isinstance(values, Mapping):
            problems.add(f"{field}.{part}", f"must be a mapping, not {type_name(values)}")
            continue
        clean = {}
        for key, value in values.items():
            quantity = _quantity(problems, value, f"{field}.{part}.{key}")
            if quantity:
                clean[str(key)] = quantity
        if clean:
            out[part] = clean
    unknown = set(raw) - {"requests", "limits"}
    if unknown:
        problems.add(field, f"unknown keys {sorted(map(str, unknown))}; use requests and limits")
    return out


def _quantity(problems: Problems, value: object, field: str) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        problems.add(field, f"must be a quantity such as 500m or 1Gi, not {type_name(value)}")
        return ""
    text = str(value)
    if not _QUANTITY.match(text):
        problems.add(field, f"{describe(text, 40)} is not a Kubernetes quantity (500m, 1Gi)")
        return ""
    return text


def port(problems: Problems, value: object, field: str) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        problems.add(field, f"{describe(str(value), 40)} is not a port number (1-65535)")
        return None
    return value


def string_map(problems: Problems, raw: object, field: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        problems.add(field, f"must be a mapping, not {type_name(raw)}")
        return {}
    out: dict[str, str] = {}
    for key, value in raw.items():
        if isinstance(value, bool | dict | list) or value is None:
            problems.add(f"{field}.{key}", "must be a string")
            continue
        out[str(key)] = str(value)
    return out


def mapping_list(problems: Problems, raw: object, field: str) -> tuple[dict[str, Any], ...]:
    """Tolerations and similar: a list of mappings, passed through."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(i, Mapping) for i in raw):
        problems.add(field, "must be a list of mappings")
        return ()
    return tuple(dict(i) for i in raw)


def plain_mapping(problems: Problems, raw: object, field: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        problems.add(field, f"must be a mapping, not {type_name(raw)}")
        return {}
    return dict(raw)


def probe(
    problems: Problems, raw: object, field: str, internal_port: int | None
) -> dict[str, Any] | None:
    """A probe with exactly one handler; a port-less httpGet/tcpSocket/grpc takes the app's port."""
    if not isinstance(raw, Mapping):
        problems.add(field, f"must be a mapping, not {type_name(raw)}")
        return None
    handlers = [h for h in _PROBE_HANDLERS if raw.get(h) is not None]
    if len(handlers) != 1:
        problems.add(
            field,
            f"needs exactly one of {', '.join(_PROBE_HANDLERS)}; has "
            + (", ".join(handlers) if handlers else "none"),
        )
        return None
    unknown = set(raw) - set(_PROBE_HANDLERS) - set(_PROBE_TIMINGS)
    if unknown:
        problems.add(field, f"unknown keys {sorted(map(str, unknown))}")
    (handler,) = handlers
    body = raw[handler]
    if not isinstance(body, Mapping):
        problems.add(f"{field}.{handler}", "must be a mapping")
        return None
    body = dict(body)
    if handler != "exec":
        if body.get("port") is None:
            if internal_port is None:
                problems.add(f"{field}.{handler}.port", "is missing and the app has no port")
                return None
            body["port"] = internal_port
        elif not isinstance(body["port"], str):
            port(problems, body["port"], f"{field}.{handler}.port")
    out: dict[str, Any] = {handler: body}
    for key in _PROBE_TIMINGS:
        if key in raw:
            value = problems.integer(raw, key, f"{field}.{key}", None, minimum=0)
            if value is not None:
                out[key] = value
    return out


def merge_probe(base: Mapping[str, Any] | None, override: Mapping[str, Any]) -> dict[str, Any]:
    """Explicit values win over the spec's: a new handler replaces the old one, timings merge."""
    merged = dict(base or {})
    if any(h in override for h in _PROBE_HANDLERS):
        for handler in _PROBE_HANDLERS:
            merged.pop(handler, None)
    merged.update(override)
    return merged
