"""Where ``reconcile --once`` prints what, as the README says: the report on stdout (each
failure once, with the summary), logs and the error that stops a run early on stderr.

Real parts: the MLflow server driven by MlflowClient, a bare git remote, the command as a
process (``python -m watcher``) with this checkout's code.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.servers.mlflow_server import MlflowServer, register_version

pytestmark = [pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def run_once(config: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GIT_", "MLFLOW_", "GITOPS_WATCHER_", "BUCKET_NAME", "AWS_"))
    }
    env.update(PYTHONPATH=str(ROOT), XDG_STATE_HOME=str(cwd / "xdg"))
    return subprocess.run(
        [sys.executable, "-m", "watcher", "--config", str(config), "reconcile", "--once"],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=180,
        check=False,
    )


def write_config(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_failures_are_reported_once_on_stdout_and_a_fatal_error_on_stderr(
    mlflow_server: MlflowServer, bare_remote: Path, tmp_path: Path, unique_model_name: Any
) -> None:
    good, typo = unique_model_name("good"), unique_model_name("typo")
    client = mlflow_server.client()
    register_version(client, good)
    client.set_registered_model_alias(good, "staging", "1")
    register_version(client, typo)
    client.set_model_version_tag(typo, "1", "deploy.replicas", "lots")
    client.set_registered_model_alias(typo, "champion", "1")
    settings: dict[str, Any] = {
        "state_dir": str(tmp_path / "state"),
        "registry": {
            "tracking_uri": mlflow_server.url,
            "models": {"include": [f"{unique_model_name.prefix}*"]},
        },
        "git": {"repo_url": str(bare_remote)},
        "artifacts": {"sources": {"local_roots": [str(mlflow_server.artifact_root)]}},
    }

    done = run_once(write_config(tmp_path / "watcher.yaml", settings), tmp_path)
    assert done.returncode == 1, done.stderr
    failed = f"FAILED model '{typo}' in production: tag 'deploy.replicas' must be"
    lines = done.stdout.splitlines()
    assert [line for line in lines if line.startswith("FAILED")] == [
        line for line in lines if line.startswith(failed)
    ] and len([line for line in lines if line.startswith(failed)]) == 1, done.stdout
    assert lines[-1].startswith("pushed 1 commit(s); 0 deployment(s) unchanged, 1 failed")
    # Not repeated in the logs at the default verbosity.
    assert "lots" not in done.stderr and typo not in done.stderr, done.stderr

    # A registry that cannot be reached stops the run before any report: stderr, exit 3.
    settings["registry"]["tracking_uri"] = f"http://127.0.0.1:{closed_port()}"
    settings["registry"]["timeout_seconds"] = 2
    down = run_once(write_config(tmp_path / "down.yaml", settings), tmp_path)
    assert down.returncode == 3, down.stderr
    assert down.stdout == ""
    assert down.stderr.splitlines()[-1].startswith("error: "), down.stderr
    assert "cannot reach the model registry" in down.stderr.splitlines()[-1]
