"""pytest plugin: a real smart-HTTP git server with Basic auth (see git_http.py).

Test modules that use it import the fixture (``from tests.servers.git_http_fixtures
import git_http_server``) or list this module in ``pytest_plugins`` of the root conftest.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.git_http import GitHttpServer, start_git_http

#: The account the server accepts. The password is long and unusual so that a scan
#: for it cannot miss nor match by chance.
USERNAME = "deploy-bot"
PASSWORD = "ghs_" + "S3cr3tT0ken" * 3


@pytest.fixture
def git_http_server(tmp_path: Path) -> Iterator[GitHttpServer]:
    """A git smart-HTTP server on 127.0.0.1 that wants USERNAME / PASSWORD."""
    server = start_git_http(tmp_path / "http-root", USERNAME, PASSWORD)
    try:
        yield server
    finally:
        server.stop()
