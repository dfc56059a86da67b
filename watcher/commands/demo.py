"""``gitops-watcher demo``: the whole idea in under a minute, with nothing to set up.

A real MLflow registry (a SQLite file, driven by MlflowClient) and a real bare
git repository as the remote, both in one folder. Each step changes the
registry the way a reviewer would, then runs one reconcile and shows what
landed in git.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import git

from watcher.commands.report import print_result
from watcher.config.settings import (
    ArtifactSettings,
    Credentials,
    GitSettings,
    RegistrySettings,
    Settings,
    SourceSettings,
)
from watcher.config.stage_settings import GateSettings, StageSettings, default_stages
from watcher.errors import ConfigError
from watcher.spine.reconciler import Reconciler
from watcher.wiring import build_reconciler

EXIT_OK = 0
MODEL_NAME = "fraud-detector"
_MARKER = ".gitops-watcher-demo"


def run_demo(directory: Path) -> int:
    directory = _prepare(directory)
    client = _registry_client(directory)
    remote = directory / "gitops-remote.git"
    git.Repo.init(remote, bare=True, initial_branch="main")
    settings = Settings(
        state_dir=str(directory / "state"),
        registry=RegistrySettings(
            tracking_uri=f"sqlite:///{directory / 'mlflow.db'}", ui_url="http://localhost:5000"
        ),
        git=GitSettings(repo_url=str(remote)),
        # Production takes a version only if its logged AUC is not worse than what runs.
        stages=_demo_stages(),
        # Embedded defaults: artifacts are copied to a local folder, not to S3.
        artifacts=ArtifactSettings(
            store="local",
            local_dir=str(directory / "artifact-store"),
            sources=SourceSettings(local_roots=(str(directory / "mlartifacts"),)),
        ),
    )
    reconciler = build_reconciler(settings, Credentials())
    _introduce(directory, settings, remote)
    steps = _steps(client, directory, remote, settings)
    with reconciler:
        for number, (title, action) in enumerate(steps, start=1):
            print(f"== step {number}: {title}")
            action()
            _reconcile(reconciler)
    _show_remote(remote, settings.git.path)
    print(f"\n== verified model copies in {settings.artifact_dir}")
    for path in sorted(settings.artifact_dir.rglob("*")):
        if path.is_file():
            print(f"  {path.relative_to(settings.artifact_dir)}")
    print(f"\nThe remote is a plain git repo: git -C {remote} log --stat")
    return EXIT_OK


def _introduce(directory: Path, settings: Settings, remote: Path) -> None:
    print(f"gitops-watcher demo in {directory}")
    print(f"  registry: {settings.registry.tracking_uri} (MLflow, read through its database)")
    print(f"  GitOps remote: {remote} (branch main)")
    print(
        f"  artifact store: {settings.artifact_dir} "
        "(a local folder here; with a bucket configured, S3)"
    )
    print(
        "  stages: staging <- alias @staging or stage Staging; "
        "production <- alias @champion or stage Production\n"
    )


def _steps(
    client: Any, directory: Path, remote: Path, settings: Settings
) -> list[tuple[str, Callable[[], Any]]]:
    """What a reviewer (and once, an operator) does, one reconcile after each."""
    return [
        (
            "register versions 1 and 2 of 'fraud-detector' (nothing promoted yet)",
            lambda: [_register_version(client, directory, n) for n in (1, 2)],
        ),
        (
            "set alias @staging -> v1",
            lambda: client.set_registered_model_alias(MODEL_NAME, "staging", "1"),
        ),
        (
            "set alias @champion -> v1 (production)",
            lambda: client.set_registered_model_alias(MODEL_NAME, "champion", "1"),
        ),
        ("nothing changed in the registry: reconcile again", lambda: None),
        (
            "move @staging and @champion -> v2, but tag v2 with deploy.production.replicas=lots "
            "(a reviewer's typo)",
            lambda: (
                client.set_model_version_tag(MODEL_NAME, "2", "deploy.production.replicas", "lots"),
                client.set_registered_model_alias(MODEL_NAME, "staging", "2"),
                client.set_registered_model_alias(MODEL_NAME, "champion", "2"),
            ),
        ),
        (
            "fix the tag: deploy.production.replicas=3",
            lambda: client.set_model_version_tag(
                MODEL_NAME, "2", "deploy.production.replicas", "3"
            ),
        ),
        (
            "register v3, whose run logged a worse AUC (0.85), and move @champion -> v3: "
            "production's gate keeps it out",
            lambda: (
                _register_version(client, directory, 3, auc=0.85),
                client.set_registered_model_alias(MODEL_NAME, "champion", "3"),
            ),
        ),
        (
            "an operator reverts staging's last promotion with plain git: the hold is honoured",
            lambda: _operator_reverts(remote, directory, settings.git.path),
        ),
        (
            "move @staging -> v3: a new decision in the registry lifts the hold",
            lambda: client.set_registered_model_alias(MODEL_NAME, "staging", "3"),
        ),
        (
            "delete alias @champion (production is removed)",
            lambda: client.delete_registered_model_alias(MODEL_NAME, "champion"),
        ),
    ]


def _prepare(directory: Path) -> Path:
    directory = directory.resolve()
    if directory.exists() and any(directory.iterdir()):
        if not (directory / _MARKER).exists():
            raise ConfigError(
                f"{directory} is not empty and was not made by the demo",
                hint="pass a new folder: gitops-watcher demo DIR",
            )
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / _MARKER).write_text("made by gitops-watcher demo; safe to delete\n")
    return directory


def _registry_client(directory: Path) -> Any:
    # Before mlflow is imported (it starts its telemetry client on import): a demo leaves
    # no installation id in the user's ~/.config/mlflow and sends nothing home.
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    try:
        import mlflow
        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        raise ConfigError(
            "the demo needs MLflow", hint="pip install 'gitops-watcher[demo]'"
        ) from exc
    warnings.filterwarnings("ignore", module="mlflow")
    for noisy in ("mlflow", "alembic"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    uri = f"sqlite:///{directory / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_experiment("demo", artifact_location=(directory / "mlartifacts").as_uri())
    return client


def _demo_stages() -> tuple[StageSettings, ...]:
    staging, production = default_stages()
    gate = GateSettings(metric="auc", not_worse_than="deployed", direction="higher")
    return staging, production.model_copy(update={"gates": (gate,)})


def _operator_reverts(remote: Path, directory: Path, path: str) -> None:
    """What an operator does in an incident: ``git revert`` of a promotion, and push."""
    clone = git.Repo.clone_from(remote, directory / "operator-clone")
    folder = f"{path}/{MODEL_NAME}/staging"
    last = clone.git.log("-1", "--format=%H", "--", folder)
    with clone.git.custom_environment(
        GIT_AUTHOR_NAME="Dana Operator",
        GIT_AUTHOR_EMAIL="dana@example.com",
        GIT_COMMITTER_NAME="Dana Operator",
        GIT_COMMITTER_EMAIL="dana@example.com",
    ):
        clone.git.revert("--no-edit", last)
    clone.git.push("origin", "main")
    print(f"  git revert {last[:10]} && git push  (as Dana Operator)")


def _register_version(client: Any, directory: Path, number: int, auc: float = 0.0) -> str:
    """A small but real model folder logged to a run, then registered as a version."""
    experiment = client.get_experiment_by_name("demo")
    run = client.create_run(experiment.experiment_id, run_name=f"train-{number}")
    client.log_metric(run.info.run_id, "auc", auc or 0.90 + number / 100)
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp)
        (model / "MLmodel").write_text(
            f"artifact_path: model\nflavors:\n  python_function:\n    loader_module: demo\n"
            f"run_id: {run.info.run_id}\n"
        )
        (model / "requirements.txt").write_text("scikit-learn==1.5.2\n")
        (model / "model.txt").write_text(f"demo model, version {number}\n")
        client.log_artifacts(run.info.run_id, str(model), "model")
    client.set_terminated(run.info.run_id)
    if number == 1:
        client.create_registered_model(MODEL_NAME)
    version = client.create_model_version(
        MODEL_NAME, f"{run.info.artifact_uri}/model", run_id=run.info.run_id
    )
    return str(version.version)


def _reconcile(reconciler: Reconciler) -> None:
    result = reconciler.reconcile()
    print_result(result)
    print()


def _show_remote(remote: Path, path: str) -> None:
    repo = git.Repo(remote)
    print("== what the remote holds now")
    print(repo.git.log("--format=%h %s", "main"))
    print()
    print(repo.git.ls_tree("-r", "--name-only", "main"))
    deployment = f"{path}/{MODEL_NAME}/staging/deployment.yaml"
    print("\n== one commit in full: a subject for people, trailers for machines")
    print(repo.git.log("-1", "--format=%B", "main~1").rstrip())
    print(f"\n== {deployment} (first lines)")
    print("\n".join(repo.git.show(f"main:{deployment}").splitlines()[:24]))
