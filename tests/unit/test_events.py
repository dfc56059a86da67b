"""Events from the ledger's changes of state, on a real SQLite ledger: one per change (a
failure once, its recovery once, a run that cannot complete once), rollbacks, since when a
revision was failing, health; then the bodies a receiver gets and their signature."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from pathlib import Path

import pytest

from tests.unit.test_ledger import ID, applied, result
from watcher.adapters.ledger import Ledger
from watcher.core.app_health import HealthReport
from watcher.core.event_builder import build_events
from watcher.core.events import (
    EVENT_NAMES,
    EVENT_OF_STATE,
    Event,
    StateChange,
    epoch_seconds,
    event_names,
    iso_time,
)
from watcher.core.notify_formats import (
    SIGNATURE_HEADER,
    cloudevent,
    request,
    signature,
    slack_message,
    wants,
)
from watcher.core.result import ReconcileResult
from watcher.errors import InvalidOverrideError, RegistryUnavailableError


def names(changes: list[StateChange], res: ReconcileResult | None = None) -> list[str]:
    return [event.event for event in build_events(changes, res)]


def test_each_change_sends_its_events_once_across_ledger_handles(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    sent: list[str] = []
    with Ledger(url) as ledger:
        first = result(applied_=(applied("1"),))
        sent += names(ledger.record(first), first)
        for _ in range(3):  # a copy keeps failing for v2: failed once
            failing = result(failed="cannot reach the S3 endpoint")
            sent += names(ledger.record(failing), failing)
    # Another process (a reconcile --once, a restarted daemon) continues the same story.
    with Ledger(url) as ledger:
        failing = result(failed="cannot reach the S3 endpoint: another wording")
        sent += names(ledger.record(failing), failing)  # the same trouble: not news
        fixed = result(applied_=(applied("2"),))
        changes = ledger.record(fixed)
        sent += names(changes, fixed)
        again = result(unchanged="2")
        sent += names(ledger.record(again), again)
    assert sent == ["deployed", "failed", "deployed", "recovered"]
    (change,) = changes
    assert (change.previous_state, change.previous_revision) == ("failed", "2")
    assert change.first_seen_at is not None and change.first_seen_at <= change.at


def test_a_run_that_cannot_complete_is_failed_once_then_recovered_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    error = RegistryUnavailableError("the registry answered HTTP 503")
    with Ledger(url) as ledger:
        failures = [ledger.record_failure(uuid.uuid4().hex, error) for _ in range(4)]
        recovered = ledger.record(result(unchanged="1"))
        quiet = ledger.record(result(unchanged="1"))
    assert [len(found) for found in failures] == [1, 0, 0, 0]
    (failed,) = build_events(failures[0], None)
    assert (failed.event, failed.kind, failed.commit, failed.stage) == (
        "failed", "reconcile", None, "",
    )  # fmt: skip
    assert failed.message == "FAILED reconcile could not complete: the registry answered HTTP 503"
    assert [c.scope for c in recovered] == ["run"]
    assert names(recovered) == ["recovered"]
    assert quiet == []


def test_a_revision_the_release_ran_before_is_a_rollback(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    with Ledger(url) as ledger:
        flags = [
            [c.rollback for c in ledger.record(result(applied_=(applied(revision),)))]
            for revision in ("1", "2", "3", "2", "2")
        ]
        history = ledger.deployments()
    # v2 again after v3 is a rollback; a commit that renders v2 anew is not.
    assert flags == [[False], [False], [False], [True], [False]]
    assert [entry.revision for entry in history] == ["1", "2", "3", "2", "2"]


def test_health_is_recorded_when_it_becomes_healthy_or_degraded(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"

    def report(state: str, revision: str = "1") -> HealthReport:
        return HealthReport("mlflow", "model", "churn", "production", "churn/production",
                            revision, "abc", state)  # fmt: skip

    with Ledger(url) as ledger:
        found = [
            [c.state for c in ledger.record_health([report(state, revision)])]
            for state, revision in (("", "1"), ("healthy", "1"), ("healthy", "1"), ("", "1"),
                                    ("degraded", "1"), ("degraded", "1"), ("healthy", "2"))
        ]  # fmt: skip
        ledger.record(result(applied_=(applied("1"),)))  # release rows are their own keys
        assert ledger.record_health([report("healthy", "2")]) == []
    assert found == [[], ["healthy"], [], [], ["degraded"], [], ["healthy"]]


@pytest.mark.parametrize(
    ("state", "previous", "error_kind", "expected"),
    [
        ("deploy", "", "", ["deployed"]),
        ("update", "deploy", "", ["updated"]),
        ("update", "failed", "", ["updated", "recovered"]),
        ("remove", "failed", "", ["removed", "recovered"]),
        ("failed", "deploy", "permanent", ["refused"]),
        ("failed", "ok", "temporary", ["failed"]),
        ("ok", "failed", "", ["recovered"]),
        ("ok", "deploy", "", []),
        # The states of holds, gates, soaks and pull requests: one line each in the table.
        ("held", "deploy", "", ["held"]),
        ("gated", "", "", ["gated"]),
        ("deploy", "gated", "", ["deployed", "recovered"]),
        ("waiting", "", "", ["waiting"]),
        ("pr-opened", "", "", ["pr-opened"]),
        ("merge", "pr-opened", "", ["pr-merged"]),
        ("healthy", "degraded", "", ["healthy"]),
    ],
)
def test_one_table_maps_states_to_events(
    state: str, previous: str, error_kind: str, expected: list[str]
) -> None:
    change = StateChange("release", state, error_kind=error_kind, previous_state=previous)
    assert event_names(change) == expected
    assert set(EVENT_OF_STATE.values()) <= set(EVENT_NAMES)


def test_a_failure_that_changes_kind_or_revision_is_news() -> None:
    base = StateChange("release", "failed", revision="2", error_kind="temporary",
                       previous_state="failed", previous_revision="2",
                       previous_error_kind="temporary")  # fmt: skip
    assert event_names(base) == []
    assert event_names(StateChange(**{**base.to_dict(), "error_kind": "permanent"})) == [
        "refused"
    ]
    assert event_names(StateChange(**{**base.to_dict(), "revision": "3"})) == ["failed"]


def test_a_refusal_carries_what_runs_the_candidate_and_the_reason(tmp_path: Path) -> None:
    res = result(failed="x")
    bad = InvalidOverrideError("deploy.replicas 'lots' is not a whole number")
    res.failures = [res.failures[0].__class__(ID, bad, "churn/production", "2", "http://ui/2")]
    res.releases = [res.releases[0].__class__(ID, "churn/production", "2", "failed", error=bad,
                                              url="http://ui/2", running_revision="1")]  # fmt: skip
    change = StateChange("release", "failed", "mlflow", "model", "churn", "production",
                         revision="2", error=str(bad), error_kind="permanent", at=1e9)  # fmt: skip
    (event,) = build_events([change], res)
    body = event.to_body()
    assert (body["event"], body["from_revision"], body["to_revision"], body["commit"]) == (
        "refused", "1", "2", None,
    )  # fmt: skip
    assert body["url"] == "http://ui/2" and body["time"] == "2001-09-09T01:46:40.000Z"
    assert body["message"] == (
        "FAILED model 'churn' in production: deploy.replicas 'lots' is not a whole number"
    )


def event(**changes: object) -> Event:
    base = {"event": "updated", "kind": "model", "source": "mlflow", "name": "churn <b>",
            "stage": "production", "from_revision": "6", "to_revision": "7", "commit": "ab" * 20,
            "url": "http://mlflow/#/models/churn/versions/7", "diff": "-  replicas: 2\n+  x",
            "message": "committed abababab update churn in production: v6 → v7",
            "time": "2025-01-31T12:00:00.000Z", "id": str(uuid.uuid4())}  # fmt: skip
    return Event(**{**base, **changes})  # type: ignore[arg-type]


def test_a_signature_a_receiver_can_check() -> None:
    sent = request(event(), "json", secret="s3cret-value")
    expected = hmac.new(b"s3cret-value", sent.body, hashlib.sha256).hexdigest()
    assert sent.headers[SIGNATURE_HEADER] == f"sha256={expected}" == signature(
        "s3cret-value", sent.body
    )
    assert b"s3cret-value" not in sent.body
    assert SIGNATURE_HEADER not in request(event(), "json").headers


def test_cloudevents_structured_mode_and_slack_blocks() -> None:
    one = event()
    envelope = cloudevent(one)
    assert envelope["specversion"] == "1.0" and envelope["type"] == "io.gitops-watcher.updated"
    assert (envelope["id"], envelope["time"]) == (one.id, one.time)
    assert envelope["subject"] == "model/churn <b>/production" and envelope["data"] == (
        one.to_body()
    )
    sent = request(one, "cloudevents")
    assert sent.headers["Content-Type"] == "application/cloudevents+json"
    assert json.loads(sent.body) == envelope

    message = slack_message(one)
    assert message["text"].endswith(one.message)
    kinds = [block["type"] for block in message["blocks"]]
    assert kinds == ["header", "section", "section", "section", "context"]
    shown = json.dumps(message["blocks"][1:], ensure_ascii=False)
    tagged = slack_message(event(message="update churn <b>&co</b> in production"))
    escaped = "update churn &lt;b&gt;&amp;co&lt;/b&gt; in production"
    assert tagged["blocks"][2]["text"]["text"] == escaped
    assert "6 → 7" in shown and "```" in shown and "registry page" in shown
    long = slack_message(event(diff="x" * 10_000, message="m" * 5000))
    assert all(len(block.get("text", {}).get("text", "")) <= 3000 for block in long["blocks"])


def test_a_receiver_gets_the_events_sources_and_stages_it_asked_for() -> None:
    only = wants(["failed"], ["team-a"], ["production"])
    assert only(event(event="failed", source="team-a"))
    assert not only(event(event="deployed", source="team-a"))
    assert not only(event(event="failed", source="team-b"))
    assert not only(event(event="failed", source="team-a", stage="staging"))
    assert only(event(event="failed", source="team-a", stage=""))  # a source: no stage
    assert only(event(event="failed", source="", stage=""))  # the run: no source, no stage
    assert wants([], [], [])(event())


def test_times_from_apis_read_back_and_odd_fields_read_as_unknown() -> None:
    """Forges and Argo CD write ISO 8601 with ``Z`` or an offset; anything else is None."""
    assert epoch_seconds("2026-12-04T12:00:00Z") == 1796385600.0
    assert epoch_seconds("2026-12-04T13:00:00+01:00") == 1796385600.0
    assert epoch_seconds(iso_time(1796385600.25)) == 1796385600.25
    for odd in ("", "yesterday", "2026-13-40T00:00:00Z", None, 1796385600, {"at": "x"}):
        assert epoch_seconds(odd) is None
