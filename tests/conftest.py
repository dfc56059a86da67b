"""Shared pytest set-up: the real test servers are plugins under tests/servers/."""

from __future__ import annotations

import pytest

pytest_plugins = [
    "tests.servers.mlflow_fixtures",
    "tests.servers.mlflow_proxy_fixtures",
    "tests.servers.postgres_fixtures",
    "tests.servers.sshd_fixtures",
    "tests.servers.seaweedfs_fixtures",
    "tests.servers.git_http_fixtures",
]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite golden folders from the current output",
    )
