"""Which version each stage runs: aliases and registry stages, in the configured order."""

from __future__ import annotations

from tests.builders import decide, model, settings, snapshot, version
from watcher.core.model import ModelVersion


def _decided(*models, **config):  # type: ignore[no-untyped-def]
    s = settings(**config)
    return decide(snapshot(*models), s)


def test_alias_wins_over_stage_and_stage_picks_the_newest() -> None:
    fraud = model(
        "fraud",
        [
            version("fraud", 1, "Production"),
            version("fraud", 2, "Staging"),
            version("fraud", 3, "Staging"),
        ],
        aliases={"champion": 2},
    )
    state = _decided(fraud)
    chosen = {r.id.stage: (r.revision, r.payload.selected_by) for r in state.releases}
    assert chosen == {"staging": ("3", "stage 'Staging'"), "production": ("2", "alias 'champion'")}


def test_versions_that_are_not_ready_are_not_deployed() -> None:
    pending = ModelVersion(name="m", version="1", status="PENDING_REGISTRATION")
    state = _decided(model("m", [pending], aliases={"staging": 1}))
    assert state.releases == () and state.failures == ()


def test_include_and_exclude_filters() -> None:
    models = [
        model(n, [version(n, 1)], aliases={"staging": 1}) for n in ("team-a-x", "team-a-y", "b")
    ]
    state = _decided(*models, registry={"models": {"include": ["team-a-*"], "exclude": ["*-y"]}})
    assert [r.folder for r in state.releases] == ["team-a-x/staging"]


def test_a_bad_tag_fails_only_its_pair() -> None:
    good = model("good", [version("good", 1)], aliases={"staging": 1, "champion": 1})
    bad = model(
        "bad",
        [version("bad", 1, **{"deploy.staging.replicas": "lots"})],
        aliases={"staging": 1, "champion": 1},
    )
    state = _decided(good, bad)
    assert sorted(r.folder for r in state.releases) == [
        "bad/production",
        "good/production",
        "good/staging",
    ]
    assert [(f.id.name, f.id.stage, f.folder) for f in state.failures] == [
        ("bad", "staging", "bad/staging")
    ]


def test_an_unusable_model_name_is_a_failure_not_a_crash() -> None:
    state = _decided(model("../..", [version("../..", 1)], aliases={"staging": 1}))
    assert state.releases == ()
    assert {f.id.stage for f in state.failures} == {"staging", "production"}
    assert all(f.folder is None for f in state.failures)


def test_custom_stages_and_overrides() -> None:
    config = {
        "stages": [
            {
                "name": "canary",
                "select": [{"alias": "canary"}],
                "replicas": 1,
                "resources": {"requests": {"cpu": "100m"}},
            },
        ]
    }
    m = model(
        "m",
        [version("m", 4, **{"deploy.canary.replicas": "2", "deploy.memory": "256Mi"})],
        aliases={"canary": 4},
    )
    (release,) = _decided(m, **config).releases
    assert release.folder == "m/canary"
    assert release.payload.replicas == 2
    assert release.settings["replicas"] == "2"
    assert release.payload.resources == {
        "requests": {"cpu": "100m", "memory": "256Mi"},
        "limits": {"memory": "256Mi"},
    }


def test_the_memo_hands_out_the_same_releases_while_a_model_is_unchanged() -> None:
    """Unchanged records reuse the last read's release objects (and what is cached on
    them); a changed record, or changed stage policies, decide afresh."""
    from watcher.core.model_releases import ModelReleaseMemo

    memo = ModelReleaseMemo()
    config = settings()

    def read(*models):  # type: ignore[no-untyped-def]
        return decide(snapshot(*models), config, memo=memo)

    a = model("a", [version("a", 1), version("a", 2)], aliases={"staging": 2, "champion": 1})
    b = model("b", [version("b", 1, **{"deploy.replicas": "x"})], aliases={"staging": 1})
    first = read(a, b)
    a_first = [r for r in first.releases if r.id.name == "a"]
    assert len(a_first) == 2 and first.releases[0].fingerprint
    assert [f.id.name for f in first.failures] == ["b"]  # the bad tag fails b alone
    # Equal records (new objects): the very same releases and failures come back.
    again = read(
        model("a", [version("a", 1), version("a", 2)], aliases={"staging": 2, "champion": 1}),
        model("b", [version("b", 1, **{"deploy.replicas": "x"})], aliases={"staging": 1}),
    )
    assert all(x is y for x, y in zip(again.releases, first.releases, strict=True))
    assert again.failures[0] is first.failures[0]
    # One alias moved: a is decided again, nothing is reused for it.
    moved = read(
        model("a", [version("a", 1), version("a", 2)], aliases={"staging": 1, "champion": 1}),
        b,
    )
    a_moved = [r for r in moved.releases if r.id.name == "a"]
    assert [r.revision for r in a_moved] == ["1", "1"]
    assert not any(x is y for x in a_moved for y in a_first)
    # A version tag changed (no timestamp moves in MLflow): decided again too.
    retagged = read(
        model("a", [version("a", 1, **{"deploy.replicas": "3"}), version("a", 2)],
              aliases={"staging": 1, "champion": 1}),
        b,
    )  # fmt: skip
    assert {r.settings["replicas"] for r in retagged.releases if r.id.name == "a"} == {"3"}
    # Other stage policies: nothing is reused.
    config = settings(stages=[{"name": "staging", "select": [{"alias": "staging"}]}])
    other = read(
        model("a", [version("a", 1, **{"deploy.replicas": "3"}), version("a", 2)],
              aliases={"staging": 1, "champion": 1}),
    )  # fmt: skip
    assert [r.id.stage for r in other.releases] == ["staging"]
    assert not any(x is y for x in other.releases for y in retagged.releases)
