"""Metrics in MLflow's backend database: a run's latest values, a logged model's own.

MLflow keeps the latest value of each run metric in ``latest_metrics``, and an MLflow 3
logged model's metrics in ``logged_model_metrics`` (several per key: by step and time).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def latest_values(
    conn: Connection, table_name: str, key: str, value: str, columns: Sequence[str]
) -> dict[str, float]:
    """``name -> value`` of the rows of ``table_name`` whose ``key`` is ``value``: the last
    by ``columns[2:]`` (step, then time) where several name one metric; {} without the table
    (an older MLflow)."""
    if table_name not in sa.inspect(conn).get_table_names():
        return {}
    table = sa.Table(table_name, sa.MetaData(), autoload_with=conn)
    query = sa.select(*(table.c[c] for c in columns)).where(table.c[key] == value)
    if len(columns) > 2:
        query = query.order_by(*(table.c[c] for c in columns[2:]))
    rows = conn.execute(query).all()
    return {str(row[0]): float(row[1]) for row in rows if row[1] is not None}
