"""Prometheus metrics of the daemon, on a registry of its own.

Own ``CollectorRegistry`` rather than the global one: tests can run several
daemons in one process, and nothing imported by accident shows up on /metrics.
Everything is derived from the reconcile result dict, so the reconciler knows
nothing about Prometheus. What belongs to one source (a promotion, its lead time,
a release's or a source's error) carries a ``source`` label, so several teams in
one configuration can be told apart; what is not one source's (a run that could
not complete, a plan problem) has ``source=""``.
"""

from __future__ import annotations

import platform
from collections.abc import Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from watcher import __version__
from watcher.daemon.deployments import Deployment
from watcher.daemon.promotion_metrics import PromotionMetrics

PREFIX = "gitops_watcher"
_DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class DaemonMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.reconciles = Counter(
            f"{PREFIX}_reconciles", "Reconciles by outcome: ok, partial, error.", ["outcome"],
            registry=r,
        )  # fmt: skip
        self.duration = Histogram(
            f"{PREFIX}_reconcile_duration_seconds", "Wall time of one reconcile.",
            buckets=_DURATION_BUCKETS, registry=r,
        )  # fmt: skip
        self.promotions = Counter(
            f"{PREFIX}_promotions", "Pushed changes (deployments) by source, stage, kind and "
            "action: deploy, update, remove.",
            ["source", "stage", "kind", "action"], registry=r,
        )  # fmt: skip
        self.errors = Counter(
            f"{PREFIX}_errors", "Errors by kind (permanent, temporary, unexpected), scope "
            "(run, release, source, plan) and source (empty for run and plan).",
            ["kind", "scope", "source"], registry=r,
        )  # fmt: skip
        self.last_success = Gauge(
            f"{PREFIX}_last_success_timestamp_seconds",
            "Unix time the last reconcile that completed finished.", registry=r,
        )  # fmt: skip
        self.push_attempts = Counter(
            f"{PREFIX}_push_attempts", "git push attempts of completed reconciles, retries after "
            "a rejected push included; a reconcile with nothing to push makes none.", registry=r,
        )  # fmt: skip
        self._add_service_metrics(r)
        self.releases = Gauge(
            f"{PREFIX}_releases", "Releases by source and state after the last reconcile "
            "(deployed, held, gated, waiting, failed …; docs/policy.md lists the states).",
            ["source", "state"], registry=r,
        )  # fmt: skip
        #: Lead time, rollbacks, holds, failures, Argo CD, notifications.
        self.promotion = PromotionMetrics(r)
        self._sources: set[str] = set()
        self._release_series: set[tuple[str, str]] = set()

    def _add_service_metrics(self, r: CollectorRegistry) -> None:
        """The service's own: triggers, webhooks, write-back, the writer, sources, build."""
        self.triggers = Counter(
            f"{PREFIX}_triggers", "Reconcile requests by trigger.", ["trigger"], registry=r
        )
        self.webhooks = Counter(
            f"{PREFIX}_webhook_deliveries", "Webhook deliveries by outcome.", ["outcome"],
            registry=r,
        )  # fmt: skip
        self.status_tags = Counter(
            f"{PREFIX}_status_tag_writes", "Status tags written back to the registry, by outcome.",
            ["outcome"], registry=r,
        )  # fmt: skip
        self.writer = Gauge(
            f"{PREFIX}_is_writer", "1 while this replica holds the writer lock.", registry=r
        )
        self.running = Gauge(
            f"{PREFIX}_reconcile_in_progress", "1 while a reconcile runs.", registry=r
        )
        self.source_up = Gauge(
            f"{PREFIX}_source_up", "1 when the last reconcile read this source, 0 when it could "
            "not (present from the first reconcile that names the source).", ["source"],
            registry=r,
        )  # fmt: skip
        self.build_info = Gauge(
            f"{PREFIX}_build_info", "Always 1; the labels say which gitops-watcher runs.",
            ["version", "python"], registry=r,
        )  # fmt: skip
        self.build_info.labels(__version__, platform.python_version()).set(1)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def observe_failure(
        self, kind: str, duration: float, *, unread: tuple[str, ...] | None = None
    ) -> None:
        """A reconcile that raised: it could not complete (``unread``: because these
        sources could not be read; an empty tuple: every source known so far)."""
        self.reconciles.labels("error").inc()
        self.errors.labels(kind, "run", "").inc()
        self.duration.observe(max(duration, 0.0))
        if unread is not None:
            for name in unread or tuple(self._sources):
                self._sources.add(name)
                self.source_up.labels(name).set(0)

    def count_states(self, counts: dict[tuple[str, str], int]) -> None:
        """The releases gauge: the count per (source, state) over every source's last
        reconcile (``StatusBoard.counts``); series that no release is in any more go to 0."""
        for key in self._release_series - set(counts):
            self.releases.labels(*key).set(0)
        for key, number in counts.items():
            self.releases.labels(*key).set(number)
        self._release_series |= set(counts)

    def observe(
        self,
        result: dict[str, Any],
        deployments: Sequence[Deployment] = (),
        counts: dict[tuple[str, str], int] | None = None,
    ) -> None:
        """Count one reconcile that returned a result, and the deployments made of it
        (``deployments.deployments_of``: lead times, rollbacks, holds); ``counts``: the
        releases by (source, state) over every source (None: this result's)."""
        self.count_states(counts if counts is not None else _counts(result))
        self.reconciles.labels("ok" if result.get("ok") else "partial").inc()
        started, finished = float(result["started_at"]), float(result["finished_at"])
        self.duration.observe(max(finished - started, 0.0))
        self.last_success.set(finished)
        self.push_attempts.inc(int(result.get("push_attempts") or 0))
        for release in result.get("releases") or ():
            state, source = release.get("state"), str(release.get("source") or "")
            if state == "failed":
                kind = release.get("error_kind") or "unexpected"
                self.errors.labels(kind, "release", source).inc()
            merged = bool(release.get("pull_request")) and state == "deployed"
            if state in ("deployed", "removed") and (result.get("pushed") or merged):
                stage, kind = str(release.get("stage")), str(release.get("kind"))
                self.promotions.labels(source, stage, kind, str(release.get("action"))).inc()
        self.promotion.observe_deployments(deployments)
        for outcome in result.get("sources") or ():
            name, ok = str(outcome.get("name") or ""), bool(outcome.get("ok", True))
            self._sources.add(name)
            self.source_up.labels(name).set(1 if ok else 0)
            if not ok:
                self.errors.labels("temporary", "source", name).inc()
        for _problem in result.get("problems") or ():
            self.errors.labels("permanent", "plan", "").inc()


def _counts(result: dict[str, Any]) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for release in result.get("releases") or ():
        key = (str(release.get("source") or ""), str(release.get("state")))
        counts[key] = counts.get(key, 0) + 1
    return counts
