"""Whom a webhook delivery asks: each source that selects a model the delivery names.

MLflow posts every event to every webhook, so a shard (or one of several registry
sources) hears of models it does not manage. Those deliveries ask for nothing: a run
for them would read nothing and manage nothing.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from watcher import wiring
from watcher.config.loader import load_settings
from watcher.core.stages import NameFilter
from watcher.spine.triggers import Hint, Verdict, WebhookTrigger


def _accept(_headers: object, _body: bytes) -> Verdict:
    return Verdict(202, "accepted", "reconcile requested")


def _route(**filters: NameFilter) -> WebhookTrigger:
    def narrow(source: str, hint: Hint) -> Hint:
        return frozenset(name for name in hint if filters[source].matches(name))

    return WebhookTrigger("mlflow", "/hook", _accept, sources=tuple(filters), narrow=narrow)


def test_a_hint_asks_only_the_sources_that_select_its_models() -> None:
    route = _route(a=NameFilter(("team-a-*",)), b=NameFilter(("team-b-*",), ("team-b-old*",)))
    assert route.asks(frozenset({"team-a-churn"})) == [(("a",), frozenset({"team-a-churn"}))]
    assert route.asks(frozenset({"team-a-churn", "team-b-fraud"})) == [
        (("a",), frozenset({"team-a-churn"})),
        (("b",), frozenset({"team-b-fraud"})),
    ]
    # Selected by no source (another shard's model, an excluded one): nobody is asked.
    assert route.asks(frozenset({"team-c-churn"})) == []
    assert route.asks(frozenset({"team-b-old-fraud"})) == []


def test_no_hint_asks_every_source_for_everything() -> None:
    route = _route(a=NameFilter(("team-a-*",)), b=NameFilter(("team-b-*",)))
    assert route.asks(None) == [(("a", "b"), None)]


def test_sources_that_select_the_same_models_are_asked_together() -> None:
    route = _route(a=NameFilter(("*",)), b=NameFilter(("churn*",)))
    assert route.asks(frozenset({"churn"})) == [(("a", "b"), frozenset({"churn"}))]


def test_a_route_that_cannot_narrow_passes_every_hint_on() -> None:
    route = WebhookTrigger("files", "/hook", _accept, sources=("a", "b"))
    assert route.asks(frozenset({"x"})) == [(("a", "b"), frozenset({"x"}))]


def test_the_mlflow_route_narrows_by_each_sources_registry_models(tmp_path: Path) -> None:
    """The route the daemon serves, built from a config with two registries."""
    config = {
        "sources": [
            {"name": "team-a", "registry": {
                "tracking_uri": "http://127.0.0.1:9", "models": {"include": ["a-*"]}}},
            {"name": "team-b", "registry": {
                "tracking_uri": "http://127.0.0.1:9",
                "models": {"include": ["b-*", "shared-*"], "exclude": ["b-draft-*"]}}},
        ],
    }  # fmt: skip
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    settings, credentials = load_settings(str(path), {}, sections=wiring.settings_sections())
    _names, triggers = wiring.source_triggers(settings, credentials, settings.daemon, env={})
    (route,) = [t for t in triggers if isinstance(t, WebhookTrigger)]
    assert route.sources == ("team-a", "team-b")
    assert route.asks(frozenset({"a-churn"})) == [(("team-a",), frozenset({"a-churn"}))]
    assert route.asks(frozenset({"shared-x", "b-draft-1"})) == [
        (("team-b",), frozenset({"shared-x"}))
    ]
    assert route.asks(frozenset({"c-churn"})) == []
