"""The promotion policy end to end: holds, rollback, gates, the serving contract and soak.

A real MLflow server with real runs that log metrics, model versions whose
``MLmodel`` carries a real signature (``mlflow.models.infer_signature``), and a real
bare remote where the tests commit, revert and edit as an operator would, with plain
git. Each reconcile is ``gitops-watcher reconcile --once``, most of them with an empty
state folder, so what is honoured is read from git, never remembered.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.servers.mlflow_server import MlflowServer
from watcher.commands.cli import main
from watcher.core.names import model_slug

pytestmark = pytest.mark.slow


# -- the registry: runs that log metrics, versions with real signatures ---------------------


def scored_version(
    client: Any,
    name: str,
    metrics: dict[str, float],
    columns: dict[str, list[Any]] | None = None,
) -> str:
    """A new version of ``name`` from a run that logged ``metrics``; its MLmodel's signature
    is inferred by MLflow from a frame with ``columns`` (none: no signature)."""
    import mlflow.models
    import pandas as pd
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name)
    run = client.create_run(experiment_id="0")
    for key, value in metrics.items():
        client.log_metric(run.info.run_id, key, value)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "model"
        signature = None
        if columns is not None:
            frame = pd.DataFrame(columns)
            signature = mlflow.models.infer_signature(frame, [0.5] * len(frame))
        model = mlflow.models.Model(artifact_path="model", signature=signature)
        model.add_flavor("python_function", loader_module="tiny")
        folder.mkdir()
        model.save(str(folder / "MLmodel"))
        (folder / "model.pkl").write_bytes(b"tiny model " + name.encode() + b"\n")
        client.log_artifacts(run.info.run_id, str(folder), artifact_path="model")
    client.set_terminated(run.info.run_id)
    version = client.create_model_version(
        name, source=f"{run.info.artifact_uri}/model", run_id=run.info.run_id
    )
    return str(version.version)


FEATURES = {"tenure": [1, 2, 3], "plan": ["a", "b", "c"]}


# -- the operator: plain git on a clone of the remote ----------------------------------------


def git(*args: str, cwd: Path) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Alice Operator",
        "GIT_AUTHOR_EMAIL": "alice@example.com",
        "GIT_COMMITTER_NAME": "Alice Operator",
        "GIT_COMMITTER_EMAIL": "alice@example.com",
    }
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


def operator_clone(remote: Path, into: Path) -> Path:
    if into.exists():
        git("pull", "-q", "--ff-only", cwd=into)
    else:
        git("clone", "-q", str(remote), str(into), cwd=remote.parent)
    return into


def subjects(remote: Path) -> list[str]:
    return git("log", "--format=%s", "main", cwd=remote).splitlines()


def folder_file(remote: Path, path: str) -> str:
    return git("show", f"main:{path}", cwd=remote)


# -- the daemon's command, as a user runs it ---------------------------------------------------


class Watcher:
    """``gitops-watcher reconcile --once`` over one config; a fresh state folder each time
    unless ``keep_state``: what survives is what git holds."""

    def __init__(self, tmp: Path, server: MlflowServer, remote: Path, prefix: str) -> None:
        self.tmp, self.runs = tmp, 0
        self.config: dict[str, Any] = {
            "registry": {"tracking_uri": server.url, "models": {"include": [f"{prefix}*"]}},
            "git": {"repo_url": str(remote), "push_backoff_seconds": 0},
            # Copies outside the state folders: each run starts from an empty state folder.
            "artifacts": {
                "local_dir": str(tmp / "copies"),
                "sources": {"local_roots": [str(server.artifact_root)]},
            },
            "stages": [
                {"name": "staging", "select": [{"alias": "staging"}]},
                {"name": "production", "select": [{"alias": "champion"}]},
            ],
        }

    def stage(self, name: str, **settings: Any) -> None:
        for stage in self.config["stages"]:
            if stage["name"] == name:
                stage.update(settings)

    def __call__(
        self, capsys: pytest.CaptureFixture[str], *command: str, keep_state: bool = False
    ) -> tuple[int, str]:
        self.runs += 1
        state = self.tmp / ("state" if keep_state else f"state-{self.runs}")
        path = self.tmp / "watcher.yaml"
        path.write_text(yaml.safe_dump({**self.config, "state_dir": str(state)}))
        capsys.readouterr()
        code = main(["--config", str(path), *(command or ("reconcile", "--once"))])
        return code, capsys.readouterr().out


@pytest.fixture
def watcher(
    mlflow_server: MlflowServer,
    bare_remote: Path,
    tmp_path: Path,
    unique_model_name: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> Watcher:
    for variable in list(os.environ):
        if variable.startswith(("MLFLOW_TRACKING_", "GIT_", "GITOPS_WATCHER_")):
            monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    return Watcher(tmp_path, mlflow_server, bare_remote, unique_model_name.prefix)


# -- holds -----------------------------------------------------------------------------------


def test_a_revert_is_held_until_the_registry_decides_anew(
    mlflow_server: MlflowServer,
    bare_remote: Path,
    tmp_path: Path,
    unique_model_name: Any,
    watcher: Watcher,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = mlflow_server.client()
    name, other = unique_model_name("fraud"), unique_model_name("other")
    for _ in range(3):
        scored_version(client, name, {"accuracy": 0.9}, FEATURES)
    scored_version(client, other, {"accuracy": 0.9}, FEATURES)
    client.set_registered_model_alias(name, "staging", "1")
    client.set_registered_model_alias(other, "staging", "1")
    assert watcher(capsys)[0] == 0
    client.set_registered_model_alias(name, "staging", "2")
    assert watcher(capsys)[0] == 0
    assert subjects(bare_remote)[0] == f"update {name} in staging: v1 → v2"

    # An operator reverts the promotion with plain git.
    clone = operator_clone(bare_remote, tmp_path / "operator")
    git("revert", "--no-edit", "HEAD", cwd=clone)
    git("push", "-q", "origin", "main", cwd=clone)
    reverted = folder_file(bare_remote, f"deployments/{model_slug(name)}/staging/promotion.json")
    assert json.loads(reverted)["revision"] == "1"

    for _ in range(2):  # honoured on every reconcile, with an empty state folder each time
        code, out = watcher(capsys)
        assert code == 0, out
        assert f"HELD model {name} in staging: changed by " in out
        assert "(Alice Operator): Revert " in out
        assert subjects(bare_remote)[0].startswith("Revert ")
    # Other models go on: a new decision for them is applied.
    client.set_registered_model_alias(other, "staging", "1")
    scored_version(client, other, {"accuracy": 0.9}, FEATURES)
    client.set_registered_model_alias(other, "staging", "2")
    code, out = watcher(capsys)
    assert subjects(bare_remote)[0] == f"update {other} in staging: v1 → v2"
    assert f"HELD model {name} in staging" in out

    # A demotion does not remove a held folder either.
    client.delete_registered_model_alias(name, "staging")
    code, out = watcher(capsys)
    assert f"HELD model {name} in staging" in out
    marker = f"deployments/{model_slug(name)}/staging/promotion.json"
    assert folder_file(bare_remote, marker) == reverted

    # A new decision in the registry lifts the hold.
    client.set_registered_model_alias(name, "staging", "3")
    code, out = watcher(capsys)
    assert code == 0 and "HELD" not in out, out
    assert subjects(bare_remote)[0] == f"update {name} in staging: v1 → v3"


def test_a_hand_edit_is_held_and_unhold_releases_it(
    mlflow_server: MlflowServer,
    bare_remote: Path,
    tmp_path: Path,
    unique_model_name: Any,
    watcher: Watcher,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = mlflow_server.client()
    name = unique_model_name("edit")
    scored_version(client, name, {"accuracy": 0.9}, FEATURES)
    client.set_registered_model_alias(name, "champion", "1")
    assert watcher(capsys)[0] == 0
    clone = operator_clone(bare_remote, tmp_path / "operator")
    manifest = clone / f"deployments/{model_slug(name)}/production/deployment.yaml"
    manifest.write_text(manifest.read_text().replace("replicas: 1", "replicas: 5", 1))
    git("commit", "-qam", "incident: scale up by hand", cwd=clone)
    git("push", "-q", "origin", "main", cwd=clone)
    deployment = f"deployments/{model_slug(name)}/production/deployment.yaml"
    edited = folder_file(bare_remote, deployment)

    code, out = watcher(capsys)
    assert f"HELD model {name} in production: changed by" in out
    assert "incident: scale up by hand" in out
    assert folder_file(bare_remote, deployment) == edited

    code, out = watcher(capsys, "unhold", name, "production")
    assert code == 0 and "released" in out, out
    assert subjects(bare_remote)[0].startswith(f"unhold {name} in production")
    code, out = watcher(capsys)
    assert code == 0 and "HELD" not in out, out
    assert "replicas: 1" in folder_file(bare_remote, deployment)
    # The record of the release is gone once the folder follows the registry again.
    paths = git("ls-tree", "-r", "--name-only", "main", cwd=bare_remote)
    assert ".gitops-watcher/holds" not in paths


def test_hold_by_hand_reports_registry_moves_and_lifts_only_with_unhold(
    mlflow_server: MlflowServer,
    bare_remote: Path,
    unique_model_name: Any,
    watcher: Watcher,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = mlflow_server.client()
    name = unique_model_name("manual")
    for _ in range(2):
        scored_version(client, name, {"accuracy": 0.9}, FEATURES)
    client.set_registered_model_alias(name, "champion", "1")
    assert watcher(capsys)[0] == 0
    deployment = f"deployments/{model_slug(name)}/production/deployment.yaml"
    before = folder_file(bare_remote, deployment)
    code, out = watcher(capsys, "hold", name, "production", "--reason", "freeze for the audit")
    assert code == 0 and f"held {name} v1 in production" in out, out
    paths = git("ls-tree", "-r", "--name-only", "main", cwd=bare_remote).splitlines()
    assert f"deployments/.gitops-watcher/holds/{model_slug(name)}/production/hold.json" in paths

    client.set_registered_model_alias(name, "champion", "2")
    code, out = watcher(capsys)
    assert code == 0
    assert f"HELD model {name} in production: held by " in out
    assert "freeze for the audit; the registry now selects 2 (not applied)" in out
    assert folder_file(bare_remote, deployment) == before

    code, out = watcher(capsys, "unhold", name, "production")
    assert code == 0 and "follows the registry" in out
    code, out = watcher(capsys)
    assert subjects(bare_remote)[0] == f"update {name} in production: v1 → v2"


# -- rollback --------------------------------------------------------------------------------


def test_rollback_moves_the_alias_back_and_the_commit_says_so(
    mlflow_server: MlflowServer,
    bare_remote: Path,
    unique_model_name: Any,
    watcher: Watcher,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = mlflow_server.client()
    name = unique_model_name("roll")
    for _ in range(3):
        scored_version(client, name, {"accuracy": 0.9}, FEATURES)
    folder = f"deployments/{model_slug(name)}/production"
    files = {}
    for version in ("1", "2", "3"):
        client.set_registered_model_alias(name, "champion", version)
        assert watcher(capsys)[0] == 0
        files[version] = folder_file(bare_remote, f"{folder}/deployment.yaml")

    code, out = watcher(capsys, "rollback", name, "production")
    assert code == 0, out
    assert client.get_model_version_by_alias(name, "champion").version == "2"
    assert watcher(capsys)[0] == 0
    assert subjects(bare_remote)[0] == f"roll back {name} in production: v3 → v2"
    assert folder_file(bare_remote, f"{folder}/deployment.yaml") == files["2"]  # byte for byte

    code, out = watcher(capsys, "rollback", name, "production")  # one further back
    assert code == 0, out
    assert client.get_model_version_by_alias(name, "champion").version == "1"
    assert watcher(capsys)[0] == 0
    assert subjects(bare_remote)[0] == f"roll back {name} in production: v2 → v1"
    assert folder_file(bare_remote, f"{folder}/deployment.yaml") == files["1"]

    code, out = watcher(capsys, "rollback", name, "production", "--to", "3")
    assert code == 0 and client.get_model_version_by_alias(name, "champion").version == "3"
    code, _ = watcher(capsys, "rollback", name, "production", "--to", "99")
    assert code == 2


# -- gates and the serving contract ----------------------------------------------------------


def test_gates_keep_a_worse_version_out_and_a_waiver_lets_it_in(
    mlflow_server: MlflowServer,
    bare_remote: Path,
    unique_model_name: Any,
    watcher: Watcher,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = mlflow_server.client()
    name, other = unique_model_name("churn"), unique_model_name("calm")
    watcher.stage(
        "production",
        gates=[
            {"metric": "rmse", "max": 0.8},
            {
                "metric": "accuracy",
                "not_worse_than": "deployed",
                "direction": "higher",
                "tolerance": 0.01,
            },
        ],
    )
    scored_version(client, name, {"accuracy": 0.902, "rmse": 0.5}, FEATURES)
    scored_version(client, name, {"accuracy": 0.871, "rmse": 0.5}, FEATURES)
    scored_version(client, name, {"accuracy": 0.95}, FEATURES)  # no rmse logged
    scored_version(client, other, {"accuracy": 0.9, "rmse": 0.3}, FEATURES)
    client.set_registered_model_alias(name, "champion", "1")
    client.set_registered_model_alias(other, "champion", "1")
    code, out = watcher(capsys)
    assert code == 0 and "GATED" not in out, out
    assert "Gates: nothing runs in the stage yet" in git(
        "log", "-1", "--format=%B", "main", "--", f"deployments/{model_slug(name)}", cwd=bare_remote
    )

    client.set_registered_model_alias(name, "champion", "2")
    code, out = watcher(capsys)
    assert code == 1, out
    assert (
        f"GATED model {name} v2 in production: accuracy 0.871 is worse than v1's 0.902 "
        "(tolerance 0.01)" in out
    )
    assert (
        json.loads(
            folder_file(bare_remote, f"deployments/{model_slug(name)}/production/promotion.json")
        )["revision"]
        == "1"
    )

    client.set_registered_model_alias(name, "champion", "3")
    code, out = watcher(capsys)
    assert code == 1 and f"GATED model {name} v3 in production: rmse is not logged" in out

    client.set_model_version_tag(name, "3", "deploy.production.gates", "skip")
    code, out = watcher(capsys)
    assert code == 0, out
    body = git("log", "-1", "--format=%B", "main", cwd=bare_remote)
    assert body.startswith(f"update {name} in production: v1 → v3")
    assert "Gates waived for v3 by the tag deploy.production.gates" in body
    assert "Gates-Waived: deploy.production.gates" in body
    # What a reviewer reads: every metric either version logged, old → new.
    assert "Metrics, v1 → v3:\n- accuracy: 0.902 → 0.95 (+0.048)\n- rmse: 0.5 → not logged" in body


def test_a_plan_made_again_after_another_writer_pushed_asks_the_registry_nothing_again(
    mlflow_server: MlflowServer,
    bare_remote: Path,
    tmp_path: Path,
    unique_model_name: Any,
    watcher: Watcher,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The gates and the review notes ask the registry about a version once per
    reconcile. Another writer's hold record landing between the plan and the fetch
    makes the publisher plan again on the new head (a record can change the plan);
    what the first plan read is not read again."""
    from watcher.sources.mlflow.evidence import MlflowEvidence
    from watcher.spine.publisher import DirectPushPublisher

    client = mlflow_server.client()
    name = unique_model_name("raced")
    watcher.stage(
        "production",
        gates=[{"metric": "accuracy", "not_worse_than": "deployed", "direction": "higher"}],
    )
    scored_version(client, name, {"accuracy": 0.90}, FEATURES)
    scored_version(client, name, {"accuracy": 0.93}, FEATURES)
    client.set_registered_model_alias(name, "champion", "1")
    assert watcher(capsys)[0] == 0
    client.set_registered_model_alias(name, "champion", "2")

    asked: list[str] = []
    read_metrics = MlflowEvidence.metrics

    def counted(self: MlflowEvidence, details: Any) -> Any:
        asked.append(json.dumps(details, sort_keys=True))
        return read_metrics(self, details)

    plans: list[Any] = []
    plan = DirectPushPublisher._plan

    def plan_then_race(self: DirectPushPublisher, planner: Any, only: Any) -> Any:
        plans.append(plan(self, planner, only))
        if len(plans) == 1:  # another writer's (unreadable) record, before our fetch
            other = operator_clone(bare_remote, tmp_path / "other")
            record = other / "deployments/.gitops-watcher/holds/elsewhere/hold.json"
            record.parent.mkdir(parents=True)
            record.write_text("{}\n")
            git("add", "-A", cwd=other)
            git("commit", "-qm", "another writer's record", cwd=other)
            git("push", "-q", "origin", "HEAD:main", cwd=other)
        return plans[-1]

    monkeypatch.setattr(MlflowEvidence, "metrics", counted)
    monkeypatch.setattr(DirectPushPublisher, "_plan", plan_then_race)
    code, out = watcher(capsys)

    assert code == 0, out
    assert len(plans) == 2, "the record should have made the publisher plan again"
    assert subjects(bare_remote)[:2] == [
        f"update {name} in production: v1 → v2",
        "another writer's record",
    ]
    # Both versions' metrics were read (the gate and the notes), each once.
    assert len(set(asked)) == 2 and len(asked) == 2, asked


def test_the_serving_contract_refuses_or_warns_about_a_breaking_signature(
    mlflow_server: MlflowServer,
    bare_remote: Path,
    unique_model_name: Any,
    watcher: Watcher,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = mlflow_server.client()
    name = unique_model_name("sig")
    watcher.stage("production", contract="strict")
    scored_version(client, name, {}, FEATURES)
    scored_version(client, name, {}, {"plan": ["a", "b", "c"]})  # tenure removed
    client.set_registered_model_alias(name, "champion", "1")
    client.set_registered_model_alias(name, "staging", "1")
    assert watcher(capsys)[0] == 0
    client.set_registered_model_alias(name, "champion", "2")
    client.set_registered_model_alias(name, "staging", "2")
    code, out = watcher(capsys)
    assert code == 1
    assert f"GATED model {name} v2 in production: signature: input 'tenure' removed" in out
    # staging warns (the default) and deploys, saying so in the commit.
    staging = f"deployments/{model_slug(name)}/staging"
    body = git("log", "-1", "--format=%B", "main", "--", staging, cwd=bare_remote)
    assert body.startswith(f"update {name} in staging: v1 → v2")
    assert "Breaking signature change (contract: warn): input 'tenure' removed" in body
    assert "Signature, v1 → v2:\n- input 'tenure' removed\n" in body


# -- stage order and soak --------------------------------------------------------------------


def test_production_waits_for_the_soak_in_staging(
    mlflow_server: MlflowServer,
    bare_remote: Path,
    unique_model_name: Any,
    watcher: Watcher,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import time

    client = mlflow_server.client()
    name = unique_model_name("soak")
    watcher.stage("production", after="staging", soak_seconds=4)
    scored_version(client, name, {}, FEATURES)
    client.set_registered_model_alias(name, "champion", "1")
    code, out = watcher(capsys)
    assert code == 0 and f"WAITING model {name} v1 in production: v1 does not run in staging" in out
    client.set_registered_model_alias(name, "staging", "1")
    code, out = watcher(capsys)  # staging deploys now; production starts to wait
    assert f"WAITING model {name} v1 in production:" in out and "s more in staging" in out
    time.sleep(4.5)
    code, out = watcher(capsys)  # an empty state folder: the clock is git's
    assert code == 0 and "WAITING" not in out, out
    assert subjects(bare_remote)[0] == f"deploy {name} v1 to production"


# -- the daemon: states in /status and /metrics, a wake-up at the soak's end, restarts ---------


def test_the_daemon_reports_policy_states_wakes_at_the_soak_end_and_survives_restarts(
    mlflow_server: MlflowServer,
    bare_remote: Path,
    tmp_path: Path,
    unique_model_name: Any,
) -> None:
    import shutil

    from tests.servers.mlflow_webhook import start_daemon

    client = mlflow_server.client()
    name, held = unique_model_name("wake"), unique_model_name("held")
    scored_version(client, name, {}, FEATURES)
    scored_version(client, held, {}, FEATURES)
    scored_version(client, held, {}, FEATURES)
    client.set_registered_model_alias(held, "staging", "1")
    config = Watcher(tmp_path, mlflow_server, bare_remote, unique_model_name.prefix).config
    config["stages"][1].update(after="staging", soak_seconds=6)
    config["state_dir"] = str(tmp_path / "daemon-state")
    quiet = {"resync_interval_seconds": 600, "probe_interval_seconds": 0.5}
    daemon = start_daemon(tmp_path / "d", config, quiet)
    try:
        daemon.wait_for("startup", lambda: daemon.status()["last_success_at"] is not None)
        client.set_registered_model_alias(name, "staging", "1")
        client.set_registered_model_alias(name, "champion", "1")

        def state_of(model: str, stage: str) -> dict[str, Any]:
            found = [
                r for r in daemon.status()["releases"]
                if r["name"] == model and r["stage"] == stage
            ]  # fmt: skip
            return found[0] if found else {}

        daemon.wait_for("waiting", lambda: state_of(name, "production").get("state") == "waiting")
        waiting = state_of(name, "production")
        assert "more in staging" in waiting["reason"] and waiting["candidate"] == "1"
        _code, metrics = daemon.get("/metrics")
        assert b'gitops_watcher_releases{source="mlflow",state="waiting"} 1.0' in metrics
        # No resync for 600 s and nothing changes in the registry: only the wake-up at the
        # end of the soak can deploy production now.
        took = daemon.wait_for(
            "production after the soak",
            lambda: state_of(name, "production").get("state") == "deployed",
            timeout=40,
        )
        assert took < 30
        assert "soak" in daemon.log()

        # A person reverts staging's deployment of the other model: held, with the commit.
        clone = operator_clone(bare_remote, tmp_path / "operator")
        git("rm", "-rq", f"deployments/{model_slug(held)}/staging", cwd=clone)
        git("commit", "-qm", "take it down during the incident", cwd=clone)
        git("push", "-q", "origin", "main", cwd=clone)
        client.set_registered_model_alias(held, "staging", "1")  # the probe notices the push…
        client.set_registered_model_tag(held, "poke", "1")  # …on a registry change
        daemon.wait_for("held", lambda: state_of(held, "staging").get("state") == "held")
        entry = state_of(held, "staging")
        assert "take it down during the incident" in entry["reason"]
        assert entry["commit"] and len(entry["commit"]) == 40
    finally:
        assert daemon.stop() == 0

    # A restart with an empty state folder: the hold is read from git again.
    shutil.rmtree(tmp_path / "daemon-state")
    daemon = start_daemon(tmp_path / "d2", config, quiet)
    try:
        daemon.wait_for("startup", lambda: daemon.status()["last_success_at"] is not None)
        assert any(r["name"] == held and r["state"] == "held" for r in daemon.status()["releases"])
        paths = git("ls-tree", "-r", "--name-only", "main", cwd=bare_remote)
        assert f"deployments/{model_slug(held)}/staging/" not in paths
    finally:
        assert daemon.stop() == 0
