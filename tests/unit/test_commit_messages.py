"""A commit names every cause of its change: the version, each setting, the copy, the rest."""

from __future__ import annotations

import dataclasses
from typing import Any

from watcher.core.artifacts import ArtifactRef
from watcher.core.messages import deploy_message
from watcher.core.provenance import Provenance, provenance_of
from watcher.core.release import Release, ReleaseId

DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64


def release(version: str = "1", replicas: str = "2", **details: Any) -> Release:
    return Release(
        id=ReleaseId("mlflow", "model", "fraud", "production"),
        folder="fraud/production",
        target="deployment",
        revision=version,
        revision_label=f"v{version}",
        namespace="models-production",
        payload=None,
        details={"model": {"name": "fraud", "version": version}, "selected_by": "alias 'champion'"}
        | details,
        settings={"replicas": replicas, "target": "deployment"},
    )


def copy(uri: str = "s3://ml/models/fraud/1/model", digest: str = DIGEST_A) -> ArtifactRef:
    return ArtifactRef(uri=uri, digest=digest, file_count=2, total_bytes=10)


def message(before: Provenance, wanted: Release, artifact: ArtifactRef | None) -> list[str]:
    """Subject, then the ``Changed:`` line of the body (or the whole body when there is none)."""
    text = deploy_message(wanted, provenance_of(wanted, artifact), before)
    subject, body = text.split("\n\n")[:2]
    changed = [line for line in body.splitlines() if line.startswith(("Changed:", "Same "))]
    return [subject, *changed]


def test_a_new_version_with_new_settings_names_both_and_the_new_copy() -> None:
    before = provenance_of(release("1", "2"), copy())
    after = release("2", "3")
    new_copy = copy("s3://ml/models/fraud/2/model", DIGEST_B)
    assert message(before, after, new_copy) == [
        "update fraud in production: v1 → v2",
        "Changed: v1 → v2; replicas 2 → 3; "
        "copy s3://ml/models/fraud/1/model → s3://ml/models/fraud/2/model.",
    ]


def test_a_moved_copy_is_named_not_called_a_new_rendering() -> None:
    before = provenance_of(release(), copy())
    moved = copy("s3://ml/team-a/models/fraud/1/model")
    subject, changed = message(before, release(), moved)
    assert subject == "update fraud v1 in production: copy moved"
    assert changed == (
        "Changed: copy s3://ml/models/fraud/1/model → s3://ml/team-a/models/fraud/1/model."
    )


def test_a_copy_made_again_with_other_bytes_names_both_digests() -> None:
    before = provenance_of(release(), copy())
    subject, changed = message(before, release(), copy(digest=DIGEST_B))
    assert subject == "update fraud v1 in production: copy digest changed"
    assert changed == "Changed: copy digest sha256:aaaaaaaaaaaa… → sha256:bbbbbbbbbbbb…."


def test_a_setting_and_the_copy_in_one_commit_are_both_named() -> None:
    before = provenance_of(release(), copy())
    subject, changed = message(before, release(replicas="4"), copy("s3://other/fraud/1/model"))
    assert subject == "update fraud v1 in production: replicas 2 → 4, copy moved"
    assert "replicas 2 → 4; copy s3://ml/models/fraud/1/model → s3://other/fraud/1/model" in (
        changed
    )


def test_a_new_selector_or_tag_is_named_when_nothing_else_changed() -> None:
    before = provenance_of(release(), copy())
    by_stage = release(selected_by="stage 'Production'", overrides={"deploy.cpu": "2"})
    subject, changed = message(before, by_stage, copy())
    assert subject == "update fraud v1 in production: overrides changed, selected_by changed"
    assert changed == (
        "Changed: overrides (none) → {'deploy.cpu': '2'}; "
        "selected_by alias 'champion' → stage 'Production'."
    )
    # Beside a setting, such details are in the body only.
    tuned = release(replicas="3", overrides={"deploy.replicas": "3"})
    subject, changed = message(before, tuned, copy())
    assert subject == "update fraud v1 in production: replicas 2 → 3"
    assert changed == "Changed: replicas 2 → 3; overrides (none) → {'deploy.replicas': '3'}."


def test_the_namespace_is_named() -> None:
    before = provenance_of(release(), copy())
    moved = dataclasses.replace(release(), namespace="ml-prod")
    assert message(before, moved, copy())[0] == (
        "update fraud v1 in production: namespace models-production → ml-prod"
    )


def test_only_when_nothing_it_deploys_changed_is_it_a_new_rendering() -> None:
    before = provenance_of(release(), copy())
    subject, body = message(before, release(), copy())
    assert subject == "update fraud v1 in production: manifests rendered anew"
    assert body == (
        "Same revision, settings and copy as before: its manifests were rendered anew "
        "(templates, targets or gitops-watcher changed)."
    )
