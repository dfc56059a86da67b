"""Command line: ``gitops-watcher <command>``.

Exit codes scripts can trust: 0 success (with or without changes); 1 some
releases failed, the rest were applied; 2 configuration or usage error; 3 the
run could not complete (registry, git or database unreachable or refusing us;
nothing half-done was pushed); 4 an unexpected internal error (a bug); 130
interrupted.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from watcher import __version__, logs
from watcher.commands.gc_tuning import tune_garbage_collector
from watcher.config.loader import CONFIG_ENV, load_settings
from watcher.config.settings import Credentials, Settings
from watcher.errors import (
    EXIT_CRASH,
    EXIT_OK,
    EXIT_PARTIAL,
    error_label,
    exit_code,
)

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gitops-watcher",
        description="Turn MLflow model-registry promotions and committed function specs into "
        "GitOps commits.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--config", help=f"YAML settings file (default: ${CONFIG_ENV})")
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more logs: -v info (and libraries' warnings, such as urllib3's retries), -vv "
        "debug, -vvv libraries' debug logs too (they may hold credentials: read before sharing)",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="only errors in the logs (default: our warnings and libraries' errors)",
    )
    parser.add_argument("--log-format", choices=("text", "json"), default="text")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    from watcher.commands.argocd import add_argocd_parser
    from watcher.commands.holds import add_hold_parsers
    from watcher.commands.rollback import add_rollback_parser
    from watcher.commands.validate import add_validate_parser
    from watcher.daemon.command import add_run_parser

    for add in (
        _add_reconcile_parser,
        add_run_parser,
        add_argocd_parser,
        add_hold_parsers,
        add_rollback_parser,
        _add_render_parsers,
        add_validate_parser,
        _add_state_parsers,
        _add_demo_parser,
    ):
        add(commands)
    return parser


def _add_reconcile_parser(commands: argparse._SubParsersAction[Any]) -> None:
    reconcile = commands.add_parser(
        "reconcile",
        help="read every source, copy and verify model artifacts, render, commit and push",
    )
    reconcile.add_argument(
        "--once", action="store_true", required=True, help="run one reconcile and exit"
    )
    reconcile.add_argument(
        "--dry-run",
        action="store_true",
        help="print each planned commit with a diff of its files, and the copies it would "
        "make; copy, commit and push nothing",
    )
    reconcile.add_argument(
        "--allow-mass-delete",
        action="store_true",
        help="apply removals even above safety.max_delete_fraction",
    )


def _add_render_parsers(commands: argparse._SubParsersAction[Any]) -> None:
    render = commands.add_parser("render", help="render the manifests into a folder, without git")
    render.add_argument("--out", required=True, type=Path, help="an empty or new folder")
    render.add_argument(
        "--snapshot",
        type=Path,
        help="render from a snapshot file (from 'gitops-watcher snapshot') instead of the "
        "registry; offline, so manifests name models:/ URIs instead of artifact copies",
    )
    snapshot = commands.add_parser("snapshot", help="print the registry snapshot as JSON")
    snapshot.add_argument("--out", type=Path, help="write to this file instead of stdout")
    snapshot.add_argument(
        "--source", default="", help="the MLflow source to read (default: the first one)"
    )


def _add_state_parsers(commands: argparse._SubParsersAction[Any]) -> None:
    commands.add_parser(
        "allow-mass-delete",
        help="let the running daemon's next reconcile apply removals above "
        "safety.max_delete_fraction, once",
    )
    commands.add_parser("config", help="validate the settings and print them (no secrets)")
    history = commands.add_parser("history", help="print the newest entries of the ledger")
    history.add_argument("--limit", type=int, default=20)


def _add_demo_parser(commands: argparse._SubParsersAction[Any]) -> None:
    demo = commands.add_parser(
        "demo", help="promote a sample model through a local registry into a local git repo"
    )
    demo.add_argument(
        "dir",
        nargs="?",
        type=Path,
        default=Path("gitops-watcher-demo"),
        help="working folder (default: ./gitops-watcher-demo; replaced if it holds a demo)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    tune_garbage_collector()
    logs.configure(-1 if args.quiet else args.verbose, args.log_format)
    try:
        if args.command == "demo":
            from watcher.commands.demo import run_demo

            return run_demo(args.dir)
        if args.command == "validate":
            from watcher.commands.validate import validate_command

            return validate_command(args, sys.stdout)
        from watcher import wiring

        settings, credentials = load_settings(args.config, sections=wiring.settings_sections())
        hide_secrets(settings, credentials)
        return _dispatch(args, settings, credentials)
    except (KeyboardInterrupt, Exception) as exc:
        return report_exit(exc)


def hide_secrets(settings: Settings, credentials: Credentials) -> None:
    """Mask every credential this run holds in every log line (a second guard: none is
    ever logged on purpose), the sources' own variables included."""
    logs.hide(credentials.secret_values())
    for source in settings.sources:
        logs.hide(source.credentials.read(os.environ).values())


def report_exit(exc: BaseException) -> int:
    """Say on standard error why a command ends, and return its exit code (one table)."""
    code = exit_code(exc)
    if isinstance(exc, KeyboardInterrupt):
        print("interrupted", file=sys.stderr)
    elif code == EXIT_CRASH:
        log.debug("unexpected error", exc_info=exc)
        print(
            f"internal error: {type(exc).__name__}: {str(exc)[:300]} (a bug in gitops-watcher; "
            "run again with -vv and report the output)",
            file=sys.stderr,
        )
    else:
        print(f"{error_label(exc)}: {exc}", file=sys.stderr)
    return code


def _dispatch(args: argparse.Namespace, settings: Settings, credentials: Credentials) -> int:
    from watcher import wiring

    if args.command == "config":
        wiring.source_entries(settings)  # the rules every kind of source shares
        from watcher.outward import check_notifications

        check_notifications(settings, credentials)
        print(_settings_yaml(settings, credentials), end="")
        return EXIT_OK
    if args.command == "history":
        return _history(args, settings, credentials)
    if args.command == "snapshot":
        from watcher.commands.snapshot import snapshot_command

        return snapshot_command(args, settings, credentials)
    if args.command == "render":
        from watcher.commands.render import render_command

        return render_command(args, settings, credentials)
    if args.command == "allow-mass-delete":
        flag = wiring.mass_delete_flag(settings)
        flag.parent.mkdir(parents=True, exist_ok=True)
        flag.write_text("written by 'gitops-watcher allow-mass-delete'; consumed by 'run'\n")
        print(f"the daemon's next reconcile may remove above the limit ({flag})")
        return EXIT_OK
    if args.command == "argocd":
        from watcher.commands.argocd import argocd_command

        return argocd_command(args, settings)
    if args.command in ("hold", "unhold"):
        from watcher.commands.holds import hold_command, unhold_command

        command = hold_command if args.command == "hold" else unhold_command
        return command(args, settings, credentials)
    if args.command == "rollback":
        from watcher.commands.rollback import rollback_command

        return rollback_command(args, settings, credentials)
    if args.command == "run":
        from watcher.daemon.command import run_command

        return run_command(args, settings, credentials)
    from watcher.adapters.writer_hold import hold_writer_lock
    from watcher.commands.report import print_result

    # The daemon's own lock: a one-shot run beside a running daemon would race it.
    with (
        hold_writer_lock(
            settings,
            role="reconcile --once",
            login=credentials.url_login("state.database_url"),
        ),
        wiring.build_reconciler(settings, credentials) as reconciler,
    ):
        result = reconciler.reconcile(
            dry_run=args.dry_run, allow_mass_delete=args.allow_mass_delete
        )
    print_result(result)
    return EXIT_OK if result.ok else EXIT_PARTIAL


def _history(args: argparse.Namespace, settings: Settings, credentials: Credentials) -> int:
    from watcher.adapters.ledger import Ledger, sqlite_file
    from watcher.commands.report import history_table

    path = sqlite_file(settings.state_database_url)
    if path is not None and not path.is_file():
        # Opening it would create it (or fail with "unable to open database file").
        print(
            f"no reconcile has run yet: there is no ledger ({path.name}) in the state folder "
            f"{path.parent}"
        )
        return EXIT_OK
    login = credentials.url_login("state.database_url")
    with Ledger(settings.state_database_url, login) as ledger:
        entries = ledger.history(args.limit)
    if not entries:
        print("the ledger is empty: no reconcile has recorded anything yet")
        return EXIT_OK
    for line in history_table(entries):
        print(line)
    return EXIT_OK


def _redacted(value: object) -> object:
    """Passwords in URLs are never printed (the loader took them out already: a second guard)."""
    if isinstance(value, dict):
        return {key: _redacted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_redacted(item) for item in value]
    if isinstance(value, str) and "://" in value:
        from watcher.adapters.git_transport import remote_url

        return remote_url(value)
    return value


def _settings_yaml(settings: Settings, credentials: Credentials) -> str:
    data = _redacted(settings.model_dump(mode="json"))
    assert isinstance(data, dict)
    data["state_dir"] = str(settings.state_path)
    data["credentials_from_environment"] = credentials.variable_names()
    # The URLs above are shown without their user info; it is kept apart, and named here.
    data["credentials_in_urls"] = sorted(credentials.urls)
    return yaml.safe_dump(data, sort_keys=False)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
