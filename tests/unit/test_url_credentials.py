"""User info in URLs is taken out of the settings where they are loaded, and kept apart.

The loader removes ``user:password@`` from every URL of the settings tree (so
nothing downstream can write it anywhere) and keeps it in ``Credentials.urls``
under the URL's key; each adapter that logs in finds its own there, and only
its own. The end-to-end proof (every command and the daemon, everything they
write scanned) is tests/reliability/test_secrets.py.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import yaml

from watcher.adapters.git_transport import http_credentials, network_env, secrets_of
from watcher.commands.cli import main
from watcher.config.loader import load_settings, setting_keys
from watcher.config.settings import Credentials, GitSettings, UrlLogin
from watcher.core.urls import split_user_info
from watcher.errors import ConfigError
from watcher.sources.mlflow.settings_view import mlflow_endpoints


@pytest.mark.parametrize(
    ("url", "shown", "user", "password"),
    [
        ("http://alice:S3cr3t@host:5000", "http://host:5000", "alice", "S3cr3t"),
        ("https://TOKEN123@host/x?y=1#z", "https://host/x?y=1#z", "TOKEN123", ""),
        ("postgresql+psycopg://u:p%40ss%2F@db:5432/st", "postgresql+psycopg://db:5432/st", "u",
         "p@ss/"),
        ("http://u:p@ss@host/path@x", "http://host/path@x", "u", "p@ss"),
        ("http://u:p@[::1]:5000/", "http://[::1]:5000/", "u", "p"),
        ("ssh://git:pw@host/repo.git", "ssh://git@host/repo.git", "git", "pw"),
        ("HTTP://u:p@Host", "HTTP://Host", "u", "p"),
    ],
)  # fmt: skip
def test_user_info_is_split_off_and_nothing_else_changes(
    url: str, shown: str, user: str, password: str
) -> None:
    split = split_user_info(url)
    assert split is not None
    assert (split.url, split.username, split.password) == (shown, user, password)


@pytest.mark.parametrize(
    "url",
    ["http://host:5000", "ssh://git@host/r.git", "git@github.com:org/r.git", "/srv/repo.git",
     "sqlite:////tmp/x.db", "registry.example.com/img@sha256:abc", "http://host/a@b"],
)  # fmt: skip
def test_urls_without_a_credential_are_left_alone(url: str) -> None:
    assert split_user_info(url) is None


def _url_keys() -> list[tuple[str, ...]]:
    """Every string key of the settings that holds a URL (or a server address)."""
    return [
        key
        for key, annotation in setting_keys()
        if annotation is str and key[-1].endswith(("_url", "_uri", "_server"))
    ]


def test_no_url_key_keeps_its_password_after_loading(caplog: pytest.LogCaptureFixture) -> None:
    """Every URL key, set from its generated variable (and the lists' URLs in JSON)."""
    keys = _url_keys()
    assert len(keys) >= 9, keys  # registry x3, git, s3, sources, state, argocd x3
    env = {}
    for key in keys:
        scheme = "postgresql" if "database" in key[-1] else "https"
        env["GITOPS_WATCHER_" + "__".join(p.upper() for p in key)] = (
            f"{scheme}://user-{key[-1]}:pw-{'-'.join(key)}@host.example/x"
        )
    team = {"tracking_uri": "http://team:pw-team-track@m2", "ui_url": "https://v:pw-team-ui@ui",
            "database_uri": "postgresql://r:pw-team-db@db/mlflow"}  # fmt: skip
    env["GITOPS_WATCHER_SOURCES"] = json.dumps([
        {"name": "team-a", "registry": team,
         "artifacts": {"s3": {"endpoint_url": "http://k:pw-team-s3@s3"},
                       "sources": {"s3_endpoint_url": "http://k:pw-team-s3src@s3"}}},
    ])  # fmt: skip
    env["GITOPS_WATCHER_FUNCTIONS"] = json.dumps(
        [{"name": "specs", "git": {"repo_url": "https://f:pw-fn@git.example/specs.git"}}]
    )
    with caplog.at_level(logging.WARNING, "watcher"):
        settings, credentials = load_settings(None, env)
    dumped = settings.model_dump_json()
    assert "pw-" not in dumped and "user-" not in dumped, dumped
    assert "pw-" not in repr(credentials) and "pw-" not in repr(credentials.urls)
    assert set(credentials.urls) == {
        "registry.tracking_uri", "registry.database_uri", "git.repo_url", "state.database_url",
        "sources.team-a.registry.tracking_uri", "sources.team-a.registry.database_uri",
        "functions.specs.git.repo_url",
    }  # fmt: skip
    assert credentials.urls["sources.team-a.registry.database_uri"] == UrlLogin(
        username="r", password="pw-team-db"
    )
    # User info nothing logs in with is dropped, and the operator is told which.
    warned = " ".join(r.getMessage() for r in caplog.records)
    for unused in ("registry.ui_url", "artifacts.s3.endpoint_url", "argocd.repo_web_url",
                   "sources.team-a.artifacts.sources.s3_endpoint_url"):  # fmt: skip
        assert unused in warned, warned
    assert "pw-" not in warned


def test_each_registry_logs_in_with_its_own_url_credential_and_variables_win() -> None:
    env = {
        "MLFLOW_TRACKING_URI": "http://alice:top-pw@m1",
        "GITOPS_WATCHER_SOURCES": json.dumps([
            {"name": "team-a", "registry": {"tracking_uri": "http://bob:team-pw@m2"}},
            {"name": "team-b", "registry": {"tracking_uri": "http://m3"}},
            {"name": "team-c", "registry": {"tracking_uri": "http://carol:url-pw@m4"},
             "credentials": {"token_env": "TEAM_C_TOKEN"}},
        ]),
    }  # fmt: skip
    settings, credentials = load_settings(None, env)
    top, team_a, team_b, team_c = mlflow_endpoints(settings, credentials, {"TEAM_C_TOKEN": "t"})
    assert (top.credentials.mlflow_username, top.credentials.mlflow_password) == ("alice", "top-pw")
    assert (team_a.credentials.mlflow_username, team_a.credentials.mlflow_password) == (
        "bob", "team-pw")  # fmt: skip
    # No source receives another's secret: neither the top level's nor a sibling's.
    assert not team_b.credentials.mlflow_username and not team_b.credentials.mlflow_password
    assert set(team_b.credentials.urls) == set()
    assert set(team_a.credentials.urls) == {"registry.tracking_uri"}
    # A token from the source's own variable wins over the user info of its URL.
    assert team_c.credentials.mlflow_token == "t" and not team_c.credentials.mlflow_username
    # The top-level variables win over the top-level URL too.
    env["MLFLOW_TRACKING_TOKEN"] = "top-token"
    settings, credentials = load_settings(None, env)
    top = mlflow_endpoints(settings, credentials, {})[0]
    assert top.credentials.mlflow_token == "top-token" and not top.credentials.mlflow_username


def test_git_logs_in_with_the_user_info_taken_out_of_its_url() -> None:
    settings, credentials = load_settings(
        None, {"GIT_REPO_URL": "https://deploy-bot:p%40ss-w0rd@git.example/org/gitops.git"}
    )
    assert settings.git.repo_url == "https://git.example/org/gitops.git"
    top = credentials.scoped("")
    assert http_credentials(settings.git.repo_url, top) == ("deploy-bot", "p@ss-w0rd")
    header = network_env(settings.git, top, base={})["GIT_CONFIG_VALUE_0"]
    assert header.startswith("Authorization: Basic ")
    assert {"p@ss-w0rd", "p%40ss-w0rd"} <= set(secrets_of(settings.git, top))
    # GIT_TOKEN wins, as it does over a URL's own user info.
    with_token = top.model_copy(update={"git_token": "ghs_x"})
    assert http_credentials(settings.git.repo_url, with_token) == ("deploy-bot", "ghs_x")
    # A function source's repository: its own user info, not the GitOps remote's.
    plain = GitSettings(repo_url="https://git.example/specs.git")
    assert http_credentials(plain.repo_url, Credentials()) is None


def test_a_bad_uri_is_reported_without_its_password() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, {"MLFLOW_TRACKING_URI": "htp://alice:Sup3rS3cr3t@mlflow"})
    assert "no known scheme" in str(caught.value)
    assert "Sup3rS3cr3t" not in str(caught.value), caught.value


def test_config_shows_urls_without_user_info_and_names_the_credential(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("MLFLOW_TRACKING_TOKEN", "GIT_TOKEN", "GITOPS_WATCHER_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://alice:Sup3rS3cr3t@mlflow:5000")
    monkeypatch.setenv("GITOPS_WATCHER_STATE_DIR", str(tmp_path))
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    data = yaml.safe_load(out)
    assert "Sup3rS3cr3t" not in out and "alice" not in out
    assert data["registry"]["tracking_uri"] == "http://mlflow:5000"
    assert data["credentials_in_urls"] == ["registry.tracking_uri"]
