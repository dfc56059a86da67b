"""deploy.* tags tune a deployment, and bad values fail only that deployment."""

from __future__ import annotations

import pytest

from watcher.core.overrides import read_overrides
from watcher.errors import InvalidOverrideError

STAGES = frozenset({"staging", "production"})


def test_stage_specific_tag_wins_over_general_one() -> None:
    tags = {"deploy.replicas": "2", "deploy.production.replicas": "5", "owner": "ml-team"}
    assert read_overrides(tags, "production", STAGES, 20).replicas == 5
    assert read_overrides(tags, "staging", STAGES, 20).replicas == 2


def test_resources_and_memory_limit_follow_request() -> None:
    overrides = read_overrides(
        {"deploy.cpu": "500m", "deploy.memory": "1Gi"}, "staging", STAGES, 20
    )
    assert overrides.resources == {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"memory": "1Gi"},
    }
    explicit = read_overrides(
        {"deploy.memory": "1Gi", "deploy.memory_limit": "2Gi"}, "staging", STAGES, 20
    )
    assert explicit.resources["limits"] == {"memory": "2Gi"}


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        ({"deploy.replicas": "3\n---"}, "whole number"),
        ({"deploy.replicas": "-1"}, "whole number"),
        ({"deploy.replicas": "²"}, "whole number"),
        ({"deploy.replicas": "999"}, "at most 20"),
        ({"deploy.cpu": "1; rm -rf /"}, "quantity"),
        ({"deploy.memory": "{{ x }}"}, "quantity"),
        ({"deploy.replica": "2"}, "unknown setting"),
        ({"deploy.a.b.c": "2"}, "not a known deployment tag"),
    ],
)
def test_bad_tags_give_a_clear_error(tags: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidOverrideError, match=message):
        read_overrides(tags, "staging", STAGES, 20)


def test_tags_for_other_stages_are_ignored() -> None:
    assert (
        read_overrides({"deploy.production.replicas": "x"}, "staging", STAGES, 20).replicas is None
    )


def test_a_stage_minimum_refuses_zero_and_negative_replicas_are_named_for_what_they_are() -> None:
    with pytest.raises(InvalidOverrideError, match="needs at least 1"):
        read_overrides({"deploy.replicas": "0"}, "production", STAGES, 20, min_replicas=1)
    with pytest.raises(InvalidOverrideError, match="a whole number from 1 to 20, not '-1'"):
        read_overrides({"deploy.replicas": "-1"}, "production", STAGES, 20, min_replicas=1)
    assert read_overrides({"deploy.replicas": "0"}, "staging", STAGES, 20).replicas == 0


def test_values_are_normalised_before_they_are_used_or_recorded() -> None:
    padded = read_overrides(
        {"deploy.replicas": " 3 ", "deploy.cpu": " 500m"}, "staging", STAGES, 20
    )
    plain = read_overrides({"deploy.replicas": "3", "deploy.cpu": "500m"}, "staging", STAGES, 20)
    assert padded == plain
    assert dict(padded.applied) == {"deploy.cpu": "500m", "deploy.replicas": "3"}


def test_a_huge_value_is_refused_quickly_and_quoted_short() -> None:
    with pytest.raises(InvalidOverrideError) as info:
        read_overrides({"deploy.replicas": "9" * 10_000}, "staging", STAGES, 20)
    assert len(str(info.value)) < 200 and "10000 characters" in str(info.value)


def test_the_default_production_stage_keeps_at_least_one_replica() -> None:
    from watcher.config.settings import Settings

    floors = {stage.name: stage.min_replicas for stage in Settings().stages}
    assert floors == {"staging": 0, "production": 1}


def test_every_bad_tag_is_reported_at_once() -> None:
    tags = {
        "deploy.replicas": "lots",
        "deploy.cpu": "a lot",
        "deploy.gpu": "1",
        "deploy.a.b.c": "2",
        "deploy.memory": "2Gi",  # a good one beside them changes nothing
    }
    with pytest.raises(InvalidOverrideError) as info:
        read_overrides(tags, "staging", STAGES, 20)
    text = str(info.value)
    assert text.startswith("4 deploy tags are wrong: "), text
    for part in (
        "tag 'deploy.a.b.c' is not a known deployment tag",
        "tag 'deploy.gpu' names an unknown setting 'gpu'",
        "tag 'deploy.cpu' must be a Kubernetes quantity",
        "tag 'deploy.replicas' must be a whole number from 0 to 20, not 'lots'",
    ):
        assert text.count(part) == 1, (part, text)
    # Each hint once, after the messages.
    assert text.count("known settings: replicas, cpu, memory, cpu_limit, memory_limit") == 1


def test_one_bad_tag_reads_as_it_always_did() -> None:
    with pytest.raises(InvalidOverrideError) as info:
        read_overrides({"deploy.replicas": "lots"}, "staging", STAGES, 20)
    assert str(info.value) == (
        "tag 'deploy.replicas' must be a whole number from 0 to 20, not 'lots'"
    )


def test_the_memory_limit_that_follows_deploy_memory_is_said_in_the_commit() -> None:
    from tests.builders import decide, model, settings, snapshot, version

    request_only = read_overrides({"deploy.memory": "2Gi"}, "staging", STAGES, 20)
    assert request_only.notes == (
        "deploy.memory sets the memory limit to 2Gi too (tag deploy.memory_limit for another "
        "limit)",
    )
    both = read_overrides(
        {"deploy.memory": "2Gi", "deploy.memory_limit": "3Gi"}, "staging", STAGES, 20
    )
    assert both.notes == () and both.resources["limits"] == {"memory": "3Gi"}

    tuned = version("m", 1, **{"deploy.memory": "2Gi", "deploy.replicas": "2"})
    (release,) = decide(snapshot(model("m", [tuned], {"staging": 1})), settings()).releases
    assert release.summary == (
        "Selected by alias 'staging'.",
        "Tuned by tags: deploy.memory=2Gi, deploy.replicas=2; deploy.memory sets the memory "
        "limit to 2Gi too (tag deploy.memory_limit for another limit).",
    )
    assert release.settings["memory"] == release.settings["memory_limit"] == "2Gi"
