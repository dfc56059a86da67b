"""Someone else pushes to the GitOps repository while the daemon runs.

A person's push lands exactly while the daemon's push is in flight (the daemon's
receive-pack request is held by a TCP proxy in front of the real git HTTP server,
and the person pushes in that window): the daemon's push is refused, it re-plans
on their head and pushes again; their commits stay in history, nothing is ever
force-pushed. A folder whose marker a person removed is no longer ours: it is
reported and left as they made it. A hand edit inside a folder that still holds
our marker is drift in a folder we own, and the next reconcile writes it back.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.stack import (
    FAST,
    deployed_revisions,
    git,
    remote_files,
    remote_subjects,
    wait_until,
)
from tests.servers.git_http import GitHttpServer, start_git_http
from tests.servers.mlflow_server import MlflowServer, register_version
from tests.servers.mlflow_webhook import DaemonProcess, base_config, start_daemon
from tests.servers.tcp_proxy import TcpProxy, http_request_contains, start_proxy
from watcher.core.names import model_slug

pytestmark = [pytest.mark.slow]

TOKEN = "ghp_" + "C0ncurr3nt" * 3


@pytest.fixture
def http_remote(tmp_path: Path) -> Iterator[tuple[GitHttpServer, TcpProxy, Path]]:
    server = start_git_http(tmp_path / "git-root", "deploy-bot", TOKEN)
    remote = server.create_repo()
    host, port = server.url.removeprefix("http://").split(":")
    proxy = start_proxy((host, int(port)))
    try:
        yield server, proxy, remote
    finally:
        proxy.stop()
        server.stop()


def _person_pushes(remote: Path, work: Path, edit: dict[str, str | None], message: str) -> str:
    """Clone, change files (None deletes), commit and push as a person would; the sha."""
    if not work.exists():
        subprocess.run(["git", "clone", "-q", str(remote), str(work)], check=True)
    git("pull", "-q", "--rebase", cwd=work)
    for path, text in edit.items():
        target = work / path
        if text is None:
            git("rm", "-q", path, cwd=work)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            git("add", path, cwd=work)
    env_args = ["-c", "user.name=Pat", "-c", "user.email=pat@example.com"]
    git(*env_args, "commit", "-q", "-m", message, cwd=work)
    git("push", "-q", "origin", "HEAD:main", cwd=work)
    return git("rev-parse", "HEAD", cwd=work)


def _race(
    mlflow_server: MlflowServer,
    http_remote: tuple[GitHttpServer, TcpProxy, Path],
    tmp_path: Path,
    unique_model_name: Any,
    then: Callable[[DaemonProcess, Path, Path, list[str]], None] | None = None,
) -> str:
    """Three promotions; then a person's push lands while the daemon's push is held.

    Returns the daemon's log; ``then`` continues with the daemon still running."""
    _server, proxy, remote = http_remote
    client = mlflow_server.client()
    kept, edited, released = (unique_model_name(x) for x in ("kept", "edited", "released"))
    for name in (kept, edited, released):
        register_version(client, name)
        client.set_registered_model_alias(name, "staging", "1")
    config = base_config(mlflow_server, tmp_path / "unused", tmp_path / "state",
                         unique_model_name.prefix)  # fmt: skip
    config["git"].update({"repo_url": f"http://{proxy.address}/repo.git",
                          "push_backoff_seconds": 0.5})  # fmt: skip
    env = {"GIT_USERNAME": "deploy-bot", "GIT_TOKEN": TOKEN}
    daemon = start_daemon(tmp_path / "d", config, {**FAST, "resync_interval_seconds": 2}, env)
    work = tmp_path / "person"
    try:
        wait_until("three promotions", lambda: len(remote_subjects(remote)) == 3)
        subprocess.run(["git", "clone", "-q", str(remote), str(work)], check=True)

        # Hold the daemon's next push for 3 s; push our own commit inside that window.
        pushes = http_request_contains("POST /repo.git/git-receive-pack")
        proxy.rules.delay_match, proxy.rules.delay_seconds = pushes, 3.0
        held = proxy.requests_matching(pushes)
        register_version(client, kept)
        client.set_registered_model_alias(kept, "staging", "2")
        wait_until("the daemon's push to start", lambda: proxy.requests_matching(pushes) > held, 30)
        theirs = _person_pushes(remote, work, {"apps/README.md": "hand written\n"}, "docs: apps")
        proxy.rules.delay_seconds = 0.0
        daemon.wait_for("the re-applied promotion",
                        lambda: len(remote_subjects(remote)) == 5, 30)  # fmt: skip
        git("merge-base", "--is-ancestor", theirs, "main", cwd=remote)  # never force-pushed
        assert remote_files(remote)["apps/README.md"] == b"hand written\n"
        slug = model_slug(kept)
        assert deployed_revisions(remote)[f"deployments/{slug}/staging"] == "2"
        if then is not None:
            then(daemon, remote, work, [edited, released])
    finally:
        assert daemon.stop() == 0
    return daemon.log()


def test_a_push_in_the_same_moment_is_kept_and_ours_is_reapplied_on_top(
    mlflow_server: MlflowServer,
    http_remote: tuple[GitHttpServer, TcpProxy, Path],
    tmp_path: Path,
    unique_model_name: Any,
) -> None:
    def hand_edits(daemon: DaemonProcess, remote: Path, work: Path, names: list[str]) -> None:
        edited, released = names
        client = mlflow_server.client()
        # A person takes a folder over (removes our marker) and edits another by hand.
        edited_folder = f"deployments/{model_slug(edited)}/staging"
        released_folder = f"deployments/{model_slug(released)}/staging"
        mine = _person_pushes(
            remote,
            work,
            {
                f"{released_folder}/promotion.json": None,
                f"{released_folder}/deployment.yaml": "# pinned by hand\nkind: Deployment\n",
                f"{edited_folder}/deployment.yaml": "# edited by hand\n",
            },
            "ops: take over released, hot-fix edited",
        )
        register_version(client, released)
        client.set_registered_model_alias(released, "staging", "2")
        ops = "ops: take over released, hot-fix edited"

        def held() -> bool:
            return any(
                r["name"] == edited and r["state"] == "held" for r in daemon.status()["releases"]
            )

        # The hot fix is a person's change: honoured (held), not repaired (docs/policy.md).
        daemon.wait_for("the hold of the hand edit", held, 30)
        time.sleep(3)  # a few more resyncs: nothing more happens
        files = remote_files(remote)
        git("merge-base", "--is-ancestor", mine, "main", cwd=remote)
        assert (
            files[f"{released_folder}/deployment.yaml"] == b"# pinned by hand\nkind: Deployment\n"
        )
        assert f"{released_folder}/promotion.json" not in files
        assert files[f"{edited_folder}/deployment.yaml"] == b"# edited by hand\n"
        problems = " ".join(str(p.get("error")) for p in daemon.status()["problems"])
        assert released_folder.removeprefix("deployments/") in problems, problems
        assert "never overwrites what it did not write" in daemon.log()
        subjects = remote_subjects(remote)
        assert subjects[-1] == ops, subjects  # nothing after the person's commit

    _race(mlflow_server, http_remote, tmp_path, unique_model_name, hand_edits)


def test_a_lost_push_race_over_http_is_replanned_within_the_same_reconcile(
    mlflow_server: MlflowServer,
    http_remote: tuple[GitHttpServer, TcpProxy, Path],
    tmp_path: Path,
    unique_model_name: Any,
) -> None:
    log = _race(mlflow_server, http_remote, tmp_path, unique_model_name)
    assert "push rejected (attempt 1 of" in log
    assert "reconcile could not complete" not in log
