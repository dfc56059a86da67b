"""The registry snapshot: what the observe step hands to the pure core.

Both registry adapters (MLflow REST and MLflow's backend DB) build exactly these
values, so everything downstream is indifferent to where the data came from.
Everything is frozen and ordered, so two reads of an unchanged registry compare
equal and render byte-identical files.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: Registry stages as MLflow spells them (deprecated since MLflow 2.9, still in use).
REGISTRY_STAGES = ("None", "Staging", "Production", "Archived")

#: Only versions in this status can be deployed; others are still uploading or broke.
READY_STATUS = "READY"


def _sorted_pairs(
    items: Mapping[str, str] | Iterable[tuple[str, str]],
) -> tuple[tuple[str, str], ...]:
    pairs = items.items() if isinstance(items, Mapping) else items
    return tuple(sorted((str(k), str(v)) for k, v in pairs))


@dataclass(frozen=True)
class ModelVersion:
    """One registered model version, with the fields both adapters can read."""

    name: str
    version: str
    current_stage: str = "None"
    status: str = READY_STATUS
    source: str = ""
    run_id: str = ""
    creation_timestamp: int = 0
    last_updated_timestamp: int = 0
    tags: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "version", str(self.version))
        object.__setattr__(self, "tags", _sorted_pairs(self.tags))

    @property
    def tag_map(self) -> dict[str, str]:
        return dict(self.tags)

    @property
    def version_number(self) -> int:
        """MLflow versions are positive integers kept as strings; sort them as numbers."""
        try:
            return int(self.version)
        except ValueError:
            return -1

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "current_stage": self.current_stage,
            "status": self.status,
            "source": self.source,
            "run_id": self.run_id,
            "creation_timestamp": self.creation_timestamp,
            "last_updated_timestamp": self.last_updated_timestamp,
            "tags": dict(self.tags),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelVersion:
        return cls(
            name=str(data["name"]),
            version=str(data["version"]),
            current_stage=str(data.get("current_stage") or "None"),
            status=str(data.get("status") or READY_STATUS),
            source=str(data.get("source") or ""),
            run_id=str(data.get("run_id") or ""),
            creation_timestamp=int(data.get("creation_timestamp") or 0),
            last_updated_timestamp=int(data.get("last_updated_timestamp") or 0),
            tags=_sorted_pairs(data.get("tags") or {}),
        )


@dataclass(frozen=True)
class RegisteredModel:
    """A registered model with its aliases and the versions that may matter.

    ``versions`` holds at least every version that an alias points at and the
    latest version of each registry stage; adapters may include more.
    """

    name: str
    aliases: tuple[tuple[str, str], ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    versions: tuple[ModelVersion, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "aliases", _sorted_pairs(self.aliases))
        object.__setattr__(self, "tags", _sorted_pairs(self.tags))
        ordered = tuple(sorted(self.versions, key=lambda v: (v.version_number, v.version)))
        object.__setattr__(self, "versions", ordered)

    @property
    def alias_map(self) -> dict[str, str]:
        return dict(self.aliases)

    def version(self, version: str) -> ModelVersion | None:
        for candidate in self.versions:
            if candidate.version == version:
                return candidate
        return None

    def latest_in_stage(self, stage: str) -> ModelVersion | None:
        """The newest version in a registry stage, as MLflow's ``latest_versions`` has it."""
        in_stage = [v for v in self.versions if v.current_stage.lower() == stage.lower()]
        return in_stage[-1] if in_stage else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "aliases": dict(self.aliases),
            "tags": dict(self.tags),
            "versions": [v.to_dict() for v in self.versions],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RegisteredModel:
        return cls(
            name=str(data["name"]),
            aliases=_sorted_pairs(data.get("aliases") or {}),
            tags=_sorted_pairs(data.get("tags") or {}),
            versions=tuple(ModelVersion.from_dict(v) for v in data.get("versions") or ()),
        )


@dataclass(frozen=True)
class RegistrySnapshot:
    """A complete, consistent read of the registry.

    Adapters raise instead of returning a partial snapshot: the planner removes
    deployments whose model is absent here, so an incomplete read must never
    reach it.
    """

    models: tuple[RegisteredModel, ...] = ()
    #: Base URL of the registry UI, used for links in manifests and commits ("" if unknown).
    ui_url: str = ""
    #: Where the snapshot came from, for logs and provenance (never carries credentials).
    origin: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", tuple(sorted(self.models, key=lambda m: m.name)))

    def model(self, name: str) -> RegisteredModel | None:
        for candidate in self.models:
            if candidate.name == name:
                return candidate
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ui_url": self.ui_url,
            "origin": self.origin,
            "models": [m.to_dict() for m in self.models],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RegistrySnapshot:
        return cls(
            models=tuple(RegisteredModel.from_dict(m) for m in data.get("models") or ()),
            ui_url=str(data.get("ui_url") or ""),
            origin=str(data.get("origin") or ""),
        )
