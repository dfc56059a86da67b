"""Benchmark: CPU that ``gitops-watcher run`` uses while nothing changes.

A real MLflow server (SQLite backend) with a few models, the daemon as its own
process watching the registry file (DB mode) and, in a second run, reading it
over REST with the change probe on. After the startup reconcile, the daemon's
``utime + stime`` from ``/proc/<pid>/stat`` (its threads and reaped git children
included) is read at the start and the end of the window.

    python bench/idle.py [--quick] [--seconds 60]

Intervals: the default resync (``daemon.resync_interval_seconds`` = 300 s, so a
60 s window usually holds no resync; ``--resync`` sets it) and, for REST, the
probe every ``--probe-interval`` seconds (default 10 s). The last line is one
JSON object with the figures and the targets met.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers.mlflow_server import (  # noqa: E402
    MlflowServer,
    register_version,
    start_mlflow_server,
    stop_mlflow_server,
)
from tests.servers.mlflow_webhook import start_daemon  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime + cutime + cstime of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the ')': state is field 3; utime, stime, cutime, cstime are fields 14-17.
    return sum(int(v) for v in fields[11:15]) / TICKS


def measure(
    server: MlflowServer, work: Path, mode: str, seconds: float, args: argparse.Namespace
) -> dict[str, Any]:
    remote = work / f"{mode}.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    registry: dict[str, Any] = {"tracking_uri": server.url, "models": {"include": ["idle-*"]}}
    daemon_keys: dict[str, Any] = {}
    if mode == "watch":
        registry.update(kind="database", database_uri=server.db_uri)
    else:
        daemon_keys["probe_interval_seconds"] = args.probe_interval
    if args.resync:
        daemon_keys["resync_interval_seconds"] = args.resync
    config = {
        "state_dir": str(work / f"state-{mode}"), "registry": registry,
        "git": {"repo_url": str(remote)}, "artifacts": {"store": "none"},
    }  # fmt: skip
    daemon = start_daemon(work / f"daemon-{mode}", config, daemon_keys)
    try:
        daemon.wait_for(
            "the first reconcile", lambda: daemon.status().get("last_success_at") is not None, 60
        )
        time.sleep(2.0)  # let the startup work (git's helpers, imports) settle
        pid = daemon.process.pid
        before, start = cpu_seconds(pid), time.monotonic()
        time.sleep(seconds)
        used, elapsed = cpu_seconds(pid) - before, time.monotonic() - start
        reconciles = daemon.status().get("last_reconcile") or {}
    finally:
        daemon.stop()
    return {
        "seconds": elapsed, "cpu_s": used, "percent_of_core": 100 * used / elapsed,
        "resync_interval_s": args.resync or 300,
        "probe_interval_s": args.probe_interval if mode == "probe" else 0,
        "last_reconcile_id": reconciles.get("id"),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="15 s windows")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--probe-interval", type=float, default=10.0)
    parser.add_argument("--resync", type=float, default=0.0, help="0: the default (300 s)")
    args = parser.parse_args()
    if args.quick:
        args.seconds = 15.0
    work = Path(tempfile.mkdtemp(prefix="bench-idle-"))
    server = start_mlflow_server(work / "mlflow")
    figures: dict[str, Any] = {}
    try:
        client = server.client()
        for index in range(5):
            name = f"idle-{index}"
            register_version(client, name)
            client.set_registered_model_alias(name, "champion", "1")
        for mode in ("watch", "probe"):
            figures[mode] = measure(server, work, mode, args.seconds, args)
    finally:
        stop_mlflow_server(server)
        shutil.rmtree(work, ignore_errors=True)
    met = {f"{m}_under_1pct": f["percent_of_core"] < 1.0 for m, f in figures.items()}
    print(f"{'mode':<40} {'window':>8} {'CPU':>8} {'% of one core':>14}")
    resync = f"resync {args.resync or 300:g} s"
    labels = {
        "watch": f"DB watch, {resync}",
        "probe": f"REST, probe every {args.probe_interval:g} s, {resync}",
    }
    for mode, row in figures.items():
        print(f"{labels[mode]:<40} {row['seconds']:>7.1f}s {row['cpu_s']:>7.2f}s "
              f"{row['percent_of_core']:>13.2f}%")  # fmt: skip
    print("targets: " + ", ".join(f"{k}={'met' if v else 'MISSED'}" for k, v in met.items()))
    print(json.dumps({"bench": "idle", "quick": args.quick, "figures": figures, "targets": met}))


if __name__ == "__main__":
    main()
