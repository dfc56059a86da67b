"""Notifications through ``reconcile --once``: a real MLflow server, a bare remote, and a real
HTTP receiver (tests/servers/receiver.py) that takes the json, slack and cloudevents copies.

Each ``reconcile --once`` is its own process, so "one event per change" is checked
across processes: the events come from the changes the ledger records. A deploy,
nothing, a refusal (a bad ``deploy.replicas`` tag) twice, its fix (``deployed`` and
``recovered`` once), an update with its diff, a removal; every body is checked the
way a receiver would: its fields, its signature, its CloudEvents envelope.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.servers.mlflow_fixtures import ModelNames
from tests.servers.mlflow_server import MlflowServer, register_version
from tests.servers.mlflow_webhook import REPO_ROOT, base_config, remote_subjects
from tests.servers.receiver import Receiver, start_receiver

pytestmark = [pytest.mark.slow]

SECRET = "notify-secret-0123456789abcdef"
BODY_FIELDS = {"event", "kind", "source", "name", "stage", "from_revision", "to_revision",
               "commit", "url", "message", "diff", "time", "id"}  # fmt: skip


def once(config: Path, env: dict[str, str], *, ok: tuple[int, ...] = (0,)) -> str:
    full_env = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("MLFLOW_", "GIT_", "GITOPS_WATCHER_", "AWS_"))
    }  # fmt: skip
    full_env.update(env, PYTHONPATH=str(REPO_ROOT))
    done = subprocess.run(
        [sys.executable, "-m", "watcher", "--config", str(config), "-v", "reconcile", "--once"],
        capture_output=True, text=True, env=full_env, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode in ok, f"exit {done.returncode}\n{done.stdout}{done.stderr}"
    return done.stdout + done.stderr


def notification_config(
    mlflow_server: MlflowServer, remote: Path, state: Path, prefix: str, receiver: Receiver
) -> dict[str, Any]:
    config = base_config(mlflow_server, remote, state, prefix)
    config["notifications"] = [
        {"name": "team-json", "url": f"{receiver.url}/json", "secret_env": "NOTIFY_SECRET"},
        {"name": "team-slack", "url_env": "SLACK_URL", "format": "slack",
         "events": ["deployed", "updated", "removed", "refused", "failed", "recovered"]},
        {"name": "broker", "url": f"{receiver.url}/ce", "format": "cloudevents",
         "stages": ["staging"]},
    ]  # fmt: skip
    return config


def events(receiver: Receiver, path: str = "/json") -> list[tuple[str, str]]:
    return [(body["event"], body["name"]) for body in receiver.events(path)]


@dataclass
class Once:
    """``reconcile --once`` with one config file and environment, as its own process."""

    config: Path
    env: dict[str, str]

    def __call__(self, ok: tuple[int, ...] = (0,)) -> str:
        return once(self.config, self.env, ok=ok)


def test_reconcile_once_sends_one_event_per_change_in_three_formats(
    mlflow_server: MlflowServer, bare_remote: Path, tmp_path: Path, unique_model_name: ModelNames
) -> None:
    receiver = start_receiver()
    try:
        config = notification_config(
            mlflow_server, bare_remote, tmp_path / "state", unique_model_name.prefix, receiver
        )
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        run = Once(path, {"NOTIFY_SECRET": SECRET, "SLACK_URL": f"{receiver.url}/slack"})
        client = mlflow_server.client()
        good, bad = unique_model_name("good"), unique_model_name("bad")

        register_version(client, good)
        client.set_registered_model_alias(good, "staging", "1")
        run()
        # reconcile --once waited for its deliveries before it exited.
        assert events(receiver) == [("deployed", good)]
        _check_the_three_copies(receiver, good, bare_remote)
        run()  # nothing changed: a second process sends nothing
        assert events(receiver) == [("deployed", good)]
        _refused_once_then_recovered(run, client, receiver, bad)
        _updated_and_removed(run, client, receiver, good)

        # Every change once, in every format that asked for it; ids unique per event.
        json_ids = [body["id"] for body in receiver.events("/json")]
        assert len(json_ids) == len(set(json_ids)) == 6
        assert [_slack_id(b) for b in receiver.events("/slack")] == json_ids
        assert [b["id"] for b in receiver.events("/ce")] == json_ids
        assert all(d.verify(SECRET) for d in receiver.delivered if d.path == "/json")
        assert len(remote_subjects(bare_remote)) == 4
    finally:
        receiver.stop()


def _check_the_three_copies(receiver: Receiver, name: str, remote: Path) -> None:
    """The json body as docs/notifications.md describes it, signed; the Slack message and
    the CloudEvent of the same event."""
    (deployed,) = [d for d in receiver.delivered if d.path == "/json"]
    assert deployed.verify(SECRET) and not deployed.verify("another secret")
    assert deployed.headers["content-type"] == "application/json"
    body = deployed.json()
    assert set(body) >= BODY_FIELDS
    assert (body["kind"], body["source"], body["stage"]) == ("model", "mlflow", "staging")
    assert (body["from_revision"], body["to_revision"]) == (None, "1")
    head = subprocess.run(["git", "-C", str(remote), "rev-parse", "main"], capture_output=True,
                          text=True, check=True).stdout.strip()  # fmt: skip
    assert body["commit"] == head
    assert body["url"].endswith(f"/#/models/{name}/versions/1")
    assert body["message"] == f"committed {head[:10]} deploy {name} v1 to staging"
    assert "+++ b/" in body["diff"] and "promotion.json" in body["diff"]
    assert body["time"].endswith("Z") and time.time() - _unix(body["time"]) < 120
    slack = receiver.events("/slack")
    (unsigned,) = [d for d in receiver.delivered if d.path == "/slack"]
    assert len(slack) == 1 and "x-gitops-watcher-signature" not in unsigned.headers
    assert name in slack[0]["text"] and slack[0]["blocks"][0]["type"] == "header"
    assert any("```" in str(block) for block in slack[0]["blocks"])  # the diff
    (cloud,) = [d for d in receiver.delivered if d.path == "/ce"]
    assert cloud.headers["content-type"] == "application/cloudevents+json"
    envelope = cloud.json()
    assert envelope["specversion"] == "1.0" and envelope["type"] == "io.gitops-watcher.deployed"
    assert envelope["data"] == body and envelope["id"] == body["id"] == _slack_id(slack[0])
    assert {"source", "subject", "time"} <= set(envelope)


def _refused_once_then_recovered(run: Once, client: Any, receiver: Receiver, bad: str) -> None:
    """A refusal, once over two runs, with its reason; then its fix recovers it."""
    register_version(client, bad, tags={"deploy.replicas": "lots"})
    client.set_registered_model_alias(bad, "staging", "1")
    run(ok=(1,))
    run(ok=(1,))
    assert events(receiver)[1:] == [("refused", bad)]
    refused = receiver.events("/json")[1]
    assert refused["commit"] is None and refused["to_revision"] == "1"
    assert refused["from_revision"] is None and "deploy.replicas" in refused["message"]
    assert refused["url"].endswith(f"/#/models/{bad}/versions/1")
    client.set_model_version_tag(bad, "1", "deploy.replicas", "2")
    run()
    assert events(receiver)[2:] == [("deployed", bad), ("recovered", bad)]


def _updated_and_removed(run: Once, client: Any, receiver: Receiver, good: str) -> None:
    """An update carries both revisions and its diff; a removal names what ran."""
    register_version(client, good)
    client.set_registered_model_alias(good, "staging", "2")
    run()
    updated = receiver.events("/json")[-1]
    assert (updated["event"], updated["from_revision"], updated["to_revision"]) == (
        "updated", "1", "2",
    )  # fmt: skip
    assert "v1 → v2" in updated["message"] and '-  "revision": "1"' in updated["diff"]
    client.delete_registered_model_alias(good, "staging")
    run()
    removed = receiver.events("/json")[-1]
    assert (removed["event"], removed["from_revision"], removed["to_revision"]) == (
        "removed", "2", None,
    )  # fmt: skip
    assert removed["commit"] and removed["url"].endswith("/versions/2")


def test_reconcile_once_waits_a_few_seconds_at_most_for_a_receiver_that_hangs(
    mlflow_server: MlflowServer, bare_remote: Path, tmp_path: Path, unique_model_name: ModelNames
) -> None:
    hanging = start_receiver(Receiver(delay_seconds=60))
    try:
        config = base_config(mlflow_server, bare_remote, tmp_path / "s", unique_model_name.prefix)
        config["notifications"] = [
            {"name": "hangs", "url": f"{hanging.url}/hook", "timeout_seconds": 120}
        ]
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        name = unique_model_name("model")
        register_version(mlflow_server.client(), name)
        mlflow_server.client().set_registered_model_alias(name, "staging", "1")
        started = time.monotonic()
        out = once(path, {})
        took = time.monotonic() - started
        # The push is done first; then at most 5 s for deliveries, and the process ends.
        assert len(remote_subjects(bare_remote)) == 1
        assert took < 20, f"reconcile --once took {took:.1f} s"
        assert "notification 'hangs': 1 delivery(ies) not sent before exit" in out, out
    finally:
        hanging.stop()


def test_a_secret_env_naming_an_unset_variable_is_a_configuration_error(
    mlflow_server: MlflowServer, bare_remote: Path, tmp_path: Path, unique_model_name: ModelNames
) -> None:
    config = base_config(mlflow_server, bare_remote, tmp_path / "s", unique_model_name.prefix)
    config["notifications"] = [
        {"name": "team", "url": "http://127.0.0.1:9/hook", "secret_env": "NOT_SET_ANYWHERE"}
    ]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    out = once(path, {}, ok=(2,))
    assert "notification 'team': secret_env names NOT_SET_ANYWHERE, which is not set" in out
    assert remote_subjects(bare_remote) == []


def _slack_id(message: dict[str, Any]) -> str:
    """The event id a Slack message shows in its last (context) block."""
    context: str = message["blocks"][-1]["elements"][0]["text"]
    return context.rsplit("id ", 1)[1]


def _unix(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
