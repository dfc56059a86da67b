"""Check rendered files before anything is committed.

Every YAML file must parse, every document must be a Kubernetes object that
matches its schema in strict mode (unknown fields are errors), and the
kustomization must list exactly files that exist. Kinds without a bundled
schema (custom resources) are parsed and checked for shape only.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import kubernetes_validate
import yaml

from watcher.errors import ManifestValidationError

log = logging.getLogger(__name__)

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_KUSTOMIZE_API = "kustomize.config.k8s.io/"


def validate_folder(files: Mapping[str, bytes], kubernetes_version: str) -> None:
    for name in sorted(files):
        if not name.endswith((".yaml", ".yml")):
            continue
        for index, document in enumerate(_documents(name, files[name])):
            where = f"{name} (document {index + 1})"
            if str(document.get("apiVersion", "")).startswith(_KUSTOMIZE_API):
                _check_kustomization(where, document, files)
            else:
                _check_object(where, document, kubernetes_version)


def _documents(name: str, data: bytes) -> list[dict[str, Any]]:
    try:
        documents = [d for d in yaml.safe_load_all(data.decode("utf-8")) if d is not None]
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ManifestValidationError(f"{name} is not valid YAML: {exc}") from exc
    for document in documents:
        if not isinstance(document, dict):
            raise ManifestValidationError(f"{name} holds a document that is not a mapping")
    return documents


def _check_object(where: str, document: dict[str, Any], kubernetes_version: str) -> None:
    for key in ("apiVersion", "kind", "metadata"):
        if key not in document:
            raise ManifestValidationError(f"{where} has no {key}")
    name = str((document.get("metadata") or {}).get("name", ""))
    if len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        raise ManifestValidationError(
            f"{where}: metadata.name {name!r} is not a valid Kubernetes name"
        )
    try:
        kubernetes_validate.validate(document, kubernetes_version, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        log.debug(
            "no bundled schema for %s %s; shape checked only",
            document["apiVersion"],
            document["kind"],
        )
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(p) for p in exc.path) or "(top level)"
        raise ManifestValidationError(
            f"{where} ({document['kind']}) is invalid for Kubernetes {kubernetes_version} "
            f"at {path}: "
            f"{exc.message}"
        ) from exc


def _check_kustomization(where: str, document: dict[str, Any], files: Mapping[str, bytes]) -> None:
    resources = document.get("resources") or []
    if not isinstance(resources, list):
        raise ManifestValidationError(f"{where}: resources must be a list")
    missing = [r for r in resources if isinstance(r, str) and "://" not in r and r not in files]
    if missing:
        raise ManifestValidationError(f"{where} lists files that were not rendered: {missing}")
