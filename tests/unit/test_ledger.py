"""The ledger on a real SQLite file: kind-neutral rows, and a 0.1 ledger adopted once."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from watcher.adapters.ledger import Ledger, LedgerEntry


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
