"""Credentials in registry URIs never reach git: the redaction and the rendered files."""

from __future__ import annotations

import pytest

from tests import builders
from watcher.core.model import ModelVersion
from watcher.core.provenance import provenance_of
from watcher.core.urls import redact_url
from watcher.wiring import build_targets


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://user:s3cret@example.com/a/b", "https://example.com/a/b"),
        ("https://tok3n@example.com:8443/x?y=1", "https://example.com:8443/x?y=1"),
        ("http://u:p@[::1]:5000/", "http://[::1]:5000/"),
        ("s3://bucket/key", "s3://bucket/key"),
        ("/mlflow/mlruns/0/abc/artifacts/model", "/mlflow/mlruns/0/abc/artifacts/model"),
        ("runs:/abc/model", "runs:/abc/model"),
        ("https://u:p@host:notaport/x", "https://host:notaport/x"),
    ],
)
def test_userinfo_is_removed_and_nothing_else_changes(url: str, safe: str) -> None:
    assert redact_url(url) == safe


def test_a_source_with_credentials_is_rendered_without_them() -> None:
    leaky = ModelVersion(
        name="fraud",
        version="1",
        source="https://reader:hunter2@artifacts.example.com/fraud/1",
        run_id="r1",
    )
    snapshot = builders.snapshot(builders.model("fraud", [leaky], {"champion": 1}))
    settings = builders.settings()
    state = builders.decide(snapshot, settings)
    targets = build_targets(settings)

    files = []
    for release in state.releases:
        files += targets[release.target].render(release, None).values()
        files.append(provenance_of(release, None).to_json())
    assert not state.failures and files
    assert not any(b"hunter2" in data or b"reader:" in data for data in files)
    assert any(b"https://artifacts.example.com/fraud/1" in data for data in files)
