"""Registry tables are reflected once, not on every read (memory stayed flat only then)."""

from __future__ import annotations

import sqlalchemy as sa

from watcher.sources.mlflow.db_schema import REFLECT_EVERY, ReflectedTables


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_tables_are_reflected_once_until_the_schema_or_the_time_moves() -> None:
    engine = sa.create_engine("sqlite://")
    clock = Clock()
    tables = ReflectedTables(clock)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE model_versions (name TEXT, version INTEGER)")
        assert tables.present(conn) == {"model_versions"}
        first = tables.table(conn, "model_versions")
        assert tables.present(conn) == {"model_versions"}
        assert tables.table(conn, "model_versions") is first

        conn.exec_driver_sql("CREATE TABLE registered_model_aliases (name TEXT)")
        assert tables.present(conn) == {"model_versions", "registered_model_aliases"}
        second = tables.table(conn, "model_versions")
        assert second is not first  # an upgrade may have changed the columns too

        conn.exec_driver_sql("ALTER TABLE model_versions ADD COLUMN source TEXT")
        tables.present(conn)
        assert "source" not in tables.table(conn, "model_versions").c
        clock.now += REFLECT_EVERY
        tables.present(conn)
        assert "source" in tables.table(conn, "model_versions").c
    engine.dispose()
