"""Promotion-level metrics a team puts on a wall: lead time, deployments, rollbacks and
holds, failures, time since the last deployment; Argo CD's view; notification deliveries.

Counted once per change (from the ledger's ``changes`` of a result), not once per
reconcile, so a release that keeps failing counts one failure. Registered on the
daemon's own registry (``metrics.DaemonMetrics``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from watcher.core.events import StateChange, event_names
from watcher.daemon.deployments import Deployment

PREFIX = "gitops_watcher"
#: From a second to a week: promotions wait for people, not only for machines.
LEAD_TIME_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400, 604800)
ARGOCD_BUCKETS = (5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200)


class PromotionMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.lead_time = Histogram(
            f"{PREFIX}_lead_time_seconds",
            "Seconds from when a change was first known to its push: from the registry's own "
            "time (from=registry: a webhook's timestamp) or from our first observation "
            "(from=observed: a probe, file event, resync, or the first failed attempt at that "
            "revision), to the push (to=push) or the pull request's merge (to=merge).",
            ["source", "stage", "kind", "from", "to"], buckets=LEAD_TIME_BUCKETS, registry=r,
        )  # fmt: skip
        self.rollbacks = Counter(
            f"{PREFIX}_rollbacks", "Deployments of a revision the (name, stage) ran before, "
            "other than the one just before.", ["source", "stage"], registry=r,
        )  # fmt: skip
        self.holds = Counter(
            f"{PREFIX}_holds", "Releases put on hold.", ["source", "stage"], registry=r
        )
        self.failures = Counter(
            f"{PREFIX}_failures", "Changes into failure, once each (a release that keeps "
            "failing counts once): kind 'refused' (bad input: a tag, spec or template) or "
            "'failed' (something was down); stage empty for a source or a run.",
            ["source", "stage", "kind"], registry=r,
        )  # fmt: skip
        self.events = Counter(
            f"{PREFIX}_events", "Events, as notifications send them (deployed, updated, "
            "removed, refused, failed, recovered, healthy, degraded …), whether or not a "
            "notification is configured.", ["source", "stage", "event"], registry=r,
        )  # fmt: skip
        self.last_deployment = Gauge(
            f"{PREFIX}_last_deployment_timestamp_seconds", "Unix time of the last push that "
            "deployed or updated a release in the stage; time() minus it is the time since.",
            ["source", "stage"], registry=r,
        )  # fmt: skip
        self.notifications = Counter(
            f"{PREFIX}_notifications", "Notification deliveries by receiver and outcome: sent, "
            "retried (an attempt failed and is retried), dropped (gave up, or the queue was "
            "full), rejected (the receiver answered 4xx).", ["notification", "outcome"],
            registry=r,
        )  # fmt: skip
        self.argocd_up = Gauge(
            f"{PREFIX}_argocd_up", "1 when the last read of Argo CD's API succeeded, 0 when it "
            "failed (present only with argocd.api_url).", registry=r,
        )  # fmt: skip
        self.argocd_applications = Gauge(
            f"{PREFIX}_argocd_applications", "Deployed releases by the health and sync status "
            "of their Argo CD application (Missing: no application found).",
            ["health", "sync"], registry=r,
        )  # fmt: skip
        self.synced_seconds = Histogram(
            f"{PREFIX}_argocd_synced_seconds", "Seconds from a push to its application being "
            "Synced at the pushed revision (or a later one).", ["source", "stage", "kind"],
            buckets=ARGOCD_BUCKETS, registry=r,
        )  # fmt: skip
        self.healthy_seconds = Histogram(
            f"{PREFIX}_argocd_healthy_seconds", "Seconds from a push to its application being "
            "Synced and Healthy at the pushed revision.", ["source", "stage", "kind"],
            buckets=ARGOCD_BUCKETS, registry=r,
        )  # fmt: skip

    def observe_deployments(self, deployments: Iterable[Deployment]) -> None:
        for deployment in deployments:
            labels = (deployment.source, deployment.stage)
            if deployment.action == "held":
                self.holds.labels(*labels).inc()
                continue
            if deployment.lead_seconds is not None:
                self.lead_time.labels(
                    *labels, deployment.kind, deployment.lead_from, deployment.lead_to
                ).observe(deployment.lead_seconds)
            if deployment.rollback:
                self.rollbacks.labels(*labels).inc()
            if deployment.action in ("deploy", "update"):
                self.last_deployment.labels(*labels).set(deployment.at)

    def observe_changes(self, changes: Sequence[Mapping[str, Any]]) -> None:
        """Failures and events, once per change the ledger recorded."""
        for data in changes:
            change = StateChange(**data)
            for name in event_names(change):
                self.events.labels(change.source, change.stage, name).inc()
                if name in ("refused", "failed"):
                    self.failures.labels(change.source, change.stage, name).inc()

    def seed_last_deployments(self, last: Mapping[tuple[str, str], float]) -> None:
        for (source, stage), at in last.items():
            self.last_deployment.labels(source, stage).set(at)

    def notification_outcome(self, name: str, outcome: str) -> None:
        self.notifications.labels(name, outcome).inc()
