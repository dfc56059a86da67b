"""/status and /metrics are derived from result dicts of the contract's shape (hand-made here)."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from watcher.daemon.metrics import DaemonMetrics
from watcher.daemon.status import StatusBoard


def release(name: str, stage: str, state: str, **extra: Any) -> dict[str, Any]:
    base = {
        "source": "mlflow", "kind": "model", "name": name, "stage": stage,
        "folder": f"{name}/{stage}", "revision": None, "state": state, "action": None,
        "commit": None, "error": None, "error_kind": None,
    }  # fmt: skip
    return {**base, **extra}


def result(*releases: dict[str, Any], pushed: bool = False, at: float = 100.0) -> dict[str, Any]:
    return {
        "reconcile_id": "r", "dry_run": False, "ok": all(r["state"] != "failed" for r in releases),
        "pushed": pushed, "push_attempts": 1 if pushed else 0, "started_at": at - 2,
        "finished_at": at, "counts": {}, "releases": list(releases), "problems": [],
        "sources": [{"name": "mlflow", "ok": True, "error": None}],
    }  # fmt: skip


def samples(metrics: DaemonMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_status_keeps_the_deployed_commit_and_tracks_errors_since_when() -> None:
    now = [10.0]
    board = StatusBoard(ready_max_age=60, first_run_bound=30, clock=lambda: now[0])
    board.writer = True
    board.run_finished(
        result(release("m", "staging", "deployed", revision="1", commit="abc", action="deploy"))
    )
    now[0] = 20.0
    board.run_finished(result(release("m", "staging", "unchanged")))
    entry = board.snapshot()["releases"][0]
    assert (entry["state"], entry["revision"], entry["commit"], entry["since"]) == (
        "deployed", "1", "abc", 10.0,
    )  # fmt: skip
    now[0] = 30.0
    failed = release("m", "staging", "failed", error="bad tag", error_kind="permanent")
    board.run_finished(result(failed))
    now[0] = 40.0
    board.run_finished(result(failed))
    entry = board.snapshot()["releases"][0]
    assert entry["state"] == "failed" and entry["commit"] == "abc" and entry["revision"] == "1"
    assert (entry["last_error"], entry["error_since"], entry["since"]) == ("bad tag", 30.0, 30.0)
    board.run_finished(result())  # gone from the registry and from git: dropped
    assert board.snapshot()["releases"] == []


def test_readiness_first_run_bound_recent_success_and_standby() -> None:
    now = [0.0]
    board = StatusBoard(ready_max_age=60, first_run_bound=30, clock=lambda: now[0])
    assert board.ready()[0] is False  # not the writer
    board.writer = True
    board.run_started()
    assert board.ready()[0] is True
    now[0] = 31.0
    assert board.ready()[0] is False
    board.run_finished(result(at=31.0))
    assert board.ready()[0] is True
    now[0] = 92.0
    board.run_failed("registry down")
    ready, why = board.ready()
    assert not ready and "registry down" in why


def test_metrics_count_outcomes_promotions_latency_errors_and_pushes() -> None:
    metrics = DaemonMetrics()
    pushed = result(
        release("m", "staging", "deployed", revision="2", commit="c", action="update"),
        release("n", "production", "removed", revision="1", commit="d", action="remove"),
        release("o", "staging", "failed", error="x", error_kind="permanent"),
        pushed=True,
        at=100.0,
    )
    metrics.observe(pushed, first_observed_at=90.0)
    metrics.observe(result(release("m", "staging", "unchanged"), at=200.0), first_observed_at=199)
    metrics.observe_failure("temporary", 1.5)
    got = samples(metrics)
    p = "gitops_watcher_"
    assert got[(p + "reconciles_total", (("outcome", "partial"),))] == 1
    assert got[(p + "reconciles_total", (("outcome", "ok"),))] == 1
    assert got[(p + "reconciles_total", (("outcome", "error"),))] == 1
    key = (("action", "update"), ("kind", "model"), ("stage", "staging"))
    assert got[(p + "promotions_total", key)] == 1
    assert (
        got[(p + "promotion_latency_seconds_sum", (("kind", "model"), ("stage", "staging")))] == 10
    )
    assert got[(p + "errors_total", (("kind", "permanent"), ("scope", "release")))] == 1
    assert got[(p + "errors_total", (("kind", "temporary"), ("scope", "run")))] == 1
    assert got[(p + "push_attempts_total", ())] == 1
    assert got[(p + "last_success_timestamp_seconds", ())] == 200.0
    assert got[(p + "reconcile_duration_seconds_count", ())] == 3


def test_a_deployed_release_whose_copy_cannot_be_rechecked_stays_deployed_with_a_warning() -> None:
    now = [10.0]
    board = StatusBoard(ready_max_age=60, first_run_bound=30, clock=lambda: now[0])
    board.writer = True
    board.run_finished(
        result(release("m", "staging", "deployed", revision="1", commit="abc", action="deploy"))
    )
    now[0] = 20.0
    stale = "its copy could not be re-checked: cannot reach the S3 endpoint"
    board.run_finished(result(release("m", "staging", "unchanged", revision="1", warning=stale)))
    entry = board.snapshot()["releases"][0]
    assert (entry["state"], entry["since"], entry["commit"], entry["last_error"]) == (
        "deployed", 10.0, "abc", None,
    )  # fmt: skip
    assert entry["warning"] == stale
    now[0] = 30.0
    board.run_finished(result(release("m", "staging", "unchanged", revision="1")))
    assert board.snapshot()["releases"][0]["warning"] is None
