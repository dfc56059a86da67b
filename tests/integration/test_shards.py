"""Shards: several ``run`` processes over one real MLflow server, split by
``registry.models.include`` patterns, pushing to one bare remote (issue 22).

MLflow posts every event to every shard's webhook, so each shard also hears of the
other's models: it must leave them alone. Every promotion lands once, no commit is
lost or doubled, and a shard never removes or rewrites another's folders, also
after its patterns change and it restarts.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.servers.mlflow_server import MlflowServer, register_version
from tests.servers.mlflow_webhook import (
    WEBHOOK_EVENTS,
    DaemonProcess,
    base_config,
    deployed,
    remote_subjects,
    start_daemon,
)

pytestmark = [pytest.mark.slow]

SECRET = "webhook-secret-for-the-shards-test-0022"


def at(remote: Path, name: str, version: int) -> bool:
    return deployed(remote).get((name, "staging")) == str(version)


def moved(name: str, old: int, new: int) -> str:
    verb = "update" if new > old else "roll back"
    return f"{verb} {name} in staging: v{old} \u2192 v{new}"


def accepted(daemon: DaemonProcess) -> int:
    return daemon.log().count("webhook from 127.0.0.1: accepted")


def folders(remote: Path) -> dict[str, dict[str, str]]:
    """Each deployed model's files on main (path -> blob id), by the name its marker holds."""
    listing = subprocess.run(
        ["git", "-C", str(remote), "ls-tree", "-r", "main"],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    blobs = {line.split("\t", 1)[1]: line.split()[2] for line in listing}
    found: dict[str, dict[str, str]] = {}
    for path, blob in blobs.items():
        if not path.endswith("/promotion.json"):
            continue
        shown = subprocess.run(
            ["git", "-C", str(remote), "cat-file", "-p", blob],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        marker = json.loads(shown.stdout)
        top = path.rsplit("/", 1)[0] + "/"
        found[str(marker["name"])] = {p: b for p, b in blobs.items() if p.startswith(top)}
    return found


class Shards:
    """The shard daemons of one test, each with its own state and its own MLflow webhook."""

    def __init__(self, server: MlflowServer, remote: Path, work: Path, prefix: str) -> None:
        self.server, self.remote, self.work, self.prefix = server, remote, work, prefix
        self.client = server.client()
        self.daemons: dict[str, DaemonProcess] = {}
        self.hooks: dict[str, str] = {}

    def start(self, shard: str, include: list[str]) -> DaemonProcess:
        config = base_config(self.server, self.remote, self.work / f"state-{shard}", self.prefix)
        config["registry"]["models"]["include"] = include
        keys = {"resync_interval_seconds": 600, "probe_interval_seconds": 0}
        env = {"GITOPS_WATCHER_WEBHOOK_SECRET": SECRET}
        daemon = start_daemon(self.work / f"shard-{shard}", config, keys, env)
        self.daemons[shard] = daemon
        hook = self.client.create_webhook(
            name=f"shard-{shard}-{uuid.uuid4().hex[:8]}", url=f"{daemon.url}/webhooks/mlflow",
            events=WEBHOOK_EVENTS, secret=SECRET,  # type: ignore[arg-type]
        )  # fmt: skip
        self.hooks[shard] = hook.webhook_id
        return daemon

    def stop(self, shard: str) -> None:
        self.client.delete_webhook(self.hooks.pop(shard))
        assert self.daemons.pop(shard).stop() == 0

    def ready(self, shard: str) -> None:
        daemon = self.daemons[shard]
        daemon.wait_for("its startup", lambda: daemon.status()["last_success_at"] is not None)

    def stop_all(self) -> None:
        for shard in list(self.daemons):
            self.stop(shard)


def test_shards_land_every_promotion_once_and_keep_to_their_own_folders(
    webhook_mlflow: MlflowServer, bare_remote: Path, tmp_path: Path, unique_model_name: Any
) -> None:
    prefix = unique_model_name.prefix
    names = {shard: [unique_model_name(f"{shard}{n}") for n in (1, 2)] for shard in "ab"}
    everything = names["a"] + names["b"]
    client = webhook_mlflow.client()
    for name in everything:
        register_version(client, name)
        register_version(client, name)
        client.set_registered_model_alias(name, "staging", "1")
    shards = Shards(webhook_mlflow, bare_remote, tmp_path, prefix)
    try:
        for shard in "ab":
            shards.start(shard, [f"{prefix}-{shard}*"])
        first = shards.daemons["a"]
        first.wait_for("every startup promotion", lambda: all(
            at(bare_remote, name, 1) for name in everything))  # fmt: skip
        for shard in "ab":
            shards.ready(shard)
        time.sleep(1.5)  # MLflow caches its webhook list (1 s here)

        # A burst: every model moves at once; each shard hears of all four.
        for name in everything:
            client.set_registered_model_alias(name, "staging", "2")
        first.wait_for("every promotion of the burst", lambda: all(
            at(bare_remote, name, 2) for name in everything), timeout=60)  # fmt: skip
        subjects = remote_subjects(bare_remote)
        assert sorted(subjects) == sorted(
            [f"deploy {name} v1 to staging" for name in everything]
            + [moved(name, 1, 2) for name in everything]
        )
        for shard, other in (("a", "b"), ("b", "a")):  # each committed its own folders only
            log = shards.daemons[shard].log()
            assert all(f"{name} v1 to staging" in log for name in names[shard])
            assert not any(name in log for name in names[other]), shard
            # The other shard's deliveries asked for nothing: no run that manages nothing.
            assert log.count("accepted (no source here selects the model it names)") >= 2, shard
            assert "(asked by webhook): nothing managed" not in log, shard
        before = folders(bare_remote)

        # Shard a now selects a1 only, and restarts: a2 is nobody's now; both stay.
        shards.stop("a")
        shards.start("a", [f"{prefix}-a1*"])
        shards.ready("a")
        assert remote_subjects(bare_remote) == subjects
        assert folders(bare_remote) == before
        time.sleep(1.5)  # the new webhook is in MLflow's list

        a1, a2 = names["a"]
        b1 = names["b"][0]
        heard = {shard: accepted(daemon) for shard, daemon in shards.daemons.items()}
        for name in (a1, a2, b1):
            client.set_registered_model_alias(name, "staging", "1")
        first = shards.daemons["b"]
        first.wait_for("a1's and b1's promotions", lambda: at(bare_remote, a1, 1) and at(
            bare_remote, b1, 1))  # fmt: skip
        for shard, daemon in shards.daemons.items():  # both heard of a2: neither deploys it
            daemon.wait_for("the three deliveries", lambda d=daemon, s=shard: (
                accepted(d) >= heard[s] + 3))  # fmt: skip
            time.sleep(0.5)
            daemon.wait_for("its runs", lambda d=daemon: d.status()["running_since"] is None)
        new = remote_subjects(bare_remote)[len(subjects):]
        assert sorted(new) == sorted([moved(a1, 2, 1), moved(b1, 2, 1)])
        after = folders(bare_remote)
        for name in (a2, *names["b"][1:]):
            assert after[name] == before[name], name
        assert at(bare_remote, a2, 2)
    finally:
        shards.stop_all()
