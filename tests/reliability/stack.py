"""Shared set-up of the reliability tests: the daemon as a process, remotes and checks.

Plain helpers over the real servers in tests/servers/; each test starts what it
needs and stops it. Checks are the guarantees of docs/reliability.md: one
commit per changed (name, stage), every folder complete, every commit's
artifacts present, and the ledger agreeing with git.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.servers.mlflow_webhook import remote_subjects, remote_tree

__all__ = ["remote_subjects", "remote_tree"]

FILES = {"deployment.yaml", "kustomization.yaml", "promotion.json", "service.yaml"}
#: Fast daemon knobs: resync every second, short bounded backoff, no probe.
FAST = {
    "resync_interval_seconds": 1,
    "probe_interval_seconds": 0,
    "backoff_min_seconds": 1,
    "backoff_max_seconds": 4,
}


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout.strip()


def bare_repo(path: Path) -> Path:
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(path)], check=True)
    return path


def remote_files(remote: Path) -> dict[str, bytes]:
    """Every file on the remote's main, read from one commit (a daemon may push meanwhile)."""
    files: dict[str, bytes] = {}
    if not remote_subjects(remote):
        return files
    head = subprocess.run(
        ["git", "-C", str(remote), "rev-parse", "main"], capture_output=True, text=True, check=True
    ).stdout.strip()
    for path in remote_tree(remote, head):
        files[path] = subprocess.run(
            ["git", "-C", str(remote), "show", f"{head}:{path}"], capture_output=True, check=True
        ).stdout
    return files


def folders(remote: Path) -> dict[str, set[str]]:
    """deployments/<name>/<stage> -> its file names; asserts every folder is complete."""
    found: dict[str, set[str]] = {}
    for path in remote_tree(remote):
        if path.startswith("deployments/"):
            folder, _, name = path.rpartition("/")
            found.setdefault(folder, set()).add(name)
    assert all(files == FILES for files in found.values()), found
    return found


def deployed_revisions(remote: Path) -> dict[str, str]:
    """folder -> revision its promotion.json names."""
    out = {}
    for path, data in remote_files(remote).items():
        if path.endswith("/promotion.json"):
            out[path.rsplit("/", 1)[0]] = str(json.loads(data)["revision"])
    return out


def assert_one_commit_per_change(remote: Path) -> None:
    """No subject twice in a row for one folder: each commit changes exactly one folder."""
    if not remote_subjects(remote):
        return
    log = git("log", "--format=%H", "main", cwd=remote).splitlines()
    for sha in log:
        changed = git("diff-tree", "--no-commit-id", "--name-only", "-r", "--root", sha, cwd=remote)
        touched = {p.rsplit("/", 1)[0] for p in changed.splitlines()}
        assert len(touched) == 1, (sha, touched)
    subjects = remote_subjects(remote)
    assert len(subjects) == len(set(subjects)), subjects
    subprocess.run(["git", "-C", str(remote), "fsck", "--no-progress"], check=True)


def ledger_rows(state_dir: Path) -> list[dict[str, Any]]:
    path = state_dir / "state.db"
    if not path.exists():
        return []
    with sqlite3.connect(path) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM ledger ORDER BY id")]


def assert_ledger_agrees_with_git(state_dir: Path, remote: Path) -> set[str]:
    """Every commit an ``applied`` row names is on the remote and deploys that row's
    revision in that row's folder; no ``applied`` row for a push that never landed.

    Returns the remote's commits the ledger has no row for (a crash between the push
    and the ledger write loses that row: the ledger is a record, git is the truth).
    """
    commits = git("log", "--format=%H", "main", cwd=remote).splitlines()
    rows = ledger_rows(state_dir)
    for row in rows:
        if row["outcome"] != "applied":
            continue
        assert row["commit"] in commits, row
        if row["action"] != "remove":
            marker = git("show", f"{row['commit']}:deployments/{row['folder']}/promotion.json",
                         cwd=remote)  # fmt: skip
            assert str(json.loads(marker)["revision"]) == row["revision"], row
    return set(commits) - {row["commit"] for row in rows if row["commit"]}


def wait_until(what: str, check: Callable[[], bool], timeout: float = 60.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def markers_in_history(remote: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """(commit, path) -> parsed promotion.json, for every marker in every commit of the remote."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    if not remote_subjects(remote):
        return found
    for sha in git("rev-list", "--all", cwd=remote).splitlines():
        for path in git("ls-tree", "-r", "--name-only", sha, cwd=remote).splitlines():
            if path.endswith("/promotion.json"):
                found[(sha, path)] = json.loads(git("show", f"{sha}:{path}", cwd=remote))
    return found


def assert_every_marker_names_a_complete_copy(remote: Path, s3: Any, bucket: str) -> int:
    """Each marker's ``details.artifact`` in the whole history is a complete copy in ``bucket``:
    the manifest beside it, every file it lists present with its size and SHA-256 (hashed
    here), and the digest recomputed here equal to the marker's. Returns how many were checked.
    """
    import hashlib

    from tests.artifact_checks import expected_digest

    checked: dict[str, str] = {}
    for (sha, path), marker in markers_in_history(remote).items():
        artifact = (marker.get("details") or {}).get("artifact")
        assert artifact, (sha, path, marker)
        uri = str(artifact["uri"])
        assert uri.startswith(f"s3://{bucket}/") and uri.endswith("/model"), (sha, path, uri)
        if uri in checked:
            assert checked[uri] == artifact["digest"], (sha, path, uri)
            continue
        files_key = uri.removeprefix(f"s3://{bucket}/")
        manifest_key = files_key.rsplit("/", 1)[0] + "/gitops-watcher-manifest.json"
        manifest = json.loads(s3.get_object(Bucket=bucket, Key=manifest_key)["Body"].read())
        data: dict[str, bytes] = {}
        for entry in manifest["files"]:
            body = s3.get_object(Bucket=bucket, Key=f"{files_key}/{entry['path']}")["Body"].read()
            assert len(body) == entry["size"], (uri, entry["path"])
            assert hashlib.sha256(body).hexdigest() == entry["sha256"], (uri, entry["path"])
            data[entry["path"]] = body
        assert expected_digest(data) == artifact["digest"] == manifest["digest"], (sha, uri)
        assert artifact["files"] == len(data), (sha, uri)
        checked[uri] = str(artifact["digest"])
    return len(checked)


def metric(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` in Prometheus text whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        sample, _, rest = head.partition("{")
        if sample != name:
            continue
        found = dict(part.split("=", 1) for part in rest.rstrip("}").split(",") if "=" in part)
        if all(found.get(k, "").strip('"') == v for k, v in labels.items()):
            total += float(value)
    return total
