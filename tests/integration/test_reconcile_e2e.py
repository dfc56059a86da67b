"""End to end: a real MLflow server driven by MlflowClient, real bare git remotes.

Each test manages only models whose names carry its own prefix (registry
include filter), so tests can share one MLflow server.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.servers.mlflow_server import MlflowServer, register_version
from watcher.adapters.git_repo import GitOpsRepo
from watcher.adapters.ledger import Ledger
from watcher.config.settings import Credentials, Settings
from watcher.core.names import model_slug
from watcher.spine.publisher import DirectPushPublisher
from watcher.spine.reconciler import Reconciler
from watcher.wiring import build_reconciler, build_targets

pytestmark = [
    pytest.mark.slow,
    # Registry stages are deprecated in MLflow but still used; we test them on purpose.
    pytest.mark.filterwarnings("ignore:.*transition_model_version_stage:FutureWarning"),
]


def make_settings(
    server: MlflowServer, remote: Path, state: Path, prefix: str, **extra: Any
) -> Settings:
    data: dict[str, Any] = {
        "state_dir": str(state),
        "registry": {"tracking_uri": server.url, "models": {"include": [f"{prefix}*"]}},
        "git": {"repo_url": str(remote), "push_backoff_seconds": 0},
        # The server keeps artifacts in a local folder (the seed's /mlflow/mlruns volume).
        "artifacts": {"sources": {"local_roots": [str(server.artifact_root)]}},
    }
    for key, value in extra.items():
        data.setdefault(key, {}).update(value) if isinstance(value, dict) else data.update(
            {key: value}
        )
    return Settings.model_validate(data)


def git_out(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout


def subjects(remote: Path) -> list[str]:
    """Commit subjects on main, oldest first ([] while the branch does not exist); in
    topological order, as commits made in the same second would otherwise tie."""
    if not git_out(remote, "branch", "--list", "main").strip():
        return []
    return git_out(remote, "log", "--reverse", "--topo-order", "--format=%s", "main").splitlines()


def remote_files(remote: Path) -> dict[str, str]:
    names = git_out(remote, "ls-tree", "-r", "--name-only", "main").splitlines()
    return {name: git_out(remote, "show", f"main:{name}") for name in names}


def test_promote_repromote_move_and_demote_make_exactly_the_expected_commits(
    mlflow_server: MlflowServer, bare_remote: Path, tmp_path: Path, unique_model_name: Any
) -> None:
    client = mlflow_server.client()
    name = unique_model_name("fraud")
    settings = make_settings(
        mlflow_server, bare_remote, tmp_path / "state", unique_model_name.prefix
    )
    reconciler = build_reconciler(settings, Credentials())
    register_version(client, name)
    register_version(client, name)

    assert reconciler.reconcile().applied == []
    assert subjects(bare_remote) == []

    client.set_registered_model_alias(name, "staging", "1")
    first = reconciler.reconcile()
    assert first.pushed and first.counts()["applied"] == 1
    assert reconciler.reconcile().counts() == {
        "planned": 0,
        "applied": 0,
        "removed": 0,
        "unchanged": 1,
        "failed": 0,
        "held": 0,
        "gated": 0,
        "waiting": 0,
        "kept": 0,
        "blocked": 0,
        "pull_requests_open": 0,
        "sources_failed": 0,
        "artifact_files_sent": 0,
        "artifact_bytes_sent": 0,
    }

    client.transition_model_version_stage(name, "1", "Production")
    reconciler.reconcile()
    client.set_registered_model_alias(name, "staging", "1")  # re-promote the same version
    assert reconciler.reconcile().applied == []
    client.set_registered_model_alias(name, "staging", "2")
    reconciler.reconcile()
    client.transition_model_version_stage(name, "1", "Archived")
    reconciler.reconcile()

    assert subjects(bare_remote) == [
        f"deploy {name} v1 to staging",
        f"deploy {name} v1 to production",
        f"update {name} in staging: v1 → v2",
        f"remove {name} v1 from production",
    ]
    files = remote_files(bare_remote)
    assert sorted(files) == [
        f"deployments/{model_slug(name)}/staging/{f}"
        for f in ("deployment.yaml", "kustomization.yaml", "promotion.json", "service.yaml")
    ]
    provenance = json.loads(files[f"deployments/{model_slug(name)}/staging/promotion.json"])
    version = client.get_model_version(name, "2")
    assert provenance["details"]["model"]["version"] == "2"
    assert provenance["details"]["model"]["run_id"] == version.run_id
    assert provenance["details"]["model"]["source"] == version.source
    body = git_out(bare_remote, "log", "-1", "--format=%B", "main~1")
    assert f"Model-Name: {name}" in body and f"Run-Id: {version.run_id}" in body

    with Ledger(settings.state_database_url) as store:
        ledger = store.history()
    assert [(e.action, e.revision, e.outcome) for e in reversed(ledger)] == [
        ("deploy", "1", "applied"),
        ("deploy", "1", "applied"),
        ("update", "2", "applied"),
        ("remove", "1", "applied"),
    ]
    # The copy that v2's manifests reference is what the ledger and the commit record.
    newest_update = next(e for e in ledger if e.action == "update")
    assert newest_update.artifact_digest == provenance["details"]["artifact"]["digest"]
    assert newest_update.artifact_uri == provenance["details"]["artifact"]["uri"]
    assert all(not e.artifact_digest for e in ledger if e.action == "remove")
    update_body = git_out(bare_remote, "log", "-1", "--format=%B", "main~1")
    assert f"Artifact-Digest: {provenance['details']['artifact']['digest']}" in update_body


class RacingTarget:
    """Wraps the real repo: before our first push, another writer pushes to the remote."""

    def __init__(self, repo: GitOpsRepo, remote: Path, scratch: Path) -> None:
        self.repo, self.remote, self.scratch = repo, remote, scratch
        self.raced = False

    def sync(self) -> str | None:
        return self.repo.sync()

    def read_tree(self, prefix: str) -> dict[str, bytes]:
        return self.repo.read_tree(prefix)

    def apply_folder(self, folder: str, files: Mapping[str, bytes], message: str) -> str | None:
        return self.repo.apply_folder(folder, files, message)

    def push(self) -> None:
        if not self.raced:
            self.raced = True
            other = self.scratch / "other-writer"
            subprocess.run(["git", "clone", "-q", str(self.remote), str(other)], check=True)
            (other / "README.md").write_text("written by someone else\n")
            subprocess.run(["git", "-C", str(other), "add", "README.md"], check=True)
            subprocess.run(
                [
                    "git",
                    "-C",
                    str(other),
                    "-c",
                    "user.name=o",
                    "-c",
                    "user.email=o@x",
                    "commit",
                    "-qm",
                    "unrelated change",
                ],
                check=True,
            )
            subprocess.run(
                ["git", "-C", str(other), "push", "-q", "origin", "HEAD:main"], check=True
            )
        self.repo.push()

    def close(self) -> None:
        self.repo.close()


def test_a_rejected_push_is_replanned_on_the_new_head_never_forced(
    mlflow_server: MlflowServer, bare_remote: Path, tmp_path: Path, unique_model_name: Any
) -> None:
    client = mlflow_server.client()
    name = unique_model_name("race")
    register_version(client, name)
    client.set_registered_model_alias(name, "staging", "1")
    settings = make_settings(
        mlflow_server, bare_remote, tmp_path / "state", unique_model_name.prefix
    )
    seed = build_reconciler(settings, Credentials())
    seed.reconcile()  # the branch exists now
    client.set_registered_model_alias(name, "champion", "1")
    base = build_reconciler(settings, Credentials())
    racing = RacingTarget(
        GitOpsRepo(settings.git, settings.checkout_path, Credentials()), bare_remote, tmp_path
    )
    reconciler = Reconciler(
        base.sources,
        build_targets(settings),
        DirectPushPublisher(racing, settings.git.path, attempts=3, backoff_seconds=0),
    )

    result = reconciler.reconcile()

    assert result.pushed and result.push_attempts == 2
    assert subjects(bare_remote) == [
        f"deploy {name} v1 to staging",
        "unrelated change",
        f"deploy {name} v1 to production",
    ]


def test_a_reconcile_with_nothing_to_push_counts_no_push_attempt(
    mlflow_server: MlflowServer, bare_remote: Path, tmp_path: Path, unique_model_name: Any
) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from watcher.daemon.metrics import DaemonMetrics

    client = mlflow_server.client()
    name = unique_model_name("quiet")
    register_version(client, name)
    client.set_registered_model_alias(name, "staging", "1")
    settings = make_settings(
        mlflow_server, bare_remote, tmp_path / "state", unique_model_name.prefix
    )
    metrics = DaemonMetrics()
    with build_reconciler(settings, Credentials()) as reconciler:
        first = reconciler.reconcile()
        second = reconciler.reconcile()
        metrics.observe(first.to_dict())
        metrics.observe(second.to_dict())
    assert first.pushed and first.push_attempts == 1
    assert not second.pushed and second.push_attempts == 0
    pushes = [
        sample.value
        for family in text_string_to_metric_families(metrics.render().decode())
        for sample in family.samples
        if sample.name == "gitops_watcher_push_attempts_total"
    ]
    assert pushes == [1.0]


def test_cli_reconcile_once_twice_commits_then_reports_no_changes(
    mlflow_server: MlflowServer,
    bare_remote: Path,
    tmp_path: Path,
    unique_model_name: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from watcher.commands.cli import main

    client = mlflow_server.client()
    name = unique_model_name("cli")
    register_version(client, name)
    client.set_registered_model_alias(name, "champion", "1")
    config = tmp_path / "watcher.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "registry": {"models": {"include": [f"{unique_model_name.prefix}*"]}},
                "artifacts": {"sources": {"local_roots": [str(mlflow_server.artifact_root)]}},
            }
        )
    )
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)
    monkeypatch.setenv("GIT_REPO_URL", str(bare_remote))
    monkeypatch.setenv("GITOPS_WATCHER_STATE_DIR", str(tmp_path / "state"))

    assert main(["--config", str(config), "reconcile", "--once", "--dry-run"]) == 0
    assert f"would commit: deploy {name} v1 to production" in capsys.readouterr().out
    assert subjects(bare_remote) == []

    assert main(["--config", str(config), "reconcile", "--once"]) == 0
    assert f"deploy {name} v1 to production" in capsys.readouterr().out
    assert main(["--config", str(config), "reconcile", "--once"]) == 0
    assert "no changes; 1 deployment(s) unchanged" in capsys.readouterr().out
    assert subjects(bare_remote) == [f"deploy {name} v1 to production"]

    # The registry goes away: exit 3, and nothing deployed is removed.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    assert main(["--config", str(config), "reconcile", "--once"]) == 3
    assert "error:" in capsys.readouterr().err
    assert subjects(bare_remote) == [f"deploy {name} v1 to production"]


def test_bad_input_fails_only_its_deployment_and_deletes_nothing(
    mlflow_server: MlflowServer, bare_remote: Path, tmp_path: Path, unique_model_name: Any
) -> None:
    client = mlflow_server.client()
    good, tuned = unique_model_name("good"), unique_model_name("tuned")
    # MLflow itself refuses '/' and ':' in names; everything else hostile is allowed.
    hostile = unique_model_name('Evil "name" ..\\x {{ 7*7 }}\n---\nkind Secret')
    for model in (good, tuned, hostile):
        register_version(client, model)
        client.set_registered_model_alias(model, "staging", "1")
    settings = make_settings(
        mlflow_server, bare_remote, tmp_path / "state", unique_model_name.prefix
    )
    reconciler = build_reconciler(settings, Credentials())
    assert reconciler.reconcile().ok
    deployed = remote_files(bare_remote)
    hostile_folder = f"deployments/{model_slug(hostile)}/staging/deployment.yaml"
    annotations = yaml.safe_load(deployed[hostile_folder])["metadata"]["annotations"]
    assert annotations["gitops-watcher.io/model-name"] == hostile

    # A reviewer mistypes a tag on a new version and moves the alias to it.
    register_version(client, tuned, tags={"deploy.replicas": "lots"})
    client.set_registered_model_alias(tuned, "staging", "2")
    register_version(client, good)
    client.set_registered_model_alias(good, "staging", "2")
    result = reconciler.reconcile()

    assert not result.ok
    (failure,) = result.failures
    assert (failure.id.name, failure.id.stage) == (tuned, "staging")
    assert "whole number" in str(failure.error)
    assert subjects(bare_remote)[-1] == f"update {good} in staging: v1 → v2"
    still = remote_files(bare_remote)
    assert (
        json.loads(still[f"deployments/{model_slug(tuned)}/staging/promotion.json"])["revision"]
        == "1"
    )


def test_database_adapter_drives_the_same_reconcile(
    mlflow_server: MlflowServer, bare_remote: Path, tmp_path: Path, unique_model_name: Any
) -> None:
    client = mlflow_server.client()
    name = unique_model_name("db")
    register_version(client, name)
    client.transition_model_version_stage(name, "1", "Staging")
    settings = make_settings(
        mlflow_server,
        bare_remote,
        tmp_path / "state",
        unique_model_name.prefix,
        registry={"tracking_uri": mlflow_server.db_uri, "ui_url": mlflow_server.url},
    )
    assert settings.registry.resolved_kind == "database"
    result = build_reconciler(settings, Credentials()).reconcile()
    assert result.ok and subjects(bare_remote) == [f"deploy {name} v1 to staging"]


def test_reconcile_pushes_over_ssh_with_strict_host_keys(
    mlflow_server: MlflowServer,
    ssh_git_server: Any,
    bare_remote: Path,
    tmp_path: Path,
    unique_model_name: Any,
) -> None:
    client = mlflow_server.client()
    name = unique_model_name("ssh")
    register_version(client, name)
    client.set_registered_model_alias(name, "champion", "1")
    settings = make_settings(
        mlflow_server,
        bare_remote,
        tmp_path / "state",
        unique_model_name.prefix,
        git={
            "repo_url": ssh_git_server.url_for(bare_remote),
            "ssh_key_file": str(ssh_git_server.key_file),
            "known_hosts_file": str(ssh_git_server.known_hosts_file),
        },
    )
    result = build_reconciler(settings, Credentials()).reconcile()
    assert result.pushed and subjects(bare_remote) == [f"deploy {name} v1 to production"]


def test_a_hand_made_folder_in_the_way_is_reported_and_left_alone(
    mlflow_server: MlflowServer,
    bare_remote: Path,
    tmp_path: Path,
    unique_model_name: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from watcher.commands.report import print_result

    client = mlflow_server.client()
    name = unique_model_name("handmade")
    register_version(client, name)
    client.set_registered_model_alias(name, "staging", "1")
    work = tmp_path / "human"
    subprocess.run(["git", "clone", "-q", str(bare_remote), str(work)], check=True)
    folder = work / "deployments" / model_slug(name) / "staging"
    folder.mkdir(parents=True)
    (folder / "deployment.yaml").write_text("# written by a person\n")
    subprocess.run(["git", "-C", str(work), "add", "-A"], check=True)
    subprocess.run(
        [
            "git",
            "-C",
            str(work),
            "-c",
            "user.name=p",
            "-c",
            "user.email=p@x",
            "commit",
            "-qm",
            "by hand",
        ],
        check=True,
    )
    subprocess.run(["git", "-C", str(work), "push", "-q", "origin", "HEAD:main"], check=True)

    settings = make_settings(
        mlflow_server, bare_remote, tmp_path / "state", unique_model_name.prefix
    )
    result = build_reconciler(settings, Credentials()).reconcile()

    assert not result.ok and result.applied == []
    ((_folder, problem),) = result.problems
    assert "no gitops-watcher promotion.json marker" in str(problem)
    print_result(result)
    assert "FAILED folder" in capsys.readouterr().out
    assert subjects(bare_remote) == ["by hand"]
