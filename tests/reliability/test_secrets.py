"""No credential ever shows: the daemon runs with real credentials in use, then everything
it wrote or said is scanned for each secret.

Real parts: MLflow behind the HTTP front that requires a bearer token or Basic auth
(``MLFLOW_TRACKING_TOKEN`` or ``MLFLOW_TRACKING_USERNAME``/``PASSWORD``), the GitOps
remote over smart HTTP with Basic auth (``GIT_USERNAME``/``GIT_TOKEN``, or the password
in the URL), SeaweedFS with S3 keys in ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``,
``GITOPS_WATCHER_WEBHOOK_SECRET``, the forge's API token ``GITOPS_WATCHER_FORGE_TOKEN``
(production publishes pull requests through the forge API double of
tests/servers/forge_api.py), and a PostgreSQL state database whose role has a
password with characters that must be percent-encoded in the URL. The daemon is
``python -m watcher run -vv`` (text logs in one case, JSON in the other) with status
write-back on, so every credential is used: reads, writes, fetches, pushes, copies,
ledger rows and lease renewals.

It deploys a promotion, fails two (a broken tag; a source in a bucket that does not
exist), fails a whole reconcile (the git server refuses the credentials for a while),
takes a signed webhook and refuses a forged one, and notifies a real receiver of each
change (signed with a secret from ``NOTIFY_SECRET``; its URL, with a password in its
user info, from ``NOTIFY_URL``). Then every secret, plain,
percent-encoded, base64 and base64 of ``user:secret``, is looked for in: every object
of the remote's and the checkout's git databases (``git cat-file --batch-all-objects``:
blobs, trees, commit messages), every file under the test's folder (the state folder
and checkout with ``.git/config``, the daemon's config and log), the log, ``/status``,
``/metrics``, every row of every table of the state database, the objects in the
bucket, the status tags in MLflow, the pull requests' titles, bodies and comments, the
bodies (and paths) of the notifications the receiver took, and the output of
``gitops-watcher config`` and ``history``.
"""

from __future__ import annotations

import base64
import json
import re
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.reliability.secret_scan import (
    Secret,
    bucket_objects,
    find_leaks,
    git_objects,
    new_secret,
    run_cli,
    scan_database,
    sign,
)
from tests.reliability.stack import FAST, remote_subjects
from tests.servers.forge_api import ForgeDouble
from tests.servers.git_http import GitHttpServer, start_git_http
from tests.servers.http_front import HttpFront, start_http_front
from tests.servers.mlflow_fixtures import ModelNames
from tests.servers.mlflow_server import MlflowServer, register_version
from tests.servers.mlflow_webhook import DaemonProcess, base_config, start_daemon
from tests.servers.receiver import start_receiver
from tests.servers.seaweedfs import S3Server

pytestmark = [pytest.mark.slow]

GIT_USER = "deploy-bot"
MLFLOW_USER = "mlflow-reader"


def _release(daemon: DaemonProcess, name: str) -> dict[str, Any]:
    for release in daemon.status().get("releases") or ():
        if release.get("name") == name:
            return dict(release)
    return {}


@pytest.mark.parametrize("variant", ["token-text-logs", "basic-auth-json-logs"])
def test_no_secret_reaches_git_logs_status_metrics_ledger_or_disk(
    variant: str,
    mlflow_server: MlflowServer,
    s3_server: S3Server,
    s3_bucket: str,
    state_db: tuple[str, str, sa.Engine],
    tmp_path: Path,
    unique_model_name: ModelNames,
) -> None:
    basic = variant.startswith("basic")
    db_url, db_password, db_engine = state_db
    mlflow_secret = Secret("MLflow password" if basic else "MLflow token", new_secret("mlf"),
                           MLFLOW_USER if basic else "")  # fmt: skip
    git_secret = Secret("git token", new_secret("ghs"), GIT_USER)
    all_secrets = [
        mlflow_secret,
        git_secret,
        Secret("S3 secret key", s3_server.secret_key, s3_server.access_key),
        Secret("webhook secret", new_secret("whk")),
        Secret("PostgreSQL password", db_password, db_url.split("//", 1)[1].split(":", 1)[0]),
        Secret("forge token", new_secret("fgt")),
        Secret("notification secret", new_secret("ntf")),
        Secret("notification URL password", new_secret("nup"), "notify-user"),
    ]
    webhook_secret = all_secrets[3].value
    forge_token = all_secrets[5].value
    notify_secret, notify_password = all_secrets[6].value, all_secrets[7].value

    auth = (
        "Basic " + base64.b64encode(f"{MLFLOW_USER}:{mlflow_secret.value}".encode()).decode()
        if basic
        else f"Bearer {mlflow_secret.value}"
    )
    front = start_http_front(HttpFront(upstream=mlflow_server.url, require_auth=auth))
    git_server: GitHttpServer = start_git_http(tmp_path / "git-root", GIT_USER, git_secret.value)
    remote = git_server.create_repo()
    forge = ForgeDouble("github", forge_token, "team/gitops", remote).start()
    receiver = start_receiver()
    daemon: DaemonProcess | None = None
    try:
        env = {
            "AWS_ACCESS_KEY_ID": s3_server.access_key,
            "AWS_SECRET_ACCESS_KEY": s3_server.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
            "GITOPS_WATCHER_WEBHOOK_SECRET": webhook_secret,
            "GITOPS_WATCHER_STATE_DB_URL": db_url,
            "GITOPS_WATCHER_FORGE_TOKEN": forge_token,
            "NOTIFY_SECRET": notify_secret,
            "NOTIFY_URL": receiver.url.replace(
                "://", f"://notify-user:{urllib.parse.quote(notify_password, safe='')}@"
            ) + "/hook",
        }
        if basic:
            env.update(MLFLOW_TRACKING_USERNAME=MLFLOW_USER,
                       MLFLOW_TRACKING_PASSWORD=mlflow_secret.value)  # fmt: skip
            repo_url = git_server.url_for(
                userinfo=f"{GIT_USER}:{urllib.parse.quote(git_secret.value, safe='')}"
            )
        else:
            env.update(MLFLOW_TRACKING_TOKEN=mlflow_secret.value, GIT_USERNAME=GIT_USER,
                       GIT_TOKEN=git_secret.value)  # fmt: skip
            repo_url = git_server.url_for()
        config = base_config(
            mlflow_server, remote, tmp_path / "state", unique_model_name.prefix,
            tracking_uri=front.url,
        )  # fmt: skip
        if basic:  # a URL with a password is a secret: from the environment, not the file
            del config["git"]["repo_url"]
            env["GIT_REPO_URL"] = repo_url
        else:
            config["git"]["repo_url"] = repo_url
        config["artifacts"].update(
            store="s3",
            s3={"bucket": s3_bucket, "endpoint_url": s3_server.endpoint_url,
                "addressing_style": "path"},
        )  # fmt: skip
        config["artifacts"]["sources"]["s3_buckets"] = ["missing-*"]
        config["git"]["forge"] = {"kind": "github", "api_url": forge.api_url,
                                  "repository": forge.repository}  # fmt: skip
        config["stages"] = [
            {"name": "staging", "select": [{"alias": "staging"}]},
            {"name": "production", "select": [{"alias": "champion"}],
             "publish": "pull-request"},
        ]  # fmt: skip
        config["notifications"] = [
            {"name": "team", "url_env": "NOTIFY_URL", "secret_env": "NOTIFY_SECRET"},
            {"name": "chat", "url_env": "NOTIFY_URL", "format": "slack"},
            {"name": "broker", "url_env": "NOTIFY_URL", "format": "cloudevents"},
        ]

        client = mlflow_server.client()
        good, broken_tag, broken_source, later = (
            unique_model_name("good"), unique_model_name("tag"),
            unique_model_name("source"), unique_model_name("later"),
        )  # fmt: skip
        register_version(client, good)
        client.set_registered_model_alias(good, "staging", "1")
        client.set_registered_model_alias(good, "champion", "1")
        register_version(client, broken_tag, tags={"deploy.replicas": "lots"})
        client.set_registered_model_alias(broken_tag, "staging", "1")
        client.create_registered_model(broken_source)
        client.create_model_version(broken_source, f"s3://missing-{uuid.uuid4().hex[:8]}/m")
        client.set_registered_model_alias(broken_source, "staging", "1")

        # start_daemon gives -v: one more is -vv (-vvv would open the libraries' debug logs)
        options = ("-v", "--log-format", "json") if basic else ("-v",)
        daemon = start_daemon(
            tmp_path / "d", config, {**FAST, "status_writeback": {"enabled": "true"}}, env,
            options=options,
        )  # fmt: skip
        daemon.wait_for("the good promotion", lambda: len(remote_subjects(remote)) == 1, 60)
        daemon.wait_for("the pull request to production", lambda: bool(forge.pulls), 60)
        failing = (broken_tag, broken_source)
        daemon.wait_for(
            "both failures",
            lambda: all(_release(daemon, n).get("state") == "failed" for n in failing),
        )

        # A whole reconcile fails: the git server refuses our credentials for a while.
        git_server.password = "not-" + git_secret.value
        register_version(client, later)
        client.set_registered_model_alias(later, "staging", "1")
        daemon.wait_for("a refused fetch", lambda: "reconcile could not complete" in daemon.log())
        git_server.password = git_secret.value
        daemon.wait_for("the later promotion", lambda: len(remote_subjects(remote)) == 2, 60)

        # A signed webhook is taken, a forged one refused.
        moved = {"name": good, "alias": "staging", "version": "1"}
        event = {"entity": "model_version_alias", "action": "created", "data": moved}
        body = json.dumps(event).encode()
        stamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "X-MLflow-Timestamp": stamp}
        valid = {**headers, "X-MLflow-Delivery-Id": "d-1",
                 "X-MLflow-Signature": sign(webhook_secret, "d-1", stamp, body)}  # fmt: skip
        forged = {**headers, "X-MLflow-Delivery-Id": "d-2",
                  "X-MLflow-Signature": sign("guess", "d-2", stamp, body)}  # fmt: skip
        assert daemon.post("/webhooks/mlflow", body, valid) == 202
        assert daemon.post("/webhooks/mlflow", body, forged) == 401
        asked = re.compile(r"done in [0-9.]+ s \(asked by [^)]*webhook")
        daemon.wait_for("the webhook's reconcile", lambda: asked.search(daemon.log()) is not None)
        daemon.wait_for(
            "status tags",
            lambda: any(k.startswith("gitops.") for k in client.get_model_version(good, "1").tags),
        )

        wanted = {"deployed", "refused", "recovered"}
        daemon.wait_for(
            "the notifications",
            lambda: wanted <= {b.get("event") for b in receiver.events("/hook")},
        )
        assert all(
            d.verify(notify_secret) for d in receiver.delivered
            if "x-gitops-watcher-signature" in d.headers
        )  # fmt: skip
        surfaces: dict[str, bytes | str] = {
            "/status": daemon.get("/status")[1],
            "/metrics": daemon.get("/metrics")[1],
            "/readyz": daemon.get("/readyz")[1],
        }
        assert daemon.stop() == 0
        log = daemon.log()
        assert "check GIT_TOKEN" in log, log[-3000:]  # the refused fetch, with what to check
        if basic:  # the log is JSON, one object a line (what the daemon itself writes)
            lines = [line for line in log.splitlines() if line.startswith("{")]
            assert len(lines) > 20 and all(json.loads(line) for line in lines)
        surfaces["daemon log"] = log
        # The credentials were really in use: every request carried them.
        assert front.auth_headers and set(front.auth_headers) == {auth}
        assert git_server.expected_auth in git_server.auth_headers
        assert front.count("set-tag") >= 1  # status write-back went through the front too

        assert forge.tokens_seen and set(forge.tokens_seen) == {forge_token}
        for pr in forge.pulls.values():
            surfaces[f"pull request #{pr.number}"] = json.dumps(forge.as_json(pr)) + "\n".join(
                pr.comments
            )
        surfaces["remote git objects"] = git_objects(remote)
        for dot_git in (tmp_path / "state").rglob(".git"):
            surfaces[f"git objects of {dot_git}"] = git_objects(dot_git)
        for path in tmp_path.rglob("*"):
            if path.is_file() and not path.is_symlink():
                surfaces[f"file {path.relative_to(tmp_path)}"] = path.read_bytes()
        assert any(".git/config" in where for where in surfaces), sorted(surfaces)[:20]
        for table, rows in scan_database(db_engine).items():
            surfaces[f"state database table {table}"] = rows
        for key, data in bucket_objects(s3_server, s3_bucket).items():
            surfaces[f"s3://{s3_bucket}/{key}"] = data
        for name in (good, later):
            surfaces[f"MLflow tags of {name}"] = json.dumps(
                client.get_model_version(name, "1").tags
            )
        for number, delivery in enumerate(receiver.requests):
            surfaces[f"notification {number} to {delivery.path}"] = delivery.body
            surfaces[f"notification {number}'s signature"] = delivery.headers.get(
                "x-gitops-watcher-signature", ""
            )
        surfaces["gitops-watcher config"] = run_cli(["config"], daemon.config_path, env)
        surfaces["gitops-watcher history"] = run_cli(["history"], daemon.config_path, env)
        assert "applied" in str(surfaces["gitops-watcher history"])

        # The scan itself works: each form of a secret, as a leak would write it, is found.
        pair = base64.b64encode(f"{GIT_USER}:{git_secret.value}".encode()).decode()
        assert find_leaks("self-check", f"Authorization: Basic {pair}", all_secrets)
        assert find_leaks("self-check", repo_url if basic else git_secret.value, all_secrets)
        assert "credentials_from_environment" in str(surfaces["gitops-watcher config"])

        leaks = [leak for where, data in surfaces.items()
                 for leak in find_leaks(where, data, all_secrets)]  # fmt: skip
        assert not leaks, "\n".join(leaks[:20])
    finally:
        if daemon is not None:
            daemon.kill()
        git_server.stop()
        forge.stop()
        front.stop()
        receiver.stop()
