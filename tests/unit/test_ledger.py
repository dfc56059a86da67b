"""The ledger on a real SQLite file: kind-neutral rows, and a 0.1 ledger adopted once."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

from watcher.adapters.ledger import Ledger, LedgerEntry
from watcher.core.plan import Change
from watcher.core.provenance import Provenance
from watcher.core.release import ReleaseFailure, ReleaseId
from watcher.core.result import Applied, ReconcileResult, ReleaseOutcome, SourceOutcome
from watcher.errors import ArtifactUnavailableError, SourceUnavailableError, UnsafeDeletionError


def test_a_ledger_of_version_0_1_is_adopted_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with sqlite3.connect(path) as db:
        db.execute(
            """CREATE TABLE promotions (
                id INTEGER PRIMARY KEY AUTOINCREMENT, recorded_at DATETIME,
                reconcile_id VARCHAR(64), folder VARCHAR(255), model_name TEXT,
                stage VARCHAR(63), version VARCHAR(32), action VARCHAR(16),
                outcome VARCHAR(16), "commit" VARCHAR(64), error TEXT)"""
        )
        db.execute(
            """INSERT INTO promotions (recorded_at, reconcile_id, folder, model_name, stage,
                version, action, outcome, "commit", error)
            VALUES ('2026-01-01 00:00:00', 'r0', 'old/production', 'old', 'production',
                '3', 'create', 'applied', 'abc', '')"""
        )

    with Ledger(f"sqlite:///{path}") as ledger:
        ledger.append(
            "r1",
            [
                LedgerEntry(
                    action="deploy",
                    outcome="applied",
                    source="mlflow",
                    kind="model",
                    name="new",
                    stage="staging",
                    folder="new/staging",
                    revision="1",
                    commit="def",
                    artifact_uri="s3://bucket/models/new/1/model",
                    artifact_digest="sha256:" + "0" * 64,
                )
            ],
        )
        newest, oldest = ledger.history()
    # Opening it again copies nothing twice.
    with Ledger(f"sqlite:///{path}") as ledger:
        assert len(ledger.history()) == 2

    assert (newest.kind, newest.name, newest.revision) == ("model", "new", "1")
    assert newest.recorded_at is not None and newest.recorded_at.utcoffset() is not None
    assert (oldest.folder, oldest.commit, oldest.action) == ("old/production", "abc", "deploy")
    assert (oldest.kind, oldest.name, oldest.stage, oldest.revision) == (
        "model",
        "old",
        "production",
        "3",
    )


ID = ReleaseId("mlflow", "model", "churn", "production")


def applied(revision: str) -> Applied:
    info = Provenance("mlflow", "model", "churn", "production", revision, "deployment", "ns")
    change = Change("churn/production", "deploy", {}, "deploy churn", info)
    return Applied(change, commit=f"c{revision}" * 8)


def result(
    *,
    applied_: tuple[Applied, ...] = (),
    failed: str = "",
    revision: str = "2",
    unchanged: str = "",
    source_error: str = "",
    problem: str = "",
) -> ReconcileResult:
    """One reconcile of one release, one source and the plan, as the reconciler reports it."""
    outcome = ReconcileResult(reconcile_id=uuid.uuid4().hex, pushed=bool(applied_))
    outcome.applied = list(applied_)
    if failed:
        error = ArtifactUnavailableError(failed)
        outcome.failures = [ReleaseFailure(ID, error, "churn/production", revision)]
        outcome.releases = [ReleaseOutcome(ID, "churn/production", revision, "failed", error=error)]
    if unchanged:
        outcome.releases = [ReleaseOutcome(ID, "churn/production", unchanged, "unchanged")]
    down = SourceUnavailableError(source_error) if source_error else None
    outcome.sources = [SourceOutcome("mlflow", True), SourceOutcome("team-b", not down, down)]
    if problem:
        outcome.problems = [(None, UnsafeDeletionError(problem))]
    return outcome


def test_the_ledger_records_changes_of_state_not_every_retry(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    down = "cannot reach the S3 endpoint"
    with Ledger(url) as ledger:
        ledger.record(result(applied_=(applied("1"),), unchanged=""))
        for _ in range(10):  # an outage: ten resyncs fail v2 the same way
            ledger.record(result(failed=down, source_error="team-b is down", problem="3 of 4"))
        ledger.record(result(failed="the store refused our credentials"))  # another error
        ledger.record(result(unchanged="1"))  # the alias went back to v1: recovered
        ledger.record(result(unchanged="1"))
        ledger.record(result(failed=down, problem="3 of 4"))  # the same trouble, news again
        rows = [(e.action, e.outcome, e.source, e.name, e.revision, e.error) for e in
                reversed(ledger.history(100))]  # fmt: skip
    assert rows == [
        ("deploy", "applied", "mlflow", "churn", "1", ""),
        ("deploy", "failed", "mlflow", "churn", "2", down),
        ("plan", "failed", "", "", "", "3 of 4"),
        ("read", "failed", "team-b", "", "", "team-b is down"),
        ("deploy", "failed", "mlflow", "churn", "2", "the store refused our credentials"),
        ("read", "ok", "team-b", "", "", ""),
        ("plan", "ok", "", "", "", ""),
        ("deploy", "unchanged", "mlflow", "churn", "1", ""),
        ("deploy", "failed", "mlflow", "churn", "2", down),
        ("plan", "failed", "", "", "", "3 of 4"),
    ]


def test_rows_another_process_wrote_are_taken_into_account(tmp_path: Path) -> None:
    """After a failover the new writer compares with the rows the old one wrote."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    with Ledger(url) as first, Ledger(url) as second:
        first.record(result(failed="down"))
        second.record(result(failed="down"))  # the same failure: nothing new
        second.record(result(unchanged="1"))  # recovered
        first.record(result(unchanged="1"))  # first must see that: nothing new
        first.record(result(failed="down"))  # failed again after the recovery: news
        assert [e.outcome for e in reversed(first.history())] == [
            "failed",
            "unchanged",
            "failed",
        ]
