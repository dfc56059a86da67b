"""``python -m watcher.daemon [global options] run …``: the service before the CLI wires it.

Same global options as ``gitops-watcher`` (``--config``, ``-v``, ``-q``,
``--log-format``) and the same exit codes; kept so that a broken import in an
unrelated command never stops the service from starting.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from watcher import logs
from watcher.config.loader import load_settings
from watcher.daemon.command import add_run_parser, run_command
from watcher.errors import WatcherError, error_label, exit_code


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m watcher.daemon")
    parser.add_argument("--config")
    parser.add_argument("-v", "--verbose", action="count", default=0)
    parser.add_argument("-q", "--quiet", action="store_true")
    parser.add_argument("--log-format", choices=("text", "json"), default="text")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_run_parser(commands)
    args = parser.parse_args(argv)
    logs.configure(-1 if args.quiet else args.verbose, args.log_format)
    try:
        settings, credentials = load_settings(args.config)
        logs.hide(credentials.secret_values())
        for source in settings.sources:
            logs.hide(source.credentials.read(os.environ).values())
        return run_command(args, settings, credentials)
    except WatcherError as exc:
        print(f"{error_label(exc)}: {exc}", file=sys.stderr)
        return exit_code(exc)


if __name__ == "__main__":
    sys.exit(main())
