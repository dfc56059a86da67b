"""Pytest plugin: one real SeaweedFS S3 server for the session, and a fresh bucket per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.servers.seaweedfs import S3Server, start_seaweedfs, stop_seaweedfs


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """SeaweedFS on 127.0.0.1 with credentials enforced; ``.client()``, ``.env()``, keys."""
    try:
        server = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        stop_seaweedfs(server)


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> str:
    """An empty bucket that only this test uses."""
    name = f"t-{uuid.uuid4().hex[:20]}"
    s3_server.client().create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The standard AWS/MLflow variables pointing at the test server, set for this test."""
    env = s3_server.env()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(key, raising=False)
    return env
