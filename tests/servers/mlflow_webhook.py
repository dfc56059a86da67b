"""Test helpers for the daemon: an MLflow server that sends webhooks, and ``run`` as a process.

Plain code, no pytest. The MLflow server is the real one from mlflow_server.py,
started with the settings its webhook sender needs to post to http://127.0.0.1
(DESIGN.md: https only and no private addresses by default) and a short cache of
its webhook list. The daemon runs as ``python -m watcher run`` once the CLI
wires the command, else ``python -m watcher.daemon run``, from this checkout.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.servers.mlflow_server import (
    MlflowServer,
    free_port,
    log_tail,
    start_mlflow_server,
    stop_process_group,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
WEBHOOK_EVENTS = [
    "model_version.created",
    "model_version_tag.set",
    "model_version_tag.deleted",
    "model_version_alias.created",
    "model_version_alias.deleted",
]


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def start_webhook_mlflow_server(workdir: Path) -> MlflowServer:
    """``mlflow server`` (SQLite backend) allowed to send webhooks to http://127.0.0.1."""
    from cryptography.fernet import Fernet

    env = {
        "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
        "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
        "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "MLFLOW_WEBHOOK_CACHE_TTL": "1",
    }
    with _environment(env):
        return start_mlflow_server(workdir)


def daemon_command() -> list[str]:
    """``gitops-watcher`` as ``python -m watcher`` (``run`` and its options follow)."""
    return [sys.executable, "-m", "watcher"]


@dataclass
class DaemonProcess:
    process: subprocess.Popen[bytes] = field(repr=False)
    url: str
    log_path: Path
    config_path: Path

    def get(self, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as answer:  # noqa: S310
                return int(answer.status), answer.read()
        except urllib.error.HTTPError as exc:
            return int(exc.code), exc.read()

    def status(self) -> dict[str, Any]:
        code, body = self.get("/status")
        assert code == 200, body
        data: dict[str, Any] = json.loads(body)
        return data

    def post(self, path: str, body: bytes, headers: Mapping[str, str]) -> int:
        request = urllib.request.Request(  # noqa: S310 - a local test URL
            self.url + path, data=body, headers=dict(headers), method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310
                return int(answer.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for(self, what: str, check: Callable[[], bool], timeout: float = 30.0) -> float:
        """Poll ``check`` until true; the seconds it took; fail with the log tail otherwise."""
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"daemon exited ({self.process.returncode}) while waiting for {what}:\n"
                    f"{log_tail(self.log_path, 60)}"
                )
            with contextlib.suppress(OSError, AssertionError, ValueError):
                if check():
                    return time.monotonic() - started
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}:\n{log_tail(self.log_path, 60)}")

    def wait_http(self, timeout: float = 30.0) -> None:
        self.wait_for("the HTTP endpoints", lambda: self.get("/healthz")[0] == 200, timeout)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Signal the daemon and wait; its exit code (the group is killed if it hangs)."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                stop_process_group(self.process)
                raise AssertionError(
                    f"daemon did not stop on signal {sig}:\n{log_tail(self.log_path)}"
                ) from None
        return int(self.process.returncode)

    def kill(self) -> None:
        stop_process_group(self.process, timeout=5)


def start_daemon(
    workdir: Path,
    config: Mapping[str, Any],
    daemon: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    args: tuple[str, ...] = (),
    options: tuple[str, ...] = (),
    wait: bool = True,
) -> DaemonProcess:
    """Write ``config`` as YAML, set ``daemon`` keys as GITOPS_WATCHER_DAEMON__* and start.

    ``args`` go after ``run``; ``options`` are global ones before it (``-vv``,
    ``--log-format json``).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "config.yaml"
    config_path.write_text(yaml.safe_dump(dict(config)), encoding="utf-8")
    port = free_port()
    full_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLFLOW_", "GIT_", "GITOPS_WATCHER_", "AWS_"))
    }
    full_env["PYTHONPATH"] = str(REPO_ROOT)
    for key, value in (daemon or {}).items():
        if isinstance(value, Mapping):
            for sub, subvalue in value.items():
                full_env[f"GITOPS_WATCHER_DAEMON__{key.upper()}__{sub.upper()}"] = str(subvalue)
        else:
            full_env[f"GITOPS_WATCHER_DAEMON__{key.upper()}"] = str(value)
    full_env.update(env or {})
    log_path = workdir / "daemon.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [*daemon_command(), "--config", str(config_path), "-v", *options, "run",
             "--listen", f"127.0.0.1:{port}", *args],
            stdout=log, stderr=subprocess.STDOUT, cwd=workdir, env=full_env,
            start_new_session=True,
        )  # fmt: skip
    started = DaemonProcess(process, f"http://127.0.0.1:{port}", log_path, config_path)
    if wait:
        try:
            started.wait_http()
        except AssertionError:
            started.kill()
            raise
    return started


def base_config(
    server: MlflowServer, remote: Path, state: Path, prefix: str, *, tracking_uri: str = ""
) -> dict[str, Any]:
    """Settings for one test's models (by name prefix), a bare remote and a local store."""
    return {
        "state_dir": str(state),
        "registry": {
            "tracking_uri": tracking_uri or server.url,
            "models": {"include": [f"{prefix}*"]},
        },
        "git": {"repo_url": str(remote), "push_backoff_seconds": 0},
        "artifacts": {"sources": {"local_roots": [str(server.artifact_root)]}},
    }


def remote_subjects(remote: Path) -> list[str]:
    """Commit subjects on main, oldest first; [] while the branch does not exist."""
    branches = subprocess.run(
        ["git", "-C", str(remote), "branch", "--list", "main"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    if not branches.strip():
        return []
    return subprocess.run(
        ["git", "-C", str(remote), "log", "--reverse", "--format=%s", "main"],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip


def remote_tree(remote: Path, ref: str = "main") -> list[str]:
    if not remote_subjects(remote):
        return []
    return subprocess.run(
        ["git", "-C", str(remote), "ls-tree", "-r", "--name-only", ref],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip


def deployed(remote: Path) -> dict[tuple[str, str], str]:
    """(name, stage) -> revision, from the promotion.json markers on the remote's main.

    Read from one commit: a daemon may push while this reads (a file listed at the old
    head may be gone at the new one)."""
    found: dict[tuple[str, str], str] = {}
    if not remote_subjects(remote):
        return found
    head = subprocess.run(
        ["git", "-C", str(remote), "rev-parse", "main"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    for path in remote_tree(remote, head):
        if not path.endswith("/promotion.json"):
            continue
        data = json.loads(
            subprocess.run(
                ["git", "-C", str(remote), "show", f"{head}:{path}"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        model = data.get("model") or {}  # format 1 (before the spine) kept these under "model"
        name = data.get("name") or model.get("name")
        stage = data.get("stage") or (data.get("deployment") or {}).get("stage")
        found[(str(name), str(stage))] = str(data.get("revision") or model.get("version"))
    return found
