"""What an MLflow model version offers the promotion policy: its metrics and its signature.

Metrics come from the run that produced the version (``runs/get``, or the backend
database's ``latest_metrics``); for an MLflow 3 logged model its own metrics fill
in what the run lacks, and the run wins. The signature is read from the
version's ``MLmodel`` where the registry keeps its files. Both are read only for
a version that would newly run in a stage, and kept per version (a version's
files do not change; its run's metrics are read again by the next reconcile).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Protocol

from watcher.core.artifacts import parse_source
from watcher.core.model import ModelVersion
from watcher.core.policy.signature import Signature, read_signature
from watcher.errors import ArtifactSourceError, WatcherError
from watcher.spine.copy_ports import VersionFiles

MLMODEL = "MLmodel"
_MAX_MLMODEL_BYTES = 1024 * 1024
_SIGNATURES_KEPT = 1000


class MetricsReader(Protocol):
    def run_metrics(self, run_id: str) -> dict[str, float]: ...
    def logged_model_metrics(self, model_id: str) -> dict[str, float]: ...


class MlflowEvidence:
    """Metrics and signatures of model versions, from the marker details of a release."""

    def __init__(self, registry: MetricsReader, files: VersionFiles | None) -> None:
        self._registry = registry
        self._files = files
        self._signatures: OrderedDict[tuple[str, str], Signature | None] = OrderedDict()

    def metrics(self, details: Mapping[str, Any]) -> Mapping[str, float]:
        version = _version(details)
        found: dict[str, float] = {}
        ref = parse_source(version.source) if version.source else None
        if ref is not None and ref.kind == "logged_model":
            found.update(self._registry.logged_model_metrics(ref.value))
        if version.run_id:
            found.update(self._registry.run_metrics(version.run_id))
        return found

    def signature(self, details: Mapping[str, Any]) -> Signature | None:
        version = _version(details)
        key = (version.name, version.version)
        if key in self._signatures:
            return self._signatures[key]
        if self._files is None:
            raise ArtifactSourceError(
                f"the files of model {version.name!r} version {version.version} cannot be read "
                "here, so its signature cannot be checked",
                hint="give the source an artifact store, or set stages[].contract: off",
            )
        signature = read_signature(self._mlmodel(version))
        self._signatures[key] = signature
        while len(self._signatures) > _SIGNATURES_KEPT:
            self._signatures.popitem(last=False)
        return signature

    def _mlmodel(self, version: ModelVersion) -> bytes:
        assert self._files is not None
        folder = self._files.open(version)
        try:
            with folder.open(MLMODEL) as stream:
                return stream.read(_MAX_MLMODEL_BYTES)
        except FileNotFoundError:
            return b""
        except WatcherError:
            raise
        except Exception as exc:  # a read that broke off: this reconcile cannot check it
            raise ArtifactSourceError(
                f"reading {MLMODEL} of model {version.name!r} version {version.version} failed: "
                f"{type(exc).__name__}"
            ) from exc


def _version(details: Mapping[str, Any]) -> ModelVersion:
    """The version a marker's (or a release's) details describe."""
    model = details.get("model")
    if not isinstance(model, Mapping) or not model.get("name") or not model.get("version"):
        raise ArtifactSourceError("the deployment record names no model version")
    return ModelVersion(
        name=str(model["name"]),
        version=str(model["version"]),
        source=str(model.get("source") or ""),
        run_id=str(model.get("run_id") or ""),
    )
