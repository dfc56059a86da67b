"""Command line: ``gitops-watcher <command>``.

Exit codes scripts can trust: 0 success (with or without changes); 1 some
(model, stage) pairs failed, the rest were applied; 2 configuration or usage
error; 3 the run could not complete (registry, git or database unreachable or
refusing us; nothing half-done was pushed); 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import yaml

from watcher import __version__, logs
from watcher.config.loader import CONFIG_ENV, load_settings
from watcher.config.settings import Credentials, Settings
from watcher.core.model import RegistrySnapshot
from watcher.errors import ConfigError, WatcherError
from watcher.reconciler import ReconcileResult

log = logging.getLogger(__name__)

EXIT_OK, EXIT_PARTIAL, EXIT_CONFIG, EXIT_UNAVAILABLE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gitops-watcher",
        description="Turn MLflow model-registry promotions into GitOps commits.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--config", help=f"YAML settings file (default: ${CONFIG_ENV})")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logs (-vv: debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only errors in the logs")
    parser.add_argument("--log-format", choices=("text", "json"), default="text")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    reconcile = commands.add_parser(
        "reconcile",
        help="read the registry, copy and verify model artifacts, render, commit and push",
    )
    reconcile.add_argument(
        "--once", action="store_true", required=True, help="run one reconcile and exit"
    )
    reconcile.add_argument(
        "--dry-run", action="store_true", help="print the plan; copy, commit and push nothing"
    )
    reconcile.add_argument(
        "--allow-mass-delete",
        action="store_true",
        help="apply removals even above safety.max_delete_fraction",
    )

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

    commands.add_parser("config", help="validate the settings and print them (no secrets)")

    history = commands.add_parser("history", help="print the newest entries of the ledger")
    history.add_argument("--limit", type=int, default=20)

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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.configure(-1 if args.quiet else args.verbose, args.log_format)
    try:
        if args.command == "demo":
            from watcher.demo import run_demo

            return run_demo(args.dir)
        settings, credentials = load_settings(args.config)
        return _dispatch(args, settings, credentials)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except WatcherError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _dispatch(args: argparse.Namespace, settings: Settings, credentials: Credentials) -> int:
    from watcher import wiring

    if args.command == "config":
        print(_settings_yaml(settings, credentials), end="")
        return EXIT_OK
    if args.command == "history":
        from watcher.adapters.state_store import StateStore

        for entry in StateStore(settings.state_database_url).history(args.limit):
            when = entry.recorded_at.isoformat(timespec="seconds") if entry.recorded_at else ""
            detail = entry.commit[:10] if entry.commit else entry.error
            if entry.artifact_digest:
                detail += f" {entry.artifact_digest[:19]}"
            print(
                f"{when} {entry.outcome:8} {entry.action:7} {entry.folder or entry.model_name} "
                f"v{entry.version} {detail}"
            )
        return EXIT_OK
    if args.command == "snapshot":
        data = json.dumps(
            wiring.build_registry(settings, credentials).snapshot().to_dict(),
            indent=2,
            sort_keys=True,
            ensure_ascii=False,
        )
        if args.out:
            args.out.write_text(data + "\n", encoding="utf-8")
        else:
            print(data)
        return EXIT_OK
    if args.command == "render":
        return _render(args, settings, credentials)
    reconciler = wiring.build_reconciler(settings, credentials)
    result = reconciler.reconcile(dry_run=args.dry_run, allow_mass_delete=args.allow_mass_delete)
    print_result(result)
    return EXIT_OK if result.ok else EXIT_PARTIAL


def _render(args: argparse.Namespace, settings: Settings, credentials: Credentials) -> int:
    from watcher import wiring
    from watcher.adapters.templates import template_loader
    from watcher.core.render import make_environment
    from watcher.reconciler import desired_folders

    out: Path = args.out
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} is not empty", hint="render into a new or empty folder")
    artifacts = None
    if args.snapshot:
        # Offline: no registry to locate files with, so manifests name models:/ URIs.
        try:
            snapshot = RegistrySnapshot.from_dict(json.loads(args.snapshot.read_text("utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"cannot read snapshot {args.snapshot}: {exc}") from exc
    else:
        registry = wiring.build_registry(settings, credentials)
        snapshot = registry.snapshot()
        artifacts = wiring.build_artifacts(settings, credentials, registry)
    env = make_environment(template_loader(settings.render.templates_dir))
    # dry_run: the digest of a version not yet copied is computed from its source; nothing is sent.
    rendered, failures, _stats = desired_folders(settings, env, snapshot, artifacts, dry_run=True)
    for folder, files in sorted(rendered.items()):
        for name, data in sorted(files.items()):
            path = out / settings.git.path / folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        print(f"rendered {settings.git.path}/{folder}/")
    for failure in failures:
        print(f"FAILED {failure.model_name!r} in {failure.stage}: {failure.error}", file=sys.stderr)
    return EXIT_OK if not failures else EXIT_PARTIAL


def print_result(result: ReconcileResult, stream: TextIO | None = None) -> None:
    """A short report people read after a reconcile."""
    out = stream or sys.stdout
    if result.dry_run:
        for change in result.planned:
            print(f"would commit: {change.subject}", file=out)
    for applied in result.applied:
        print(f"committed {applied.commit[:10]} {applied.change.subject}", file=out)
    for model, stage, error in result.failures:
        print(f"FAILED {model!r} in {stage}: {error}", file=out)
    for problem in result.plan_problems:
        print(f"FAILED {problem}", file=out)
    counts = result.counts()
    if result.pushed:
        summary = f"pushed {counts['applied']} commit(s)"
    elif result.dry_run:
        summary = f"dry run: {counts['planned']} change(s) planned, nothing committed"
    else:
        summary = "no changes"
    copied = ""
    if counts["artifact_files_sent"]:
        copied = (
            f"; artifacts: {counts['artifact_files_sent']} file(s), "
            f"{counts['artifact_bytes_sent']} bytes sent"
        )
    elif counts["applied"] > counts["removed"] and result.artifacts.files_already_there:
        copied = "; artifacts: already copied, 0 bytes sent"
    print(
        f"{summary}; {counts['unchanged']} deployment(s) unchanged, {counts['failed']} failed"
        f"{copied}",
        file=out,
    )


def _settings_yaml(settings: Settings, credentials: Credentials) -> str:
    data = settings.model_dump(mode="json")
    data["credentials_from_environment"] = sorted(
        name for name, value in credentials.model_dump().items() if value
    )
    return yaml.safe_dump(data, sort_keys=False)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
