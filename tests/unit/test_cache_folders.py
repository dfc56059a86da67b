"""The finished-folder cache of build_desired: marker and files follow every input.

``build_desired`` keeps, per target, the folder (files and promotion.json) under
the target's cache key; a batch (one reconcile) loads the templates once. Edits
between reconciles must never be served stale.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

import jinja2
import pytest

from tests.unit.test_cache_render import TEMPLATE, Counting, release
from watcher.core.artifacts import ArtifactRef
from watcher.core.provenance import PROVENANCE
from watcher.core.release import Release, SourceRead
from watcher.core.targets import TemplateTarget, make_environment
from watcher.spine.desired_state import build_desired


class FixedSource:
    """A source whose releases the test sets."""

    name = "mlflow"
    path = ""
    kinds = frozenset({"model"})
    artifacts = None

    def __init__(self, *releases: Release) -> None:
        self.releases = releases

    def read(self) -> SourceRead:
        return SourceRead(releases=self.releases)

    def close(self) -> None:
        pass


def folder(source: FixedSource, target: TemplateTarget) -> dict[str, bytes]:
    state = build_desired([source], {"t": target})
    assert not state.failures, state.failures
    return dict(state.folders["iris/staging"].files)


def marker(files: dict[str, bytes]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(files[PROVENANCE])
    return data


def test_an_unchanged_release_is_served_whole_and_a_changed_one_is_not() -> None:
    context = Counting()
    t = TemplateTarget(
        "t", make_environment(jinja2.DictLoader({"t/a.yaml.j2": TEMPLATE})), "t", context,
        kubernetes_version=None,
    )  # fmt: skip
    source = FixedSource(release("2"))
    first = folder(source, t)
    assert folder(source, t) == first and context.calls == 1
    assert marker(first)["settings"] == {"replicas": "2"}
    source.releases = (release("3"),)
    changed = folder(source, t)
    assert marker(changed)["settings"] == {"replicas": "3"} and b"3" in changed["a.yaml"]
    # Fields that only the marker shows (not the templates) count too.
    source.releases = (dataclasses.replace(release("3"), url="https://ui/iris"),)
    assert marker(folder(source, t))["url"] == "https://ui/iris"
    # The cached folder is handed out read-only: no caller can change what is cached.
    state = build_desired([source], {"t": t})
    with pytest.raises(TypeError):
        state.folders["iris/staging"].files[PROVENANCE] = b"mutated"  # type: ignore[index]
    assert marker(folder(source, t))["url"] == "https://ui/iris"


def test_a_template_edited_between_reconciles_is_seen(tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    path = tmp_path / "t" / "a.yaml.j2"
    path.write_text(TEMPLATE)
    context = Counting()
    env = make_environment(jinja2.FileSystemLoader(str(tmp_path)))
    t = TemplateTarget("t", env, "t", context, kubernetes_version=None)
    source = FixedSource(release())
    before = folder(source, t)
    path.write_text(TEMPLATE + "extra: {{ 'x' | yaml }}\n")
    later = time.time() + 5
    os.utime(path, (later, later))
    after = folder(source, t)
    assert b"extra" in after["a.yaml"] and after != before
    (tmp_path / "t" / "b.yaml.j2").write_text("kind: Secret\n")
    assert set(folder(source, t)) == {"a.yaml", "b.yaml", PROVENANCE}


def test_an_artifact_change_changes_the_marker() -> None:
    context = Counting()
    t = TemplateTarget(
        "t", make_environment(jinja2.DictLoader({"t/a.yaml.j2": TEMPLATE})), "t", context,
        kubernetes_version=None,
    )  # fmt: skip
    one = ArtifactRef("s3://b/x", "sha256:1", 1, 1)
    two = ArtifactRef("s3://b/x", "sha256:2", 1, 1)
    assert t.cache_key(release(), one) != t.cache_key(release(), two)
    assert t.cache_key(release(), one) == t.cache_key(release(), one)
