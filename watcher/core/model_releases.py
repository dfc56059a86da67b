"""Decide, for a model registry: which version each (model, stage) runs, as releases.

Pure function of a registry snapshot and the source's stage policies. A problem
with one (model, stage) becomes a failure for that pair only; everything else
is still decided, and the plan keeps whatever is deployed for failed pairs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from urllib.parse import quote

from watcher.core.model import READY_STATUS, ModelVersion, RegisteredModel, RegistrySnapshot
from watcher.core.names import join_folder, model_slug
from watcher.core.overrides import Overrides, read_overrides
from watcher.core.policy.waiver import gate_tags, gates_waived
from watcher.core.release import ArtifactNeed, Release, ReleaseFailure, ReleaseId, SourceRead
from watcher.core.stages import NameFilter, StagePolicy
from watcher.core.urls import redact_url
from watcher.errors import InvalidNameError, PermanentError

MODEL_KIND = "model"
#: Tags the daemon writes back to the registry; never read as input (no commit loop).
STATUS_TAG_PREFIX = "gitops."


@dataclass(frozen=True)
class ModelDeployment:
    """The payload of a model release: everything a model target renders from."""

    model: RegisteredModel
    version: ModelVersion
    stage: StagePolicy
    slug: str
    selected_by: str
    replicas: int
    resources: Mapping[str, Mapping[str, str]]
    ui_url: str = ""
    overrides: Overrides = field(default_factory=Overrides)

    @property
    def registry_uri(self) -> str:
        return f"models:/{self.version.name}/{self.version.version}"

    @property
    def url(self) -> str:
        return version_url(self.ui_url, self.version.name, self.version.version)


def version_url(ui_url: str, model_name: str, version: str) -> str:
    """The model version's page in the MLflow UI ("" when the UI is unknown)."""
    if not ui_url:
        return ""
    base = ui_url.rstrip("/")
    return f"{base}/#/models/{quote(model_name, safe='')}/versions/{quote(version, safe='')}"


def select_version(model: RegisteredModel, stage: StagePolicy) -> tuple[ModelVersion, str] | None:
    """The version a stage runs: the first selector that points at a ready version."""
    aliases = model.alias_map
    for selector in stage.select:
        candidate: ModelVersion | None = None
        if selector.alias is not None:
            version = aliases.get(selector.alias)
            candidate = model.version(version) if version is not None else None
        elif selector.registry_stage is not None:
            candidate = model.latest_in_stage(selector.registry_stage)
        if candidate is not None and candidate.status == READY_STATUS:
            return candidate, selector.describe()
    return None


class ModelReleaseMemo:
    """What the last read decided for each model record, reused while the record is equal.

    A level-triggered reconcile decides every (model, stage) on every run; most
    models did not change. An equal record (name, aliases, tags, versions with
    their tags) under the same stage policies decides the same releases, so the
    very same objects are handed out again, and what is cached on them (the
    render key) carries over. Only models of the latest read are kept.
    """

    def __init__(self) -> None:
        self._context: tuple[object, ...] | None = None
        self._last: dict[tuple[RegisteredModel, str], _Decided] = {}
        self._now: dict[tuple[RegisteredModel, str], _Decided] = {}
        self._partial = False

    def start(self, context: tuple[object, ...], *, partial: bool = False) -> None:
        """A read begins; a ``partial`` one (a hint) keeps what it does not read again."""
        if context != self._context:
            self._context, self._last = context, {}
        self._now = {}
        self._partial = partial

    def lookup(self, key: tuple[RegisteredModel, str]) -> _Decided | None:
        return self._last.get(key)

    def keep(self, key: tuple[RegisteredModel, str], decided: _Decided) -> None:
        self._now[key] = decided

    def finish(self) -> None:
        if self._partial:
            names = {model.name for model, _ui in self._now}
            kept = {key: one for key, one in self._last.items() if key[0].name not in names}
            self._last, self._now = {**kept, **self._now}, {}
            return
        self._last, self._now = self._now, {}


_Decided = tuple[tuple["Release", ...], tuple[ReleaseFailure, ...]]


def model_releases(
    snapshot: RegistrySnapshot,
    stages: Sequence[StagePolicy],
    models: NameFilter,
    *,
    source: str,
    path: str = "",
    memo: ModelReleaseMemo | None = None,
    partial: bool = False,
) -> SourceRead:
    """Every (model, stage) that should run, and every pair that could not be decided
    (``partial``: the snapshot holds only some models, a hint's)."""
    releases: list[Release] = []
    failures: list[ReleaseFailure] = []
    stage_names = frozenset(stage.name for stage in stages)
    slugs: dict[str, str] = {}
    if memo is not None:
        memo.start((tuple(stages), source, path), partial=partial)
    for model in snapshot.models:
        if not models.matches(model.name):
            continue
        try:
            slug = model_slug(model.name)
        except InvalidNameError as exc:
            failures.extend(
                ReleaseFailure(ReleaseId(source, MODEL_KIND, model.name, s.name), exc)
                for s in stages
            )
            continue
        if slugs.setdefault(slug, model.name) != model.name:
            clash = InvalidNameError(
                f"models {slugs[slug]!r} and {model.name!r} map to the same folder {slug!r}",
                hint="rename one of them in MLflow",
            )
            failures.extend(
                ReleaseFailure(
                    ReleaseId(source, MODEL_KIND, model.name, s.name),
                    clash,
                    join_folder(path, slug, s.name),
                )
                for s in stages
            )
            continue
        key = (model, snapshot.ui_url)
        decided = memo.lookup(key) if memo is not None else None
        if decided is None:
            decided = _decide(model, slug, stages, stage_names, snapshot.ui_url, source, path)
        if memo is not None:
            memo.keep(key, decided)
        releases.extend(decided[0])
        failures.extend(decided[1])
    if memo is not None:
        memo.finish()
    publishing = {stage.name: stage.publish for stage in stages}
    return SourceRead(tuple(releases), tuple(failures), snapshot.origin, publishing=publishing)


def _decide(
    model: RegisteredModel,
    slug: str,
    stages: Sequence[StagePolicy],
    stage_names: frozenset[str],
    ui_url: str,
    source: str,
    path: str,
) -> _Decided:
    """One model's releases and failures: a function of its record and the policies."""
    releases: list[Release] = []
    failures: list[ReleaseFailure] = []
    for stage in stages:
        chosen = select_version(model, stage)
        if chosen is None:
            continue
        release_id = ReleaseId(source, MODEL_KIND, model.name, stage.name)
        version, selected_by = chosen
        folder = join_folder(path, slug, stage.name)
        tags = version.tag_map
        try:
            waived_by = gates_waived(tags, stage.name)
            for tag in gate_tags(tags, stage_names):
                del tags[tag]  # a waiver, not a deployment override
            overrides = read_overrides(
                tags, stage.name, stage_names, stage.max_replicas, stage.min_replicas
            )
        except PermanentError as exc:
            page = version_url(ui_url, model.name, version.version)
            failures.append(ReleaseFailure(release_id, exc, folder, version.version, page))
            continue
        deployment = ModelDeployment(
            model=model,
            version=version,
            stage=stage,
            slug=slug,
            selected_by=selected_by,
            replicas=stage.replicas if overrides.replicas is None else overrides.replicas,
            resources=_merge_resources(stage, overrides),
            ui_url=ui_url,
            overrides=overrides,
        )
        rules = replace(stage.rules, waived_by=waived_by) if waived_by else stage.rules
        releases.append(replace(_release(release_id, folder, deployment), rules=rules))
    return tuple(releases), tuple(failures)


def _release(release_id: ReleaseId, folder: str, deployment: ModelDeployment) -> Release:
    version = deployment.version
    stage = deployment.stage
    source = redact_url(version.source)
    url = deployment.url
    model_info = {
        "name": version.name,
        "version": version.version,
        "run_id": version.run_id,
        "source": source,
        "url": url,
    }
    return Release(
        id=release_id,
        folder=folder,
        target=stage.target,
        revision=version.version,
        revision_label=f"v{version.version}",
        publish=stage.publish,
        namespace=stage.namespace,
        payload=deployment,
        details={
            "model": model_info,
            "selected_by": deployment.selected_by,
            "overrides": dict(deployment.overrides.applied),
        },
        settings=_pod_settings(deployment),
        summary=(f"Selected by {deployment.selected_by}.", *_tag_summary(deployment.overrides)),
        trailers=(
            ("Model-Name", version.name),
            ("Model-Version", version.version),
            ("Selected-By", deployment.selected_by),
            ("Run-Id", version.run_id),
            ("Source", source),
            ("Registry-Url", url),
        ),
        url=url,
        artifact=ArtifactNeed((version.name, version.version), deployment),
    )


def _tag_summary(overrides: Overrides) -> tuple[str, ...]:
    """``Tuned by tags: deploy.memory=2Gi; deploy.memory sets the memory limit …`` or nothing."""
    if not overrides.applied:
        return ()
    tags = ", ".join(f"{tag}={value}" for tag, value in overrides.applied)
    return (f"Tuned by tags: {'; '.join((tags, *overrides.notes))}.",)


def _pod_settings(deployment: ModelDeployment) -> dict[str, str]:
    """What the pods run with, flat, so a commit can say ``replicas 2 → 3``."""
    stage = deployment.stage
    settings = {"replicas": str(deployment.replicas), "target": stage.target}
    if stage.image:
        settings["image"] = stage.image
    for section, amounts in sorted(deployment.resources.items()):
        suffix = "" if section == "requests" else "_limit"
        for resource, amount in sorted(amounts.items()):
            settings[f"{resource}{suffix}"] = amount
    return settings


def _merge_resources(stage: StagePolicy, overrides: Overrides) -> dict[str, dict[str, str]]:
    merged: dict[str, dict[str, str]] = {}
    for section in ("requests", "limits"):
        values = dict(stage.resources.get(section, {}))
        values.update(overrides.resources.get(section, {}))
        if values:
            merged[section] = dict(sorted(values.items()))
    return merged
