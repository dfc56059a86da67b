"""Prometheus metrics of the daemon, on a registry of its own.

Own ``CollectorRegistry`` rather than the global one: tests can run several
daemons in one process, and nothing imported by accident shows up on /metrics.
Everything is derived from the reconcile result dict, so the reconciler knows
nothing about Prometheus.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

PREFIX = "gitops_watcher"
_DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
_LATENCY_BUCKETS = (0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600)


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
            f"{PREFIX}_promotions", "Pushed changes by stage, kind and action.",
            ["stage", "kind", "action"], registry=r,
        )  # fmt: skip
        self.errors = Counter(
            f"{PREFIX}_errors", "Errors by kind (permanent, temporary, unexpected) and scope "
            "(run, release, source, plan).", ["kind", "scope"], registry=r,
        )  # fmt: skip
        self.last_success = Gauge(
            f"{PREFIX}_last_success_timestamp_seconds",
            "Unix time the last reconcile that completed finished.", registry=r,
        )  # fmt: skip
        self.latency = Histogram(
            f"{PREFIX}_promotion_latency_seconds",
            "From the first trigger that saw a change (or the webhook's timestamp) to the push.",
            ["stage", "kind"], buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.push_attempts = Counter(
            f"{PREFIX}_push_attempts", "git push attempts, retries after a rejected push included.",
            registry=r,
        )  # fmt: skip
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

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def observe_failure(self, kind: str, duration: float) -> None:
        """A reconcile that raised: it could not complete."""
        self.reconciles.labels("error").inc()
        self.errors.labels(kind, "run").inc()
        self.duration.observe(max(duration, 0.0))

    def observe(self, result: dict[str, Any], first_observed_at: float) -> None:
        """Count one completed reconcile from its result dict."""
        self.reconciles.labels("ok" if result.get("ok") else "partial").inc()
        started, finished = float(result["started_at"]), float(result["finished_at"])
        self.duration.observe(max(finished - started, 0.0))
        self.last_success.set(finished)
        self.push_attempts.inc(int(result.get("push_attempts") or 0))
        for release in result.get("releases") or ():
            state = release.get("state")
            if state == "failed":
                self.errors.labels(release.get("error_kind") or "unexpected", "release").inc()
            merged = bool(release.get("pull_request")) and state == "deployed"
            if state in ("deployed", "removed") and (result.get("pushed") or merged):
                stage, kind = str(release.get("stage")), str(release.get("kind"))
                self.promotions.labels(stage, kind, str(release.get("action"))).inc()
                self.latency.labels(stage, kind).observe(max(finished - first_observed_at, 0.0))
        for source in result.get("sources") or ():
            if not source.get("ok", True):
                self.errors.labels("temporary", "source").inc()
        for _problem in result.get("problems") or ():
            self.errors.labels("permanent", "plan").inc()
