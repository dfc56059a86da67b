"""Looking for secrets in everything gitops-watcher wrote: the scan the secrets tests share.

A secret is looked for in every form a leak could write it: plain,
percent-encoded, form-encoded, base64, and base64 of ``user:secret`` (a Basic
``Authorization`` header). The places: git objects (blobs, trees, commit
messages), files, database rows, bucket objects, and any text (logs, HTTP
bodies, command output).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import subprocess
import sys
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from tests.servers.mlflow_webhook import REPO_ROOT
from tests.servers.seaweedfs import S3Server

Surfaces = dict[str, bytes | str]


def new_secret(label: str) -> str:
    """Long, unique, with characters that percent-encoding and base64 change."""
    return f"{label}-{secrets.token_hex(10)}+/=@:%{secrets.token_hex(4)}"


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass(frozen=True)
class Secret:
    name: str
    value: str
    user: str = ""

    def needles(self) -> dict[str, str]:
        """Every form the secret could be written in -> a label for the failure message."""
        forms = {
            self.value: "plain",
            urllib.parse.quote(self.value, safe=""): "percent-encoded",
            urllib.parse.quote_plus(self.value): "form-encoded",
            base64.b64encode(self.value.encode()).decode(): "base64",
        }
        if self.user:
            pair = f"{self.user}:{self.value}".encode()
            forms[base64.b64encode(pair).decode()] = "base64 of user:secret"
            forms[base64.urlsafe_b64encode(pair).decode()] = "urlsafe base64 of user:secret"
        return {f"{self.name} ({label})": needle for needle, label in forms.items()}


def find_leaks(where: str, data: bytes | str, all_secrets: list[Secret]) -> list[str]:
    raw = data.encode("utf-8", "replace") if isinstance(data, str) else data
    leaks = []
    for secret in all_secrets:
        for label, needle in secret.needles().items():
            if needle.encode() in raw:
                at = raw.index(needle.encode())
                context = raw[max(0, at - 120) : at + 40].decode("utf-8", "replace")
                leaks.append(f"{label} in {where}: …{context}…")
    return leaks


def all_leaks(surfaces: Surfaces, all_secrets: list[Secret]) -> list[str]:
    return [
        leak for where, data in surfaces.items() for leak in find_leaks(where, data, all_secrets)
    ]


def git_objects(git_dir: Path) -> bytes:
    """Every object in a git database, decompressed (blobs, trees, commits, tags)."""
    return subprocess.run(
        ["git", "--git-dir", str(git_dir), "cat-file", "--batch-all-objects", "--batch"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip


def files_under(root: Path, surfaces: Surfaces, label: str = "file") -> None:
    """Every regular file under ``root`` (and the objects of every git database there)."""
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            surfaces[f"{label} {path.relative_to(root)}"] = path.read_bytes()
    for dot_git in root.rglob(".git"):
        surfaces[f"git objects of {dot_git}"] = git_objects(dot_git)


def sign(secret: str, delivery: str, stamp: str, body: bytes) -> str:
    """MLflow's webhook signature, computed here (docs/daemon.md), not by the code under test."""
    digest = hmac.new(secret.encode(), f"{delivery}.{stamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(digest.digest()).decode()


def scan_database(engine: sa.Engine) -> dict[str, str]:
    """table -> all its rows as text; asserts the ledger has rows."""
    out = {}
    with engine.connect() as conn:
        for table in sa.inspect(conn).get_table_names():
            rows = conn.execute(sa.select(sa.Table(table, sa.MetaData(), autoload_with=conn)))
            out[table] = "\n".join(repr(tuple(row)) for row in rows.fetchall())
    assert out.get("ledger"), out.keys()
    return out


def bucket_objects(s3: S3Server, bucket: str) -> dict[str, bytes]:
    client = s3.client()
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            if item["Size"] <= 1024 * 1024:
                key = str(item["Key"])
                found[key] = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return found


def run_cli(
    args: list[str],
    config: Path,
    env: dict[str, str],
    *,
    verbosity: str = "-vv",
    ok: tuple[int, ...] = (0, 1),
) -> str:
    """``python -m watcher --config CONFIG -vv ARGS`` with only ``env`` of the credential
    variables; its stdout and stderr, after checking its exit code is one of ``ok``."""
    full_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLFLOW_", "GIT_", "GITOPS_WATCHER_", "AWS_"))
    }
    full_env.update(env, PYTHONPATH=str(REPO_ROOT))
    done = subprocess.run(
        [sys.executable, "-m", "watcher", "--config", str(config), verbosity, *args],
        capture_output=True, text=True, env=full_env, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode in ok, f"{args}: exit {done.returncode}\n{done.stdout}{done.stderr}"
    return done.stdout + done.stderr
