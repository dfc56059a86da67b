"""Metrics in MLflow's backend database: a run's latest values, a logged model's own.

MLflow keeps the latest value of each run metric in ``latest_metrics``, and an MLflow 3
logged model's metrics in ``logged_model_metrics`` (several per key: by step and time).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def latest_values(
    conn: Connection, table: sa.Table | None, key: str, value: str, columns: Sequence[str]
) -> dict[str, float]:
    """``name -> value`` of the rows of ``table`` whose ``key`` is ``value``: the last
    by ``columns[2:]`` (step, then time) where several name one metric; {} without the table
    (an older MLflow)."""
    if table is None:
        return {}
    query = sa.select(*(table.c[c] for c in columns)).where(table.c[key] == value)
    if len(columns) > 2:
        query = query.order_by(*(table.c[c] for c in columns[2:]))
    rows = conn.execute(query).all()
    return {str(row[0]): float(row[1]) for row in rows if row[1] is not None}
