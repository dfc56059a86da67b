"""Start and stop a real MLflow tracking server for tests (plain code, no pytest).

The server runs as its own process group on 127.0.0.1 with one worker and job
execution off (DESIGN.md: about 10 s and 0.5 GB instead of 15 processes and
2.6 GB), so a whole session can share one.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion
    from mlflow.tracking import MlflowClient

START_TIMEOUT_SECONDS = 120.0
#: MLflow's telemetry switches (mlflow.telemetry.utils.is_telemetry_disabled): servers and
#: clients started by tests and benchmarks send nothing and write no installation id.
TELEMETRY_OFF = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}


def free_port() -> int:
    """A port nobody listens on right now (the usual small race is acceptable in tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def stop_process_group(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM the group we started, then SIGKILL it if it does not go away."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=timeout)
    # Workers may outlive the leader; the group id is still the leader's pid.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=timeout)


@dataclass
class MlflowServer:
    """A running MLflow server: where it is and what it stores."""

    url: str
    db_uri: str
    db_path: Path | None
    artifact_root: Path
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    def client(self) -> MlflowClient:
        from mlflow.tracking import MlflowClient

        return MlflowClient(tracking_uri=self.url, registry_uri=self.url)


def start_mlflow_server(
    workdir: Path,
    backend_uri: str | None = None,
    *,
    proxy_artifacts: bool = False,
    port: int | None = None,
    workers: int = 1,
) -> MlflowServer:
    """Start ``mlflow server`` and wait for /health; raise with the log tail if it fails.

    ``proxy_artifacts`` serves artifacts through the server (``--artifacts-destination``),
    so runs get ``mlflow-artifacts:/`` URIs instead of local paths. ``port`` restarts a
    stopped server at the same address. ``workers``: 1 keeps tests light; MLflow's own
    default is 4 (the benchmarks use that).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    db_path: Path | None = None
    if backend_uri is None:
        db_path = workdir / "mlflow.db"
        backend_uri = f"sqlite:///{db_path}"
    artifact_root = workdir / "artifacts"
    artifact_root.mkdir(exist_ok=True)
    log_path = workdir / "mlflow-server.log"
    port = port or free_port()
    env = dict(os.environ)
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    env.update(TELEMETRY_OFF)
    env.pop("MLFLOW_TRACKING_URI", None)
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", backend_uri,
        "--artifacts-destination" if proxy_artifacts else "--default-artifact-root",
        str(artifact_root),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--workers", str(workers),
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env=env,
            start_new_session=True,
        )
    server = MlflowServer(
        url=f"http://127.0.0.1:{port}",
        db_uri=backend_uri,
        db_path=db_path,
        artifact_root=artifact_root,
        log_path=log_path,
        process=process,
    )
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(f"{server.url}/health", timeout=2) as answer:  # noqa: S310
                if answer.status == 200:
                    return server
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    stop_process_group(process)
    raise RuntimeError(
        f"mlflow server on port {port} did not become healthy "
        f"(exit code {process.returncode}); log tail:\n{log_tail(log_path)}"
    )


def stop_mlflow_server(server: MlflowServer) -> None:
    stop_process_group(server.process)


def register_version(
    client: MlflowClient, name: str, *, tags: dict[str, str] | None = None
) -> ModelVersion:
    """Register a new version of ``name`` backed by a real run with a tiny model folder."""
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name)
    run = client.create_run(experiment_id="0")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "MLmodel").write_text(
            "artifact_path: model\nflavors:\n  python_function:\n    loader_module: tiny\n"
        )
        (folder / "model.pkl").write_bytes(b"tiny model\n")
        client.log_artifacts(run.info.run_id, str(folder), artifact_path="model")
    client.set_terminated(run.info.run_id)
    return client.create_model_version(
        name,
        source=f"{run.info.artifact_uri}/model",
        run_id=run.info.run_id,
        tags=tags,
    )
