"""pytest plugin: a real sshd for git over ssh, and fresh bare remotes."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.sshd import SshGitServer, start_sshd


@pytest.fixture(scope="session")
def ssh_git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshGitServer]:
    """One sshd for the whole session; url_for(path) reaches any bare repo on this machine."""
    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def bare_remote(tmp_path: Path) -> Path:
    """An empty bare repository whose default branch is 'main'."""
    path = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(path)], check=True)
    return path
