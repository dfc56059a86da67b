"""``gitops-watcher render --out DIR``: the files a reconcile would commit, into a folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from watcher import wiring
from watcher.config.settings import Credentials, Settings
from watcher.errors import EXIT_OK, EXIT_PARTIAL, ConfigError


def render_command(args: argparse.Namespace, settings: Settings, credentials: Credentials) -> int:
    out: Path = args.out
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} is not empty", hint="render into a new or empty folder")
    state = wiring.render_desired(settings, credentials, snapshot=args.snapshot)
    for folder, desired in sorted(state.folders.items()):
        for name, data in sorted(desired.files.items()):
            path = out / settings.git.path / folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        print(f"rendered {settings.git.path}/{folder}/")
    # Failures are part of the report, on standard output, as after a reconcile.
    for failure in state.failures:
        print(f"FAILED {failure.id.describe()}: {failure.error}")
    for outcome in state.sources:
        if not outcome.ok:
            print(f"FAILED source {outcome.name!r}: {outcome.error}")
    ok = not state.failures and all(outcome.ok for outcome in state.sources)
    if not state.folders:
        names = ", ".join(repr(outcome.name) for outcome in state.sources)
        print(
            f"nothing to render: no release is selected for any stage (source(s) {names}"
            f"{', some failed above' if not ok else ''}); no file was written to {out}"
        )
    return EXIT_OK if ok else EXIT_PARTIAL
