"""Benchmark: one source's webhook promotions while another source of the daemon hangs.

One real MLflow server (SQLite backend, webhooks enabled) read by one daemon
(``python -m watcher run``) as two sources with disjoint include patterns and
their own paths: ``team-a`` straight from the server, ``team-b`` through a TCP
proxy on 127.0.0.1. ``--versions`` seeded versions are split between the two.
Each step moves ``@staging`` of team A's model with ``MlflowClient`` and times it
from that call's return to the remote's ``main`` first holding a commit that
changed that model's folder (polled every 5 ms); team B's model is then promoted
too (not timed), so B's runner has work in both phases.

- ``healthy``: the proxy forwards everything;
- ``hung``: the proxy accepts every connection and never answers (every request
  held, kept-alive connections too). B's ``registry.timeout_seconds`` is
  ``--b-timeout`` (5 s; the default is 30 s), so that within the phase B's reads
  time out, are retried, fail and go to B's backoff, again and again, while its
  change probe hangs too; A's promotions should not notice.

    python bench/isolation.py [--quick] [--promotions 20] [--versions 2000]

Prints a table; the last line is one JSON object with the figures and the targets met.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from landing import commits_touching, wait_touching  # noqa: E402
from latency import bare, ref, summary  # noqa: E402
from reconcile import seed  # noqa: E402

from tests.servers.mlflow_server import (  # noqa: E402
    MlflowServer,
    register_version,
    stop_mlflow_server,
)
from tests.servers.mlflow_webhook import (  # noqa: E402
    WEBHOOK_EVENTS,
    DaemonProcess,
    remote_tree,
    start_daemon,
    start_webhook_mlflow_server,
)
from tests.servers.tcp_proxy import TcpProxy, start_proxy  # noqa: E402

MODEL_A, MODEL_B = "iso-a-model", "iso-b-model"
#: How long the hung proxy holds each request: longer than the whole benchmark.
FOREVER = 24 * 3600.0


def config(
    server: MlflowServer, proxy: TcpProxy, remote: Path, work: Path, b_timeout: float
) -> dict[str, Any]:
    def source(team: str, uri: str, **registry: Any) -> dict[str, Any]:
        return {
            "name": f"team-{team}",
            "registry": {
                "tracking_uri": uri, "models": {"include": [f"iso-{team}-*"]}, **registry
            },
        }  # fmt: skip

    return {
        "state_dir": str(work / "state"),
        "sources": [
            source("a", server.url),
            source("b", f"http://{proxy.address}", timeout_seconds=b_timeout),
        ],
        "git": {"repo_url": str(remote), "push_backoff_seconds": 0},
        "artifacts": {"store": "none"},
    }


def in_folder(model: str) -> Any:
    return lambda path: f"/{model}/" in f"/{path}"


def step(client: Any, remote: Path, version: str) -> float:
    """Promote A (timed), then B (not timed); A's latency in seconds."""
    before = ref(remote)
    client.set_registered_model_alias(MODEL_A, "staging", version)
    written = time.perf_counter()
    landed = wait_touching(remote, before, in_folder(MODEL_A))
    client.set_registered_model_alias(MODEL_B, "staging", version)
    return landed - written


def phase(client: Any, remote: Path, count: int, settle: float) -> list[float]:
    samples = []
    for index in range(count):
        samples.append(step(client, remote, "1" if index % 2 else "2"))
        time.sleep(settle)
    return samples


def started(daemon: DaemonProcess | None, remote: Path) -> bool:
    """The first reconcile is done and both teams' models are on the remote."""
    if daemon is None or daemon.status().get("last_success_at") is None:
        return False
    tree = remote_tree(remote)
    return all(any(in_folder(m)(p) for p in tree) for m in (MODEL_A, MODEL_B))


def b_commits(remote: Path, since: str) -> int:
    return commits_touching(remote, since, in_folder(MODEL_B))


def measure(
    server: MlflowServer, proxy: TcpProxy, daemon: DaemonProcess, remote: Path,
    args: argparse.Namespace,
) -> dict[str, Any]:  # fmt: skip
    client = server.client()
    secret = args.secret
    hook = client.create_webhook(
        name=f"bench-{secrets.token_hex(4)}", url=f"{daemon.url}/webhooks/mlflow",
        events=WEBHOOK_EVENTS, secret=secret,  # type: ignore[arg-type]
    )  # fmt: skip
    figures: dict[str, Any] = {}
    try:
        time.sleep(2.5)  # MLflow caches its webhook list (1 s here)
        before_healthy = ref(remote)
        figures["healthy"] = summary(phase(client, remote, args.promotions, args.settle))
        figures["healthy"]["b_commits"] = b_commits(remote, before_healthy)
        print(f"healthy: p50 {figures['healthy']['p50_s']:.3f} s", file=sys.stderr)
        proxy.rules.delay_seconds = FOREVER
        proxy.close_open()  # B's kept-alive connections: its next requests hang as well
        before_hung, requests_before = ref(remote), len(proxy.request_lines())
        client.set_registered_model_alias(MODEL_B, "staging", "1")  # B's runner: stuck now
        time.sleep(args.settle)
        figures["hung"] = summary(phase(client, remote, args.promotions, args.settle))
        figures["hung"]["b_requests_held"] = len(proxy.request_lines()) - requests_before
        figures["hung"]["b_commits"] = b_commits(remote, before_hung)
        print(f"hung: p50 {figures['hung']['p50_s']:.3f} s", file=sys.stderr)
    finally:
        client.delete_webhook(hook.webhook_id)
    return figures


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-isolation-"))
    server = start_webhook_mlflow_server(work / "mlflow")
    proxy = None
    daemon = None
    try:
        assert server.db_path is not None
        for team in ("a", "b"):
            seed(server.db_path, args.versions // 2, f"iso-{team}-bg")
        client = server.client()
        for model in (MODEL_A, MODEL_B):
            for _ in range(2):
                register_version(client, model)
            client.set_registered_model_alias(model, "staging", "1")
        address = urlsplit(server.url)
        proxy = start_proxy((address.hostname or "127.0.0.1", address.port or 80))
        remote = bare(work / "remote.git")
        args.secret = secrets.token_hex(16)
        env = {"GITOPS_WATCHER_WEBHOOK_SECRET": args.secret}
        settings = config(server, proxy, remote, work, args.b_timeout)
        daemon = start_daemon(work / "daemon", settings, {}, env)
        daemon.wait_for(
            "the startup reconcile of both sources", lambda: started(daemon, remote), timeout=600
        )
        figures = {"versions": args.versions, **measure(server, proxy, daemon, remote, args)}
    finally:
        if proxy is not None:
            proxy.stop()  # closes the held connections: B's requests fail at once
        if daemon is not None:
            try:
                daemon.stop(timeout=60)
            except AssertionError as exc:
                print(f"the daemon did not stop cleanly: {exc}", file=sys.stderr)
        stop_mlflow_server(server)
        if args.keep:
            print(f"kept {work} (the daemon's log in daemon/daemon.log)", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return figures


def targets(f: dict[str, Any]) -> dict[str, bool]:
    return {
        # The hang really happened: B's requests were held and none of its promotions landed.
        "b_really_hung": f["hung"]["b_requests_held"] > 0 and f["hung"]["b_commits"] == 0,
        # ... and worked before: its promotions landed while it was healthy.
        "b_promoted_while_healthy": f["healthy"]["b_commits"] > 0,
        "hung_p50_within_1_2x_healthy": f["hung"]["p50_s"] <= 1.2 * f["healthy"]["p50_s"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="400 versions, 6 promotions a phase")
    parser.add_argument("--versions", type=int, default=2_000, help="seeded, split A/B")
    parser.add_argument("--promotions", type=int, default=20, help="per phase")
    parser.add_argument("--b-timeout", type=float, default=5.0,
                        help="team B's registry.timeout_seconds")  # fmt: skip
    parser.add_argument("--settle", type=float, default=0.7, help="pause after each step")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    args = parser.parse_args()
    if args.quick:
        args.versions, args.promotions = 400, 6
    f = run(args)
    met = targets(f)
    print(f"{f['versions']} versions in two sources of one daemon (REST, webhooks)")
    print(f"{'team A webhook promotion':<44} {'n':>3} {'p50':>8} {'p95':>8}")
    labels = {"healthy": "both sources healthy",
              "hung": "team B's registry accepts, never answers"}  # fmt: skip
    for mode, label in labels.items():
        row = f[mode]
        print(f"{label:<44} {row['n']:>3} {row['p50_s']:>7.3f}s {row['p95_s']:>7.3f}s")
    hung = f["hung"]
    print(f"while healthy: {f['healthy']['b_commits']} team B commits")
    print(f"while hung: {hung['b_requests_held']} of team B's requests held, "
          f"{hung['b_commits']} team B commits; ratio hung/healthy p50 "
          f"{hung['p50_s'] / f['healthy']['p50_s']:.2f}x")  # fmt: skip
    print("targets: " + ", ".join(f"{k}={'met' if v else 'MISSED'}" for k, v in met.items()))
    print(json.dumps({"bench": "isolation", "quick": args.quick, "figures": f, "targets": met}))


if __name__ == "__main__":
    main()
