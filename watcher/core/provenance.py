"""promotion.json: the marker that a folder is ours, and what it deploys.

It lives in users' repositories, so it is a contract: it carries a format
version, is written strictly and read tolerantly. Format 1 (gitops-watcher 0.1,
models only, no ``format`` key) is still read. A marker of a newer format, or
one that cannot be understood, is reported and its folder left alone: never a
crash, never a removal.

Format 2, every key written, keys sorted::

    {"format": 2, "managed_by": "gitops-watcher", "source": "mlflow", "kind": "model",
     "name": "fraud", "stage": "staging", "revision": "4", "revision_label": "v4",
     "target": "deployment", "namespace": "models-staging", "url": "https://…",
     "settings": {"replicas": "2", …}, "details": {"model": {…}, "artifact": {…}, …}}
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from watcher.core.artifacts import ArtifactRef
from watcher.core.release import Release, ReleaseId

FORMAT = 2
MANAGED_BY = "gitops-watcher"
PROVENANCE = "promotion.json"


@dataclass(frozen=True)
class Provenance:
    """What one folder deploys and where it came from."""

    source: str
    kind: str
    name: str
    stage: str
    revision: str
    target: str
    namespace: str
    revision_label: str = ""
    url: str = ""
    settings: Mapping[str, str] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)
    format: int = FORMAT

    @property
    def id(self) -> ReleaseId:
        return ReleaseId(self.source, self.kind, self.name, self.stage)

    @property
    def label(self) -> str:
        return self.revision_label or self.revision

    @property
    def artifact(self) -> Mapping[str, Any]:
        value = self.details.get("artifact")
        return value if isinstance(value, Mapping) else {}

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "managed_by": MANAGED_BY,
            "source": self.source,
            "kind": self.kind,
            "name": self.name,
            "stage": self.stage,
            "revision": self.revision,
            "revision_label": self.revision_label,
            "target": self.target,
            "namespace": self.namespace,
            "url": self.url,
            "settings": dict(self.settings),
            "details": dict(self.details),
        }

    def to_json(self) -> bytes:
        return dump_json(self.to_dict())

    def same_deployment(self, newer: Provenance) -> bool:
        """True when ``newer`` describes what this marker already deploys.

        An upgrade of the marker format alone is no change: a format 1 marker
        knows no source and no pod settings, so those are not compared with it.
        """
        older = self
        if older.format < FORMAT:
            newer = replace(newer, source=older.source, settings=older.settings)
        return replace(older, format=FORMAT) == replace(newer, format=FORMAT)


@dataclass(frozen=True)
class ForeignMarker:
    """A promotion.json that says it is ours but that this version cannot read."""

    reason: str


def provenance_of(release: Release, artifact: ArtifactRef | None) -> Provenance:
    details = dict(release.details)
    if artifact is not None:
        details["artifact"] = artifact.to_dict()
    return Provenance(
        source=release.id.source,
        kind=release.id.kind,
        name=release.id.name,
        stage=release.id.stage,
        revision=release.revision,
        revision_label=release.revision_label,
        target=release.target,
        namespace=release.namespace,
        url=release.url,
        settings=dict(release.settings),
        details=details,
    )


def deploys_with_copy(marker: Provenance, release: Release, copy_uri: str) -> bool:
    """True when ``marker`` deploys exactly ``release``, serving the copy at ``copy_uri``.

    For a release whose copy could not be checked (the store did not answer): what git
    holds then is what would be rendered, if that copy is still complete. Its digest
    and size are taken from the marker, which recorded them once the copy was verified.
    """
    recorded = marker.artifact
    if not recorded or recorded.get("uri") != copy_uri or marker.revision != release.revision:
        return False
    try:
        copy = ArtifactRef(
            uri=copy_uri,
            digest=str(recorded["digest"]),
            file_count=int(recorded["files"]),
            total_bytes=int(recorded["bytes"]),
        )
    except (KeyError, TypeError, ValueError):
        return False
    return marker.same_deployment(provenance_of(release, copy))


def dump_json(data: Mapping[str, Any]) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def read_marker(raw: bytes) -> Provenance | ForeignMarker | None:
    """The marker's content; None when the file is not ours (or not a marker at all)."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("managed_by") != MANAGED_BY:
        return None
    version = data.get("format", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        return ForeignMarker(f"its format {str(version)[:20]!r} is not a known version")
    if version > FORMAT:
        return ForeignMarker(
            f"it has format {version}, written by a newer gitops-watcher (this one reads up to "
            f"{FORMAT})"
        )
    try:
        return _read_v1(data) if version == 1 else _read_v2(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return ForeignMarker(f"it lacks or mistypes a field ({type(exc).__name__}: {exc!s:.80})")


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str):
        raise TypeError(f"{key} is not a string")
    return value


def _read_v2(data: Mapping[str, Any]) -> Provenance:
    settings = data.get("settings") or {}
    details = data.get("details") or {}
    if not isinstance(settings, dict) or not isinstance(details, dict):
        raise TypeError("settings and details must be objects")
    return Provenance(
        source=_text(data, "source"),
        kind=_text(data, "kind"),
        name=_text(data, "name"),
        stage=_text(data, "stage"),
        revision=_text(data, "revision"),
        revision_label=str(data.get("revision_label") or ""),
        target=_text(data, "target"),
        namespace=str(data.get("namespace") or ""),
        url=str(data.get("url") or ""),
        settings={str(k): str(v) for k, v in settings.items()},
        details=details,
        format=2,
    )


def _read_v1(data: Mapping[str, Any]) -> Provenance:
    """gitops-watcher 0.1: models only, Deployment target, no source name."""
    model = data["model"]
    if not isinstance(model, dict):
        raise TypeError("model is not an object")
    version = _text(model, "version")
    details: dict[str, Any] = {
        "model": model,
        "selected_by": data.get("selected_by", ""),
        "overrides": data.get("overrides") or {},
    }
    if data.get("artifact"):
        details["artifact"] = data["artifact"]
    return Provenance(
        source="",
        kind="model",
        name=_text(model, "name"),
        stage=_text(data, "stage"),
        revision=version,
        revision_label=f"v{version}",
        target="deployment",
        namespace=str(data.get("namespace") or ""),
        url=str(model.get("url") or ""),
        details=details,
        format=1,
    )
