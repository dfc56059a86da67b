"""Load: a burst of 100 promotions, and a webhook flood, against the running daemon.

Real parts: the session MLflow server (SQLite backend) driven through MlflowClient,
``python -m watcher run`` watching that SQLite file (DB watch) with a short resync, a
bare git remote and the local artifact store; the flood is plain HTTP on loopback.

The burst moves aliases 100 times across 20 models, from 4 threads: reconciles
coalesce (counted in /metrics: far fewer than 100), the remote ends exactly at the
registry's final aliases, and every commit changes one folder, none repeats the
folder's previous state, and no reconcile commits one folder twice (the ledger).

The flood is 2,000 requests in at most 20 s from 4 threads: forged, replayed,
malformed, oversized and valid deliveries. A promotion made during it reaches the
remote within a bound, /healthz answers throughout, every delivery gets the answer
its kind deserves, and /metrics counts each outcome exactly.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import itertools
import json
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.stack import (
    assert_ledger_agrees_with_git,
    folders,
    git,
    ledger_rows,
    metric,
    remote_subjects,
)
from tests.servers.mlflow_fixtures import ModelNames
from tests.servers.mlflow_server import MlflowServer
from tests.servers.mlflow_webhook import DaemonProcess, base_config, deployed, start_daemon

pytestmark = [pytest.mark.slow]

MODELS = 20
PROMOTIONS = 100
STAGES = {"staging": "staging", "champion": "production"}  # alias -> stage
#: The burst's aliases, in order: five rounds over the 20 models. Final: staging v1, champion v2.
ROUNDS = [("staging", "1"), ("champion", "1"), ("staging", "2"), ("champion", "2"),
          ("staging", "1")]  # fmt: skip
FAST_WATCH = {
    "resync_interval_seconds": 3,
    "probe_interval_seconds": 0,
    "watch_debounce_seconds": 0.3,
    "backoff_min_seconds": 1,
    "backoff_max_seconds": 4,
}
FLOOD_REQUESTS = 2000
FLOOD_SECONDS = 20.0
FLOOD_THREADS = 4
#: The flood is paced over this long, so that the promotion lands in the middle of it.
FLOOD_PACE_SECONDS = 8.0
MAX_BODY = 16 * 1024
SECRET = "flood-webhook-secret-" + "x" * 16
#: Seconds a promotion made during the flood may take to reach the remote.
PROMOTION_BOUND = 15.0


def register_versions(mlflow: MlflowServer, name: str, count: int) -> None:
    """``count`` versions of ``name`` from one real run with a tiny model folder."""
    client = mlflow.client()
    client.create_registered_model(name)
    run = client.create_run(experiment_id="0")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "MLmodel").write_text(
            "artifact_path: model\nflavors:\n  python_function:\n    loader_module: tiny\n"
        )
        (Path(tmp) / "model.pkl").write_bytes(b"tiny model\n")
        client.log_artifacts(run.info.run_id, tmp, artifact_path="model")
    client.set_terminated(run.info.run_id)
    for _ in range(count):
        client.create_model_version(name, f"{run.info.artifact_uri}/model", run.info.run_id)


def watching_config(
    mlflow: MlflowServer, remote: Path, tmp_path: Path, prefix: str
) -> dict[str, Any]:
    config = base_config(mlflow, remote, tmp_path / "state", prefix)
    assert mlflow.db_path is not None
    config["registry"].update(kind="database", database_uri=mlflow.db_uri)
    config["safety"] = {"max_delete_fraction": 1.0}
    return config


def reconciles(daemon: DaemonProcess) -> float:
    return metric(daemon.get("/metrics")[1].decode(), "gitops_watcher_reconciles_total")


def assert_each_commit_is_one_real_change(remote: Path) -> int:
    """Every commit touches exactly one folder and leaves it different from the last commit
    that touched it (no duplicate commit of one folder state). Returns the commit count."""
    shas = git("log", "--reverse", "--format=%H", "main", cwd=remote).splitlines()
    last: dict[str, str] = {}
    for sha in shas:
        changed = git("diff-tree", "--no-commit-id", "--name-only", "-r", "--root", sha, cwd=remote)
        touched = {p.rsplit("/", 1)[0] for p in changed.splitlines()}
        assert len(touched) == 1, (sha, touched)
        folder = touched.pop()
        listing = git("ls-tree", sha, "--", folder, cwd=remote)
        state = listing.split()[2] if listing else "(removed)"
        assert last.get(folder) != state, (sha, folder, "same state committed twice")
        last[folder] = state
    return len(shas)


def test_a_burst_of_100_promotions_coalesces_and_ends_exactly_at_the_registry(
    mlflow_server: MlflowServer, bare_remote: Path, tmp_path: Path, unique_model_name: ModelNames
) -> None:
    names = [unique_model_name(f"m{i:02d}") for i in range(MODELS)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda n: register_versions(mlflow_server, n, 2), names))
    config = watching_config(mlflow_server, bare_remote, tmp_path, unique_model_name.prefix)
    daemon = start_daemon(tmp_path / "d", config, FAST_WATCH)
    try:
        daemon.wait_for("the first reconcile", lambda: reconciles(daemon) >= 1)
        before = reconciles(daemon)
        moves = [(names[i % MODELS], *ROUNDS[i // MODELS]) for i in range(PROMOTIONS)]
        client = mlflow_server.client()
        started = time.monotonic()

        def move(batch: list[tuple[str, str, str]]) -> None:
            for name, alias, version in batch:
                client.set_registered_model_alias(name, alias, version)

        # Each thread takes whole rounds' slices in order, so one model's moves stay ordered.
        lanes: list[list[tuple[str, str, str]]] = [[] for _ in range(4)]
        for index, item in enumerate(moves):
            lanes[(index % MODELS) % 4].append(item)
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(move, lanes))
        burst = time.monotonic() - started

        final = {}
        for name in names:
            for alias, version in client.get_registered_model(name).aliases.items():
                final[(name, STAGES[alias])] = version
        assert len(final) == 2 * MODELS
        assert set(final.values()) == {"1", "2"}
        daemon.wait_for(
            "the remote to match the registry", lambda: deployed(bare_remote) == final, 90
        )
        settled = reconciles(daemon)
        time.sleep(3.5)  # one more resync: nothing left to do
        assert deployed(bare_remote) == final
        count = reconciles(daemon) - before
    finally:
        assert daemon.stop() == 0
    print(f"burst: {PROMOTIONS} moves in {burst:.1f} s, {count:.0f} reconciles, ", end="")
    # Coalesced: 100 alias moves (each a DB write the watch sees) cost a few reconciles.
    assert count <= 30, (count, burst)
    assert settled - before >= 1
    assert len(folders(bare_remote)) == 2 * MODELS
    commits = assert_each_commit_is_one_real_change(bare_remote)
    assert 2 * MODELS <= commits <= 2 * MODELS * (settled - before), commits
    # One commit per changed (name, stage) per reconcile, and the ledger agrees with git.
    applied = [r for r in ledger_rows(tmp_path / "state") if r["outcome"] == "applied"]
    per_reconcile = Counter((r["reconcile_id"], r["folder"]) for r in applied)
    assert max(per_reconcile.values()) == 1, per_reconcile.most_common(3)
    assert len(applied) == commits == len(remote_subjects(bare_remote))
    print(f"{commits} commits")
    assert assert_ledger_agrees_with_git(tmp_path / "state", bare_remote) == set()


def _signed(delivery: str, body: bytes, *, secret: str = SECRET) -> dict[str, str]:
    stamp = str(int(time.time()))
    digest = hmac.new(secret.encode(), f"{delivery}.{stamp}.".encode() + body, hashlib.sha256)
    return {
        "Content-Type": "application/json",
        "X-MLflow-Delivery-Id": delivery,
        "X-MLflow-Timestamp": stamp,
        "X-MLflow-Signature": "v1," + base64.b64encode(digest.digest()).decode(),
    }


EVENT = json.dumps({"entity": "model_version_alias", "action": "created", "data": {}}).encode()
#: Kind of delivery -> the answer it must get.
EXPECTED = {"valid": 202, "forged": 401, "replayed": 409, "malformed": 400, "oversized": 413}
OUTCOME = {"valid": "accepted", "forged": "bad_signature", "replayed": "replayed",
           "malformed": "malformed", "oversized": "too_large"}  # fmt: skip


def _delivery(kind: str, number: int) -> tuple[bytes, dict[str, str]]:
    if kind == "valid":
        return EVENT, _signed(f"valid-{number}", EVENT)
    if kind == "forged":
        return EVENT, _signed(f"forged-{number}", EVENT, secret="a-guess")
    if kind == "replayed":
        return EVENT, _signed("valid-0", EVENT)  # accepted once, before the flood
    if kind == "malformed":
        body = b"\x00{not json" + bytes([number % 256])
        return body, _signed(f"malformed-{number}", body)
    body = b'{"pad": "' + b"x" * (4 * MAX_BODY) + b'"}'
    return body, _signed(f"big-{number}", body)


def _post(port: int, body: bytes, headers: dict[str, str]) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", "/webhooks/mlflow", body=body, headers=headers)
        return connection.getresponse().status
    except (ConnectionResetError, BrokenPipeError):
        return -1  # the server closed before reading an oversized body: also a refusal
    finally:
        connection.close()


def test_a_webhook_flood_does_not_stop_promotions_or_health(
    mlflow_server: MlflowServer, bare_remote: Path, tmp_path: Path, unique_model_name: ModelNames
) -> None:
    name = unique_model_name("promoted-during-flood")
    register_versions(mlflow_server, name, 1)
    config = watching_config(mlflow_server, bare_remote, tmp_path, unique_model_name.prefix)
    knobs = {**FAST_WATCH, "resync_interval_seconds": 5, "webhook_max_body_bytes": MAX_BODY}
    daemon = start_daemon(tmp_path / "d", config, knobs, {"GITOPS_WATCHER_WEBHOOK_SECRET": SECRET})
    port = urllib.parse.urlsplit(daemon.url).port
    assert port is not None
    try:
        daemon.wait_for("the first reconcile", lambda: reconciles(daemon) >= 1)
        assert _post(port, *_delivery("valid", 0)) == 202  # "replayed" ones resend this one
        kinds = ["forged"] * 8 + ["valid"] * 4 + ["replayed"] * 3 + ["malformed"] * 3
        kinds += ["oversized"] * 2
        numbers = itertools.count(1)
        lock = threading.Lock()
        answers: dict[str, Counter[int]] = {kind: Counter() for kind in EXPECTED}
        deadline = time.monotonic() + FLOOD_SECONDS
        before = reconciles(daemon)

        def flood(lane: int) -> int:
            sent = 0
            begun = time.monotonic()
            for index in range(lane, FLOOD_REQUESTS, FLOOD_THREADS):
                if time.monotonic() > deadline:
                    break
                ahead = begun + index * FLOOD_PACE_SECONDS / FLOOD_REQUESTS - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
                kind = kinds[index % len(kinds)]
                with lock:
                    number = next(numbers)
                status = _post(port, *_delivery(kind, number))
                with lock:
                    answers[kind][status] += 1
                sent += 1
            return sent

        health: list[float] = []
        promoted_after = 0.0
        landed_during_flood = False
        started = time.monotonic()
        with ThreadPoolExecutor(FLOOD_THREADS) as pool:
            lanes = [pool.submit(flood, lane) for lane in range(FLOOD_THREADS)]
            time.sleep(2)  # well into the flood
            mlflow_server.client().set_registered_model_alias(name, "staging", "1")
            promoted_at = time.monotonic()
            while not all(lane.done() for lane in lanes) and time.monotonic() < deadline + 5:
                asked = time.monotonic()
                assert daemon.get("/healthz", timeout=2)[0] == 200
                health.append(time.monotonic() - asked)
                if not promoted_after and deployed(bare_remote).get((name, "staging")) == "1":
                    promoted_after = time.monotonic() - promoted_at
                    landed_during_flood = not all(lane.done() for lane in lanes)
                time.sleep(0.2)
            sent = sum(lane.result() for lane in lanes)
        flood_seconds = time.monotonic() - started
        if not promoted_after:
            daemon.wait_for(
                "the promotion made during the flood",
                lambda: deployed(bare_remote).get((name, "staging")) == "1",
                max(0.1, PROMOTION_BOUND - (time.monotonic() - promoted_at)),
            )
            promoted_after = time.monotonic() - promoted_at
        metrics = daemon.get("/metrics")[1].decode()
        count = reconciles(daemon) - before
        assert daemon.get("/readyz")[0] == 200
    finally:
        assert daemon.stop() == 0

    assert sent == FLOOD_REQUESTS, (sent, flood_seconds)  # all of them within the 20 s
    assert promoted_after <= PROMOTION_BOUND, promoted_after
    assert landed_during_flood, (promoted_after, flood_seconds)
    assert health and max(health) < 2.0, max(health or [0])
    for kind, got in answers.items():
        allowed = {EXPECTED[kind], -1} if kind == "oversized" else {EXPECTED[kind]}
        assert set(got) <= allowed, (kind, got)
    for kind, outcome in OUTCOME.items():
        counted = metric(metrics, "gitops_watcher_webhook_deliveries_total", outcome=outcome)
        expected = sum(answers[kind].values()) + (1 if kind == "valid" else 0)
        if kind == "oversized":
            assert answers[kind][EXPECTED[kind]] <= counted <= expected, (kind, counted)
        else:
            assert counted == expected, (kind, counted, expected)
    # Accepted deliveries only ask: one reconcile at a time, each taking every request
    # that came while the previous one ran. Webhooks are not debounced (the DB watch is),
    # so a steady stream of valid ones keeps the daemon reconciling back to back.
    accepted = answers["valid"][202]
    print(
        f"flood: {sent} requests in {flood_seconds:.1f} s, {accepted} accepted, "
        f"{count:.0f} reconciles, promotion after {promoted_after:.1f} s, "
        f"slowest /healthz {max(health):.3f} s"
    )
    assert accepted >= 300 and count < accepted, (accepted, count)
    assert remote_subjects(bare_remote) == [f"deploy {name} v1 to staging"]
