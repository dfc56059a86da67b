"""A password in any URL of the settings is used to log in, and written nowhere.

Every URL the settings accept is given with its own password (the operator's
``MLFLOW_TRACKING_URI=http://alice:pw@host``), each one distinct, all in the
environment (the config file holds none):

- ``registry.tracking_uri``: MLflow (on PostgreSQL) behind the HTTP front, which
  wants Basic auth with that password (status write-back goes through it);
- ``registry.database_uri``: a read-only role on that MLflow's PostgreSQL database,
  from which the top-level registry is read;
- ``git.repo_url``: the GitOps remote over smart HTTP with Basic auth;
- ``artifacts.s3.endpoint_url``, ``artifacts.sources.s3_endpoint_url``: SeaweedFS
  (S3 keys come from the AWS variables; the user info of these is not used);
- ``state.database_url``: the daemon's PostgreSQL state database (ledger, lease);
- a ``sources[]`` entry: its own MLflow (SQLite) behind a second front with its own
  Basic auth in its ``registry.tracking_uri``, a password in its ``registry.ui_url``,
  and in its own ``artifacts.s3.endpoint_url`` and ``artifacts.sources.s3_endpoint_url``;
- a ``functions[]`` entry: a spec repository over smart HTTP with its own password;
- ``argocd.repo_web_url``.

Then every command runs at ``-vv`` (``config``, ``validate``, ``snapshot`` of both
registries, ``render``, ``reconcile --once --dry-run``, ``reconcile --once``,
``argocd --out``, ``history``) and the daemon (``run -vv`` with webhooks, status
write-back, ``/status``, ``/metrics``) deploys two more promotions. Each password
(plain, percent-encoded, base64, base64 of ``user:password``), the S3 keys and the
webhook secret are looked for in: every command's stdout and stderr, the daemon's
log and HTTP answers, every object of the GitOps remote's git database (blobs,
trees, every commit message with its trailers), every file under the test's folder
(state folder, the checkouts with their ``.git/config`` and their git objects,
render and argocd output), every row of the state database, the bucket's objects,
the paths of every request the MLflow fronts and git servers received, and the
status tags in both registries.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from tests.reliability.secret_scan import (
    Secret,
    Surfaces,
    all_leaks,
    basic_auth,
    bucket_objects,
    files_under,
    find_leaks,
    git_objects,
    new_secret,
    run_cli,
    scan_database,
    sign,
)
from tests.reliability.stack import FAST, remote_subjects, remote_tree
from tests.servers.git_http import GitHttpServer, start_git_http
from tests.servers.http_front import HttpFront, start_http_front
from tests.servers.mlflow_fixtures import ModelNames
from tests.servers.mlflow_server import MlflowServer, register_version
from tests.servers.mlflow_webhook import deployed, start_daemon
from tests.servers.postgres import PostgresServer
from tests.servers.seaweedfs import S3Server

pytestmark = [pytest.mark.slow]

SPEC = Path(__file__).resolve().parents[1] / "fixtures" / "functions" / "digitalhub"


def _with(url: str, user: str, secret: Secret) -> str:
    """``url`` with ``user:password@`` (percent-encoded, as an operator writes it)."""
    scheme, _, rest = url.partition("://")
    password = urllib.parse.quote(secret.value, safe="")
    return f"{scheme}://{urllib.parse.quote(user, safe='')}:{password}@{rest}"


def _registry_reader(postgres: PostgresServer, secret: Secret) -> str:
    """A role that may only read MLflow's database; its URL without the password."""
    admin = sa.create_engine(postgres.url("mlflow"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE ROLE {secret.user} LOGIN PASSWORD :pw"), {"pw": secret.value})
        conn.exec_driver_sql(f"GRANT CONNECT ON DATABASE mlflow TO {secret.user}")
        conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA public TO {secret.user}")
        conn.exec_driver_sql(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {secret.user}")
    admin.dispose()
    return f"postgresql://127.0.0.1:{postgres.port}/mlflow"


def _push_specs(work: Path, remote: Path) -> None:
    """A DigitalHub function, its serve task and code on ``main`` of ``remote`` (pushed by
    path, not HTTP)."""
    work.mkdir(parents=True)
    for name in ("python-function.yaml", "task-python-serve.yaml", "main.py"):
        (work / name).write_bytes((SPEC / name).read_bytes())
    for args in (["init", "-q", "-b", "main"], ["add", "-A"],
                 ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "specs"],
                 ["push", "-q", str(remote), "main"]):  # fmt: skip
        subprocess.run(["git", *args], cwd=work, check=True, capture_output=True)


def _tags(server: MlflowServer, name: str) -> dict[str, str]:
    return dict(server.client().get_model_version(name, "1").tags)


@pytest.fixture
def servers() -> Iterator[list[Any]]:
    """Started servers to stop at the end, whatever happens."""
    started: list[Any] = []
    yield started
    for server in reversed(started):
        server.stop()


def test_no_password_given_in_a_url_is_written_anywhere(
    mlflow_server: MlflowServer,
    mlflow_server_postgres: MlflowServer,
    postgres_server: PostgresServer,
    s3_server: S3Server,
    s3_bucket: str,
    state_db: tuple[str, str, sa.Engine],
    servers: list[Any],
    tmp_path: Path,
    unique_model_name: ModelNames,
) -> None:
    state_url, state_password, state_engine = state_db
    suffix = uuid.uuid4().hex[:8]
    s = {
        label: Secret(f"{label} password", new_secret(label.split()[0]), user)
        for label, user in [
            ("tracking URI", "mlflow-reader"),
            ("registry database URI", f"registry_reader_{suffix}"),
            ("git URL", "deploy-bot"),
            ("S3 endpoint", "s3-user"),
            ("S3 source endpoint", "s3-source-user"),
            ("source tracking URI", "team-reader"),
            ("source UI URL", "team-viewer"),
            ("source S3 endpoint", "team-s3-user"),
            ("source S3 source endpoint", "team-s3-source-user"),
            ("function git URL", "spec-reader"),
            ("Argo CD web URL", "web-viewer"),
        ]
    }
    state_user = urllib.parse.urlsplit(state_url).username or ""
    all_secrets = [
        *s.values(),
        Secret("state database URL password", state_password, state_user),
        Secret("S3 secret key", s3_server.secret_key, s3_server.access_key),
        Secret("S3 access key id", s3_server.access_key),
        Secret("webhook secret", new_secret("whk")),
    ]
    webhook_secret = all_secrets[-1].value

    front_top = start_http_front(HttpFront(
        upstream=mlflow_server_postgres.url,
        require_auth=basic_auth("mlflow-reader", s["tracking URI"].value),
    ))  # fmt: skip
    servers.append(front_top)
    front_team = start_http_front(HttpFront(
        upstream=mlflow_server.url,
        require_auth=basic_auth("team-reader", s["source tracking URI"].value),
    ))  # fmt: skip
    servers.append(front_team)
    gitops: GitHttpServer = start_git_http(tmp_path / "git-root", "deploy-bot",
                                           s["git URL"].value)  # fmt: skip
    servers.append(gitops)
    remote = gitops.create_repo()
    specs: GitHttpServer = start_git_http(tmp_path / "spec-root", "spec-reader",
                                          s["function git URL"].value)  # fmt: skip
    servers.append(specs)
    _push_specs(tmp_path / "inputs" / "specs", specs.create_repo("specs.git"))
    registry_db = _registry_reader(postgres_server, s["registry database URI"])

    top_model, team_model = unique_model_name("top"), unique_model_name("team")
    register_version(mlflow_server_postgres.client(), top_model)
    mlflow_server_postgres.client().set_registered_model_alias(top_model, "staging", "1")
    register_version(mlflow_server.client(), team_model)
    mlflow_server.client().set_registered_model_alias(team_model, "staging", "1")

    s3_url = s3_server.endpoint_url
    team = {
        "name": "team-b",
        "registry": {
            "tracking_uri": _with(front_team.url, "team-reader", s["source tracking URI"]),
            "ui_url": _with(front_team.url, "team-viewer", s["source UI URL"]),
            "models": {"include": [f"{team_model}*"]},
        },
        "artifacts": {
            "store": "s3",
            "s3": {"bucket": s3_bucket, "prefix": "team-b", "addressing_style": "path",
                   "endpoint_url": _with(s3_url, "team-s3-user", s["source S3 endpoint"])},
            "sources": {"local_roots": [str(mlflow_server.artifact_root)],
                        "s3_endpoint_url": _with(s3_url, "team-s3-source-user",
                                                 s["source S3 source endpoint"])},
        },
    }  # fmt: skip
    function = {
        "name": "specs",
        "git": {"repo_url": _with(specs.url_for("specs.git"), "spec-reader",
                                  s["function git URL"])},
    }  # fmt: skip
    env = {
        "MLFLOW_TRACKING_URI": _with(front_top.url, "mlflow-reader", s["tracking URI"]),
        "MLFLOW_REGISTRY_DB_URI": _with(registry_db, s["registry database URI"].user,
                                        s["registry database URI"]),
        "GIT_REPO_URL": _with(gitops.url_for(), "deploy-bot", s["git URL"]),
        "MLFLOW_S3_ENDPOINT_URL": _with(s3_url, "s3-user", s["S3 endpoint"]),
        "GITOPS_WATCHER_ARTIFACTS__SOURCES__S3_ENDPOINT_URL": _with(
            s3_url, "s3-source-user", s["S3 source endpoint"]),
        "GITOPS_WATCHER_STATE_DB_URL": state_url,
        "GITOPS_WATCHER_SOURCES": json.dumps([team]),
        "GITOPS_WATCHER_FUNCTIONS": json.dumps([function]),
        "GITOPS_WATCHER_ARGOCD__REPO_WEB_URL": _with("https://git.example.com/org/gitops",
                                                     "web-viewer", s["Argo CD web URL"]),
        "GITOPS_WATCHER_WEBHOOK_SECRET": webhook_secret,
        "AWS_ACCESS_KEY_ID": s3_server.access_key,
        "AWS_SECRET_ACCESS_KEY": s3_server.secret_key,
        "AWS_DEFAULT_REGION": "us-east-1",
    }  # fmt: skip
    config = {
        "state_dir": str(tmp_path / "state"),
        "registry": {"models": {"include": [f"{top_model}*"]}},
        "git": {"push_backoff_seconds": 0},
        "artifacts": {
            "store": "s3",
            "s3": {"bucket": s3_bucket, "addressing_style": "path"},
            "sources": {"local_roots": [str(mlflow_server_postgres.artifact_root)]},
        },
    }
    config_path = tmp_path / "inputs" / "config.yaml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    # The scan finds a password as a leak would write it: in a URL, in a Basic header.
    assert find_leaks("self-check", env["MLFLOW_TRACKING_URI"], all_secrets)
    assert find_leaks("self-check", basic_auth("deploy-bot", s["git URL"].value), all_secrets)

    surfaces: Surfaces = {}

    def command(*args: str) -> str:
        output = run_cli(list(args), config_path, env, ok=(0,))
        surfaces[f"gitops-watcher {' '.join(args)}"] = output
        return output

    command("config")
    shown = yaml.safe_load(run_cli(["-q", "config"], config_path, env, ok=(0,)))
    assert shown["registry"]["tracking_uri"] == front_top.url
    assert "sources.team-b.registry.tracking_uri" in shown["credentials_in_urls"]
    command("validate", str(tmp_path / "inputs" / "specs"))
    top_snapshot = json.loads(run_cli(["-q", "snapshot"], config_path, env, ok=(0,)))
    assert [m["name"] for m in top_snapshot["models"]] == [top_model]  # read from the database
    command("snapshot")
    command("snapshot", "--source", "team-b")
    command("render", "--out", str(tmp_path / "rendered"))
    command("reconcile", "--once", "--dry-run")
    assert remote_subjects(remote) == []
    command("reconcile", "--once")
    wanted = {(top_model, "staging"), (team_model, "staging"), ("python-function-serve", "staging")}
    assert wanted <= set(deployed(remote)), remote_tree(remote)
    command("argocd", "--out", str(tmp_path / "argocd"))
    assert "applied" in command("history")

    # The daemon: two more promotions, a webhook, status tags written back.
    daemon = start_daemon(
        tmp_path / "daemon", config, {**FAST, "status_writeback": {"enabled": "true"}}, env,
        options=("-v",),  # start_daemon gives -v: -vv in all
    )  # fmt: skip
    try:
        before = len(remote_subjects(remote))
        mlflow_server_postgres.client().set_registered_model_alias(top_model, "champion", "1")
        mlflow_server.client().set_registered_model_alias(team_model, "champion", "1")
        daemon.wait_for("both promotions", lambda: len(remote_subjects(remote)) == before + 2, 90)
        body = json.dumps({"entity": "model_version_alias", "action": "created",
                           "data": {"name": top_model, "alias": "champion", "version": "1"}})
        stamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "X-MLflow-Timestamp": stamp,
                   "X-MLflow-Delivery-Id": "d-1",
                   "X-MLflow-Signature": sign(webhook_secret, "d-1", stamp, body.encode())}
        assert daemon.post("/webhooks/mlflow", body.encode(), headers) == 202
        asked = re.compile(r"done in [0-9.]+ s \(asked by [^)]*webhook")
        daemon.wait_for("the webhook's reconcile", lambda: bool(asked.search(daemon.log())))
        for server, name in ((mlflow_server_postgres, top_model), (mlflow_server, team_model)):
            daemon.wait_for(f"status tags on {name}", lambda server=server, name=name: any(
                key.startswith("gitops.production") for key in _tags(server, name)))  # fmt: skip
        for path in ("/status", "/metrics", "/readyz"):
            surfaces[f"GET {path}"] = daemon.get(path)[1]
        assert daemon.stop() == 0
    finally:
        daemon.kill()
    surfaces["daemon log"] = daemon.log()
    command("history")

    # Every password was really used to log in.
    assert front_top.auth_headers and set(front_top.auth_headers) == {front_top.require_auth}
    assert front_top.count("set-tag") >= 1
    assert front_team.count("registered-models/search") >= 1 and front_team.count("set-tag")
    assert set(front_team.auth_headers) == {front_team.require_auth}
    assert gitops.expected_auth in gitops.auth_headers
    assert specs.expected_auth in specs.auth_headers
    copies = bucket_objects(s3_server, s3_bucket)
    assert any(k.startswith("models/") for k in copies), sorted(copies)
    assert any(k.startswith("team-b/") for k in copies), sorted(copies)

    surfaces["remote git objects"] = git_objects(remote)
    files_under(tmp_path, surfaces)
    assert any(".git/config" in where for where in surfaces)
    for table, rows in scan_database(state_engine).items():
        surfaces[f"state database table {table}"] = rows
    for key, data in copies.items():
        surfaces[f"s3://{s3_bucket}/{key}"] = data
    surfaces["MLflow tags (top)"] = json.dumps(_tags(mlflow_server_postgres, top_model))
    surfaces["MLflow tags (team-b)"] = json.dumps(_tags(mlflow_server, team_model))
    for label, seen in (("top front", front_top.requests), ("team front", front_team.requests),
                        ("git server", gitops.requests), ("spec server", specs.requests)):
        surfaces[f"requests to the {label}"] = "\n".join(f"{m} {p}" for m, p in seen)
    leaks = all_leaks(surfaces, all_secrets)
    assert not leaks, "\n".join(leaks[:20])
