"""Settings load from a file and the environment, and bad input names the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from watcher.config.loader import (
    CONFIG_ENV,
    ENV_CREDENTIALS,
    ENV_INVERTED_FLAGS,
    ENV_SETTINGS,
    load_settings,
)
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


def _keys(model: type, prefix: str) -> list[str]:
    """Dotted keys of a settings model as docs/configuration.md names them."""
    found = []
    for name, field in model.model_fields.items():  # type: ignore[attr-defined]
        sub = field.annotation
        if isinstance(sub, type) and hasattr(sub, "model_fields") and name != "resources":
            found += _keys(sub, f"{prefix}{name}.")
        else:
            found.append(f"{prefix}{name}")
    return found


def _all_keys() -> list[str]:
    from watcher.config.settings import (
        ArtifactSettings,
        S3Settings,
        Selector,
        Settings,
        SourceSettings,
        StageSettings,
    )

    sections = [
        (Settings, ""),
        (StageSettings, "stages[]."),
        (Selector, "stages[].select[]."),
        # Named on their own too, so a section the walk above misses is still checked.
        (ArtifactSettings, "artifacts."),
        (S3Settings, "artifacts.s3."),
        (SourceSettings, "artifacts.sources."),
    ]
    return [key for model, prefix in sections for key in _keys(model, prefix)]


def test_every_variable_and_key_is_documented() -> None:
    doc = DOCS.read_text()
    for variable in [*ENV_SETTINGS, *ENV_INVERTED_FLAGS, *ENV_CREDENTIALS, CONFIG_ENV]:
        assert f"`{variable}`" in doc, variable
    for key in _all_keys():
        assert f"| `{key}` |" in doc, key


def test_each_variable_is_documented_with_the_key_it_sets() -> None:
    rows = [line for line in DOCS.read_text().splitlines() if line.startswith("| `")]
    for variable, path in [*ENV_SETTINGS.items(), *ENV_INVERTED_FLAGS.items()]:
        key = ".".join(path)
        assert any(row.startswith(f"| `{variable}` |") and f"`{key}`" in row for row in rows), (
            f"{variable} -> {key}"
        )


def test_no_documented_key_is_unknown() -> None:
    known = set(_all_keys())
    documented = re.findall(r"^\| `([a-z][a-z0-9_.\[\]]*)` \|", DOCS.read_text(), re.MULTILINE)
    assert documented, "no key rows found in docs/configuration.md"
    unknown = sorted(set(documented) - known)
    assert unknown == [], f"documented but not settings keys: {unknown}"


def test_the_yaml_examples_in_the_docs_load(tmp_path: Path) -> None:
    root = DOCS.parents[1]
    for name in ["README.md", "docs/configuration.md", "docs/artifacts.md"]:
        blocks = re.findall(r"^```yaml\n(.*?)^```", (root / name).read_text(), re.M | re.S)
        assert blocks, name
        for block in blocks:
            settings, _ = load_settings(write(tmp_path, block), {})
            assert settings.stages, f"{name}: {block}"
