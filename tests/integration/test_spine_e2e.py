"""The spine end to end: several registries in one config, failures confined, a stable state
folder, and reports people can act on. Real MLflow servers, real bare git remotes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.test_reconcile_e2e import git_out, subjects
from tests.servers.mlflow_server import (
    MlflowServer,
    register_version,
    start_mlflow_server,
    stop_mlflow_server,
)
from watcher.commands.cli import main
from watcher.core.names import model_slug

pytestmark = pytest.mark.slow


def remote_paths(remote: Path) -> list[str]:
    return git_out(remote, "ls-tree", "-r", "--name-only", "main").splitlines()


def one_registry(server: MlflowServer, remote: Path, prefix: str) -> dict[str, Any]:
    """Settings for one test's models (by name prefix) on the session server."""
    return {
        "registry": {"tracking_uri": server.url, "models": {"include": [f"{prefix}*"]}},
        "git": {"repo_url": str(remote), "push_backoff_seconds": 0},
        "artifacts": {"sources": {"local_roots": [str(server.artifact_root)]}},
    }


def write_config(path: Path, data: dict[str, Any]) -> str:
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith(("MLFLOW_", "GIT_", "GITOPS_WATCHER_", "BUCKET_NAME")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    return monkeypatch


def test_two_registries_deploy_into_their_own_folders_and_an_outage_holds_back_only_one(
    mlflow_server: MlflowServer,
    bare_remote: Path,
    tmp_path: Path,
    unique_model_name: Any,
    clean_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    team_b = start_mlflow_server(tmp_path / "team-b-mlflow")
    port = int(team_b.url.rsplit(":", 1)[1])
    try:
        name, other = unique_model_name("fraud"), unique_model_name("churn")
        prefix = f"{unique_model_name.prefix}*"
        config = write_config(
            tmp_path / "watcher.yaml",
            {
                "state_dir": str(tmp_path / "state"),
                "git": {"repo_url": str(bare_remote), "push_backoff_seconds": 0},
                "sources": [
                    {
                        "name": "team-a",
                        "registry": {
                            "tracking_uri": mlflow_server.url,
                            "models": {"include": [prefix]},
                        },
                    },
                    {
                        "name": "team-b",
                        "registry": {"tracking_uri": team_b.url, "timeout_seconds": 2},
                    },
                ],
                "artifacts": {
                    "sources": {
                        "local_roots": [str(mlflow_server.artifact_root), str(team_b.artifact_root)]
                    }
                },
            },
        )
        a, b = mlflow_server.client(), team_b.client()
        for client in (a, b):
            register_version(client, name)
            client.set_registered_model_alias(name, "staging", "1")

        assert main(["--config", config, "reconcile", "--once"]) == 0
        slug = model_slug(name)
        paths = remote_paths(bare_remote)
        for team in ("team-a", "team-b"):
            assert f"deployments/{team}/{slug}/staging/deployment.yaml" in paths
            marker = json.loads(
                git_out(
                    bare_remote, "show", f"main:deployments/{team}/{slug}/staging/promotion.json"
                )
            )
            assert marker["source"] == team and marker["format"] == 2
        # The two teams' copies of the same model name never share a folder.
        store = tmp_path / "state" / "artifacts"
        assert (store / "team-a" / slug / "1").is_dir() and (store / "team-b" / slug / "1").is_dir()
        capsys.readouterr()

        # Team B's registry goes down; team A promotes and demotes meanwhile.
        stop_mlflow_server(team_b)
        register_version(a, other)
        a.set_registered_model_alias(other, "staging", "1")
        a.delete_registered_model_alias(name, "staging")
        before = len(subjects(bare_remote))
        assert main(["--config", config, "reconcile", "--once"]) == 1
        out = capsys.readouterr().out
        assert "FAILED source 'team-b'" in out and "its folders are kept" in out
        # The summary names it too: not "0 failed" alone beside exit code 1.
        assert out.splitlines()[-1].startswith(
            "pushed 2 commit(s); 0 deployment(s) unchanged, 0 failed; "
            "1 source(s) failed: 'team-b' (its folders are kept)"
        ), out
        new = subjects(bare_remote)[before:]
        assert sorted(new) == sorted(
            [f"deploy {other} v1 to staging", f"remove {name} v1 from staging"]
        )
        paths = remote_paths(bare_remote)
        assert f"deployments/team-b/{slug}/staging/deployment.yaml" in paths
        assert f"deployments/team-a/{slug}/staging/deployment.yaml" not in paths

        # It comes back, with a new version promoted: the next reconcile heals.
        team_b = start_mlflow_server(tmp_path / "team-b-mlflow", port=port)
        b = team_b.client()
        register_version(b, name)
        b.set_registered_model_alias(name, "staging", "2")
        assert main(["--config", config, "reconcile", "--once"]) == 0
        assert subjects(bare_remote)[-1] == f"update {name} in staging: v1 → v2"
    finally:
        stop_mlflow_server(team_b)


def test_a_10000_digit_tag_fails_only_its_version_with_a_short_message(
    mlflow_server: MlflowServer,
    bare_remote: Path,
    tmp_path: Path,
    unique_model_name: Any,
    clean_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = mlflow_server.client()
    huge, good = unique_model_name("huge"), unique_model_name("good")
    register_version(client, huge, tags={"deploy.replicas": "9" * 10_000})
    register_version(client, good)
    for model in (huge, good):
        client.set_registered_model_alias(model, "staging", "1")
    config = write_config(
        tmp_path / "watcher.yaml",
        one_registry(mlflow_server, bare_remote, unique_model_name.prefix),
    )
    assert main(["--config", config, "reconcile", "--once"]) == 1
    captured = capsys.readouterr()
    (line,) = [entry for entry in captured.out.splitlines() if entry.startswith("FAILED")]
    assert huge in line and "whole number" in line and len(line) < 400
    # Printed once: on standard output, not again as a log line on standard error.
    assert "whole number" not in captured.err
    assert subjects(bare_remote) == [f"deploy {good} v1 to staging"]
    # The ledger keeps the failure with its stage and version, cut short too.
    assert main(["--config", config, "history"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:2] == ["TIME", "(UTC)"]
    failed = next(row for row in table if "failed" in row)
    assert "staging" in failed and " 1 " in failed and len(failed) < 500


def test_the_same_reconcile_from_two_directories_changes_nothing_the_second_time(
    mlflow_server: MlflowServer, bare_remote: Path, tmp_path: Path, unique_model_name: Any
) -> None:
    client = mlflow_server.client()
    name = unique_model_name("cron")
    register_version(client, name)
    client.set_registered_model_alias(name, "champion", "1")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MLFLOW_", "GIT_", "GITOPS_WATCHER_", "XDG_"))
    }
    env.update(
        HOME=str(tmp_path / "home"),
        MLFLOW_TRACKING_URI=mlflow_server.url,
        GIT_REPO_URL=str(bare_remote),
        GITOPS_WATCHER_REGISTRY__MODELS__INCLUDE=f"{unique_model_name.prefix}*",
        GITOPS_WATCHER_ARTIFACTS__SOURCES__LOCAL_ROOTS=str(mlflow_server.artifact_root),
    )
    outputs = []
    for folder in ("first", "second"):
        cwd = tmp_path / folder
        cwd.mkdir()
        run = subprocess.run(
            [sys.executable, "-m", "watcher", "reconcile", "--once"],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stderr
        outputs.append(run.stdout)
        assert not any(cwd.iterdir()), "nothing is written to the working directory"
    assert "pushed 1 commit(s)" in outputs[0]
    assert outputs[1].startswith("no changes; 1 deployment(s) unchanged")
    assert subjects(bare_remote) == [f"deploy {name} v1 to production"]
    assert (tmp_path / "home" / ".local" / "state" / "gitops-watcher" / "state.db").is_file()


def test_dry_run_shows_each_folder_diff_and_the_copies_it_would_make(
    mlflow_server: MlflowServer,
    bare_remote: Path,
    tmp_path: Path,
    unique_model_name: Any,
    clean_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = mlflow_server.client()
    name = unique_model_name("dry")
    register_version(client, name)
    client.set_registered_model_alias(name, "champion", "1")
    config = write_config(
        tmp_path / "watcher.yaml",
        one_registry(mlflow_server, bare_remote, unique_model_name.prefix),
    )
    assert main(["--config", config, "reconcile", "--once", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"would commit: deploy {name} v1 to production" in out
    assert "+++ b/" in out and "deployment.yaml" in out
    assert f"would copy: model '{name}' v1 to file://" in out
    assert subjects(bare_remote) == []

    assert main(["--config", config, "reconcile", "--once"]) == 0
    client.set_model_version_tag(name, "1", "deploy.replicas", " 3")
    capsys.readouterr()
    assert main(["--config", config, "reconcile", "--once", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"would commit: update {name} v1 in production: replicas 2 → 3" in out
    assert "-  replicas: 2" in out and "+  replicas: 3" in out
    assert "would copy" not in out
    # The same value without the blank is no change for the pods, and makes no commit.
    assert main(["--config", config, "reconcile", "--once"]) == 0
    client.set_model_version_tag(name, "1", "deploy.replicas", "3")
    capsys.readouterr()
    assert main(["--config", config, "reconcile", "--once"]) == 0
    assert capsys.readouterr().out.startswith("no changes")
    # Zero replicas in production is refused: the stage keeps at least one.
    client.set_model_version_tag(name, "1", "deploy.replicas", "0")
    assert main(["--config", config, "reconcile", "--once"]) == 1
    assert "needs at least 1" in capsys.readouterr().out


def test_a_commit_whose_push_failed_is_made_again_once_the_remote_accepts(
    mlflow_server: MlflowServer, bare_remote: Path, tmp_path: Path, unique_model_name: Any
) -> None:
    """The daemon's case: one reconciler, a push refused after the local commit, then healed."""
    from watcher.config.settings import Credentials, Settings
    from watcher.errors import WatcherError
    from watcher.wiring import build_reconciler

    client = mlflow_server.client()
    first, second = unique_model_name("first"), unique_model_name("second")
    settings = Settings.model_validate(
        {
            **one_registry(mlflow_server, bare_remote, unique_model_name.prefix),
            "state_dir": str(tmp_path / "state"),
        }
    )
    hook = bare_remote / "hooks" / "pre-receive"
    with build_reconciler(settings, Credentials()) as reconciler:
        register_version(client, first)
        client.set_registered_model_alias(first, "staging", "1")
        assert reconciler.reconcile().pushed
        hook.write_text("#!/bin/sh\necho 'closed for maintenance' >&2\nexit 1\n")
        hook.chmod(0o755)
        register_version(client, second)
        client.set_registered_model_alias(second, "staging", "1")
        with pytest.raises(WatcherError):
            reconciler.reconcile()
        assert subjects(bare_remote) == [f"deploy {first} v1 to staging"]
        hook.unlink()
        healed = reconciler.reconcile()
    assert healed.pushed, healed.to_dict()
    assert subjects(bare_remote) == [
        f"deploy {first} v1 to staging",
        f"deploy {second} v1 to staging",
    ]
