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
