"""``gitops-watcher hold`` and ``unhold``: keep a (name, stage) as it is, or let it follow again.

Both commit a record under ``.gitops-watcher/holds/`` of the deployments folder
(never a byte of the held folder) and push it; the daemon honours it on its next
reconcile. ``unhold`` also releases a hold that a person's change began.
"""

from __future__ import annotations

import argparse
import getpass
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from watcher import publishing
from watcher.config.settings import Credentials, Settings
from watcher.core.plan import Change, Plan
from watcher.core.policy.folders import find_release
from watcher.core.policy.history import human_changes
from watcher.core.policy.holds import RECORD_FILE, HoldRecord, record_folder
from watcher.core.policy.messages import record_message
from watcher.core.provenance import Provenance
from watcher.errors import EXIT_OK
from watcher.spine.policy import hold_records


def add_hold_parsers(commands: argparse._SubParsersAction[Any]) -> None:
    hold = commands.add_parser(
        "hold",
        help="keep a (name, stage) exactly as it is until 'unhold' (registry moves are reported)",
    )
    _release_arguments(hold)
    hold.add_argument("--reason", default="", help="why, shown in /status and the commit")
    unhold = commands.add_parser(
        "unhold", help="let a held (name, stage) follow the registry again"
    )
    _release_arguments(unhold)


def _release_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the model (or function) name")
    parser.add_argument("stage", help="the stage")
    parser.add_argument("--source", default="", help="the source, when several deploy NAME")


def hold_command(args: argparse.Namespace, settings: Settings, credentials: Credentials) -> int:
    said: list[str] = []

    def planner(current: Mapping[str, bytes]) -> Plan:
        said.clear()
        folder, info = find_release(current, args.name, args.stage, args.source)
        existing = hold_records(current).get(folder)
        if existing is not None and existing.kind == "manual":
            said.append(f"{args.name} in {args.stage} is held already")
            return Plan()
        record = HoldRecord(
            "manual", info.source, info.name, info.stage, folder, reason=args.reason,
            by=_who(), since=_now(), selected=info.revision,
        )  # fmt: skip
        said.append(f"held {args.name} {info.label} in {args.stage}")
        return _record_plan(folder, info, record, "hold", args.reason or "held by hand")

    return _publish(settings, credentials, planner, said)


def unhold_command(args: argparse.Namespace, settings: Settings, credentials: Credentials) -> int:
    said: list[str] = []
    with publishing.open_publisher(settings, credentials) as (publisher, repo):

        def planner(current: Mapping[str, bytes]) -> Plan:
            said.clear()
            folder, info = find_release(current, args.name, args.stage, args.source)
            record = hold_records(current).get(folder)
            if record is not None and record.kind == "manual":
                said.append(f"released {args.name} in {args.stage}: it follows the registry")
                return _record_plan(folder, info, None, "unhold", "released by hand")
            log = repo.recent_logs(settings.git.path, [folder]).get(folder, [])
            changes = human_changes(log)
            if not changes or (record is not None and record.commit == changes[0].sha):
                said.append(f"{args.name} in {args.stage} is not held")
                return Plan()
            released = HoldRecord(
                "released", info.source, info.name, info.stage, folder, by=_who(),
                since=_now(), commit=changes[0].sha,
            )  # fmt: skip
            said.append(
                f"released {args.name} in {args.stage} from {changes[0].describe()}: "
                "the next reconcile deploys what the registry selects"
            )
            return _record_plan(folder, info, released, "unhold", f"release {changes[0].sha[:10]}")

        publisher.publish(planner)
    for line in said:
        print(line)
    return EXIT_OK


def _record_plan(
    folder: str, info: Provenance, record: HoldRecord | None, action: str, text: str
) -> Plan:
    files = {RECORD_FILE: record.to_json()} if record is not None else {}
    change = Change(
        record_folder(folder),
        "remove" if record is None else "update",
        files,
        record_message(action, info, text),
        info,
        info,
        {},
    )
    return Plan(changes=(change,))


def _publish(settings: Settings, credentials: Credentials, planner: Any, said: list[str]) -> int:
    with publishing.open_publisher(settings, credentials) as (publisher, _repo):
        publisher.publish(planner)
    for line in said:
        print(line)
    return EXIT_OK


def _who() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no user name in a container: say nothing rather than guess
        return ""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
