"""Settings load from a file and the environment, and bad input names the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from watcher.config.loader import ENV_CREDENTIALS, ENV_SETTINGS, load_settings
from watcher.errors import ConfigError

DOCS = Path(__file__).parents[2] / "docs" / "configuration.md"


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "watcher.yaml"
    path.write_text(text)
    return str(path)


def test_defaults_need_nothing() -> None:
    settings, credentials = load_settings(None, {})
    assert [s.name for s in settings.stages] == ["staging", "production"]
    assert settings.stages[1].namespace == "models-production"
    assert repr(credentials) == "Credentials(set=[])"


def test_environment_wins_over_the_file_and_secrets_stay_out_of_settings(tmp_path: Path) -> None:
    path = write(tmp_path, "git: {repo_url: from-file, branch: develop}\n")
    env = {
        "GIT_REPO_URL": "ssh://git@h/r.git",
        "MLFLOW_TRACKING_URI": "http://m:5000",
        "MLFLOW_TRACKING_TOKEN": "s3cr3t",
    }
    settings, credentials = load_settings(path, env)
    assert settings.git.repo_url == "ssh://git@h/r.git" and settings.git.branch == "develop"
    assert settings.registry.resolved_kind == "rest"
    assert credentials.mlflow_token == "s3cr3t"
    assert "s3cr3t" not in repr(credentials) and "s3cr3t" not in settings.model_dump_json()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("registry: {trackng_uri: x}\n", "registry.trackng_uri: unknown key"),
        ("stages: [{name: Prod, select: [{alias: a}]}]\n", "stages.0.name"),
        ("stages: [{name: p, select: [{alias: a, stage: Staging}]}]\n", "exactly one"),
        ("stages: [{name: p, select: []}]\n", "at least one selector"),
        ("stages: [{name: p, select: [{stage: Live}]}]\n", "stages.0.select.0.stage"),
        ("stages: [{name: p, select: [{alias: a}]}, {name: p, select: [{alias: b}]}]\n", "unique"),
        ("git: {path: ../outside}\n", "git.path"),
        ("safety: {max_delete_fraction: 2}\n", "safety.max_delete_fraction"),
        ("git: {token: abc}\n", "looks like a secret"),
        ("- a list\n", "mapping"),
        ("key: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=None) as info:
        load_settings(write(tmp_path, text), {})
    assert message in str(info.value)


def test_missing_config_file_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(str(tmp_path / "nope.yaml"), {})


def test_database_uris_select_the_database_adapter() -> None:
    settings, _ = load_settings(None, {"MLFLOW_TRACKING_URI": "sqlite:////mlflow/mlflow.db"})
    assert settings.registry.resolved_kind == "database"
    assert settings.registry.resolved_ui_url == ""


def test_every_variable_and_key_is_documented() -> None:
    from watcher.config.settings import Settings, StageSettings

    doc = DOCS.read_text()
    for variable in [*ENV_SETTINGS, *ENV_CREDENTIALS, "GITOPS_WATCHER_CONFIG"]:
        assert f"`{variable}`" in doc, variable

    def keys(model: type, prefix: str) -> list[str]:
        found = []
        for name, field in model.model_fields.items():  # type: ignore[attr-defined]
            sub = field.annotation
            if isinstance(sub, type) and hasattr(sub, "model_fields") and name != "resources":
                found += keys(sub, f"{prefix}{name}.")
            else:
                found.append(f"{prefix}{name}")
        return found

    for key in keys(Settings, "") + keys(StageSettings, "stages[]."):
        assert f"`{key}`" in doc, key
