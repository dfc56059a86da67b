"""Stages that publish pull requests, end to end: a real MLflow server, a real git remote
(bare, and over smart HTTP with Basic auth), and the forge's REST API as the one test
double (tests/servers/forge_api.py: the endpoints, fields and status codes the forges
document, checking the token). Merges are real git merges, squashes and rebases."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.test_reconcile_e2e import git_out, subjects
from tests.integration.test_spine_e2e import clean_env  # noqa: F401 (a fixture)
from tests.servers.forge_api import ForgeDouble
from tests.servers.git_http import GitHttpServer
from tests.servers.git_http_fixtures import PASSWORD, USERNAME
from tests.servers.mlflow_fixtures import ModelNames
from tests.servers.mlflow_server import MlflowServer, register_version
from watcher.commands.cli import main
from watcher.core.names import model_slug

pytestmark = pytest.mark.slow

TOKEN = "forge-" + "T0kenT0ken" * 3


@pytest.fixture
def forge_for(bare_remote: Path) -> Iterator[Any]:
    started: list[ForgeDouble] = []

    def start(kind: str, remote: Path = bare_remote, token: str = TOKEN) -> ForgeDouble:
        forge = ForgeDouble(kind, token, "team/gitops", remote).start()
        started.append(forge)
        return forge

    yield start
    for forge in started:
        forge.stop()


def config(
    tmp_path: Path,
    server: MlflowServer,
    repo_url: str,
    prefix: str,
    forge: ForgeDouble,
    **production: Any,
) -> str:
    data = {
        "state_dir": str(tmp_path / "state"),
        "registry": {"tracking_uri": server.url, "models": {"include": [f"{prefix}*"]}},
        "stages": [
            {"name": "staging", "select": [{"alias": "staging"}]},
            {"name": "production", "select": [{"alias": "champion"}], "replicas": 2,
             "publish": "pull-request", **production},
        ],
        "git": {
            "repo_url": repo_url,
            "push_backoff_seconds": 0,
            "forge": {"kind": forge.kind, "api_url": forge.api_url,
                      "repository": forge.repository},
        },
        "artifacts": {"sources": {"local_roots": [str(server.artifact_root)]}},
    }  # fmt: skip
    path = tmp_path / "watcher.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def reconcile(config_path: str, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = main(["--config", config_path, "reconcile", "--once", *extra])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def branches(remote: Path) -> list[str]:
    out = git_out(remote, "for-each-ref", "--format=%(refname:short)", "refs/heads/")
    return sorted(out.split())


def marker(remote: Path, ref: str, folder: str) -> dict[str, Any]:
    return dict(json.loads(git_out(remote, "show", f"{ref}:deployments/{folder}/promotion.json")))


def history(config_path: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["--config", config_path, "history"]) == 0
    return capsys.readouterr().out


def test_github_first_pr_update_merge_close_and_human_close_with_staging_direct(
    mlflow_server: MlflowServer,
    bare_remote: Path,
    forge_for: Any,
    tmp_path: Path,
    unique_model_name: ModelNames,
    clean_env: pytest.MonkeyPatch,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    forge: ForgeDouble = forge_for("github")
    clean_env.setenv("GITOPS_WATCHER_FORGE_TOKEN", TOKEN)
    client = mlflow_server.client()
    name = unique_model_name("churn")
    slug = model_slug(name)
    branch = f"gitops-watcher/mlflow/{slug}/production"
    versions = [register_version(client, name) for _ in range(4)]
    client.log_metric(versions[1].run_id, "accuracy", 0.9)
    client.log_metric(versions[2].run_id, "accuracy", 0.92)
    client.set_registered_model_alias(name, "staging", "1")
    client.set_registered_model_alias(name, "champion", "1")
    path = config(tmp_path, mlflow_server, str(bare_remote), unique_model_name.prefix, forge)

    # The dry run says which change would become a pull request, and does nothing.
    code, out = reconcile(path, capsys, "--dry-run")
    assert code == 0 and f"would open a pull request: deploy {name} v1 to production" in out
    assert f"would commit: deploy {name} v1 to staging" in out and not forge.requests

    # Staging is committed on main; production becomes a branch and one pull request.
    code, out = reconcile(path, capsys)
    assert code == 0, out
    assert subjects(bare_remote) == [f"deploy {name} v1 to staging"]
    assert branches(bare_remote) == sorted(["main", branch])
    (pr,) = forge.pulls.values()
    assert (pr.number, pr.head, pr.base, pr.state) == (1, branch, "main", "open")
    assert pr.title == f"deploy {name} v1 to production"
    assert pr.labels == ["gitops-watcher", "stage:production"]
    assert "```diff" in pr.body and f"b/{slug}/production/deployment.yaml" in pr.body
    assert "Gitops-Watcher-Action: deploy" in pr.body and "Artifact-Digest:" in pr.body
    assert marker(bare_remote, branch, f"{slug}/production")["revision"] == "1"
    assert f"opened pull request #1 deploy {name} v1 to production" in out
    assert "1 pull request(s) open" in out
    assert TOKEN not in out

    # Nothing new: no push, no second pull request.
    tip = git_out(bare_remote, "rev-parse", branch).strip()
    code, out = reconcile(path, capsys)
    assert code == 0 and "pull request #1 waits for review" in out
    assert git_out(bare_remote, "rev-parse", branch).strip() == tip and len(forge.pulls) == 1

    # The registry moves before the merge: the same branch and pull request follow it.
    client.set_registered_model_alias(name, "champion", "2")
    code, out = reconcile(path, capsys)
    assert code == 0 and "updated pull request #1" in out
    assert len(forge.pulls) == 1 and pr.title == f"deploy {name} v2 to production"
    assert marker(bare_remote, branch, f"{slug}/production")["revision"] == "2"
    assert subjects(bare_remote) == [f"deploy {name} v1 to staging"]  # main never forced

    # A reviewer merges (a real merge commit): the next reconcile records the deployment.
    forge.merge_as_reviewer(1, "merge")
    code, out = reconcile(path, capsys)
    assert code == 0 and f"merged pull request #1: model {name!r} in production v2 deployed" in out
    assert "lead time" in out
    assert marker(bare_remote, "main", f"{slug}/production")["revision"] == "2"
    assert branch not in branches(bare_remote)
    assert "merge" in history(path, capsys).split("\n")[1]
    code, out = reconcile(path, capsys)
    assert code == 0 and "pull request" not in out and len(forge.pulls) == 1

    # v3: a new pull request, which a person closes without merging: held for v3.
    client.set_registered_model_alias(name, "champion", "3")
    assert reconcile(path, capsys)[0] == 0
    assert forge.pulls[2].title == f"update {name} in production: v2 → v3"
    # The reviewer sees the metric deltas against what runs, once (not again in the message).
    delta = "### Model changes\n\nMetrics, v2 → v3:\n- accuracy: 0.9 → 0.92 (+0.02)\n"
    assert delta in forge.pulls[2].body and forge.pulls[2].body.count("0.9 → 0.92") == 1
    forge.close_as_reviewer(2)
    for _ in range(2):
        code, out = reconcile(path, capsys)
        assert code == 0 and f"HELD model {name!r} in production v3: pull request #2 was " \
            "closed without merging" in out  # fmt: skip
    assert len(forge.pulls) == 2 and not forge.open_pulls()
    assert "held" in history(path, capsys)

    # v4 is a new decision: a new pull request; then the selection returns to v2, which
    # the stage runs: that pull request is closed with a comment and its branch deleted.
    client.set_registered_model_alias(name, "champion", "4")
    assert reconcile(path, capsys)[0] == 0 and forge.pulls[3].state == "open"
    client.set_registered_model_alias(name, "champion", "2")
    code, out = reconcile(path, capsys)
    assert code == 0 and "closed pull request #3" in out
    assert forge.pulls[3].state == "closed" and not forge.pulls[3].merged
    assert "v4 is no longer proposed" in forge.pulls[3].comments[0]
    assert branch not in branches(bare_remote)
    assert subjects(bare_remote)[0] == f"deploy {name} v1 to staging"
    assert all(method != "PUT" for method, _ in forge.requests)  # never merged by us


@pytest.mark.parametrize(("kind", "method"), [("gitlab", "squash"), ("gitea", "rebase")])
def test_a_squash_or_rebase_merge_over_smart_http_is_recognised_by_content(
    kind: str,
    method: str,
    mlflow_server: MlflowServer,
    git_http_server: GitHttpServer,
    forge_for: Any,
    tmp_path: Path,
    unique_model_name: ModelNames,
    clean_env: pytest.MonkeyPatch,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    remote = git_http_server.create_repo()
    forge: ForgeDouble = forge_for(kind, remote)
    clean_env.setenv("GITLAB_TOKEN" if kind == "gitlab" else "GITEA_TOKEN", TOKEN)
    clean_env.setenv("GIT_USERNAME", USERNAME)
    clean_env.setenv("GIT_TOKEN", PASSWORD)
    client = mlflow_server.client()
    name = unique_model_name(kind)
    register_version(client, name)
    client.set_registered_model_alias(name, "staging", "1")
    client.set_registered_model_alias(name, "champion", "1")
    path = config(tmp_path, mlflow_server, git_http_server.url_for(), unique_model_name.prefix,
                  forge)  # fmt: skip

    code, out = reconcile(path, capsys)
    assert code == 0 and "opened pull request #1" in out, out
    forge.merge_as_reviewer(1, method)
    code, out = reconcile(path, capsys)
    assert code == 0 and "merged pull request #1" in out and "deployed" in out, out
    assert marker(remote, "main", f"{model_slug(name)}/production")["revision"] == "1"
    assert reconcile(path, capsys)[1].count("pull request") == 0
    for secret in (TOKEN, PASSWORD):
        assert secret not in out


def test_forge_down_wrong_token_and_a_lost_reply_fail_only_the_pr_stage_and_never_duplicate(
    mlflow_server: MlflowServer,
    bare_remote: Path,
    forge_for: Any,
    tmp_path: Path,
    unique_model_name: ModelNames,
    clean_env: pytest.MonkeyPatch,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    forge: ForgeDouble = forge_for("github")
    client = mlflow_server.client()
    name = unique_model_name("fraud")
    register_version(client, name)
    register_version(client, name)
    client.set_registered_model_alias(name, "staging", "1")
    client.set_registered_model_alias(name, "champion", "1")
    path = config(tmp_path, mlflow_server, str(bare_remote), unique_model_name.prefix, forge)

    # A wrong token: staging deploys, production fails with what to fix; exit 1.
    clean_env.setenv("GITHUB_TOKEN", "not-" + TOKEN)
    code, out = reconcile(path, capsys)
    assert code == 1
    assert subjects(bare_remote) == [f"deploy {name} v1 to staging"]
    failed = [line for line in out.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1 and "production" in failed[0] and "GitHub at" in failed[0]
    assert "the token was refused" in failed[0] and "GITHUB_TOKEN" in failed[0]
    assert "'repo' scope" in failed[0] and TOKEN not in out and not forge.pulls

    # The forge is down: the same, with the URL to check; staging moves on meanwhile.
    clean_env.setenv("GITHUB_TOKEN", TOKEN)
    forge.stop()
    client.set_registered_model_alias(name, "staging", "2")
    code, out = reconcile(path, capsys)
    assert code == 1 and "cannot reach GitHub at" in out and "git.forge.api_url" in out
    assert subjects(bare_remote)[-1] == f"update {name} in staging: v1 → v2"

    # Back up, but the reply to the create is lost: the next reconcile finds that pull
    # request by its branch instead of opening a second one.
    forge.start()
    forge.lose_next_create_reply = True
    code, out = reconcile(path, capsys)
    assert code == 1 and len(forge.pulls) == 1
    code, out = reconcile(path, capsys)
    assert code == 0 and "updated pull request #1" in out and len(forge.pulls) == 1
    assert ("GET", "/repos/team/gitops/pulls") in forge.requests


def test_auto_merge_merges_through_the_forge_and_records_the_deployment_at_once(
    mlflow_server: MlflowServer,
    bare_remote: Path,
    forge_for: Any,
    tmp_path: Path,
    unique_model_name: ModelNames,
    clean_env: pytest.MonkeyPatch,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    forge: ForgeDouble = forge_for("gitea")
    clean_env.setenv("GITOPS_WATCHER_FORGE_TOKEN", TOKEN)
    client = mlflow_server.client()
    name = unique_model_name("auto")
    register_version(client, name)
    client.set_registered_model_alias(name, "staging", "1")
    client.set_registered_model_alias(name, "champion", "1")
    path = config(tmp_path, mlflow_server, str(bare_remote), unique_model_name.prefix, forge,
                  auto_merge=True)  # fmt: skip
    code, out = reconcile(path, capsys)
    assert code == 0 and "merged pull request #1" in out, out
    assert forge.pulls[1].merged
    assert marker(bare_remote, "main", f"{model_slug(name)}/production")["revision"] == "1"
    code, out = reconcile(path, capsys)
    assert code == 0 and "pull request" not in out


def test_settings_without_a_forge_are_a_configuration_error(
    mlflow_server: MlflowServer,
    bare_remote: Path,
    tmp_path: Path,
    clean_env: pytest.MonkeyPatch,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = {
        "state_dir": str(tmp_path / "state"),
        "registry": {"tracking_uri": mlflow_server.url},
        "stages": [{"name": "production", "select": [{"alias": "champion"}],
                    "publish": "pull-request"}],
        "git": {"repo_url": str(bare_remote)},
    }  # fmt: skip
    path = tmp_path / "watcher.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["--config", str(path), "reconcile", "--once"]) == 2
    err = capsys.readouterr().err
    assert "no forge is configured" in err and "git.forge.kind" in err
    assert "mlflow/production" in err


def test_git_merge_helper_really_merges(bare_remote: Path, tmp_path: Path) -> None:
    """The double's merges are git's own: a squash leaves one parent, a merge two."""
    work = tmp_path / "w"
    subprocess.run(["git", "clone", "-q", str(bare_remote), str(work)], check=True)
    env = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    (work / "a").write_text("a")
    subprocess.run(["git", "-C", str(work), *env, "add", "a"], check=True)
    subprocess.run(["git", "-C", str(work), *env, "commit", "-qm", "a"], check=True)
    subprocess.run(["git", "-C", str(work), "push", "-q", "origin", "HEAD:main", "HEAD:b1"],
                   check=True)  # fmt: skip
    (work / "b").write_text("b")
    subprocess.run(["git", "-C", str(work), *env, "add", "b"], check=True)
    subprocess.run(["git", "-C", str(work), *env, "commit", "-qm", "b"], check=True)
    subprocess.run(["git", "-C", str(work), "push", "-q", "origin", "HEAD:b1"], check=True)
    from tests.servers.forge_api import git_merge

    sha = git_merge(bare_remote, "b1", "main", "squash", "squashed")
    parents = git_out(bare_remote, "rev-list", "--parents", "-n", "1", sha).split()
    assert len(parents) == 2 and git_out(bare_remote, "show", "main:b") == "b"


@dataclass
class GiteaRepo:
    """A Gitea double over the bare remote, and a config whose production stage
    publishes pull requests there."""

    forge: ForgeDouble
    server: MlflowServer
    names: ModelNames
    config_path: str
    capsys: pytest.CaptureFixture[str]

    def promote(self, suffix: str) -> str:
        """A new model's v1 to staging (a direct commit: the branch a pull request
        needs) and production."""
        name = self.names(suffix)
        client = self.server.client()
        register_version(client, name)
        client.set_registered_model_alias(name, "staging", "1")
        client.set_registered_model_alias(name, "champion", "1")
        return name

    def reconcile(self) -> tuple[int, str]:
        return reconcile(self.config_path, self.capsys)

    def label_creations(self) -> int:
        return self.forge.requests.count(("POST", "/api/v1/repos/team/gitops/labels"))


@pytest.fixture
def gitea(
    mlflow_server: MlflowServer,
    bare_remote: Path,
    forge_for: Any,
    tmp_path: Path,
    unique_model_name: ModelNames,
    clean_env: pytest.MonkeyPatch,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> GiteaRepo:
    forge: ForgeDouble = forge_for("gitea")
    clean_env.setenv("GITEA_TOKEN", TOKEN)
    path = config(tmp_path, mlflow_server, str(bare_remote), unique_model_name.prefix, forge)
    return GiteaRepo(forge, mlflow_server, unique_model_name, path, capsys)


@pytest.mark.parametrize("ids_only", [False, True], ids=["gitea-1.22+", "gitea-1.21"])
def test_gitea_labels_are_created_once_where_missing_and_attached_by_id(
    ids_only: bool, gitea: GiteaRepo
) -> None:
    """A user's repository without the labels: Gitea would drop their names (or, before
    1.22, refuse them), so they are created, once, and every pull request gets both."""
    forge = gitea.forge
    forge.gitea_ids_only = ids_only
    gitea.promote("one")
    gitea.promote("two")
    code, out = gitea.reconcile()
    assert code == 0 and out.count("opened pull request") == 2, out
    assert "could not label" not in out
    assert sorted(forge.repo_labels.values()) == ["gitops-watcher", "stage:production"]
    assert gitea.label_creations() == 2
    assert ("GET", "/api/v1/orgs/team/labels") in forge.requests  # asked, 404: a user's
    for pr in forge.pulls.values():
        assert pr.labels == ["gitops-watcher", "stage:production"]

    # Another run (a new client) finds them in the repository and creates none.
    gitea.promote("three")
    code, out = gitea.reconcile()
    assert code == 0 and "opened pull request #3" in out, out
    assert gitea.label_creations() == 2
    assert forge.pulls[3].labels == ["gitops-watcher", "stage:production"]


def test_gitea_labels_of_the_repository_and_its_organisation_are_used_as_they_are(
    gitea: GiteaRepo,
) -> None:
    gitea.forge.repo_labels = {3: "stage:production"}
    gitea.forge.org_labels = {7: "gitops-watcher"}
    gitea.promote("org")
    code, out = gitea.reconcile()
    assert code == 0 and "opened pull request #1" in out, out
    assert gitea.forge.pulls[1].labels == ["gitops-watcher", "stage:production"]
    assert gitea.label_creations() == 0 and len(gitea.forge.repo_labels) == 1


def test_gitea_labels_that_cannot_be_created_never_hold_a_pull_request_back(
    gitea: GiteaRepo,
) -> None:
    gitea.forge.refuse_label_creation = True
    gitea.promote("nolabel")
    code, out = gitea.reconcile()
    assert code == 0 and "opened pull request #1" in out, out
    assert "could not label pull request #1" in out and "write:issue" in out, out
    assert gitea.forge.pulls[1].labels == [] and gitea.forge.pulls[1].state == "open"
    assert TOKEN not in out
