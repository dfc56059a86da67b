"""Pull request settings and names: the forge's API root and repository from GIT_REPO_URL,
the token's fallback variables, safe branch names, and the ledger's new column."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from watcher.adapters.ledger import Ledger
from watcher.config.forge_settings import ForgeSettings
from watcher.config.loader import load_settings
from watcher.core.publishing import pull_request_branch
from watcher.errors import ConfigError


@pytest.mark.parametrize(
    ("kind", "url", "api", "repository"),
    [
        ("github", "https://github.com/team/gitops.git", "https://api.github.com", "team/gitops"),
        ("github", "git@ghe.example.com:team/gitops.git", "https://ghe.example.com/api/v3",
         "team/gitops"),
        ("gitlab", "https://gitlab.example.com/a/b/gitops.git", "https://gitlab.example.com/api/v4",
         "a/b/gitops"),
        ("gitea", "ssh://git@git.example.com:2222/team/gitops.git",
         "https://git.example.com/api/v1", "team/gitops"),
        ("gitea", "/srv/git/gitops.git", "", ""),
    ],
)  # fmt: skip
def test_the_api_root_and_repository_are_read_from_the_repo_url(
    kind: str, url: str, api: str, repository: str
) -> None:
    forge = ForgeSettings(kind=kind)  # type: ignore[arg-type]
    assert forge.resolved_api_url(url) == api
    assert forge.resolved_repository(url) == repository
    given = ForgeSettings(kind=kind, api_url="https://x.example/api/", repository="o/r")  # type: ignore[arg-type]
    assert given.resolved_api_url(url) == "https://x.example/api"
    assert given.resolved_repository(url) == "o/r"


def test_the_token_comes_from_our_variable_then_the_forges_own() -> None:
    env = {"GITOPS_WATCHER_GIT__FORGE__KIND": "gitlab", "GITLAB_TOKEN": "gl", "GITHUB_TOKEN": "gh"}
    assert load_settings(env=env)[1].forge_token == "gl"
    env["GITOPS_WATCHER_FORGE_TOKEN"] = "ours"
    _settings, credentials = load_settings(env=env)
    assert credentials.forge_token == "ours" and "ours" not in repr(credentials)
    assert load_settings(env={"GITEA_TOKEN": "x"})[1].forge_token == ""  # no forge: no token


def test_forge_settings_drop_a_token_in_the_url_and_refuse_unsafe_prefixes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # As every URL of the settings: user info is taken out at load, and this one logs
    # nothing in (the token comes from GITOPS_WATCHER_FORGE_TOKEN), so it is dropped.
    with caplog.at_level("WARNING", "watcher"):
        settings, credentials = load_settings(
            env={"GITOPS_WATCHER_GIT__FORGE__API_URL": "https://t0k@api.github.com"}
        )
    assert settings.git.forge.api_url == "https://api.github.com"
    assert "t0k" not in repr(credentials) and "git.forge.api_url" in caplog.text
    with pytest.raises(ConfigError, match="branch_prefix"):
        load_settings(env={"GITOPS_WATCHER_GIT__FORGE__BRANCH_PREFIX": "a/../b"})
    with pytest.raises(ConfigError, match="publish"):
        load_settings(env={"GITOPS_WATCHER_STAGES": '[{"name": "p", "select": [{"alias": "c"}],'
                                                    ' "publish": "sometimes"}]'})  # fmt: skip


def test_branch_names_are_safe_whatever_the_segments() -> None:
    assert pull_request_branch("gitops-watcher", "mlflow", "churn/production") == (
        "gitops-watcher/mlflow/churn/production"
    )
    assert pull_request_branch("p", "src", ".hidden/x.lock/a..b/-y") == "p/src/hidden/x/a-b/y"


def test_a_ledger_without_the_detail_column_gets_it_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    Ledger(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as db:  # as a ledger of the previous version was made
        db.execute("ALTER TABLE ledger DROP COLUMN detail")
        db.execute(
            "INSERT INTO ledger (recorded_at, reconcile_id, source, kind, name, stage, folder, "
            "revision, action, outcome, \"commit\", error, error_kind, artifact_uri, "
            "artifact_digest) VALUES ('2024-01-01 00:00:00', 'r', 'mlflow', 'model', 'm', "
            "'staging', 'm/staging', '1', 'deploy', 'applied', 'abc', '', '', '', '')"
        )
    ledger = Ledger(f"sqlite:///{path}")
    try:
        (entry,) = ledger.history()
        assert (entry.name, entry.commit, entry.detail) == ("m", "abc", "")
    finally:
        ledger.close()
