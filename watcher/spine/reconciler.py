"""One reconcile: read every source, copy artifacts, render, plan against git, publish, record.

Level-triggered: every run compares the whole desired state with what is in
git, so a run after a missed event heals it and a second run changes nothing.
Order of effects: artifacts copied and verified, then commits (one per changed
folder) and the push (the publisher's job), then the ledger. Manifests are
rendered only from verified copies, so no commit can reference a partial
artifact. A source that cannot be read holds back only its own folders.

A run may read some sources only (the daemon runs each source on its own thread,
so one that is slow or down never delays another) and of a source only what a
hint named (``run_scope``). Reading, copying and rendering happen outside the
git checkout's lock; sync, plan, commit and push take turns on it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Protocol

from watcher.closing import Closing
from watcher.core.events import StateChange
from watcher.core.plan import Plan, make_plan
from watcher.core.provenance import deploys_with_copy
from watcher.core.release import ReleaseFailure
from watcher.core.result import (
    ReconcileResult,
    ReleaseOutcome,
    ReleaseState,
    pull_request_outcome,
)
from watcher.core.targets import Target
from watcher.errors import TemporaryError, WatcherError
from watcher.spine.desired_state import DesiredState, Source, build_desired
from watcher.spine.policy import PolicyContext, PolicyResult, Stopped, apply_policy
from watcher.spine.policy_ports import FolderHistory, evidence_of
from watcher.spine.publisher import Publication, Publisher
from watcher.spine.run_scope import narrowed, pick, with_the_others
from watcher.spine.triggers import Hint

log = logging.getLogger(__name__)


class Ledger(Protocol):
    def record(self, result: ReconcileResult) -> Sequence[StateChange]:
        """Write what changed since the last rows; return those changes."""
        ...

    def record_failure(
        self, reconcile_id: str, error: WatcherError, source: str = ""
    ) -> Sequence[StateChange]:
        """A run that could not complete, once per new failure (``source``: the run of
        one source's own)."""
        ...

    def close(self) -> None: ...


class ChangeListener(Protocol):
    """Told what the ledger recorded as changed (notifications); never raises, never waits."""

    def changed(self, changes: Sequence[StateChange], result: ReconcileResult | None) -> None: ...


class Reconciler(Closing):
    """Owns its sources, publisher and ledger: use it as a context manager to close them."""

    def __init__(
        self,
        sources: Sequence[Source],
        targets: Mapping[str, Target],
        publisher: Publisher,
        ledger: Ledger | None = None,
        *,
        max_delete_fraction: float = 0.5,
        closers: Sequence[Closing] = (),
        history: FolderHistory | None = None,
        prefix: str = "",
        listener: ChangeListener | None = None,
    ) -> None:
        self._closers = tuple(closers)
        self._listener = listener
        self.sources = tuple(sources)
        self._targets = targets
        self._publisher = publisher
        self._ledger = ledger
        self._max_delete_fraction = max_delete_fraction
        #: The GitOps history the promotion policy reads (None: no policy, as in tests of
        #: the plan alone), and the deployments folder it lives under.
        self._policy = history
        self._prefix = prefix
        #: The GitOps checkout is one: sync, plan, commit and push take turns on it.
        self._git_turn = threading.Lock()
        #: Deployments each source owned at its last whole plan: what the mass-deletion
        #: guard of a hinted run (which sees a few folders) counts from.
        self._owned: dict[str, int] = {}

    def close(self) -> None:
        for source in self.sources:
            with contextlib.suppress(Exception):
                source.close()
        with contextlib.suppress(Exception):
            self._publisher.close()
        if self._ledger is not None:
            with contextlib.suppress(Exception):
                self._ledger.close()
        for closer in self._closers:
            with contextlib.suppress(Exception):
                closer.close()

    def reconcile(
        self,
        *,
        dry_run: bool = False,
        allow_mass_delete: bool = False,
        sources: Collection[str] | None = None,
        hints: Mapping[str, Hint] | None = None,
    ) -> ReconcileResult:
        """One run: of every source, or of ``sources`` only (by name); ``hints``: by source
        name, what a trigger named (that source reads only that again)."""
        result = ReconcileResult(reconcile_id=uuid.uuid4().hex, dry_run=dry_run)
        picked = pick(self.sources, sources)
        if sources is not None:
            result.scope_sources = tuple(source.name for source in picked)
        try:
            self._reconcile(result, allow_mass_delete, picked, hints or {})
        except WatcherError as exc:
            if not dry_run:
                own = result.scope_sources
                self._record_failure(result.reconcile_id, exc, own[0] if own else "")
            raise
        self._record(result)
        return result

    def _reconcile(
        self,
        result: ReconcileResult,
        allow_mass_delete: bool,
        picked: Sequence[Source],
        hints: Mapping[str, Hint],
    ) -> None:
        dry_run = result.dry_run
        state = build_desired(picked, self._targets, dry_run=dry_run, hints=hints)
        result.sources = state.sources
        result.artifacts = state.stats
        result.planned_copies = state.planned_copies
        result.coverage = {
            name: scope.coverage for name, scope in state.scopes.items() if scope.coverage
        }
        only = narrowed(state.scopes)
        if only == []:  # its hint names nothing its sources deploy: git is not touched
            result.finished_at = time.time()
            return
        scopes = with_the_others(state.scopes, self.sources)
        guard_base = sum(self._owned.get(name, 0) for name in result.coverage)

        #: The policy's word on the last plan the publisher asked for (it may plan again).
        decided: list[PolicyResult] = []
        #: What the policy asks the registries, asked once however often the publisher plans.
        evidence = {source.name: evidence_of(source) for source in self.sources}

        def planner(current: Mapping[str, bytes]) -> Plan:
            plan = make_plan(
                current,
                state.folders,
                scopes,
                keep=state.keep,
                max_delete_fraction=self._max_delete_fraction,
                allow_mass_delete=allow_mass_delete,
                guard_base=guard_base,
            )
            if self._policy is None:
                return plan
            context = PolicyContext(self._prefix, self._policy, evidence, time.time())
            decided[:] = [apply_policy(plan, current, state.folders, context)]
            return decided[0].plan

        with self._git_turn:
            if only is None:
                publication = self._publisher.publish(planner, dry_run=dry_run)
            else:
                publication = self._publisher.publish(planner, dry_run=dry_run, only=only)
        self._take_outcome(result, state, publication, decided[0] if decided else None)

    def _take_outcome(
        self,
        result: ReconcileResult,
        state: DesiredState,
        publication: Publication,
        decided: PolicyResult | None,
    ) -> None:
        """What the publisher did (and the policy stopped) into ``result``."""
        plan = publication.plan
        self._owned.update(
            (name, plan.owned_counts.get(name, 0)) for name in plan.complete_sources
        )
        stopped = decided.stopped if decided else []
        result.wake_at = decided.wake_at if decided else None
        result.failures, unchecked = unchecked_but_deployed(state, plan)
        result.failures += _stopped_failures(stopped)
        for failure in result.failures:
            log.info("cannot deploy %s: %s", failure.id.describe(), failure.error)
        if unchecked:
            log.info(
                "%d deployment(s) kept as deployed; the first: %s",
                len(unchecked),
                unchecked[0].warning,
            )
        result.planned = plan.changes
        result.problems = [(folder, error) for folder, error in plan.problems]
        result.problem_sources = dict(plan.problem_sources)
        if plan.blocked is not None:
            result.problems.append((None, plan.blocked))
            own = result.scope_sources
            result.problem_sources[""] = own[0] if own and len(own) == 1 else ""
        for _folder, problem in result.problems:
            log.info("%s", problem)
        result.applied = publication.applied
        result.pushed = publication.pushed
        result.push_attempts = publication.attempts
        result.proposed = publication.proposed
        result.pull_requests = publication.pull_requests
        result.failures += publication.failures
        result.releases = _outcomes(result.failures, unchecked, publication, stopped)
        result.finished_at = time.time()

    def _record(self, result: ReconcileResult) -> None:
        if self._ledger is None or result.dry_run:
            return
        try:
            result.changes = list(self._ledger.record(result))
        except TemporaryError as exc:
            # The ledger is a record, not the truth: git already holds the outcome.
            log.error("could not record reconcile %s in the ledger: %s", result.reconcile_id, exc)
            return
        self._tell(result.changes, result)

    def _record_failure(self, reconcile_id: str, error: WatcherError, source: str) -> None:
        if self._ledger is None:
            return
        try:
            changes = self._ledger.record_failure(reconcile_id, error, source)
        except TemporaryError as exc:
            log.error("could not record the failed reconcile %s: %s", reconcile_id, exc)
            return
        self._tell(changes, None)

    def _tell(self, changes: Sequence[StateChange], result: ReconcileResult | None) -> None:
        if self._listener is None or not changes:
            return
        try:
            self._listener.changed(changes, result)
        except Exception:  # telling must never fail a reconcile
            log.exception("could not hand the changes of this reconcile to the notifier")


def unchecked_but_deployed(
    state: DesiredState, plan: Plan
) -> tuple[list[ReleaseFailure], list[ReleaseOutcome]]:
    """The failures that stay failures, and the releases that are not failed after all.

    A release whose copy could not be checked (the store did not answer), and whose
    folder in git already deploys exactly it with that copy, is deployed and stays so:
    it is unchanged, with a warning, not a failed deploy (its folder was kept as is).
    """
    kept = dict(plan.kept)
    failures: list[ReleaseFailure] = []
    unchanged: list[ReleaseOutcome] = []
    for failure in state.failures:
        folder = failure.folder or ""
        release, copy_uri = state.unchecked.get(folder, (None, ""))
        marker = kept.get(folder)
        if (
            release is None
            or marker is None
            or release.id != failure.id
            or not deploys_with_copy(marker, release, copy_uri)
        ):
            failures.append(failure)
            continue
        warning = f"its copy could not be re-checked: {failure.error}"
        unchanged.append(
            ReleaseOutcome(
                failure.id, folder, failure.revision, "unchanged", warning=warning,
                url=marker.url,
            )
        )  # fmt: skip
    return failures, unchanged


def _outcomes(
    failures: Sequence[ReleaseFailure],
    unchecked: Sequence[ReleaseOutcome],
    publication: Publication,
    stopped: Sequence[Stopped] = (),
) -> list[ReleaseOutcome]:
    """Every release's state after this run, in folder order."""
    plan = publication.plan
    outcomes: list[ReleaseOutcome] = []
    committed = {applied.change.folder: applied for applied in publication.applied}
    for change in plan.changes:
        applied = committed.get(change.folder) if publication.pushed else None
        info = change.provenance
        # Dry runs, and commits that never reached the remote, leave what is deployed alone.
        state_now: ReleaseState = "planned"
        if applied is not None:
            state_now = "removed" if change.action == "remove" else "deployed"
        outcomes.append(
            ReleaseOutcome(
                info.id,
                change.folder,
                info.revision,
                state_now,
                action=change.action,
                commit=applied.commit if applied else None,
                url=info.url,
            )
        )
    outcomes += [
        ReleaseOutcome(info.id, folder, info.revision, "unchanged", url=info.url)
        for folder, info in plan.unchanged
    ]
    outcomes += [
        ReleaseOutcome(info.id, folder, info.revision, "kept", url=info.url)
        for folder, info in plan.held
    ]
    outcomes += [
        ReleaseOutcome(info.id, folder, info.revision, "blocked", url=info.url)
        for folder, info in plan.held_back
    ]
    outcomes += [_stopped_outcome(one) for one in stopped if one.state != "failed"]
    outcomes += unchecked
    running = dict(plan.kept)
    outcomes += [
        ReleaseOutcome(
            f.id, f.folder or "", f.revision, "failed", error=f.error, url=f.url,
            running_revision=running[f.folder].revision if f.folder in running else "",
        )
        for f in failures
    ]  # fmt: skip
    # A policy's word on a folder wins over "unchanged" (a manual hold with nothing to do).
    spoken_by_policy = {one.folder for one in stopped}
    outcomes = [o for o in outcomes if o.folder not in spoken_by_policy or o.state != "unchanged"]
    # A pull request's outcome is the word on its folder (a merge: deployed, not unchanged).
    proposals = [o for o in map(pull_request_outcome, publication.pull_requests) if o]
    spoken = {outcome.folder for outcome in proposals}
    outcomes = [o for o in outcomes if o.folder not in spoken or o.state == "failed"]
    return sorted(outcomes + proposals, key=lambda o: (o.folder, o.id))


def describe_sources(sources: Iterable[Source]) -> str:
    return ", ".join(source.name for source in sources)


def _stopped_outcome(stopped: Stopped) -> ReleaseOutcome:
    """A release the policy kept out: what runs stays (``revision``), the candidate waits."""
    return ReleaseOutcome(
        stopped.id,
        stopped.folder,
        stopped.running,
        stopped.state,
        commit=stopped.commit or None,
        reason=stopped.reason,
        candidate=stopped.revision,
        url=stopped.url,
    )


def _stopped_failures(stopped: Sequence[Stopped]) -> list[ReleaseFailure]:
    """A release whose evidence could not be read fails (and keeps its folder)."""
    return [
        ReleaseFailure(one.id, one.error, one.folder, one.revision)
        for one in stopped
        if one.state == "failed" and one.error is not None
    ]
