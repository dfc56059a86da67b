"""``gitops-watcher snapshot``: what an MLflow registry holds, as ``render --snapshot`` reads it."""

from __future__ import annotations

import argparse
import json
import os

from watcher.config.settings import Credentials, Settings
from watcher.errors import EXIT_OK, ConfigError
from watcher.sources.mlflow.readers import build_registry
from watcher.sources.mlflow.settings_view import mlflow_endpoints


def snapshot_command(args: argparse.Namespace, settings: Settings, credentials: Credentials) -> int:
    endpoints = [e for e in mlflow_endpoints(settings, credentials, os.environ) if e.configured]
    chosen = [e for e in endpoints if not args.source or e.name == args.source]
    if not chosen:
        known = ", ".join(e.name for e in endpoints) or "none (set MLFLOW_TRACKING_URI)"
        raise ConfigError(f"no MLflow source named {args.source!r}", hint=f"sources: {known}")
    registry = build_registry(chosen[0].registry, chosen[0].credentials)
    try:
        data = json.dumps(
            registry.snapshot().to_dict(), indent=2, sort_keys=True, ensure_ascii=False
        )
    finally:
        registry.close()
    if args.out:
        args.out.write_text(data + "\n", encoding="utf-8")
    else:
        print(data)
    return EXIT_OK
