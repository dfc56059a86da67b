"""/status and /metrics are derived from result dicts of the contract's shape (hand-made here)."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from watcher.daemon.deployments import deployments_of
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


def test_metrics_count_outcomes_promotions_lead_time_errors_and_pushes() -> None:
    metrics = DaemonMetrics()
    pushed = result(
        release("m", "staging", "deployed", revision="2", commit="c", action="update"),
        release("n", "production", "removed", revision="1", commit="d", action="remove"),
        release("o", "staging", "failed", error="x", error_kind="permanent"),
        pushed=True,
        at=100.0,
    )
    metrics.observe(pushed, deployments_of(pushed, 90.0))
    unchanged = result(release("m", "staging", "unchanged"), at=200.0)
    metrics.observe(unchanged, deployments_of(unchanged, 199.0))
    metrics.observe_failure("temporary", 1.5)
    got = samples(metrics)
    p = "gitops_watcher_"
    assert got[(p + "reconciles_total", (("outcome", "partial"),))] == 1
    assert got[(p + "reconciles_total", (("outcome", "ok"),))] == 1
    assert got[(p + "reconciles_total", (("outcome", "error"),))] == 1
    key = (("action", "update"), ("kind", "model"), ("source", "mlflow"), ("stage", "staging"))
    assert got[(p + "promotions_total", key)] == 1
    lead = (("from", "observed"), ("kind", "model"), ("source", "mlflow"), ("stage", "staging"),
            ("to", "push"))  # fmt: skip
    assert got[(p + "lead_time_seconds_sum", lead)] == 10
    assert got[(p + "last_deployment_timestamp_seconds",
                (("source", "mlflow"), ("stage", "staging")))] == 100.0  # fmt: skip
    release_errors = (("kind", "permanent"), ("scope", "release"), ("source", "mlflow"))
    assert got[(p + "errors_total", release_errors)] == 1
    assert got[(p + "errors_total", (("kind", "temporary"), ("scope", "run"), ("source", "")))] == 1
    assert got[(p + "push_attempts_total", ())] == 1
    assert got[(p + "last_success_timestamp_seconds", ())] == 200.0
    assert got[(p + "reconcile_duration_seconds_count", ())] == 3


def test_a_standby_is_ready_while_it_can_take_over_and_says_it_is_a_standby() -> None:
    """A rolling update waits for the new pod's readiness, and the new pod is a standby
    until the old writer stops: a standby that is never ready stalls every rollout."""
    board = StatusBoard(ready_max_age=60, first_run_bound=30, clock=lambda: 0.0)
    board.writer_detail = "waiting for the writer lease held by host-a:7:ab, gitops-watcher run"
    ready, why = board.ready()
    assert ready and why.startswith("standby, ready to take over") and "host-a:7:ab" in why
    assert board.snapshot()["role"] == "standby" and board.snapshot()["ready"] is True
    board.standby_problem = "database error: OperationalError"
    ready, why = board.ready()
    assert not ready and "cannot take over: database error: OperationalError" in why
    board.became_writer("host-b:8:cd, gitops-watcher run")
    assert board.snapshot()["role"] == "writer"


def test_the_first_reconcile_grace_runs_from_the_takeover_not_from_the_process_start() -> None:
    now = [0.0]
    board = StatusBoard(ready_max_age=60, first_run_bound=30, clock=lambda: now[0])
    now[0] = 3600.0  # an hour as a standby, then the writer stops and this replica takes over
    board.became_writer("me")
    board.run_started()
    assert board.ready() == (True, "first reconcile under way")
    now[0] = 3631.0
    assert board.ready()[0] is False


def test_readiness_says_why_when_every_reconcile_since_start_failed() -> None:
    now = [0.0]
    board = StatusBoard(ready_max_age=60, first_run_bound=30, clock=lambda: now[0])
    board.became_writer("me")
    board.run_started()
    now[0] = 1.0
    board.run_failed("registry down: connection refused")
    now[0] = 3.0
    board.run_failed("registry down: connection refused")
    ready, why = board.ready()
    assert not ready, why
    assert "no reconcile has completed" in why and "2 attempt(s) failed" in why
    assert "registry down: connection refused" in why and "under way" not in why
    board.run_finished(result(at=4.0))
    now[0] = 5.0
    assert board.ready() == (True, "last reconcile completed recently")


def test_metrics_tell_sources_apart_and_say_which_build_runs() -> None:
    from watcher import __version__

    metrics = DaemonMetrics()
    team_a = release("m", "staging", "deployed", revision="1", commit="c", action="deploy")
    team_b = {**team_a, "source": "team-b", "name": "n", "folder": "n/staging"}
    pushed = result(team_a, team_b, pushed=True)
    pushed["sources"] = [
        {"name": "mlflow", "ok": True, "error": None},
        {"name": "team-b", "ok": True, "error": None},
    ]
    metrics.observe(pushed, deployments_of(pushed, 99.0))
    got = samples(metrics)
    p = "gitops_watcher_"
    for source in ("mlflow", "team-b"):
        key = (("action", "deploy"), ("kind", "model"), ("source", source), ("stage", "staging"))
        assert got[(p + "promotions_total", key)] == 1
        assert got[(p + "source_up", (("source", source),))] == 1
    build = [labels for name, labels in got if name == p + "build_info"]
    assert len(build) == 1 and ("version", __version__) in build[0]

    # team-b cannot be read: its up gauge drops, its error is its own.
    down = result(release("m", "staging", "unchanged"), at=200.0)
    down["sources"] = [
        {"name": "mlflow", "ok": True, "error": None},
        {"name": "team-b", "ok": False, "error": "connection refused"},
    ]
    metrics.observe(down)
    got = samples(metrics)
    assert got[(p + "source_up", (("source", "mlflow"),))] == 1
    assert got[(p + "source_up", (("source", "team-b"),))] == 0
    source_error = (("kind", "temporary"), ("scope", "source"), ("source", "team-b"))
    assert got[(p + "errors_total", source_error)] == 1

    # A run of mlflow alone (the daemon runs each source on its own) cannot read it: only
    # mlflow is down. A run that read no source of several: every source is down.
    metrics.observe(result(release("m", "staging", "unchanged"), at=300.0))
    metrics.observe_failure("temporary", 1.0, unread=("mlflow",))
    got = samples(metrics)
    assert got[(p + "source_up", (("source", "mlflow"),))] == 0
    assert got[(p + "source_up", (("source", "team-b"),))] == 0
    metrics.observe(down)
    metrics.observe_failure("temporary", 1.0, unread=("team-b",))
    got = samples(metrics)
    assert got[(p + "source_up", (("source", "mlflow"),))] == 1
    assert got[(p + "source_up", (("source", "team-b"),))] == 0
    metrics.observe_failure("temporary", 1.0, unread=())
    got = samples(metrics)
    assert got[(p + "source_up", (("source", "mlflow"),))] == 0


def test_the_lead_time_help_says_where_it_runs_from_and_to() -> None:
    families = text_string_to_metric_families(DaemonMetrics().render().decode())
    (help_text,) = [
        f.documentation for f in families if f.name == "gitops_watcher_lead_time_seconds"
    ]
    assert "from=registry" in help_text and "from=observed" in help_text
    assert "to=push" in help_text and "to=merge" in help_text
    names = {f.name for f in text_string_to_metric_families(DaemonMetrics().render().decode())}
    assert "gitops_watcher_promotion_latency_seconds" not in names  # replaced (changelog)
