"""Shared pytest set-up: the real test servers are plugins under tests/servers/."""

from __future__ import annotations

pytest_plugins = [
    "tests.servers.mlflow_fixtures",
    "tests.servers.postgres_fixtures",
    "tests.servers.sshd_fixtures",
]
