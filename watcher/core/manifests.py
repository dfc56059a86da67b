"""Check rendered files before anything is committed.

Every YAML file must parse, every document must be a Kubernetes object that
matches its schema in strict mode (unknown fields are errors), and the
kustomization must list exactly files that exist. Kinds without a bundled
schema (custom resources) are parsed and checked for shape only.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
from collections.abc import Mapping, MutableSet
from typing import TYPE_CHECKING, Any

import yaml

from watcher.errors import ManifestValidationError

if TYPE_CHECKING:
    import jsonschema

# jsonschema and kubernetes-validate (8 MB) are imported on the first file that is
# not known valid: a process whose files all passed before never loads them.

log = logging.getLogger(__name__)

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_KUSTOMIZE_API = "kustomize.config.k8s.io/"
# libyaml's parser is ~10x faster than the pure-Python one; same safe semantics.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.lru_cache(maxsize=64)
def _validator(kubernetes_version: str, kind: str, api_version: str) -> jsonschema.Validator | None:
    """A strict validator for one kind, built once.

    kubernetes-validate's own ``validate()`` re-reads the large definitions file on
    every call (~15 ms an object); the schemas and the rules are the same here.
    """
    import jsonschema
    import referencing
    from kubernetes_validate import utils as kv_utils

    wanted = kv_utils.major_minor(kubernetes_version.removeprefix("v"))
    known = [v for v in kv_utils.all_versions() if kv_utils.major_minor(v) <= wanted]
    if not known:
        raise ManifestValidationError(f"no Kubernetes schemas for version {kubernetes_version}")
    schema_dir = f"kubernetes-json-schema/v{known[-1]}-local-strict"
    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = kv_utils.schema_contents(f"{schema_dir}/{kind.lower()}-{group}.json", wanted)
    except FileNotFoundError:
        return None
    definitions = kv_utils.schema_contents(f"{schema_dir}/_definitions.json", wanted)
    registry: referencing.Registry[Any] = referencing.Resource.from_contents(schema) @ (
        referencing.Registry()
    )
    registry = referencing.Resource.from_contents(definitions) @ registry
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


def validate_folder(
    files: Mapping[str, bytes],
    kubernetes_version: str,
    known_valid: MutableSet[str] | None = None,
) -> None:
    """Every YAML file parsed and checked; ``known_valid`` holds digests of files that passed.

    A file whose exact bytes passed before (for the same Kubernetes version) is not
    parsed again: validation is most of a cold reconcile's time. Kustomizations are
    always checked, since they depend on the folder's other files.
    """
    for name in sorted(files):
        if not name.endswith((".yaml", ".yml")):
            continue
        digest = manifest_digest(files[name], kubernetes_version)
        if known_valid is not None and digest in known_valid:
            continue
        cacheable = True
        for index, document in enumerate(_documents(name, files[name])):
            where = f"{name} (document {index + 1})"
            if str(document.get("apiVersion", "")).startswith(_KUSTOMIZE_API):
                _check_kustomization(where, document, files)
                cacheable = False
            else:
                _check_object(where, document, kubernetes_version)
        if known_valid is not None and cacheable:
            known_valid.add(digest)


def manifest_digest(data: bytes, kubernetes_version: str) -> str:
    """What a file that passed validation is remembered by."""
    return hashlib.sha256(f"{kubernetes_version}\0".encode() + data).hexdigest()


def _documents(name: str, data: bytes) -> list[dict[str, Any]]:
    try:
        documents = [
            d for d in yaml.load_all(data.decode("utf-8"), Loader=_Loader) if d is not None
        ]
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
    validator = _validator(kubernetes_version, str(document["kind"]), str(document["apiVersion"]))
    if validator is None:
        log.debug("no bundled schema for %s %s", document["apiVersion"], document["kind"])
        return
    from jsonschema import ValidationError

    try:
        validator.validate(document)
    except ValidationError as exc:
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
