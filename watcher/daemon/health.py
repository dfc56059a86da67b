"""Argo CD's view of what the daemon deployed, read back on an interval (``argocd.api_url``).

For each deployed release, the Application the ApplicationSet made for its
folder: sync status, health, synced revision. They go to ``/status``, to the
metrics (seconds from a push to Synced, and to Healthy, at the pushed revision),
to the ledger when a release becomes ``healthy`` or ``degraded`` (so each sends
one notification, also across restarts), and, with status write-back on, to the
registry as ``gitops.<stage>.health`` and ``.synced`` tags. Read only: an Argo CD
that cannot be reached is logged once and changes nothing else.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from watcher.core.app_health import AppStatus, HealthReport, application_name
from watcher.core.event_builder import ReleaseFacts
from watcher.core.events import StateChange
from watcher.core.release import ReleaseId
from watcher.daemon.promotion_metrics import PromotionMetrics
from watcher.daemon.status import Key, StatusBoard
from watcher.errors import WatcherError

log = logging.getLogger(__name__)

RecordHealth = Callable[[Sequence[HealthReport]], Sequence[StateChange]]
Notify = Callable[[Sequence[StateChange], Mapping[ReleaseId, ReleaseFacts]], None]
WriteTags = Callable[[list[dict[str, Any]]], None]


class ApplicationReader(Protocol):
    """Argo CD's Applications by name (``adapters/argocd_api.py``); raises a
    ``WatcherError`` when Argo CD cannot be asked."""

    def applications(self) -> dict[str, AppStatus]: ...


@dataclass
class HealthMonitor:
    reader: ApplicationReader
    board: StatusBoard
    metrics: PromotionMetrics
    record_health: RecordHealth
    notify: Notify | None = None
    write_tags: WriteTags | None = None
    interval: float = 30.0
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._problem = ""
        #: (key, commit) pairs whose time to Synced / Healthy was measured.
        self._timed: dict[str, set[tuple[Key, str]]] = {"synced": set(), "healthy": set()}
        #: What the registry tags say now, by key: (revision, health, synced).
        self._tagged: dict[Key, tuple[str, str, str]] = {}

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="argocd-health", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll()
            except Exception:  # the health read must never stop the daemon
                log.exception("reading Argo CD crashed")

    def poll(self) -> None:
        """One read of every Application, and what follows from it."""
        releases = self.board.deployed()
        try:
            apps = self.reader.applications()
        except WatcherError as exc:
            self.metrics.argocd_up.set(0)
            self.board.argocd_problem = str(exc)
            if str(exc) != self._problem:
                log.warning("cannot read Argo CD's applications (nothing else is affected): %s",
                            exc)  # fmt: skip
                self._problem = str(exc)
            return
        if self._problem:
            log.info("Argo CD's applications can be read again")
            self._problem = ""
        self.metrics.argocd_up.set(1)
        self.board.argocd_problem = ""
        now = self.clock()
        found: dict[Key, dict[str, Any]] = {}
        reports: list[HealthReport] = []
        counts: Counter[tuple[str, str]] = Counter()
        for entry in releases:
            key: Key = (str(entry["source"]), str(entry["name"]), str(entry["stage"]))
            app = apps.get(application_name(str(entry["folder"])))
            info, report = self._look(key, entry, app, now)
            found[key] = info
            counts[(info["health"], info["sync"])] += 1
            if report is not None:
                reports.append(report)
        self.board.set_argocd(found)
        self.metrics.argocd_applications.clear()
        for (health, sync), count in counts.items():
            self.metrics.argocd_applications.labels(health, sync).set(count)
        self._record(reports, releases)
        self._tag(releases, found)

    def _look(
        self, key: Key, entry: Mapping[str, Any], app: AppStatus | None, now: float
    ) -> tuple[dict[str, Any], HealthReport | None]:
        name = application_name(str(entry["folder"]))
        if app is None:
            info = {"application": name, "sync": "Unknown", "health": "Missing", "revision": "",
                    "synced": False, "checked_at": now}  # fmt: skip
            return info, None
        synced = _synced(entry, app)
        info = {"application": name, "sync": app.sync, "health": app.health,
                "revision": app.revision, "synced": synced, "checked_at": now}  # fmt: skip
        healthy = synced and app.health == "Healthy"
        self._time(key, entry, "synced", synced, now)
        self._time(key, entry, "healthy", healthy, now)
        state = "healthy" if healthy else "degraded" if app.health == "Degraded" else ""
        report = HealthReport(
            source=key[0], kind=str(entry.get("kind") or ""), name=key[1], stage=key[2],
            folder=str(entry["folder"]), revision=str(entry.get("revision") or ""),
            commit=str(entry.get("commit") or ""), state=state,
        )  # fmt: skip
        return info, report

    def _time(
        self, key: Key, entry: Mapping[str, Any], what: str, reached: bool, now: float
    ) -> None:
        """Seconds from the push to ``what``, once per push this process made."""
        commit, pushed_at = entry.get("commit"), entry.get("pushed_at")
        if not reached or not commit or pushed_at is None or (key, commit) in self._timed[what]:
            return
        self._timed[what].add((key, str(commit)))
        metrics = self.metrics
        histogram = metrics.synced_seconds if what == "synced" else metrics.healthy_seconds
        histogram.labels(key[0], key[2], str(entry.get("kind") or "")).observe(
            max(now - float(pushed_at), 0.0)
        )

    def _record(self, reports: list[HealthReport], releases: list[dict[str, Any]]) -> None:
        try:
            changes = list(self.record_health(reports))
        except WatcherError as exc:
            log.error("could not record Argo CD health in the ledger: %s", exc)
            return
        if not changes:
            return
        data = [change.to_dict() for change in changes]
        self.metrics.observe_changes(data)
        if self.notify is not None:
            facts = {
                ReleaseId(str(e["source"]), str(e.get("kind") or ""), str(e["name"]),
                          str(e["stage"])): ReleaseFacts(
                    from_revision=str(e.get("revision") or "") or None,
                    to_revision=str(e.get("revision") or "") or None,
                    commit=e.get("commit") or None, url=str(e.get("url") or ""), message="",
                )
                for e in releases
            }  # fmt: skip
            self.notify(changes, facts)

    def _tag(self, releases: list[dict[str, Any]], found: Mapping[Key, dict[str, Any]]) -> None:
        """Registry tags for the releases whose health or sync changed since they were
        last written (status write-back on)."""
        if self.write_tags is None:
            return
        changed = []
        for entry in releases:
            key: Key = (str(entry["source"]), str(entry["name"]), str(entry["stage"]))
            info = found.get(key)
            if info is None:
                continue
            now = (str(entry.get("revision")), str(info["health"]), str(bool(info["synced"])))
            if self._tagged.get(key) == now:
                continue
            self._tagged[key] = now
            changed.append({**entry, "argocd_health": info["health"],
                            "argocd_synced": bool(info["synced"])})  # fmt: skip
        if changed:
            self.write_tags(changed)


def _synced(entry: Mapping[str, Any], app: AppStatus) -> bool:
    """Synced at the pushed revision: at that very commit, or compared with git after the
    push (a later commit holds it too). A release pushed before this process started is
    Synced when Argo CD says so."""
    if app.sync != "Synced":
        return False
    commit, pushed_at = entry.get("commit"), entry.get("pushed_at")
    if not commit or pushed_at is None or app.revision == commit:
        return True
    return app.reconciled_at is not None and app.reconciled_at >= float(pushed_at)
