"""Promotions as a team reads them: deployments with their lead time, rollbacks and holds
per stage, over the last day and week (``/status``'s ``stages``, and the metrics).

Made from the reconcile result dicts: their releases (what was pushed) and their
``changes`` (what the ledger recorded, with rollbacks and since when a revision
was failing). After a restart the window is filled again from the ledger's rows
(``seed``), so the counts do not start from zero; lead times are known only for
deployments this process made.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from watcher.core.events import HOLD_STATES, LEAD_TIME_TO

DAY = 86_400.0
WEEK = 7 * DAY


@dataclass(frozen=True)
class Deployment:
    """One pushed change of one release, or a hold."""

    source: str
    stage: str
    kind: str
    #: ``deploy``, ``update``, ``remove``, or ``held``.
    action: str
    at: float
    #: Seconds from the first observation (or the registry's own time) to the push.
    lead_seconds: float | None = None
    #: ``registry`` (a webhook's timestamp) or ``observed`` (our first sight of it).
    lead_from: str = "observed"
    lead_to: str = "push"
    rollback: bool = False


def deployments_of(
    result: Mapping[str, Any], first_observed_at: float, *, from_registry: bool = False
) -> list[Deployment]:
    """The pushed changes of one reconcile, with lead times, and the holds it recorded."""
    finished = float(result["finished_at"])
    changes = _release_changes(result)
    found: list[Deployment] = []
    for release in result.get("releases") or ():
        if release.get("state") not in ("deployed", "removed") or not result.get("pushed"):
            continue
        key = (release.get("source"), release.get("kind"), release.get("name"),
               release.get("stage"))  # fmt: skip
        change = changes.get(key, {})
        action = str(release.get("action") or "")
        start, lead_from = first_observed_at, "registry" if from_registry else "observed"
        seen = change.get("first_seen_at")
        if seen is not None and float(seen) < start:
            start, lead_from = float(seen), "observed"
        deployment = Deployment(
            source=str(release.get("source") or ""), stage=str(release.get("stage")),
            kind=str(release.get("kind")), action=action, at=finished,
            lead_seconds=max(finished - start, 0.0), lead_from=lead_from,
            lead_to=LEAD_TIME_TO.get(action, "push"), rollback=bool(change.get("rollback")),
        )  # fmt: skip
        found.append(deployment)
    for change in result.get("changes") or ():
        if change.get("scope") == "release" and change.get("state") in HOLD_STATES:
            hold = Deployment(
                str(change.get("source")), str(change.get("stage")), str(change.get("kind")),
                "held", finished,
            )  # fmt: skip
            found.append(hold)
    return found


def _release_changes(result: Mapping[str, Any]) -> dict[tuple[Any, ...], Mapping[str, Any]]:
    return {
        (c.get("source"), c.get("kind"), c.get("name"), c.get("stage")): c
        for c in result.get("changes") or ()
        if c.get("scope") == "release"
    }


class StageStats:
    """The last week of deployments per (source, stage), and the summary ``/status`` shows."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._window: deque[Deployment] = deque()
        self._last: dict[tuple[str, str], float] = {}

    def add(self, deployments: Iterable[Deployment]) -> None:
        with self._lock:
            for deployment in deployments:
                self._window.append(deployment)
                if deployment.action in ("deploy", "update"):
                    key = (deployment.source, deployment.stage)
                    self._last[key] = max(self._last.get(key, 0.0), deployment.at)
            self._trim()

    def last_deployments(self) -> dict[tuple[str, str], float]:
        with self._lock:
            return dict(self._last)

    def _trim(self) -> None:
        horizon = self._clock() - WEEK
        while self._window and self._window[0].at < horizon:
            self._window.popleft()

    def summary(self) -> list[dict[str, Any]]:
        """Per (source, stage): deployments in the last 24 h and 7 d, the median lead time
        (deployments this process made), rollbacks and holds in 7 d, and the change-failure
        rate (rollbacks and holds over deployments, 7 d)."""
        now = self._clock()
        with self._lock:
            self._trim()
            by_stage: dict[tuple[str, str], list[Deployment]] = {}
            for deployment in self._window:
                by_stage.setdefault((deployment.source, deployment.stage), []).append(deployment)
            last = dict(self._last)
        rows = []
        for (source, stage), items in sorted(by_stage.items()):
            deployed = [d for d in items if d.action in ("deploy", "update")]
            leads = [d.lead_seconds for d in deployed if d.lead_seconds is not None]
            troubles = sum(1 for d in deployed if d.rollback)
            holds = sum(1 for d in items if d.action == "held")
            rows.append({
                "source": source,
                "stage": stage,
                "deployments_24h": sum(1 for d in deployed if d.at >= now - DAY),
                "deployments_7d": len(deployed),
                "removals_7d": sum(1 for d in items if d.action == "remove"),
                "median_lead_time_seconds": statistics.median(leads) if leads else None,
                "rollbacks_7d": troubles,
                "holds_7d": holds,
                "change_failure_rate_7d": (
                    round((troubles + holds) / len(deployed), 4) if deployed else None
                ),
                "last_deployment_at": last.get((source, stage)),
            })  # fmt: skip
        return rows


def seed_rows(rows: Iterable[tuple[Mapping[str, Any], bool]], now: float) -> list[Deployment]:
    """Deployments of the last week from ledger rows (oldest first, each with whether it
    was a rollback): what a restarted daemon starts its window with."""
    found = []
    for row, rollback in rows:
        at = float(row["at"])
        action = "held" if row["outcome"] == "held" else str(row["action"])
        if action not in ("deploy", "update", "remove", "held"):
            continue
        if at >= now - WEEK or action in ("deploy", "update"):
            kind = str(row["kind"])
            deployment = Deployment(
                str(row["source"]), str(row["stage"]), kind, action, at, rollback=rollback
            )
            found.append(deployment)
    return found
