"""The pull request publisher: changes of stages with ``publish: pull-request`` become one
branch and one pull request per (source, name, stage); the rest is pushed directly.

Each reconcile plans once against the GitOps branch. Direct changes go through the
``DirectPushPublisher`` (commits, a plain push, re-plans on a race). Then, for each
pull request change, the branch is made anew on the GitOps head and force-pushed
(only that branch) when what it proposes, or the folder it is based on, changed;
an open pull request of that branch is looked up before one is created, so a
create whose reply was lost never leaves two. Pull requests remembered from
earlier reconciles are settled by content: merged, squashed or rebased (deployed),
or the selection returned to what the stage runs (closed with a comment). One a
person closed is not opened again for that revision. A forge that is down or
refuses fails only these releases.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from watcher.core import pull_request_text as text
from watcher.core.plan import Change, Plan
from watcher.core.publishing import pull_request_branch
from watcher.core.pull_requests import (
    EventKind,
    ForgePullRequest,
    PullRequestEvent,
    PullRequestRecord,
    content_id,
)
from watcher.core.release import ReleaseFailure
from watcher.core.tree import FolderView
from watcher.errors import WatcherError
from watcher.spine.publisher import DirectPushPublisher, GitOpsRepository, Planner, Publication

log = logging.getLogger(__name__)


class Forge(Protocol):
    """A forge's pull requests of one repository (``watcher.adapters.forges``)."""

    def describe(self) -> str: ...
    def find_open(self, branch: str, base: str) -> ForgePullRequest | None: ...
    def create(
        self, branch: str, base: str, title: str, body: str, labels: Sequence[str]
    ) -> ForgePullRequest: ...
    def update(self, number: int, title: str, body: str) -> ForgePullRequest: ...
    def read(self, number: int) -> ForgePullRequest: ...
    def comment_and_close(self, number: int, comment: str) -> None: ...
    def merge(self, number: int, method: str, title: str) -> str: ...
    def close(self) -> None: ...


class PullRequestRecords(Protocol):
    """What is remembered of each folder's pull request between reconciles."""

    def load(self) -> dict[str, PullRequestRecord]: ...
    def save(self, record: PullRequestRecord) -> None: ...
    def drop(self, folder: str) -> None: ...
    def close(self) -> None: ...


class BranchRepository(GitOpsRepository, Protocol):
    """The GitOps checkout with pull request branches (``adapters/git_branches.py``)."""

    def commit_on_branch(
        self, branch: str, folder: str, files: Mapping[str, bytes], message: str
    ) -> str: ...
    def push_branch(self, branch: str) -> None: ...
    def delete_branch(self, branch: str) -> None: ...
    def last_change(self, path: str) -> tuple[str, float] | None: ...


@dataclasses.dataclass(frozen=True)
class PullRequestOptions:
    #: The GitOps branch pull requests merge into, and the folder that holds deployments.
    base: str
    path: str
    branch_prefix: str = "gitops-watcher"
    merge_method: str = "merge"


class PullRequestPublisher:
    """Direct changes through ``direct``; pull request changes to their branch and PR."""

    def __init__(
        self,
        direct: DirectPushPublisher,
        repo: BranchRepository,
        forge: Forge,
        records: PullRequestRecords,
        options: PullRequestOptions,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._direct = direct
        self.repo = repo
        self.forge = forge
        self.records = records
        self.options = options
        self.clock = clock

    def publish(
        self, planner: Planner, *, dry_run: bool = False, only: Sequence[str] | None = None
    ) -> Publication:
        planned: list[Plan] = []

        def direct_only(tree: Mapping[str, bytes]) -> Plan:
            plan = planner(tree)
            planned[:] = [plan]
            changes = tuple(c for c in plan.changes if not c.publish.pull_request)
            return dataclasses.replace(plan, changes=changes)

        publication = self._direct.publish(direct_only, dry_run=dry_run, only=only)
        full = planned[-1]
        publication.proposed = tuple(
            dataclasses.replace(change, previous_files=dict(change.previous_files))
            for change in full.changes
            if change.publish.pull_request
        )
        try:
            records = self.records.load()
        except WatcherError as exc:
            publication.failures += [_failure(c, exc) for c in publication.proposed]
            return publication
        if dry_run:
            publication.pull_requests = [
                _would(change, records.get(change.folder)) for change in publication.proposed
            ]
            return publication
        if publication.proposed or records:
            run = _Run(self, records, self.repo.read_tree(self.options.path))
            run.propose_all(publication.proposed)
            run.settle_all(full, {c.folder for c in publication.proposed})
            publication.pull_requests, publication.failures = run.events, run.failures
        return publication

    def close(self) -> None:
        for closer in (self._direct.close, self.forge.close, self.records.close):
            try:
                closer()
            except Exception:  # closing is best effort, one closer must not stop the next
                log.debug("closing failed", exc_info=True)


class _Run:
    """One reconcile's pull request work: events and failures as it goes."""

    def __init__(
        self,
        publisher: PullRequestPublisher,
        records: dict[str, PullRequestRecord],
        tree: Mapping[str, bytes],
    ) -> None:
        self.p = publisher
        self.records = records
        self.tree = tree
        self.events: list[PullRequestEvent] = []
        self.failures: list[ReleaseFailure] = []

    # -- changes of pull request stages ------------------------------------------------

    def propose_all(self, changes: Sequence[Change]) -> None:
        for change in changes:
            try:
                self._propose(change, self.records.get(change.folder))
            except WatcherError as exc:
                log.info("pull request of %s: %s", change.provenance.id.describe(), exc)
                self.failures.append(_failure(change, exc))

    def _propose(self, change: Change, record: PullRequestRecord | None) -> None:
        base = content_id(change.previous_files)
        just_closed = False
        if record is not None and record.state == "open":
            record = self._still_open(record, base)
            just_closed = record is not None and record.state == "closed"
        revision = change.provenance.revision
        if record is not None and record.state == "closed":
            if record.revision == revision:
                reason = f"pull request #{record.number} was closed without merging"
                self._emit(change, "held", record, reason=reason, news=just_closed)
                return
            record = None  # a new revision: a new pull request
        want = content_id(change.files)
        if record is not None and (record.content, record.base) == (want, base):
            self._emit(change, "current", record, news=False)
        else:
            record = self._push_and_open(change, record, want, base)
        if change.publish.auto_merge:
            self._auto_merge(change, record)

    def _still_open(self, record: PullRequestRecord, base: str) -> PullRequestRecord | None:
        """The record after asking the forge: merged (recorded when the branch holds it) and
        forgotten, closed by a person (remembered as such), or still open."""
        found = self.p.forge.read(record.number)
        if found.state == "merged":
            if record.content == base:
                self._merged(record, found)
            self._forget(record)
            return None
        if found.state == "closed":
            closed = record.closed()
            self.p.records.save(closed)
            log.info("pull request #%d was closed without merging", record.number)
            return closed
        return record

    def _push_and_open(
        self, change: Change, record: PullRequestRecord | None, want: str, base: str
    ) -> PullRequestRecord:
        options = self.p.options
        branch = pull_request_branch(options.branch_prefix, change.provenance.source, change.folder)
        files = change.files if change.action != "remove" else {}
        commit = self.p.repo.commit_on_branch(
            branch, f"{options.path}/{change.folder}", files, change.message
        )
        self.p.repo.push_branch(branch)
        title, body = text.title(change), text.body(change, branch)
        forge = self.p.forge
        found = forge.find_open(branch, options.base) if record is None else None
        kind: EventKind = "updated"
        if record is not None:
            opened = forge.update(record.number, title, body)
        elif found is not None:
            opened = forge.update(found.number, title, body)
        else:
            opened = forge.create(branch, options.base, title, body, text.labels(change))
            kind = "opened"
        revision = change.provenance.revision
        same = record is not None and record.revision == revision
        fresh = PullRequestRecord(
            folder=change.folder,
            id=change.provenance.id,
            branch=branch,
            number=opened.number,
            url=opened.url or (record.url if record else ""),
            revision=revision,
            label=change.provenance.label,
            content=want,
            base=base,
            first_seen=record.first_seen if record is not None and same else self.p.clock(),
        )
        self.p.records.save(fresh)
        self.records[change.folder] = fresh
        self._emit(change, kind, fresh, commit=commit)
        return fresh

    def _auto_merge(self, change: Change, record: PullRequestRecord) -> None:
        try:
            commit = self.p.forge.merge(record.number, self.p.options.merge_method, change.subject)
        except WatcherError as exc:
            log.warning("could not merge pull request #%d: %s", record.number, exc)
            self.events[-1] = dataclasses.replace(
                self.events[-1], reason=f"auto_merge: the forge did not merge it: {exc}"
            )
            return
        now = self.p.clock()
        self.events[-1] = dataclasses.replace(
            self.events[-1],
            kind="merged",
            news=True,
            commit=commit,
            lead_seconds=max(now - record.first_seen, 0.0),
            reason="merged by gitops-watcher (auto_merge)",
        )
        self._forget(record)

    # -- pull requests remembered from earlier reconciles --------------------------------

    def settle_all(self, plan: Plan, proposed: set[str]) -> None:
        unchanged = {folder for folder, _ in plan.unchanged}
        direct = {change.folder for change in plan.changes if not change.publish.pull_request}
        for folder, record in sorted(self.records.items()):
            if folder in proposed:
                continue
            try:
                if folder in unchanged and self._folder_content(folder) == record.content:
                    self._merged_by_content(record)
                elif folder in unchanged or folder in direct or _gone(plan, record):
                    self._obsolete(record, "direct" if folder in direct else "returned")
            except WatcherError as exc:
                log.info("pull request #%d of %s: %s", record.number, record.id.describe(), exc)
                self.failures.append(ReleaseFailure(record.id, exc, record.folder, record.revision))

    def _merged_by_content(self, record: PullRequestRecord) -> None:
        """The GitOps branch holds what the pull request proposed: a deployment."""
        found: ForgePullRequest | None = None
        if record.state == "open":
            found = self.p.forge.read(record.number)
            if found.state == "open":  # the same files landed another way
                self.p.forge.comment_and_close(
                    record.number,
                    text.close_comment(f"{record.branch}'s change is already on the branch."),
                )
        self._merged(record, found)
        self._forget(record)

    def _obsolete(self, record: PullRequestRecord, why: str) -> None:
        """The stage runs what is selected again (or now publishes directly): close it."""
        if record.state == "open":
            reason = (
                "the stage now publishes directly"
                if why == "direct"
                else f"the selection returned to what {record.id.stage} runs; "
                f"{record.label} is no longer proposed"
            )
            self.p.forge.comment_and_close(record.number, text.close_comment(reason))
            self.events.append(_event(record, "closed", reason=reason))
        self._forget(record)

    def _merged(self, record: PullRequestRecord, found: ForgePullRequest | None) -> None:
        options = self.p.options
        last = self.p.repo.last_change(f"{options.path}/{record.folder}")
        commit, when = last if last is not None else ("", None)
        if found is not None and found.merged_at is not None and when is None:
            when = found.merged_at
        lead = max(when - record.first_seen, 0.0) if when and record.first_seen else None
        self.events.append(
            _event(record, "merged", commit=commit or (found.merge_commit if found else ""),
                   lead_seconds=lead)
        )  # fmt: skip

    def _forget(self, record: PullRequestRecord) -> None:
        self.p.records.drop(record.folder)
        self.records.pop(record.folder, None)
        try:
            self.p.repo.delete_branch(record.branch)
        except WatcherError as exc:
            log.warning("could not delete branch '%s': %s", record.branch, exc)

    def _folder_content(self, folder: str) -> str:
        prefix = f"{self.p.options.path}/{folder}"
        start = f"{prefix}/"
        names = [path[len(start) :] for path in self.tree if path.startswith(start)]
        return content_id(FolderView(self.tree, prefix, names))

    def _emit(
        self,
        change: Change,
        kind: EventKind,
        record: PullRequestRecord,
        *,
        reason: str = "",
        commit: str = "",
        news: bool = True,
    ) -> None:
        info = change.provenance
        self.events.append(
            PullRequestEvent(
                info.id, change.folder, info.revision, info.label, kind, change.action,
                change.subject, record.ref, reason=reason, commit=commit, news=news,
            )
        )  # fmt: skip


def _gone(plan: Plan, record: PullRequestRecord) -> bool:
    """Nothing is selected and nothing is deployed, and that is known for sure: its source
    was read, its release did not fail, and the plan has no word on the folder."""
    folder = record.folder
    spoken = {f for f, _ in (*plan.held, *plan.held_back)} | {f for f, _ in plan.problems}
    return (
        record.id.source in plan.complete_sources
        and folder not in {kept for kept, _marker in plan.kept}
        and folder not in spoken
        and not any(change.folder == folder for change in plan.changes)
    )


def _event(
    record: PullRequestRecord,
    kind: EventKind,
    *,
    reason: str = "",
    commit: str = "",
    lead_seconds: float | None = None,
) -> PullRequestEvent:
    return PullRequestEvent(
        record.id, record.folder, record.revision, record.label, kind, "", "",
        record.ref, reason=reason, commit=commit, lead_seconds=lead_seconds,
    )  # fmt: skip


def _would(change: Change, record: PullRequestRecord | None) -> PullRequestEvent:
    info = change.provenance
    is_open = record is not None and record.state == "open"
    return PullRequestEvent(
        info.id, change.folder, info.revision, info.label,
        "would-update" if is_open else "would-open", change.action, change.subject,
        record.ref if is_open and record is not None else None,
    )  # fmt: skip


def _failure(change: Change, error: WatcherError) -> ReleaseFailure:
    info = change.provenance
    return ReleaseFailure(info.id, error, change.folder, info.revision)
