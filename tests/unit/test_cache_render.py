"""The render cache serves a folder only while nothing that went into it changed."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import jinja2
import pytest

from watcher.core.artifacts import ArtifactRef
from watcher.core.release import Release, ReleaseId
from watcher.core.targets import TemplateTarget, make_environment
from watcher.errors import TemplateError

TEMPLATE = "kind: ConfigMap\nname: {{ name | yaml }}\nreplicas: {{ replicas | yaml }}\n"


def release(replicas: str = "1", payload: Any = None) -> Release:
    return Release(
        id=ReleaseId("mlflow", "model", "iris", "staging"),
        folder="iris/staging",
        target="t",
        revision="1",
        namespace="models",
        payload=payload,
        settings={"replicas": replicas},
    )


class Counting:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, release: Release, artifact: ArtifactRef | None) -> dict[str, Any]:
        self.calls += 1
        uri = artifact.uri if artifact else "models:/iris/1"
        return {"name": f"{release.id.name} {uri}", "replicas": release.settings["replicas"]}


def target(loader: jinja2.BaseLoader, context: Counting) -> TemplateTarget:
    return TemplateTarget("t", make_environment(loader), "t", context, kubernetes_version=None)


def test_same_inputs_are_rendered_once_and_equal() -> None:
    context = Counting()
    t = target(jinja2.DictLoader({"t/a.yaml.j2": TEMPLATE}), context)
    first = t.render(release(), None)
    second = t.render(release(), None)
    assert first == second and context.calls == 1
    second["a.yaml"] = b"mutated"  # a caller changing its copy never reaches the cache
    assert t.render(release(), None) == first


def test_a_changed_release_or_artifact_renders_again() -> None:
    context = Counting()
    t = target(jinja2.DictLoader({"t/a.yaml.j2": TEMPLATE}), context)
    one = t.render(release("1"), None)
    three = t.render(release("3"), None)
    assert three != one and b"3" in three["a.yaml"] and context.calls == 2
    copy = ArtifactRef("s3://b/x", "sha256:1", 1, 1)
    moved = ArtifactRef("s3://b/y", "sha256:2", 1, 1)
    assert t.render(release("1"), copy) != t.render(release("1"), moved)
    assert b"s3://b/y" in t.render(release("1"), moved)["a.yaml"]
    # Payloads are compared by value, deep inside too.
    assert t.render(release(payload={"a": [1, 2]}), None) == one
    calls = context.calls
    t.render(release(payload={"a": [1, 3]}), None)
    assert context.calls == calls + 1


def test_a_changed_template_is_never_served_stale(tmp_path: Path) -> None:
    folder = tmp_path / "t"
    folder.mkdir()
    path = folder / "a.yaml.j2"
    path.write_text(TEMPLATE)
    context = Counting()
    t = target(jinja2.FileSystemLoader(str(tmp_path)), context)
    before = t.render(release(), None)
    path.write_text(TEMPLATE + "extra: {{ 'x' | yaml }}\n")
    later = time.time() + 5
    os.utime(path, (later, later))  # what an edit a moment later looks like
    after = t.render(release(), None)
    assert before != after and b"extra" in after["a.yaml"]
    # A template added to the folder counts too.
    (folder / "b.yaml.j2").write_text("kind: Secret\n")
    assert set(t.render(release(), None)) == {"a.yaml", "b.yaml"}
    # And one that is removed.
    (folder / "b.yaml.j2").unlink()
    assert set(t.render(release(), None)) == {"a.yaml"}


def test_a_dict_loader_edit_is_seen_and_failures_are_not_cached() -> None:
    mapping = {"t/a.yaml.j2": TEMPLATE}
    context = Counting()
    t = target(jinja2.DictLoader(mapping), context)
    t.render(release(), None)
    mapping["t/a.yaml.j2"] = "kind: ConfigMap\nname: {{ name }}\n"  # no | yaml: refused
    with pytest.raises(TemplateError):
        t.render(release(), None)
    with pytest.raises(TemplateError):
        t.render(release(), None)
    mapping["t/a.yaml.j2"] = TEMPLATE
    assert b"iris" in t.render(release(), None)["a.yaml"]


class Opaque:
    """A payload whose repr shows only its address: its contents may change unseen."""

    def __init__(self, value: str) -> None:
        self.value = value


def test_a_release_shown_by_address_is_rendered_every_time() -> None:
    context = Counting()
    t = target(jinja2.DictLoader({"t/a.yaml.j2": TEMPLATE}), context)
    opaque = Opaque("a")
    keyed = release("1", payload=opaque)
    assert keyed.fingerprint == "" and t.cache_key(keyed, None) is None
    t.render(keyed, None)
    opaque.value = "b"
    t.render(keyed, None)
    assert context.calls == 2
    # An ordinary release has a fingerprint, made once per object.
    plain = release("1")
    assert len(plain.fingerprint) == 64 and plain.fingerprint is plain.fingerprint
    assert t.cache_key(plain, None) == t.cache_key(release("1"), None)
