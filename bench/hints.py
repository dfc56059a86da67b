"""Benchmark: promotions on a large REST registry (hints), and what the change probe costs.

A real MLflow server (SQLite backend, webhooks enabled, one worker, as the tests
run it) holding ``--versions`` versions (10,000 in 2,000 models, seeded straight
into its database as ``bench/reconcile.py`` does) and one more model that is
promoted; ``python -m watcher run`` reads it over REST with default settings
except what a mode says. Each promotion moves ``@staging`` of that model between
v1 and v2 with ``MlflowClient``; the clock runs from that call's return to the
bare remote's ``refs/heads/main`` moving (polled every 5 ms).

- ``webhook``: MLflow posts signed webhooks; each names the model, so the daemon
  reads that one model again (the change probe stays on, at its default);
- ``probe``: no webhooks; the change probe every ``--probe-interval`` seconds (5,
  the default) names the models whose records changed; promotions come at evenly
  spread points of its cycle (expected: half a cycle, one probe, one reconcile). A
  probe that takes over half the interval is paced to twice its duration
  (``daemon/triggers.py``): the cycle is then that (the target stays issue 22's,
  half the configured interval + 0.5 s; ``probe_cycle_s`` shows the pacing);
- ``probe cost``: ``--probes`` probes of the whole registry in this process: their
  wall time, this process's CPU (the daemon's share) and the MLflow server's (its
  whole process group, from ``/proc``), and what that is of one core at the interval.

One change at 10,000 versions against one at 100 (hinted, REST and DB) is measured
by ``bench/reconcile.py`` (``one_hinted_change_*``), beside the full reconciles.

    python bench/hints.py [--quick] [--versions 10000] [--promotions 20] [--probe-interval 5]

Prints a table; the last line is one JSON object with the figures and the targets met.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from latency import bare, ref, summary, wait_ref_change  # noqa: E402
from reconcile import seed  # noqa: E402

from tests.servers.mlflow_server import (  # noqa: E402
    MlflowServer,
    register_version,
    stop_mlflow_server,
)
from tests.servers.mlflow_webhook import (  # noqa: E402
    WEBHOOK_EVENTS,
    start_daemon,
    start_webhook_mlflow_server,
)
from watcher.config.settings import Credentials, RegistrySettings  # noqa: E402
from watcher.daemon.triggers import PROBE_SHARE  # noqa: E402
from watcher.sources.mlflow.registry_probe import RegistryProbe  # noqa: E402

MODEL = "hints-model"
TICKS = os.sysconf("SC_CLK_TCK")


def group_cpu(pgid: int) -> float:
    """utime + stime of every live process in a process group (the MLflow server and its
    workers), seconds."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def spread(count: int, cycle: float) -> list[float]:
    """Waits before each promotion that put them at evenly spread points of a probe's
    ``cycle``, in a shuffled order: promotions made a fixed time after the last commit
    would all land at the same point of the cycle (each then waits nearly a whole one),
    which measures the benchmark's rhythm, not the daemon. 0 s each without a cycle."""
    waits = [(step + 0.5) / count * cycle for step in range(count)]
    random.Random(22).shuffle(waits)
    return waits


def promote(client: Any, remote: Path, waits: list[float], settle: float) -> list[float]:
    """Move @staging once per wait (slept first); the latency of each, in seconds."""
    samples = []
    for step, wait in enumerate(waits):
        time.sleep(wait)
        before = ref(remote)
        client.set_registered_model_alias(MODEL, "staging", "1" if step % 2 else "2")
        written = time.perf_counter()
        samples.append(wait_ref_change(remote, before) - written)
        time.sleep(settle)
    return samples


def paced_in(log: str) -> list[str]:
    """The daemon's own word on pacing (``-v``): each time its probe began to be paced,
    the gap it took (``ProbeJob._pace`` in daemon/triggers.py)."""
    return re.findall(r"change probe of \S+ takes [\d.]+ s: probing every (\d+) s", log)


def run_mode(
    mode: str, server: MlflowServer, work: Path, args: argparse.Namespace
) -> tuple[list[float], list[str]]:
    remote = bare(work / f"{mode}.git")
    secret = secrets.token_hex(16)
    env = {"GITOPS_WATCHER_WEBHOOK_SECRET": secret} if mode == "webhook" else {}
    keys = {"probe_interval_seconds": args.probe_interval}
    settings = {
        "state_dir": str(work / f"state-{mode}"),
        "registry": {"tracking_uri": server.url, "models": {"include": ["hints-*"]}},
        "git": {"repo_url": str(remote), "push_backoff_seconds": 0},
        "artifacts": {"store": "none"},
    }
    daemon = start_daemon(work / f"daemon-{mode}", settings, keys, env)
    client = server.client()
    hook = None
    try:
        daemon.wait_for(
            "the startup reconcile",
            lambda: daemon.status().get("last_success_at") is not None and bool(ref(remote)),
            timeout=300,
        )
        if mode == "webhook":
            hook = client.create_webhook(
                name=f"bench-{secrets.token_hex(4)}", url=f"{daemon.url}/webhooks/mlflow",
                events=WEBHOOK_EVENTS, secret=secret,  # type: ignore[arg-type]
            )  # fmt: skip
            time.sleep(2.5)  # MLflow caches its webhook list (1 s here)
        cycle = args.cycle if mode == "probe" else 0.0
        samples = promote(client, remote, spread(args.promotions, cycle), args.settle)
        return samples, paced_in(daemon.log())
    finally:
        if hook is not None:
            client.delete_webhook(hook.webhook_id)
        daemon.stop()


def probe_cost(server: MlflowServer, count: int, interval: float) -> dict[str, Any]:
    """What one probe of the whole registry costs: wall time, our CPU, the server's CPU."""
    probe = RegistryProbe(
        RegistrySettings(tracking_uri=server.url), Credentials(), ignore_tag_prefix="gitops."
    )
    try:
        models = len(probe.fingerprints())  # warm: connections, the server's caches
        server_before, ours_before = group_cpu(server.process.pid), time.process_time()
        started = time.perf_counter()
        for _ in range(count):
            probe.fingerprints()
        wall = (time.perf_counter() - started) / count
        ours = (time.process_time() - ours_before) / count
        theirs = (group_cpu(server.process.pid) - server_before) / count
    finally:
        probe.close()
    return {
        "models": models, "probes": count, "wall_s": wall, "daemon_cpu_s": ours,
        "server_cpu_s": theirs, "interval_s": interval,
        "daemon_percent_of_core": 100 * ours / interval,
        "server_percent_of_core": 100 * theirs / interval,
    }  # fmt: skip


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-hints-"))
    server = start_webhook_mlflow_server(work / "mlflow")
    figures: dict[str, Any] = {"versions": args.versions}
    try:
        assert server.db_path is not None
        seed(server.db_path, args.versions, "hints-bg")
        client = server.client()
        for _ in range(2):
            register_version(client, MODEL)
        client.set_registered_model_alias(MODEL, "champion", "1")
        client.set_registered_model_alias(MODEL, "staging", "1")
        figures["probe_cost"] = cost = probe_cost(server, args.probes, args.probe_interval)
        # A probe that takes over half its interval is paced (daemon/triggers.py).
        paced = cost["wall_s"] / PROBE_SHARE
        ticks = max(1, math.ceil((paced - 0.05) / args.probe_interval))
        args.cycle = figures["probe_cycle_s"] = ticks * args.probe_interval
        figures["probe_paced"] = ticks > 1
        for mode in args.modes:
            samples, paced = run_mode(mode, server, work, args)
            figures[mode] = {**summary(samples), "samples_s": [round(x, 3) for x in samples],
                             "paced_gaps_s": [float(gap) for gap in paced]}  # fmt: skip
            print(f"{mode}: p50 {figures[mode]['p50_s']:.3f} s", file=sys.stderr)
    finally:
        stop_mlflow_server(server)
        shutil.rmtree(work, ignore_errors=True)
    return figures


def targets(f: dict[str, Any]) -> dict[str, bool]:
    met = {}
    if "webhook" in f:
        met["webhook_p50_under_0_5s"] = f["webhook"]["p50_s"] < 0.5
    if "probe" in f:
        # Issue 22's target is on the configured interval. A paced probe (one that takes
        # over half of it) comes every ``probe_cycle_s`` instead, and then misses it:
        # the figures keep both, the target stays the issue's.
        interval = f["probe_cost"]["interval_s"]
        met["probe_p50_under_half_interval_plus_0_5s"] = f["probe"]["p50_s"] < interval / 2 + 0.5
    return met


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 versions, 6 promotions")
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument("--promotions", type=int, default=20)
    parser.add_argument("--probe-interval", type=float, default=5.0)
    parser.add_argument("--probes", type=int, default=10, help="probes timed for the cost")
    parser.add_argument("--settle", type=float, default=0.7, help="pause after each commit")
    parser.add_argument("--modes", nargs="+", default=["webhook", "probe"])
    args = parser.parse_args()
    if args.quick:
        args.versions, args.promotions, args.probes = 2_000, 6, 3
    f = run(args)
    met = targets(f)
    cost = f["probe_cost"]
    print(f"registry: {f['versions']} versions in {cost['models']} models (REST)")
    print(f"{'mode':<40} {'n':>3} {'p50':>8} {'p95':>8}")
    cycle = f["probe_cycle_s"]
    paced = f" (paced to {cycle:g} s)" if cycle > args.probe_interval else ""
    labels = {"webhook": "webhook (one model read again)",
              "probe": f"change probe every {args.probe_interval:g} s{paced}"}  # fmt: skip
    for mode in args.modes:
        row = f[mode]
        print(f"{labels[mode]:<40} {row['n']:>3} {row['p50_s']:>7.3f}s {row['p95_s']:>7.3f}s")
        if row["paced_gaps_s"]:
            print(f"  the daemon paced its probe at times (gaps {row['paced_gaps_s']} s)")
    print(f"one probe of {cost['models']} models: {cost['wall_s']:.3f} s wall; CPU "
          f"{cost['daemon_cpu_s']:.3f} s in the daemon ({cost['daemon_percent_of_core']:.1f} % "
          f"of a core at {cost['interval_s']:g} s), {cost['server_cpu_s']:.3f} s in the MLflow "
          f"server ({cost['server_percent_of_core']:.1f} %)")  # fmt: skip
    print("targets: " + ", ".join(f"{k}={'met' if v else 'MISSED'}" for k, v in met.items()))
    print(json.dumps({"bench": "hints", "quick": args.quick, "figures": f, "targets": met}))


if __name__ == "__main__":
    main()
