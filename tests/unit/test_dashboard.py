"""The chart's Grafana dashboard queries only metrics the daemon exports, and every panel
reads the dashboard's Prometheus data source; the promotion metrics are all on it.

The daemon's metrics are read from its own registry (``DaemonMetrics``), so a
renamed or removed metric fails here, not on a team's wall. The same names are
checked against a live daemon's ``/metrics`` in
tests/integration/test_notifications_daemon.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from watcher.daemon.metrics import DaemonMetrics

DASHBOARD = (
    Path(__file__).resolve().parents[2]
    / "charts" / "gitops-watcher" / "dashboards" / "gitops-watcher.json"
)  # fmt: skip
_METRIC = re.compile(r"\bgitops_watcher_[a-z0-9_]+\b")
_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def queries() -> list[str]:
    found = [
        str(target["expr"])
        for panel in dashboard()["panels"]
        for target in panel.get("targets", ())
    ]
    for variable in dashboard()["templating"]["list"]:
        if variable.get("type") == "query":
            found.append(str(variable["definition"]))
    return found


def dashboard_metric_names() -> set[str]:
    """Every gitops_watcher_ series name any query of the dashboard names."""
    return {name for query in queries() for name in _METRIC.findall(query)}


def exported_series() -> set[str]:
    """Every series name the daemon's registry can expose."""
    names = set()
    for family in DaemonMetrics().registry.collect():
        names |= {family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",))}
    return names


def test_every_query_names_a_metric_the_daemon_exports() -> None:
    used = dashboard_metric_names()
    assert len(used) >= 12, used
    unknown = sorted(used - exported_series())
    assert not unknown, f"the dashboard queries metrics the daemon does not export: {unknown}"


def test_the_promotion_metrics_are_all_on_the_dashboard() -> None:
    used = dashboard_metric_names()
    for wanted in (
        "gitops_watcher_lead_time_seconds_bucket",
        "gitops_watcher_promotions_total",
        "gitops_watcher_rollbacks_total",
        "gitops_watcher_holds_total",
        "gitops_watcher_failures_total",
        "gitops_watcher_last_deployment_timestamp_seconds",
        "gitops_watcher_argocd_healthy_seconds_bucket",
        "gitops_watcher_notifications_total",
    ):
        assert wanted in used, wanted


def test_every_panel_reads_the_chosen_prometheus() -> None:
    data = dashboard()
    assert data["uid"] == "gitops-watcher-promotions"
    variables = {v["name"]: v for v in data["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [panel["id"] for panel in data["panels"]]
    assert len(ids) == len(set(ids))
    for panel in data["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
            assert target["expr"].count("(") == target["expr"].count(")"), target["expr"]
