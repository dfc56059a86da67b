"""Credentials in registry URIs never reach git: the redaction and the rendered files."""

from __future__ import annotations

import pytest

from tests import builders
from watcher.adapters.templates import template_loader
from watcher.core.desired import decide
from watcher.core.model import ModelVersion
from watcher.core.render import make_environment, render_all
from watcher.core.urls import redact_url


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
    state = decide(snapshot, settings.stages, settings.registry.models)

    rendered, failures = render_all(
        make_environment(template_loader("")), state.deployments, snapshot.ui_url
    )

    assert not failures and rendered
    files = [data for folder in rendered.values() for data in folder.values()]
    assert not any(b"hunter2" in data or b"reader:" in data for data in files)
    assert any(b"https://artifacts.example.com/fraud/1" in data for data in files)
