"""The change probe reads and compares only the models its source selects.

Shards over one registry each probe their own part: a promotion of another shard's
model must not ask this one for a run, and the server is asked with the source's
name filter. A real MLflow server, driven by ``MlflowClient``.
"""

from __future__ import annotations

from typing import Any

from tests.servers.mlflow_server import MlflowServer, register_version
from watcher.config.settings import Credentials, Settings
from watcher.sources.mlflow.registry_probe import RegistryProbe


def _probe(server: MlflowServer, include: list[str], exclude: list[str]) -> RegistryProbe:
    models = {"include": include, "exclude": exclude}
    settings = Settings.model_validate({"registry": {"tracking_uri": server.url, "models": models}})
    return RegistryProbe(settings.registry, Credentials(), ignore_tag_prefix="gitops.")


def test_a_probe_names_only_its_own_models_changes(
    mlflow_server: MlflowServer, unique_model_name: Any
) -> None:
    client = mlflow_server.client()
    mine, theirs, left_out = (
        unique_model_name("mine"), unique_model_name("theirs"), unique_model_name("mine-out"),
    )  # fmt: skip
    for name in (mine, theirs, left_out):
        register_version(client, name)
    prefix = unique_model_name.prefix
    probe = _probe(mlflow_server, [f"{prefix}-mine*"], [f"{prefix}-mine-out*"])
    try:
        assert set(probe.fingerprints()) == {mine}
        probe.prime()
        client.set_registered_model_alias(theirs, "staging", "1")
        client.set_registered_model_alias(left_out, "staging", "1")
        assert probe.changed() == frozenset()  # another shard's promotions: nothing to do
        client.set_registered_model_alias(mine, "staging", "1")
        assert probe.changed() == frozenset({mine})
    finally:
        probe.close()


def test_a_probe_of_several_patterns_filters_here(
    mlflow_server: MlflowServer, unique_model_name: Any
) -> None:
    client = mlflow_server.client()
    a, b = unique_model_name("pa"), unique_model_name("pb")
    for name in (a, b):
        register_version(client, name)
    prefix = unique_model_name.prefix
    probe = _probe(mlflow_server, [f"{prefix}-pa*", f"{prefix}-zz*"], [])  # no server filter
    try:
        assert set(probe.fingerprints()) == {a}
    finally:
        probe.close()
