"""Benchmark: promotion latency, from the registry write to the commit on the remote.

A real MLflow server (SQLite backend, webhooks enabled) and ``python -m watcher
run`` as its own process. Each promotion moves the alias ``staging`` of one
model between v1 and v2 with ``MlflowClient``; the clock starts when that call
returns and stops when the bare remote's ``refs/heads/main`` changes (polled
every 5 ms). Modes:

- ``watch``: the registry read from its SQLite file, file events debounced
  (``daemon.watch_debounce_seconds``, default 0.5 s);
- ``webhook``: the REST reader, MLflow posting signed webhooks to the daemon;
- ``probe``: the REST reader, no webhooks, the change probe every
  ``--probe-interval`` seconds (expected: about half of it plus one reconcile);
- ``seed``: the seed-style baseline, in this process: watchdog on ``*.db`` →
  full rescan → render every folder afresh → ``git add -A && git commit`` → push;
- ``notify``: as ``webhook``, with two notification receivers that cannot keep up:
  one gone (a port nobody listens on) and one that answers after 10 s. Every
  promotion sends them an event; the figure shows that they do not slow it.

    python bench/latency.py [--quick] [--promotions 20] [--probe-interval 2]

Prints a table; the last line is one JSON object with the figures and the targets met.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reconcile import seed  # noqa: E402
from seed_style import clone, seed_cycle  # noqa: E402

from tests.servers.mlflow_server import (  # noqa: E402
    MlflowServer,
    free_port,
    register_version,
    stop_mlflow_server,
)
from tests.servers.mlflow_webhook import (  # noqa: E402
    WEBHOOK_EVENTS,
    start_daemon,
    start_webhook_mlflow_server,
)
from tests.servers.receiver import Receiver, start_receiver  # noqa: E402

MODEL = "latency-model"
PATTERN = "latency-*"


def bare(path: Path) -> Path:
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(path)], check=True)
    return path


def ref(remote: Path) -> str:
    """The remote's main, read as git stores it (a loose ref after a push), else ''."""
    try:
        return (remote / "refs" / "heads" / "main").read_text().strip()
    except OSError:
        out = subprocess.run(
            ["git", "-C", str(remote), "rev-parse", "-q", "--verify", "refs/heads/main"],
            capture_output=True, text=True,
        )  # fmt: skip
        return out.stdout.strip()


def wait_ref_change(remote: Path, before: str, timeout: float = 60.0) -> float:
    """perf_counter() when the ref moved away from ``before``."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if ref(remote) != before:
            return time.perf_counter()
        time.sleep(0.005)
    raise TimeoutError(f"{remote} did not move from {before[:10]} in {timeout} s")


def config(
    server: MlflowServer, remote: Path, state: Path, mode: str, slow_url: str = ""
) -> dict[str, Any]:
    registry: dict[str, Any] = {"tracking_uri": server.url, "models": {"include": [PATTERN]}}
    if mode == "watch":
        registry.update(kind="database", database_uri=server.db_uri)
    settings: dict[str, Any] = {
        "state_dir": str(state),
        "registry": registry,
        "git": {"repo_url": str(remote), "push_backoff_seconds": 0},
        "artifacts": {"store": "none"},
    }
    if mode == "notify":
        settings["notifications"] = [
            {"name": "gone", "url": f"http://127.0.0.1:{free_port()}/hook"},
            {"name": "slow", "url": slow_url, "timeout_seconds": 30, "format": "slack"},
        ]
    return settings


def promote(client: Any, remote: Path, count: int, settle: float) -> list[float]:
    """Move @staging ``count`` times; the latency of each, in seconds."""
    samples = []
    for step in range(count):
        before = ref(remote)
        client.set_registered_model_alias(MODEL, "staging", "1" if step % 2 else "2")
        written = time.perf_counter()
        samples.append(wait_ref_change(remote, before) - written)
        time.sleep(settle)  # let the daemon go quiet: promotions are measured one at a time
    return samples


def run_daemon_mode(
    mode: str, server: MlflowServer, work: Path, args: argparse.Namespace
) -> list[float]:
    remote = bare(work / f"{mode}.git")
    daemon_keys: dict[str, Any] = {}
    env: dict[str, str] = {}
    run_args: tuple[str, ...] = ()
    secret = secrets.token_hex(16)
    if mode in ("webhook", "notify"):
        env["GITOPS_WATCHER_WEBHOOK_SECRET"] = secret
        run_args = ("--no-watch",)
    if mode == "probe":
        daemon_keys["probe_interval_seconds"] = args.probe_interval
        run_args = ("--no-watch",)
    slow = start_receiver(Receiver(delay_seconds=10.0)) if mode == "notify" else None
    settings = config(
        server, remote, work / f"state-{mode}", mode, slow_url=slow.url if slow else ""
    )
    daemon = start_daemon(work / f"daemon-{mode}", settings, daemon_keys, env, args=run_args)
    client = server.client()
    hook = None
    try:
        daemon.wait_for("the startup commit", lambda: bool(ref(remote)), timeout=60)
        if mode in ("webhook", "notify"):
            hook = client.create_webhook(
                name=f"bench-{secrets.token_hex(4)}", url=f"{daemon.url}/webhooks/mlflow",
                events=WEBHOOK_EVENTS, secret=secret,  # type: ignore[arg-type]
            )  # fmt: skip
            time.sleep(2.5)  # MLflow caches its webhook list (1 s here)
        return promote(client, remote, args.promotions, args.settle)
    finally:
        if hook is not None:
            client.delete_webhook(hook.webhook_id)
        daemon.stop()
        if slow is not None:
            slow.stop()


class SeedStyle:
    """The seed watcher's loop: any event on *.db → rescan, render everything, add, commit, push."""

    def __init__(self, server: MlflowServer, work: Path) -> None:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        from watcher.config.settings import Settings

        self.remote = bare(work / "seed.git")
        self.checkout = work / "seed-checkout"
        clone(self.remote, self.checkout)
        self.settings = Settings.model_validate(config(server, self.remote, work / "st", "watch"))
        self.wake = threading.Event()
        self.stopping = False
        assert server.db_path is not None
        db = server.db_path
        wake = self.wake

        class Events(FileSystemEventHandler):
            def on_any_event(self, event: Any) -> None:
                if str(event.src_path).endswith(".db") or ".db-" in str(event.src_path):
                    wake.set()

        self.observer = Observer()
        self.observer.schedule(Events(), str(db.parent))
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def start(self) -> None:
        self.observer.start()
        self.thread.start()
        self.wake.set()

    def stop(self) -> None:
        self.stopping = True
        self.wake.set()
        self.observer.stop()
        self.observer.join(5)
        self.thread.join(30)

    def loop(self) -> None:
        while not self.stopping:
            self.wake.wait()
            self.wake.clear()
            if not self.stopping:
                self.cycle()

    def cycle(self) -> None:
        seed_cycle(self.settings, self.checkout)


def run_seed(server: MlflowServer, work: Path, args: argparse.Namespace) -> list[float]:
    seed = SeedStyle(server, work)
    seed.start()
    try:
        deadline = time.time() + 60
        while not ref(seed.remote) and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)
        return promote(server.client(), seed.remote, args.promotions, args.settle)
    finally:
        seed.stop()


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "n": len(samples), "p50_s": statistics.median(samples), "p95_s": p95,
        "min_s": ordered[0], "max_s": ordered[-1],
    }  # fmt: skip


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    os.environ.setdefault("GIT_TERMINAL_PROMPT", "0")
    server = start_webhook_mlflow_server(work / "mlflow")
    figures: dict[str, Any] = {}
    try:
        assert server.db_path is not None
        # Other models beside the one promoted (N versions in N/5 models, 2 deployments each),
        # seeded into the backend DB: every reconcile reads and renders (or caches) them all.
        seed(server.db_path, args.background, "latency-bg")
        client = server.client()
        for _ in range(2):
            register_version(client, MODEL)
        client.set_registered_model_alias(MODEL, "champion", "1")
        client.set_registered_model_alias(MODEL, "staging", "1")
        for mode in args.modes:
            samples = run_seed(server, work, args) if mode == "seed" else run_daemon_mode(
                mode, server, work, args
            )  # fmt: skip
            figures[mode] = summary(samples)
            print(f"{mode}: p50 {figures[mode]['p50_s']:.3f} s", file=sys.stderr)
        if "probe" in figures:
            figures["probe"]["interval_s"] = args.probe_interval
    finally:
        stop_mlflow_server(server)
        shutil.rmtree(work, ignore_errors=True)
    return figures


def targets(f: dict[str, Any]) -> dict[str, bool]:
    met = {}
    for mode in ("watch", "webhook"):
        if mode in f:
            met[f"{mode}_p50_under_1s"] = f[mode]["p50_s"] < 1.0
    if "notify" in f and "webhook" in f:
        # Receivers that are gone or slow must not slow a promotion (noise: 0.25 s).
        met["notify_p50_as_webhook_p50"] = f["notify"]["p50_s"] < f["webhook"]["p50_s"] + 0.25
    if "probe" in f:
        # About half the interval plus one reconcile: allow the reconcile up to 1 s.
        met["probe_p50_about_half_interval_plus_reconcile"] = (
            f["probe"]["p50_s"] < f["probe"]["interval_s"] / 2 + 1.0
        )
    return met


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6 promotions per mode")
    parser.add_argument("--promotions", type=int, default=20)
    parser.add_argument("--probe-interval", type=float, default=2.0)
    parser.add_argument("--settle", type=float, default=0.7, help="pause after each commit")
    parser.add_argument(
        "--modes", nargs="+", default=["watch", "webhook", "notify", "probe", "seed"]
    )
    parser.add_argument("--background", type=int, default=1000, help="other versions seeded")
    args = parser.parse_args()
    if args.quick:
        args.promotions, args.background = 6, 500
    f = run(args)
    met = targets(f)
    print(f"{args.background} other versions in the registry")
    print(f"{'mode':<44} {'n':>3} {'p50':>8} {'p95':>8} {'ratio p50 vs seed':>18}")
    seed = f.get("seed", {}).get("p50_s")
    labels = {
        "watch": "DB watch (debounce 0.5 s)", "webhook": "webhook",
        "notify": "webhook, receivers gone and 10 s slow",
        "probe": f"REST probe every {args.probe_interval:g} s",
        "seed": "seed-style (rescan, render all, commit -a)",
    }  # fmt: skip
    for mode, row in f.items():
        ratio = f"{row['p50_s'] / seed:.2f}x" if seed else "-"
        print(f"{labels[mode]:<44} {row['n']:>3} {row['p50_s']:>7.3f}s {row['p95_s']:>7.3f}s "
              f"{ratio:>18}")  # fmt: skip
    print("targets: " + ", ".join(f"{k}={'met' if v else 'MISSED'}" for k, v in met.items()))
    print(json.dumps({"bench": "latency", "quick": args.quick, "figures": f, "targets": met}))


if __name__ == "__main__":
    main()
