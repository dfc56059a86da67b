"""Validate custom resources against the CRD schemas of ``../shared/schemas``.

The schemas are other projects' CustomResourceDefinitions, kept outside this
repository. Every CRD file under the folder is indexed by (group, kind, version),
so one call checks an Argo CD Application, a KServe InferenceService, a Knative
Service, a Gateway API HTTPRoute or a Prometheus Operator ServiceMonitor alike::

    from tests.crd_schemas import validate_custom_resource
    validate_custom_resource(obj)   # AssertionError naming the path, or skip

The check is as strict as ``kubectl apply`` with server-side field validation:
unknown fields are errors unless the schema says
``x-kubernetes-preserve-unknown-fields: true``; the other ``x-kubernetes-*``
keys are dropped (``x-kubernetes-int-or-string`` becomes "integer or string").
The object's ``metadata`` is checked as a Kubernetes ObjectMeta with
kubernetes-validate. Where the folder is absent, the check is skipped with a
message that says where it was looked for.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

SCHEMAS_ENV = "GITOPS_WATCHER_SCHEMAS_DIR"
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SCHEMAS_DIR = REPO_ROOT.parent / "shared" / "schemas"
# ObjectMeta is checked with the schemas of this Kubernetes version.
METADATA_KUBERNETES_VERSION = "1.33"

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

CrdKey = tuple[str, str, str]  # (group, kind, version)


def schemas_dir() -> Path | None:
    """The schemas folder: ``$GITOPS_WATCHER_SCHEMAS_DIR``, else ``../shared/schemas``.

    None when it does not exist.
    """
    configured = os.environ.get(SCHEMAS_ENV, "").strip()
    path = Path(configured) if configured else DEFAULT_SCHEMAS_DIR
    return path if path.is_dir() else None


def require_schemas_dir() -> Path:
    """The schemas folder, or skip the calling test with a message that says why."""
    path = schemas_dir()
    if path is None:
        where = os.environ.get(SCHEMAS_ENV, "").strip() or str(DEFAULT_SCHEMAS_DIR)
        pytest.skip(
            f"CRD schemas not found at {where}: set {SCHEMAS_ENV} to the folder that holds "
            "the CustomResourceDefinitions (see ../shared/schemas/README.md)"
        )
    return path


def known_custom_resources(directory: Path | None = None) -> list[CrdKey]:
    """Every (group, kind, version) the schemas folder serves, sorted."""
    return sorted(_index(directory or require_schemas_dir()))


def validate_custom_resource(obj: dict[str, Any], directory: Path | None = None) -> None:
    """Check one custom resource against its CRD; AssertionError names the failing path."""
    folder = directory or require_schemas_dir()
    api_version = str(obj.get("apiVersion", ""))
    kind = str(obj.get("kind", ""))
    metadata = obj.get("metadata")
    name = metadata.get("name", "?") if isinstance(metadata, dict) else "?"
    label = f"{kind or '(no kind)'} {name!r} ({api_version or 'no apiVersion'})"
    group, _, version = api_version.rpartition("/")
    if not group or not version or not kind:
        raise AssertionError(f"{label}: apiVersion must be <group>/<version> and kind set")
    index = _index(folder)
    schema = index.get((group, kind, version))
    if schema is None:
        served = sorted(f"{g}/{v} {k}" for g, k, v in index)
        raise AssertionError(
            f"{label}: no CRD schema for {group}/{version} {kind} under {folder}; "
            f"known: {', '.join(served)}"
        )
    _check_metadata(label, metadata)
    errors = sorted(
        _validator(folder, (group, kind, version)).iter_errors(obj),
        key=lambda e: (len(e.absolute_path), [str(p) for p in e.absolute_path]),
    )
    if errors:
        error = jsonschema.exceptions.best_match(errors) or errors[0]
        raise AssertionError(f"{label} is invalid at {_path(error)}: {error.message}")


def _check_metadata(label: str, metadata: object) -> None:
    if not isinstance(metadata, dict):
        raise AssertionError(f"{label}: metadata must be a mapping")
    name = str(metadata.get("name", ""))
    if len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        raise AssertionError(f"{label}: metadata.name {name!r} is not a valid Kubernetes name")
    # Any built-in kind carries the same ObjectMeta; a ConfigMap has no required spec.
    probe = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata}
    try:
        kubernetes_validate.validate(probe, METADATA_KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = ".".join(str(p) for p in exc.path) or "metadata"
        raise AssertionError(f"{label} is invalid at {where}: {exc.message}") from exc


def _path(error: jsonschema.ValidationError) -> str:
    """``spec.endpoints[0].port`` style."""
    text = ""
    for part in error.absolute_path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


@functools.cache
def _index(folder: Path) -> dict[CrdKey, dict[str, Any]]:
    """(group, kind, version) -> openAPIV3Schema of every served version under folder."""
    index: dict[CrdKey, dict[str, Any]] = {}
    for file in sorted([*folder.rglob("*.yaml"), *folder.rglob("*.yml")]):
        with file.open(encoding="utf-8") as handle:
            documents = list(yaml.load_all(handle, Loader=_Loader))
        for document in documents:
            if not isinstance(document, dict) or document.get("kind") != (
                "CustomResourceDefinition"
            ):
                continue
            spec = document.get("spec") or {}
            group = spec.get("group", "")
            kind = (spec.get("names") or {}).get("kind", "")
            for entry in spec.get("versions") or []:
                schema = ((entry.get("schema") or {}).get("openAPIV3Schema")) or None
                if entry.get("served", True) and schema is not None:
                    index[(group, kind, entry["name"])] = schema
    return index


@functools.cache
def _validator(folder: Path, key: CrdKey) -> jsonschema.Draft7Validator:
    schema = strict_json_schema(_index(folder)[key])
    return jsonschema.Draft7Validator(schema)


def strict_json_schema(node: Any, *, embedded: bool = False) -> Any:
    """A CRD structural schema as a draft 7 JSON Schema that refuses unknown fields."""
    if isinstance(node, list):
        return [strict_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-"):
            continue
        if key in ("properties", "patternProperties", "definitions"):
            out[key] = {
                name: strict_json_schema(sub, embedded=_embedded(sub))
                for name, sub in value.items()
            }
        elif key in ("items", "additionalProperties", "not", "allOf", "anyOf", "oneOf"):
            out[key] = strict_json_schema(value)
        else:
            out[key] = value
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    open_fields = node.get("x-kubernetes-preserve-unknown-fields") is True
    if embedded:
        # An embedded object always has the fields of a Kubernetes object.
        properties = out.setdefault("properties", {})
        for field in ("apiVersion", "kind"):
            properties.setdefault(field, {"type": "string"})
        properties.setdefault("metadata", {"type": "object"})
    if "properties" in out and "additionalProperties" not in out and not open_fields:
        out["additionalProperties"] = False
    return out


def _embedded(node: Any) -> bool:
    return isinstance(node, dict) and node.get("x-kubernetes-embedded-resource") is True
