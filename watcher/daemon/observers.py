"""What the daemon runs beside its reconciles: notifications, the promotion figures of each
stage, and Argo CD's view of what it deployed.

Opened once the replica is the writer, through ``watcher.outward``: the notifier
(shared by every reconcile and the health reads), a ledger handle (the history
the stage figures start from after a restart, and the health rows), and the
Argo CD reader with its monitor thread.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from watcher import outward
from watcher.config.settings import Credentials, Settings
from watcher.core.app_health import HealthReport
from watcher.core.event_builder import ReleaseFacts
from watcher.core.events import StateChange
from watcher.core.release import ReleaseId
from watcher.core.result import ReconcileResult
from watcher.daemon.deployments import deployments_of, seed_rows
from watcher.daemon.health import HealthMonitor
from watcher.daemon.metrics import DaemonMetrics
from watcher.daemon.promotion_metrics import PromotionMetrics
from watcher.daemon.runner import RunRequest
from watcher.daemon.status import StatusBoard
from watcher.errors import WatcherError
from watcher.spine.source_kinds import StatusReporter

log = logging.getLogger(__name__)


class Notifier(Protocol):
    """Sends what changed to the receivers (``adapters/notifier.py``); never blocks."""

    def changed(self, changes: Sequence[StateChange], result: ReconcileResult | None) -> None: ...

    def changed_with(
        self, changes: Sequence[StateChange], facts: Mapping[ReleaseId, ReleaseFacts]
    ) -> None: ...

    def close(self) -> None: ...


class Observers:
    def __init__(
        self,
        settings: Settings,
        credentials: Credentials,
        metrics: DaemonMetrics,
        board: StatusBoard,
        *,
        dry_run: bool = False,
    ) -> None:
        self._settings, self._credentials = settings, credentials
        #: A dry run changes nothing outside: Argo CD is read and shown, not recorded,
        #: notified or written back as tags.
        self._dry_run = dry_run
        self._metrics, self._board = metrics, board
        self.notifier: Notifier | None = None
        self._monitor: HealthMonitor | None = None
        self._reporters: Mapping[str, StatusReporter] = {}

    def open(self, stack: contextlib.ExitStack) -> ChangesSeen:
        """Open the notifier, the ledger handle and the Argo CD reader; ``stack`` closes
        them (the notifier last: it delivers what the last reconcile queued). Returns what
        the reconciler tells its changes to."""
        promotion = self._metrics.promotion
        self.notifier = outward.open_notifier(
            self._settings, self._credentials, promotion.notification_outcome
        )
        if self.notifier is not None:
            stack.callback(self.notifier.close)
        ledger = outward.open_ledger(self._settings, self._credentials)
        stack.callback(ledger.close)
        try:
            history = outward.deployment_history(ledger)
        except WatcherError as exc:
            log.warning("cannot read the ledger's deployments for the stage figures: %s", exc)
            history = []
        self._board.stats.add(seed_rows(history, time.time()))
        promotion.seed_last_deployments(self._board.stats.last_deployments())
        reader = outward.argocd_reader(self._settings, self._credentials)
        if reader is not None:
            stack.callback(reader.close)
            notifier = None if self._dry_run else self.notifier
            self._monitor = HealthMonitor(
                reader=reader,
                board=self._board,
                metrics=promotion,
                record_health=_nothing if self._dry_run else ledger.record_health,
                notify=notifier.changed_with if notifier is not None else None,
                write_tags=None if self._dry_run else self._write_tags,
                interval=self._settings.argocd.poll_interval_seconds,
            )
        return ChangesSeen(promotion, self.notifier)

    def start(self, reporters: Mapping[str, StatusReporter]) -> None:
        """Start the health reads (status write-back goes through ``reporters``)."""
        self._reporters = reporters
        if self._monitor is not None:
            self._monitor.start()
            log.info(
                "reading Argo CD's applications from %s every %.0f s",
                self._settings.argocd.api_url,
                self._settings.argocd.poll_interval_seconds,
            )

    def stop(self) -> None:
        if self._monitor is not None:
            self._monitor.stop()

    def observe(self, result: dict[str, Any], request: RunRequest) -> None:
        """The metrics and the stage figures of one completed reconcile."""
        deployments = deployments_of(
            result, request.first_observed_at, from_registry=request.from_registry
        )
        self._metrics.observe(result, deployments, self._board.counts())
        self._board.stats.add(deployments)

    def _write_tags(self, releases: list[dict[str, Any]]) -> None:
        """Argo CD's health and sync as registry tags, through each source's reporter."""
        by_source: dict[str, list[dict[str, Any]]] = {}
        for release in releases:
            by_source.setdefault(str(release.get("source")), []).append(release)
        for name, own in by_source.items():
            reporter = self._reporters.get(name)
            if reporter is None and len(self._reporters) == 1:
                reporter = next(iter(self._reporters.values()))
            if reporter is None:
                continue
            written, failed = reporter.report(own, time.time())
            self._metrics.status_tags.labels("ok").inc(written)
            self._metrics.status_tags.labels("failed").inc(failed)


def _nothing(_reports: Sequence[HealthReport]) -> list[StateChange]:
    return []


class ChangesSeen:
    """What the reconciler tells its changes to: the per-change metrics, and the notifier.
    Also the changes of a run that could not complete, which no result carries."""

    def __init__(self, metrics: PromotionMetrics, notifier: Notifier | None) -> None:
        self._metrics, self._notifier = metrics, notifier

    def changed(self, changes: Sequence[StateChange], result: ReconcileResult | None) -> None:
        self._metrics.observe_changes([change.to_dict() for change in changes])
        if self._notifier is not None:
            self._notifier.changed(changes, result)
