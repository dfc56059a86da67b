"""Plan: compare the rendered folders with what is in git.

The result lists one change per (model, stage) folder: created, changed or
removed. Only folders carrying the daemon's marker (a promotion.json with
``managed_by: gitops-watcher``) are ever changed or removed; a folder that
could not be rendered this time is kept as it is; and a plan that would
remove too large a share of the deployments keeps them and says so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from typing import Any, Literal

from watcher.core.messages import promotion_message, removal_message
from watcher.core.render import MANAGED_BY, PROVENANCE
from watcher.errors import OwnershipError, UnsafeDeletionError

ChangeKind = Literal["create", "update", "remove"]


@dataclass(frozen=True)
class Change:
    """One folder to write (``files``) or remove (empty ``files``), as one commit."""

    folder: str
    kind: ChangeKind
    files: Mapping[str, bytes]
    message: str
    info: Mapping[str, Any] | None

    @property
    def subject(self) -> str:
        return self.message.splitlines()[0]


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...] = ()
    unchanged: tuple[str, ...] = ()
    #: Folders that exist in git but were not written by gitops-watcher.
    conflicts: tuple[tuple[str, OwnershipError], ...] = ()
    #: Removals held back by the safety limit.
    blocked: UnsafeDeletionError | None = None
    held_back: tuple[str, ...] = field(default=())


def folders_in_tree(tree: Mapping[str, bytes]) -> dict[str, dict[str, bytes]]:
    """Group files (paths relative to the deployments folder) by ``<model>/<stage>``."""
    folders: dict[str, dict[str, bytes]] = {}
    for path, data in tree.items():
        parts = path.split("/")
        if len(parts) < 3:
            continue
        folders.setdefault("/".join(parts[:2]), {})["/".join(parts[2:])] = data
    return folders


def read_marker(files: Mapping[str, bytes]) -> dict[str, Any] | None:
    """promotion.json's content if the folder is ours, else None."""
    raw = files.get(PROVENANCE)
    if raw is None:
        return None
    try:
        info = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(info, dict) and info.get("managed_by") == MANAGED_BY:
        return info
    return None


def make_plan(
    current: Mapping[str, bytes],
    rendered: Mapping[str, Mapping[str, bytes]],
    keep: Set[str] = frozenset(),
    max_delete_fraction: float = 1.0,
    allow_mass_delete: bool = False,
) -> Plan:
    """Changes that turn ``current`` into ``rendered``.

    ``current``: files under the deployments folder now; ``rendered``: folder ->
    files wanted; ``keep``: folders that failed to render and must stay untouched.
    """
    existing = folders_in_tree(current)
    owned = {folder: info for folder, files in existing.items() if (info := read_marker(files))}
    changes: list[Change] = []
    unchanged: list[str] = []
    conflicts: list[tuple[str, OwnershipError]] = []

    for folder in sorted(rendered):
        files = dict(sorted(rendered[folder].items()))
        before = existing.get(folder)
        if before is not None and folder not in owned:
            conflicts.append(
                (
                    folder,
                    OwnershipError(
                        f"folder {folder} exists but has no gitops-watcher {PROVENANCE} marker",
                        hint="move it away or delete it; the daemon never overwrites "
                        "what it did not write",
                    ),
                )
            )
            continue
        if before == files:
            unchanged.append(folder)
            continue
        info = json.loads(files[PROVENANCE])
        previous = owned[folder]["model"]["version"] if folder in owned else None
        kind: ChangeKind = "update" if before is not None else "create"
        changes.append(Change(folder, kind, files, promotion_message(info, previous), info))

    removals = [
        Change(folder, "remove", {}, removal_message(owned[folder], folder), owned[folder])
        for folder in sorted(owned)
        if folder not in rendered and folder not in keep
    ]
    blocked = None
    held_back: tuple[str, ...] = ()
    limit = max(1, int(max_delete_fraction * len(owned)))
    if len(removals) > limit and not allow_mass_delete:
        held_back = tuple(change.folder for change in removals)
        blocked = UnsafeDeletionError(
            f"this reconcile would remove {len(removals)} of {len(owned)} deployments "
            f"(limit {limit}); nothing was removed",
            hint="check the registry and the stage selectors; if the removals are right, run "
            "'gitops-watcher reconcile --once --allow-mass-delete' "
            "or raise safety.max_delete_fraction",
        )
        removals = []
    return Plan(tuple(changes + removals), tuple(unchanged), tuple(conflicts), blocked, held_back)
