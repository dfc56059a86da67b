"""The ledger on a real SQLite file, including one written by an older version."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from watcher.adapters.state_store import PromotionRecord, StateStore


def test_a_ledger_from_before_artifact_columns_is_upgraded_and_keeps_its_rows(
    tmp_path: Path,
) -> None:
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

    store = StateStore(f"sqlite:///{path}")
    store.record(
        "r1",
        [
            PromotionRecord(
                folder="new/staging",
                model_name="new",
                stage="staging",
                version="1",
                action="create",
                outcome="applied",
                commit="def",
                artifact_uri="s3://bucket/models/new/1/model",
                artifact_digest="sha256:" + "0" * 64,
            )
        ],
    )
    newest, oldest = store.history()
    store.close()

    assert (newest.folder, newest.artifact_uri) == ("new/staging", "s3://bucket/models/new/1/model")
    assert newest.artifact_digest == "sha256:" + "0" * 64
    assert (oldest.folder, oldest.commit, oldest.artifact_digest) == ("old/production", "abc", "")
