"""``gitops-watcher rollback NAME STAGE [--to VERSION]``: move the registry back, from git.

The version to go back to is read from the folder's history (what it ran before
the current one; a second rollback goes one further back), or given with
``--to``. The command only moves the stage's selector in the registry (its first
alias, or its registry stage); the next reconcile deploys it, and its commit
says it is a rollback.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from watcher import publishing
from watcher.config.settings import Credentials, Settings
from watcher.core.names import join_folder
from watcher.core.policy.folders import find_release
from watcher.core.policy.history import revisions_run
from watcher.errors import EXIT_OK, ConfigError
from watcher.spine.policy import HISTORY_DEPTH


def add_rollback_parser(commands: argparse._SubParsersAction[Any]) -> None:
    rollback = commands.add_parser(
        "rollback",
        help="point the stage's selector back at the version it ran before (or --to VERSION)",
    )
    rollback.add_argument("name", help="the registered model")
    rollback.add_argument("stage", help="the stage")
    rollback.add_argument("--to", default="", metavar="VERSION", help="any registered version")
    rollback.add_argument("--source", default="", help="the source, when several deploy NAME")


def rollback_command(args: argparse.Namespace, settings: Settings, credentials: Credentials) -> int:
    with publishing.open_publisher(settings, credentials) as (_publisher, repo):
        repo.sync()
        prefix = settings.git.path
        tree = repo.read_tree(prefix)
        view = {path[len(prefix) + 1 :]: tree[path] for path in tree if path.endswith(".json")}
        folder, info = find_release(view, args.name, args.stage, args.source)
        history = repo.folder_log(join_folder(settings.git.path, folder), HISTORY_DEPTH)
    if info.kind != "model":
        raise ConfigError(
            f"{args.name!r} is a {info.kind}: rollback moves a model registry's selector",
            hint="revert the folder's commit in git instead; a person's change is honoured",
        )
    target = args.to or _previous(history, info.revision, args)
    moved = _move(settings, credentials, info.source, args.stage, args.name, target)
    print(
        f"moved {moved} of {args.name} to version {target}; the next reconcile deploys it "
        f"(roll back {args.name} in {args.stage}: {info.label} → v{target})"
    )
    return EXIT_OK


def _previous(history: Any, current: str, args: argparse.Namespace) -> str:
    stack = revisions_run(history)
    if len(stack) < 2 or stack[-1] != current:
        raise ConfigError(
            f"{args.name} ran no other version in {args.stage} before v{current} "
            "that gitops-watcher deployed",
            hint="name one with --to VERSION",
        )
    return stack[-2]


def _move(
    settings: Settings, credentials: Credentials, source: str, stage: str, name: str, version: str
) -> str:
    from watcher.sources.mlflow.selectors import SelectorWriter
    from watcher.sources.mlflow.settings_view import mlflow_endpoints, stage_policy

    endpoint = next(
        (e for e in mlflow_endpoints(settings, credentials, os.environ) if e.name == source), None
    )
    if endpoint is None or not endpoint.registry.tracking_uri.startswith(("http://", "https://")):
        raise ConfigError(
            f"source {source!r} has no MLflow server to move the selector in",
            hint="rollback sets the alias through the REST API: set the source's tracking URI",
        )
    stages = [stage_policy(s, settings.render) for s in endpoint.stages if s.name == stage]
    policy = stages[0] if stages else None
    if policy is None or not policy.select:
        raise ConfigError(f"source {source!r} has no stage {stage!r} with a selector")
    writer = SelectorWriter(endpoint.registry, endpoint.credentials)
    try:
        if not writer.version_exists(name, version):
            raise ConfigError(f"model {name!r} has no version {version!r} in the registry")
        return writer.point(policy.select[0], name, version)
    finally:
        writer.close()
