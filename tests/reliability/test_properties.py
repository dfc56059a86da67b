"""Properties of the pure core, for any registry snapshot hypothesis can make.

The whole pure path is used: ``model_releases`` (inside ``MlflowSource``), the
built-in templates through ``TemplateTarget`` (``build_targets``), provenance
markers and ``make_plan``. No server: the snapshot is handed in, which is the
core's edge. Applying a plan means writing each change into a dict tree, as the
publisher writes it into a checkout.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.builders import settings as make_settings
from watcher.core.artifacts import ArtifactRef
from watcher.core.model import ModelVersion, RegisteredModel, RegistrySnapshot
from watcher.core.plan import Plan, make_plan
from watcher.core.release import Release
from watcher.core.stages import NameFilter
from watcher.core.targets import Target
from watcher.sources.mlflow.settings_view import stage_policy
from watcher.sources.mlflow.source import MlflowSource
from watcher.spine.desired_state import DesiredState, build_desired
from watcher.wiring import build_targets

pytestmark = [pytest.mark.slow]

CONFIG = make_settings(artifacts={"store": "none"})
TARGETS = build_targets(CONFIG)
STAGES = tuple(stage_policy(stage, CONFIG.render) for stage in CONFIG.stages)

names = st.text(alphabet=st.sampled_from("abcxyz019-_.É ü/"), min_size=1, max_size=20).filter(
    lambda s: s.strip() != ""
)
tag_values = st.one_of(
    st.sampled_from(["1", "2", "0", "-1", "x", "{{ 7*7 }}", "a: b", "500m", "1Gi", ""]),
    st.text(max_size=30),
)
tags = st.dictionaries(
    st.sampled_from(
        ["deploy.replicas", "deploy.production.replicas", "deploy.cpu", "deploy.memory", "note"]
    ),
    tag_values,
    max_size=3,
)


@st.composite
def registered_model(draw: st.DrawFn, name: str) -> RegisteredModel:
    count = draw(st.integers(1, 3))
    versions = tuple(
        ModelVersion(
            name=name,
            version=str(n),
            current_stage=draw(st.sampled_from(["None", "Staging", "Production", "Archived"])),
            status=draw(st.sampled_from(["READY", "READY", "PENDING_REGISTRATION"])),
            source=f"s3://mlflow/{n}",
            run_id=f"run{n}",
            tags=tuple(draw(tags).items()),
        )
        for n in range(1, count + 1)
    )
    aliases = draw(
        st.dictionaries(
            st.sampled_from(["champion", "staging", "other"]),
            st.integers(1, count).map(str),
            max_size=3,
        )
    )
    return RegisteredModel(name=name, versions=versions, aliases=tuple(aliases.items()))


@st.composite
def snapshots(draw: st.DrawFn) -> RegistrySnapshot:
    model_names = draw(st.lists(names, max_size=4, unique=True))
    models = tuple(draw(registered_model(name)) for name in model_names)
    return RegistrySnapshot(models=models, ui_url="http://mlflow.example")


class _Given:
    def __init__(self, snapshot: RegistrySnapshot) -> None:
        self._snapshot = snapshot

    def snapshot(self) -> RegistrySnapshot:
        return self._snapshot

    def close(self) -> None:
        pass


def desired(snapshot: RegistrySnapshot, targets: Mapping[str, Target] = TARGETS) -> DesiredState:
    source = MlflowSource("mlflow", "", _Given(snapshot), STAGES, NameFilter(("*",), ()), None)
    return build_desired([source], targets)


def plan(tree: Mapping[str, bytes], state: DesiredState) -> Plan:
    return make_plan(tree, state.folders, state.scopes, keep=state.keep, max_delete_fraction=1.0)


def apply(tree: Mapping[str, bytes], changes: Plan) -> dict[str, bytes]:
    """Write each change as the publisher does: the folder's files replace what it held."""
    out = dict(tree)
    for change in changes.changes:
        for path in [p for p in out if p.startswith(f"{change.folder}/")]:
            del out[path]
        out.update({f"{change.folder}/{name}": data for name, data in change.files.items()})
    return out


def rendered(state: DesiredState) -> dict[str, dict[str, bytes]]:
    return {folder: dict(d.files) for folder, d in state.folders.items()}


PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_renders_alike(
    snapshot: RegistrySnapshot, make_targets: Callable[[], Mapping[str, Target]]
) -> None:
    """Two renders from scratch: new targets each, so no cache hands back the first files
    (rendered folders are cached per target, template output per target too)."""
    first, second = desired(snapshot, make_targets()), desired(snapshot, make_targets())
    assert rendered(first) == rendered(second)
    assert [(f.id, str(f.error)) for f in first.failures] == [
        (f.id, str(f.error)) for f in second.failures
    ]


@PROPERTY
@given(snapshots())
def test_rendering_any_snapshot_is_deterministic(snapshot: RegistrySnapshot) -> None:
    assert_renders_alike(snapshot, lambda: build_targets(CONFIG))


class _Unstable:
    """A mutant target: the built-in one, with a random line appended to every file."""

    def __init__(self, target: Target) -> None:
        self._target = target
        self.name = target.name

    def render(self, release: Release, artifact: ArtifactRef | None) -> dict[str, bytes]:
        files = self._target.render(release, artifact)
        return {name: data + f"# {uuid.uuid4()}\n".encode() for name, data in files.items()}

    def cache_key(self, release: Release, artifact: ArtifactRef | None) -> str | None:
        return self._target.cache_key(release, artifact)  # type: ignore[attr-defined, no-any-return]


def test_the_determinism_check_catches_a_target_that_is_not_deterministic() -> None:
    """The property above fails for a mutant; comparing one cached render with itself did not."""
    fraud = RegisteredModel(
        name="fraud",
        versions=(ModelVersion(name="fraud", version="1", source="s3://mlflow/1"),),
        aliases=(("champion", "1"),),
    )
    snapshot = RegistrySnapshot(models=(fraud,), ui_url="http://mlflow.example")

    def unstable() -> dict[str, Target]:
        return {name: _Unstable(target) for name, target in build_targets(CONFIG).items()}

    with pytest.raises(AssertionError):
        assert_renders_alike(snapshot, unstable)
    # With the targets (and so their caches) shared, the mutant goes unseen: the old check.
    shared = unstable()
    assert rendered(desired(snapshot, shared)) == rendered(desired(snapshot, shared))


@PROPERTY
@given(snapshots(), snapshots())
def test_applying_a_plan_twice_equals_applying_it_once(
    before: RegistrySnapshot, after: RegistrySnapshot
) -> None:
    # Start from what `before` deploys, then move to `after`: deploys, updates and removals.
    start = apply({}, plan({}, desired(before)))
    state = desired(after)
    once = apply(start, plan(start, state))
    again = plan(once, state)
    assert again.changes == (), [c.subject for c in again.changes]
    assert apply(once, again) == once
    # And the end state holds exactly the rendered folders (no failure keeps an old one here,
    # since failed releases of `after` may keep folders of `before`: those are in `keep`).
    for folder, files in rendered(state).items():
        assert {
            p[len(folder) + 1 :]: d for p, d in once.items() if p.startswith(f"{folder}/")
        } == files


@PROPERTY
@given(snapshots())
def test_a_plan_only_touches_marker_folders_and_never_foreign_files(
    snapshot: RegistrySnapshot,
) -> None:
    foreign = {"README.md": b"ours\n", "hand/made/deployment.yaml": b"kind: X\n"}
    once = apply(foreign, plan(foreign, desired(snapshot)))
    assert {k: once[k] for k in foreign} == foreign
