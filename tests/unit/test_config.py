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
    env_name,
    load_settings,
    setting_keys,
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
        ("git: {author_name: 'Eve <eve@example.com>'}\n", "git.author_name"),
        ("git: {author_email: \"a@b>\\nx\"}\n", "no '<', '>' or line breaks"),
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


def test_the_generated_reference_is_current() -> None:
    from watcher.config.reference import BEGIN, END, reference

    doc = DOCS.read_text()
    block = doc[doc.index(BEGIN) : doc.index(END) + len(END)]
    assert block == reference(), "run: python -m watcher.config.reference"


def test_every_key_and_variable_is_documented() -> None:
    doc = DOCS.read_text()
    for variable in [*ENV_SETTINGS, *ENV_INVERTED_FLAGS, *ENV_CREDENTIALS, CONFIG_ENV]:
        assert f"`{variable}`" in doc, variable
    for key, _annotation in setting_keys():
        dotted = ".".join(key)
        assert f"| `{dotted}` | `{env_name(key)}` |" in doc, dotted


def test_each_variable_is_documented_with_the_key_it_sets() -> None:
    rows = [line for line in DOCS.read_text().splitlines() if line.startswith("| `")]
    for variable, path in [*ENV_SETTINGS.items(), *ENV_INVERTED_FLAGS.items()]:
        key = ".".join(path)
        assert any(row.startswith(f"| `{variable}` |") and f"`{key}`" in row for row in rows), (
            f"{variable} -> {key}"
        )


def test_no_documented_key_is_unknown() -> None:
    from watcher.config.reference import key_rows

    known = {row[0] for row in key_rows()}
    documented = re.findall(r"^\| `([a-z][a-z0-9_.\[\]]*)` \|", DOCS.read_text(), re.MULTILINE)
    assert documented, "no key rows found in docs/configuration.md"
    unknown = sorted(set(documented) - known)
    assert unknown == [], f"documented but not settings keys: {unknown}"


def test_every_key_can_be_set_from_its_generated_variable(tmp_path: Path) -> None:
    env = {
        "GITOPS_WATCHER_ARTIFACTS__SOURCES__LOCAL_ROOTS": "/mlflow/mlruns,/data",
        "GITOPS_WATCHER_GIT__PUSH_ATTEMPTS": "7",
        "GITOPS_WATCHER_REGISTRY__MODELS__INCLUDE": '["fraud-*"]',
        "GITOPS_WATCHER_STAGES": '[{"name": "canary", "select": [{"alias": "canary"}]}]',
        "GITOPS_WATCHER_SAFETY__MAX_DELETE_FRACTION": "0.25",
        "GITOPS_WATCHER_RENDER__VALIDATE_MANIFESTS": "false",
        "GITOPS_WATCHER_STATE_DIR": str(tmp_path / "state"),
    }
    path = write(tmp_path, "git: {push_attempts: 2}\nartifacts: {sources: {local_roots: [/x]}}\n")
    settings, _ = load_settings(path, env)
    assert settings.artifacts.sources.local_roots == ("/mlflow/mlruns", "/data")
    assert settings.git.push_attempts == 7
    assert settings.registry.models.include == ("fraud-*",)
    assert [s.name for s in settings.stages] == ["canary"]
    assert settings.safety.max_delete_fraction == 0.25
    assert settings.render.validate_manifests is False
    assert settings.state_path == tmp_path / "state"


@pytest.mark.parametrize(
    ("env", "words"),
    [
        (
            {"GITOPS_WATCHER_GIT__PUSH_ATTEMPTS": "many"},
            ["GITOPS_WATCHER_GIT__PUSH_ATTEMPTS", "whole number"],
        ),
        ({"GITOPS_WATCHER_STAGES": "[{"}, ["GITOPS_WATCHER_STAGES", "JSON"]),
        ({"MLFLOW_TRACKING_URI": "mlflow.example.com"}, ["MLFLOW_TRACKING_URI", "no known scheme"]),
        (
            {"GITOPS_WATCHER_ARTIFACTS__STORE": "ftp"},
            ["GITOPS_WATCHER_ARTIFACTS__STORE", "must be"],
        ),
    ],
)
def test_a_bad_variable_is_named_in_plain_words(env: dict[str, str], words: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, env)
    message = str(info.value)
    for word in words:
        assert word in message
    assert "Input should be" not in message and "valid tuple" not in message


def test_config_values_are_checked_as_strictly_as_tags(tmp_path: Path) -> None:
    text = "stages: [{name: p, select: [{alias: a}], resources: {requests: {cpu: lots}}}]\n"
    with pytest.raises(ConfigError, match="not a Kubernetes quantity"):
        load_settings(write(tmp_path, text), {})
    with pytest.raises(ConfigError, match="must be a list"):
        load_settings(write(tmp_path, "registry: {models: {include: 5}}\n"), {})


def test_the_default_state_folder_does_not_depend_on_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    seen = set()
    for cwd in (tmp_path / "a", tmp_path / "b"):
        cwd.mkdir()
        monkeypatch.chdir(cwd)
        settings, _ = load_settings(None, {})
        seen.add((settings.state_path, settings.checkout_path, settings.state_database_url))
    assert seen == {
        (
            tmp_path / "xdg" / "gitops-watcher",
            tmp_path / "xdg" / "gitops-watcher" / "checkout",
            f"sqlite:///{tmp_path / 'xdg' / 'gitops-watcher' / 'state.db'}",
        )
    }


def test_a_relative_state_folder_in_the_file_is_relative_to_the_file(tmp_path: Path) -> None:
    settings, _ = load_settings(write(tmp_path, "state_dir: here\n"), {})
    assert settings.state_path == tmp_path / "here"


def test_the_yaml_examples_in_the_docs_load(tmp_path: Path) -> None:
    root = DOCS.parents[1]
    for name in ["README.md", "docs/configuration.md", "docs/artifacts.md"]:
        blocks = re.findall(r"^```yaml\n(.*?)^```", (root / name).read_text(), re.M | re.S)
        assert blocks, name
        for block in blocks:
            settings, _ = load_settings(write(tmp_path, block), {})
            assert settings.stages, f"{name}: {block}"
