"""One reconcile: observe the registry, decide, copy artifacts, render, plan against git, act.

Level-triggered: every run compares the whole desired state with what is in
git, so a run after a missed event heals it and a second run changes nothing.
Order of effects: artifacts copied and verified, then commits (one per changed
folder), then one push, then the ledger. Manifests are rendered only from
verified copies, so no commit can reference a partial artifact; a version whose
copy fails keeps its folder as it is. A registry read that fails stops the run
before anything is planned, so a partial read can never remove a deployment.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import jinja2

from watcher.adapters.state_store import PromotionRecord
from watcher.artifact_sync import CopyStats
from watcher.config.settings import Settings
from watcher.core.artifacts import ArtifactRef
from watcher.core.desired import DesiredDeployment, Failure, decide
from watcher.core.model import ModelVersion, RegistrySnapshot
from watcher.core.names import describe
from watcher.core.plan import Change, Plan, make_plan
from watcher.core.render import artifact_key, render_all
from watcher.errors import PushRejectedError, TemporaryError, WatcherError

log = logging.getLogger(__name__)


class RegistryReader(Protocol):
    def snapshot(self) -> RegistrySnapshot: ...


class Ledger(Protocol):
    def record(self, reconcile_id: str, records: Iterable[PromotionRecord]) -> None: ...


class ArtifactCopier(Protocol):
    def describe(self) -> str: ...
    def check(self, *, dry_run: bool = False) -> None: ...
    def ensure(
        self, version: ModelVersion, slug: str, *, dry_run: bool = False
    ) -> tuple[ArtifactRef, CopyStats]: ...


class GitOpsTarget(Protocol):
    def sync(self) -> str | None: ...
    def read_tree(self, prefix: str) -> dict[str, bytes]: ...
    def apply_folder(self, folder: str, files: Mapping[str, bytes], message: str) -> str | None: ...
    def push(self) -> None: ...


@dataclass(frozen=True)
class Applied:
    """A change that became a commit."""

    change: Change
    commit: str


@dataclass
class ReconcileResult:
    """What one reconcile did; ``ok`` is False when any (model, stage) failed."""

    reconcile_id: str
    dry_run: bool = False
    planned: tuple[Change, ...] = ()
    applied: list[Applied] = field(default_factory=list)
    unchanged: tuple[str, ...] = ()
    failures: list[tuple[str, str, WatcherError]] = field(default_factory=list)
    #: Problems of the plan itself: folders we do not own, removals held back.
    plan_problems: tuple[WatcherError, ...] = ()
    pushed: bool = False
    push_attempts: int = 0
    artifacts: CopyStats = field(default_factory=CopyStats)

    @property
    def ok(self) -> bool:
        return not self.failures and not self.plan_problems

    def counts(self) -> dict[str, int]:
        removed = sum(1 for a in self.applied if a.change.kind == "remove")
        return {
            "planned": len(self.planned),
            "applied": len(self.applied),
            "removed": removed,
            "unchanged": len(self.unchanged),
            "failed": len(self.failures) + len(self.plan_problems),
            "artifact_files_sent": self.artifacts.files_sent,
            "artifact_bytes_sent": self.artifacts.bytes_sent,
        }


class Reconciler:
    def __init__(
        self,
        settings: Settings,
        registry: RegistryReader,
        target: GitOpsTarget,
        templates: jinja2.Environment,
        ledger: Ledger | None = None,
        sleep: Callable[[float], None] = time.sleep,
        artifacts: ArtifactCopier | None = None,
    ) -> None:
        self._artifacts = artifacts
        self._settings = settings
        self._registry = registry
        self._target = target
        self._templates = templates
        self._ledger = ledger
        self._sleep = sleep

    def reconcile(
        self, *, dry_run: bool = False, allow_mass_delete: bool = False
    ) -> ReconcileResult:
        result = ReconcileResult(reconcile_id=uuid.uuid4().hex, dry_run=dry_run)
        rendered, failures, result.artifacts = desired_folders(
            self._settings,
            self._templates,
            self._registry.snapshot(),
            self._artifacts,
            dry_run=dry_run,
        )
        for failure in failures:
            log.error(
                "cannot deploy model %s to stage '%s': %s",
                describe(failure.model_name),
                failure.stage,
                failure.error,
            )
            result.failures.append((failure.model_name, failure.stage, failure.error))
        keep = {f.folder for f in failures if f.folder}

        git = self._settings.git
        delay = git.push_backoff_seconds
        for attempt in range(1, git.push_attempts + 1):
            result.push_attempts = attempt
            self._target.sync()
            current = _relative(self._target.read_tree(git.path), git.path)
            plan = make_plan(
                current,
                rendered,
                keep=keep,
                max_delete_fraction=self._settings.safety.max_delete_fraction,
                allow_mass_delete=allow_mass_delete,
            )
            problems: list[WatcherError] = [error for _folder, error in plan.conflicts]
            problems += [plan.blocked] if plan.blocked is not None else []
            for problem in problems:
                log.error("%s", problem)
            result.plan_problems = tuple(problems)
            result.planned, result.unchanged = plan.changes, plan.unchanged
            if dry_run or not plan.changes:
                break
            result.applied = self._commit(plan)
            if not result.applied:
                break
            try:
                self._target.push()
            except PushRejectedError:
                if attempt == git.push_attempts:
                    raise
                log.warning(
                    "push rejected (attempt %d of %d): re-planning on the new head",
                    attempt,
                    git.push_attempts,
                )
                self._sleep(delay)
                delay *= 2
                continue
            result.pushed = True
            break
        self._record(result)
        return result

    def _commit(self, plan: Plan) -> list[Applied]:
        applied = []
        for change in plan.changes:
            folder = f"{self._settings.git.path}/{change.folder}"
            commit = self._target.apply_folder(folder, change.files, change.message)
            if commit:
                log.info("committed %s: %s", commit[:10], change.subject)
                applied.append(Applied(change, commit))
        return applied

    def _record(self, result: ReconcileResult) -> None:
        if self._ledger is None or result.dry_run:
            return
        records = [_applied_record(a) for a in result.applied]
        records += [
            PromotionRecord(
                folder="",
                model_name=model,
                stage=stage,
                version="",
                action="deploy",
                outcome="failed",
                error=str(error),
            )
            for model, stage, error in result.failures
        ]
        records += [
            PromotionRecord(
                folder="",
                model_name="",
                stage="",
                version="",
                action="plan",
                outcome="failed",
                error=str(problem),
            )
            for problem in result.plan_problems
        ]
        try:
            self._ledger.record(result.reconcile_id, records)
        except TemporaryError as exc:
            # The ledger is a record, not the truth: git already holds the outcome.
            log.error("could not record reconcile %s in the ledger: %s", result.reconcile_id, exc)


def desired_folders(
    settings: Settings,
    templates: jinja2.Environment,
    snapshot: RegistrySnapshot,
    artifacts: ArtifactCopier | None = None,
    *,
    dry_run: bool = False,
) -> tuple[dict[str, dict[str, bytes]], list[Failure], CopyStats]:
    """Decide, copy and render: the folders that should exist, and the pairs that failed.

    Without ``artifacts`` manifests serve the registry's ``models:/`` URIs.
    """
    state = decide(snapshot, settings.stages, settings.registry.models)
    render = settings.render
    version = render.kubernetes_version if render.validate_manifests else None
    refs: dict[tuple[str, str], ArtifactRef] | None = None
    copy_failures: list[Failure] = []
    stats = CopyStats()
    if artifacts is not None:
        refs, copy_failures, stats = copy_artifacts(artifacts, state.deployments, dry_run=dry_run)
    rendered, render_failures = render_all(
        templates, state.deployments, snapshot.ui_url, version, refs
    )
    return rendered, [*state.failures, *copy_failures, *render_failures], stats


def copy_artifacts(
    artifacts: ArtifactCopier, deployments: Iterable[DesiredDeployment], *, dry_run: bool
) -> tuple[dict[tuple[str, str], ArtifactRef], list[Failure], CopyStats]:
    """One verified copy per deployed version; a failure stops only the pairs of that version.

    The store is checked once first: when it is unreachable or refuses us,
    every pair fails with that one clear error instead of one timeout each.
    """
    deployments = list(deployments)
    refs: dict[tuple[str, str], ArtifactRef] = {}
    errors: dict[tuple[str, str], WatcherError] = {}
    stats = CopyStats()
    if deployments:
        try:
            artifacts.check(dry_run=dry_run)
        except WatcherError as exc:
            log.error("artifact store %s cannot be used: %s", artifacts.describe(), exc)
            errors = {artifact_key(d): exc for d in deployments}
    for deployment in deployments:
        key = artifact_key(deployment)
        if key in refs or key in errors:
            continue
        try:
            refs[key], copied = artifacts.ensure(
                deployment.version, deployment.slug, dry_run=dry_run
            )
            stats.add(copied)
        except WatcherError as exc:
            log.debug(
                "cannot copy model %s version %s to %s: %s",
                describe(deployment.version.name),
                deployment.version.version,
                artifacts.describe(),
                exc,
            )
            errors[key] = exc
    failures = [
        Failure(d.model.name, d.stage.name, errors[artifact_key(d)], d.folder)
        for d in deployments
        if artifact_key(d) in errors
    ]
    return refs, failures, stats


def _applied_record(applied: Applied) -> PromotionRecord:
    """Applied records are written only after the push succeeded."""
    info = applied.change.info or {}
    model = info.get("model", {})
    # A removal's info is the old promotion.json: its copy is no longer deployed.
    artifact = {} if applied.change.kind == "remove" else (info.get("artifact") or {})
    return PromotionRecord(
        folder=applied.change.folder,
        model_name=str(model.get("name", "")),
        stage=str(info.get("stage", "")),
        version=str(model.get("version", "")),
        action=applied.change.kind,
        outcome="applied",
        commit=applied.commit,
        artifact_uri=str(artifact.get("uri", "")),
        artifact_digest=str(artifact.get("digest", "")),
    )


def _relative(tree: Mapping[str, bytes], prefix: str) -> dict[str, bytes]:
    start = f"{prefix}/"
    return {path[len(start) :]: data for path, data in tree.items() if path.startswith(start)}
