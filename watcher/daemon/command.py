"""``gitops-watcher run``: the command line of the long-running service.

The CLI wires it with ``add_run_parser(commands)`` and dispatches ``run`` to
``run_command(args, settings, credentials)``. Exit codes follow the CLI's: 0
after a clean shutdown on SIGTERM/SIGINT, 2 configuration error (for example
another process holds the state folder), 3 the writer lease was lost.
"""

from __future__ import annotations

import argparse
import signal
from types import FrameType
from typing import Any

from pydantic import ValidationError

from watcher.config.daemon_settings import DaemonSettings
from watcher.config.settings import Credentials, Settings
from watcher.errors import ConfigError

_OVERRIDES = {
    "listen": "listen",
    "resync_interval": "resync_interval_seconds",
    "probe_interval": "probe_interval_seconds",
    "debounce": "watch_debounce_seconds",
}


def add_run_parser(commands: argparse._SubParsersAction[Any]) -> None:
    run = commands.add_parser(
        "run",
        help="run as a service: watch the registry, resync on an interval, take webhooks, "
        "serve /healthz /readyz /metrics /status",
        description="Reconcile whenever a trigger asks (file events, interval resync, webhooks, "
        "change probes); stop cleanly on SIGTERM or SIGINT. Options override daemon.* settings.",
    )
    run.add_argument("--listen", metavar="HOST:PORT", help="HTTP address (daemon.listen)")
    run.add_argument(
        "--resync-interval", type=float, metavar="SECONDS", help="daemon.resync_interval_seconds"
    )
    run.add_argument(
        "--probe-interval",
        type=float,
        metavar="SECONDS",
        help="REST change probe interval, 0 off (daemon.probe_interval_seconds)",
    )
    run.add_argument(
        "--debounce", type=float, metavar="SECONDS", help="daemon.watch_debounce_seconds"
    )
    run.add_argument(
        "--no-watch", action="store_true", help="do not watch the registry's SQLite file"
    )
    run.add_argument(
        "--dry-run", action="store_true", help="plan on every trigger; commit and push nothing"
    )


def resolve_settings(args: argparse.Namespace, settings: Settings) -> DaemonSettings:
    """``daemon.*`` settings with the command-line options applied on top."""
    base = settings.daemon
    update: dict[str, Any] = {
        key: getattr(args, option)
        for option, key in _OVERRIDES.items()
        if getattr(args, option, None) is not None
    }
    if getattr(args, "no_watch", False):
        update["watch_database"] = False
    if not update:
        return base
    try:
        return DaemonSettings.model_validate({**base.model_dump(), **update})
    except ValidationError as exc:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"invalid run option: {details}") from exc


def run_command(args: argparse.Namespace, settings: Settings, credentials: Credentials) -> int:
    """Run until SIGTERM/SIGINT; WatcherErrors propagate to the exit-code table
    (``watcher.errors.exit_code``): another writer is a configuration error (2)."""
    from watcher.daemon.service import Daemon

    daemon = Daemon(
        settings, credentials, resolve_settings(args, settings), dry_run=bool(args.dry_run)
    )

    def stop(signum: int, _frame: FrameType | None) -> None:
        daemon.request_stop()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return daemon.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
