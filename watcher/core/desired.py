"""Decide: which version each (model, stage) should run.

Pure function of the registry snapshot and the stage settings. A problem with
one (model, stage) becomes a ``Failure`` for that pair only; everything else is
still decided, and the planner keeps whatever is deployed for failed pairs.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from watcher.config.settings import ModelFilter, Selector, StageSettings
from watcher.core.model import READY_STATUS, ModelVersion, RegisteredModel, RegistrySnapshot
from watcher.core.names import model_slug
from watcher.core.overrides import Overrides, read_overrides
from watcher.errors import InvalidNameError, PermanentError, WatcherError


@dataclass(frozen=True)
class DesiredDeployment:
    """One (model, stage) that should be deployed, with everything rendering needs."""

    model: RegisteredModel
    version: ModelVersion
    stage: StageSettings
    slug: str
    selected_by: str
    replicas: int
    resources: Mapping[str, Mapping[str, str]]
    overrides: Overrides = field(default_factory=Overrides)

    @property
    def folder(self) -> str:
        """The folder under the deployments path: ``<slug>/<stage>``."""
        return f"{self.slug}/{self.stage.name}"


@dataclass(frozen=True)
class Failure:
    """A (model, stage) that could not be decided or rendered; its folder is left alone."""

    model_name: str
    stage: str
    error: WatcherError
    #: The folder it would use, when a safe one could be derived.
    folder: str | None = None


@dataclass(frozen=True)
class DesiredState:
    deployments: tuple[DesiredDeployment, ...] = ()
    failures: tuple[Failure, ...] = ()


def describe_selector(selector: Selector) -> str:
    return (
        f"alias '{selector.alias}'" if selector.alias is not None else f"stage '{selector.stage}'"
    )


def select_version(model: RegisteredModel, stage: StageSettings) -> tuple[ModelVersion, str] | None:
    """The version a stage runs: the first selector that points at a ready version."""
    aliases = model.alias_map
    for selector in stage.select:
        candidate: ModelVersion | None = None
        if selector.alias is not None:
            version = aliases.get(selector.alias)
            candidate = model.version(version) if version is not None else None
        elif selector.stage is not None:
            candidate = model.latest_in_stage(selector.stage)
        if candidate is not None and candidate.status == READY_STATUS:
            return candidate, describe_selector(selector)
    return None


def is_managed(name: str, models: ModelFilter) -> bool:
    included = any(fnmatch.fnmatchcase(name, pattern) for pattern in models.include)
    return included and not any(fnmatch.fnmatchcase(name, pattern) for pattern in models.exclude)


def decide(
    snapshot: RegistrySnapshot, stages: Sequence[StageSettings], models: ModelFilter
) -> DesiredState:
    """Everything that should be deployed, and every pair that could not be decided."""
    deployments: list[DesiredDeployment] = []
    failures: list[Failure] = []
    stage_names = frozenset(stage.name for stage in stages)
    slugs: dict[str, str] = {}
    for model in snapshot.models:
        if not is_managed(model.name, models):
            continue
        try:
            slug = model_slug(model.name)
        except InvalidNameError as exc:
            failures.extend(Failure(model.name, stage.name, exc) for stage in stages)
            continue
        if slugs.setdefault(slug, model.name) != model.name:
            clash = InvalidNameError(
                f"models {slugs[slug]!r} and {model.name!r} map to the same folder {slug!r}",
                hint="rename one of them in MLflow",
            )
            failures.extend(Failure(model.name, s.name, clash, f"{slug}/{s.name}") for s in stages)
            continue
        for stage in stages:
            chosen = select_version(model, stage)
            if chosen is None:
                continue
            version, selected_by = chosen
            try:
                overrides = read_overrides(
                    version.tag_map, stage.name, stage_names, stage.max_replicas
                )
            except PermanentError as exc:
                failures.append(Failure(model.name, stage.name, exc, f"{slug}/{stage.name}"))
                continue
            deployments.append(
                DesiredDeployment(
                    model=model,
                    version=version,
                    stage=stage,
                    slug=slug,
                    selected_by=selected_by,
                    replicas=stage.replicas if overrides.replicas is None else overrides.replicas,
                    resources=_merge_resources(stage, overrides),
                    overrides=overrides,
                )
            )
    return DesiredState(tuple(deployments), tuple(failures))


def _merge_resources(stage: StageSettings, overrides: Overrides) -> dict[str, dict[str, str]]:
    merged: dict[str, dict[str, str]] = {}
    for section in ("requests", "limits"):
        amounts = getattr(stage.resources, section)
        values = {k: v for k, v in (("cpu", amounts.cpu), ("memory", amounts.memory)) if v}
        values.update(overrides.resources.get(section, {}))
        if values:
            merged[section] = dict(sorted(values.items()))
    return merged
