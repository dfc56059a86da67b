"""The promotion policy step: between the plan and the commits, what may change now.

For each planned change it asks, in order: is the folder held (a person's change,
or ``gitops-watcher hold``)? Does a version that would newly run pass the stage's
gates, keep the serving contract, and has it soaked long enough in the stage it
must run in first? A change that may not go ahead is taken out of the plan (its
folder stays exactly as it is) and reported as ``held``, ``gated`` or ``waiting``;
one that goes ahead may get a rollback subject and notes in its message.
The decisions are the pure core's (``watcher.core.policy``); this step reads what
they need: the folders' history from git, metrics and signatures from sources.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from watcher.core.names import join_folder
from watcher.core.plan import Change, DesiredFolder, Plan
from watcher.core.policy.gates import check_gates
from watcher.core.policy.history import ran_before
from watcher.core.policy.holds import HOLDS_FOLDER, RECORD_FILE, Hold, HoldRecord, decide_hold
from watcher.core.policy.messages import amend, rollback_subject, rollback_trailer
from watcher.core.policy.signature import breaking_changes
from watcher.core.policy.soak import Wait, check_soak
from watcher.core.provenance import Provenance
from watcher.core.release import Release, ReleaseId
from watcher.errors import WatcherError
from watcher.spine.policy_ports import FolderHistory, PromotionEvidence
from watcher.spine.policy_review import review_notes

log = logging.getLogger(__name__)

StoppedState = Literal["held", "gated", "waiting", "failed"]

#: How far back a folder's history is read for rollbacks and soak.
HISTORY_DEPTH = 200


@dataclass(frozen=True)
class Stopped:
    """A release the policy kept from changing its folder, and why."""

    id: ReleaseId
    folder: str
    #: The revision the registry selects (the candidate); "" for a demotion.
    revision: str
    label: str
    state: StoppedState
    reason: str
    #: The person's commit a hold honours.
    commit: str = ""
    error: WatcherError | None = None
    #: For ``waiting``: when it may be ready (None: only a change elsewhere helps).
    wake_at: float | None = None
    #: What the folder runs now ("" for a folder not deployed yet).
    running: str = ""
    #: The candidate's page (registry UI, spec in git), when known.
    url: str = ""

    def describe(self) -> str:
        """``model 'churn' v7 in production``."""
        label = f" {self.label}" if self.label else ""
        return f"{self.id.kind} {self.id.name}{label} in {self.id.stage}"


@dataclass
class PolicyResult:
    plan: Plan
    stopped: list[Stopped] = field(default_factory=list)
    #: When a waiting release may be ready: the daemon reconciles again then.
    wake_at: float | None = None


@dataclass(frozen=True)
class PolicyContext:
    """What the step reads: the folders' history, each source's evidence, the clock."""

    prefix: str
    history: FolderHistory
    evidence: Mapping[str, PromotionEvidence | None]
    now: float


def apply_policy(
    plan: Plan,
    current: Mapping[str, bytes],
    desired: Mapping[str, DesiredFolder],
    context: PolicyContext,
) -> PolicyResult:
    """The plan with the changes that may go ahead, and why the others wait."""
    records = hold_records(current)
    changing = [c for c in plan.changes if not c.folder.startswith(HOLDS_FOLDER)]
    logs = context.history.recent_logs(context.prefix, {c.folder for c in changing})
    result = PolicyResult(plan)
    # What this plan itself deploys: a stage deployed now starts its soak now.
    arriving = {c.folder: c.provenance.revision for c in changing if c.action != "remove"}
    kept: list[Change] = []
    for change in changing:
        record = records.get(change.folder)
        revision = None if change.action == "remove" else change.provenance.revision
        hold = decide_hold(logs.get(change.folder, []), record, revision)
        if hold is not None:
            result.stopped.append(_held(change, hold))
            continue
        release = desired[change.folder].release if change.action != "remove" else None
        if release is not None and _newly_runs(change):
            verdict = _evaluate(change, release, records, context, arriving)
            if isinstance(verdict, Stopped):
                result.stopped.append(verdict)
                result.wake_at = _earliest(result.wake_at, verdict.wake_at)
                continue
            change = verdict
        kept.append(change)
        if record is not None and record.kind == "released":
            kept.append(_record_removal(record, change.provenance))
    kept += _settled_records(records, {c.folder for c in changing}, plan, desired)
    result.stopped += _manual_holds_without_changes(records, changing, desired)
    result.plan = dataclasses.replace(plan, changes=tuple(kept))
    return result


def hold_records(current: Mapping[str, bytes]) -> dict[str, HoldRecord]:
    """Hold records in the tree, by the folder they hold (unreadable ones are ignored)."""
    start = f"{HOLDS_FOLDER}/"
    end = f"/{RECORD_FILE}"
    records: dict[str, HoldRecord] = {}
    for path in current:
        if path.startswith(start) and path.endswith(end):
            record = HoldRecord.from_json(current[path])
            if record is not None:
                records[path[len(start) : -len(end)]] = record
    return records


def _newly_runs(change: Change) -> bool:
    """A deploy, or an update to another revision (not a re-render of the same one)."""
    previous = change.previous
    return previous is None or previous.revision != change.provenance.revision


def _held(change: Change, hold: Hold) -> Stopped:
    info = change.provenance
    revision = "" if change.action == "remove" else info.revision
    label = "" if change.action == "remove" else info.label
    running = change.previous.revision if change.previous is not None else ""
    return Stopped(
        info.id, change.folder, revision, label, "held", hold.reason, hold.commit,
        running=running, url=info.url,
    )  # fmt: skip


def _evaluate(
    change: Change,
    release: Release,
    records: Mapping[str, HoldRecord],
    context: PolicyContext,
    arriving: Mapping[str, str],
) -> Change | Stopped:
    """The change as it may go ahead (maybe amended), or why it may not."""
    info = change.provenance
    rules = release.rules
    stop = _stopper(change)
    if rules.after:
        wait = _soak(change, release, records, context, arriving)
        if wait is not None:
            return dataclasses.replace(stop("waiting", wait.reason), wake_at=wait.wake_at)
    evidence = context.evidence.get(info.source)
    lines: list[str] = []
    trailers: list[tuple[str, str]] = []
    try:
        gated = _gates(change, release, evidence, lines, trailers)
        if gated:
            return stop("gated", gated)
        broken = _contract(change, release, evidence, lines)
        if broken:
            return stop("gated", broken)
    except WatcherError as exc:
        return dataclasses.replace(stop("failed", str(exc)), error=exc)
    notes = review_notes(change, release, evidence)
    if notes:
        lines += notes
        change = dataclasses.replace(change, notes=notes)
    return _amended(change, context, lines, trailers)


def _stopper(change: Change) -> Callable[[StoppedState, str], Stopped]:
    """Makes the ``Stopped`` of this change's release, in a state, for a reason."""
    info = change.provenance

    running = change.previous.revision if change.previous is not None else ""

    def stop(state: StoppedState, reason: str) -> Stopped:
        return Stopped(
            info.id, change.folder, info.revision, info.label, state, reason,
            running=running, url=info.url,
        )  # fmt: skip

    return stop


def _soak(
    change: Change,
    release: Release,
    records: Mapping[str, HoldRecord],
    context: PolicyContext,
    arriving: Mapping[str, str],
) -> Wait | None:
    rules = release.rules
    parent = change.folder.rsplit("/", 1)[0] if "/" in change.folder else ""
    after_folder = join_folder(parent, rules.after) if parent else rules.after
    record = records.get(after_folder)
    if record is not None and record.kind == "manual":
        return Wait(f"{change.provenance.label} is held in {rules.after}")
    if arriving.get(after_folder) == change.provenance.revision:
        # Deployed there by this very reconcile: the clock starts with its commit, now.
        soak = rules.soak_seconds
        return Wait(f"{soak:,.0f} s more in {rules.after}", wake_at=context.now + soak)
    log_of = context.history.folder_log(join_folder(context.prefix, after_folder), HISTORY_DEPTH)
    info = change.provenance
    return check_soak(
        log_of, rules.after, info.label, info.revision, rules.soak_seconds, context.now
    )


def _gates(
    change: Change,
    release: Release,
    evidence: PromotionEvidence | None,
    lines: list[str],
    trailers: list[tuple[str, str]],
) -> str:
    """The reasons the gates refuse the candidate ("" when they pass or are waived)."""
    rules = release.rules
    if not rules.gates:
        return ""
    if rules.waived_by:
        lines.append(f"Gates waived for {change.provenance.label} by the tag {rules.waived_by}.")
        trailers.append(("Gates-Waived", rules.waived_by))
        return ""
    if evidence is None:
        return "its gates cannot be checked: the source offers no metrics"
    previous = change.previous
    deployed = evidence.metrics(previous.details) if previous is not None else None
    verdict = check_gates(
        rules.gates,
        evidence.metrics(change.provenance.details),
        deployed,
        candidate_label=change.provenance.label,
        deployed_label=previous.label if previous is not None else "",
    )
    lines += [f"Gates: {note}." for note in verdict.notes]
    if verdict.passed:
        lines.append(f"Gates passed: {', '.join(g.describe() for g in rules.gates)}.")
    return "; ".join(verdict.failures)


def _contract(
    change: Change, release: Release, evidence: PromotionEvidence | None, lines: list[str]
) -> str:
    """``signature: …`` when a strict contract refuses; a warning line when it only warns."""
    contract = release.rules.contract
    previous = change.previous
    if contract == "off" or previous is None or evidence is None:
        return ""
    try:
        before = evidence.signature(previous.details)
        after = evidence.signature(change.provenance.details)
    except WatcherError as exc:
        if contract == "strict":
            raise
        lines.append(f"Signature not checked: {exc}.")
        return ""
    breaking = breaking_changes(before, after)
    if not breaking:
        return ""
    if contract == "strict":
        return "signature: " + "; ".join(breaking)
    lines.append(f"Breaking signature change (contract: warn): {'; '.join(breaking)}.")
    return ""


def _amended(
    change: Change,
    context: PolicyContext,
    lines: Sequence[str],
    trailers: Sequence[tuple[str, str]],
) -> Change:
    """The change's message with the policy's notes, and a rollback's subject."""
    previous = change.previous
    subject = ""
    extra = list(trailers)
    if previous is not None:
        history = context.history.folder_log(
            join_folder(context.prefix, change.folder), HISTORY_DEPTH
        )
        if ran_before(history, change.provenance.revision):
            subject = rollback_subject(previous, change.provenance)
            extra.append(rollback_trailer(previous))
    if not subject and not lines and not extra:
        return change
    message = amend(change.message, subject=subject, lines=lines, trailers=extra)
    return dataclasses.replace(change, message=message)


def _record_removal(record: HoldRecord, info: Provenance) -> Change:
    """Drop a record once the hold it released is over (its folder is ours again)."""
    folder = f"{HOLDS_FOLDER}/{record.folder}"
    message = (
        f"unhold {record.name} in {record.stage}: its folder follows the registry again\n\n"
        f"Gitops-Watcher-Action: unhold\nGitops-Watcher-Source: {record.source}\n"
        f"Release-Name: {record.name}\nStage: {record.stage}\n"
    )
    return Change(folder, "remove", {}, message, info, info, {})


def _settled_records(
    records: Mapping[str, HoldRecord],
    changing: set[str],
    plan: Plan,
    desired: Mapping[str, DesiredFolder],
) -> list[Change]:
    """Released records whose folder is as the registry wants, with nothing to change."""
    settled = []
    for folder, record in sorted(records.items()):
        if record.kind != "released" or folder in changing or folder not in desired:
            continue
        settled.append(_record_removal(record, desired[folder].provenance))
    return settled


def _manual_holds_without_changes(
    records: Mapping[str, HoldRecord],
    changing: Sequence[Change],
    desired: Mapping[str, DesiredFolder],
) -> list[Stopped]:
    """A manual hold is reported on every reconcile, also while nothing would change."""
    folders = {c.folder for c in changing}
    stopped = []
    for folder, record in sorted(records.items()):
        if record.kind != "manual" or folder in folders or folder not in desired:
            continue
        info = desired[folder].provenance
        hold = decide_hold([], record, info.revision)
        assert hold is not None
        held = Stopped(info.id, folder, info.revision, info.label, "held", hold.reason)
        stopped.append(dataclasses.replace(held, running=info.revision, url=info.url))
    return stopped


def _earliest(first: float | None, second: float | None) -> float | None:
    if first is None:
        return second
    if second is None:
        return first
    return min(first, second)
