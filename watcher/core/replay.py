"""Whether a plan made on one head still holds on a newer head, from the paths changed between.

A push that loses a race (another writer, such as a shard, pushed first) used to be
followed by a whole new plan on the new head. When the commits in between touched
none of the folders the plan speaks for, planning again gives the same plan: the
same commits can be made again on the new head at once. That keeps the window
between fetch and push short, which is what decides who wins the next race.
"""

from __future__ import annotations

from collections.abc import Iterable

from watcher.core.plan import Plan
from watcher.core.policy.holds import HOLDS_FOLDER
from watcher.core.provenance import PROVENANCE


def spoken_folders(plan: Plan) -> frozenset[str]:
    """Every folder the plan says something about: what it writes or removes, what it
    leaves as it is, holds, keeps, or reports a problem with."""
    folders = {change.folder for change in plan.changes}
    for named in (plan.unchanged, plan.problems, plan.held_back, plan.held, plan.kept):
        folders.update(folder for folder, _ in named)
    return frozenset(folders)


def holds_after(plan: Plan, touched: Iterable[str]) -> bool:
    """True when commits that changed only ``touched`` (paths relative to the deployments
    folder) cannot change ``plan``.

    They cannot when no path is in or under a folder the plan speaks for, none is a hold
    record or another record of the daemon's (``.gitops-watcher/``), and no marker file
    appeared or went in a folder above one of them (that would regroup its files).
    """
    folders = spoken_folders(plan)
    above = {parent for folder in folders for parent in _parents(folder)}
    records = HOLDS_FOLDER.split("/", 1)[0] + "/"
    for path in touched:
        if path.startswith(records):
            return False
        if any(parent in folders for parent in _parents(path)):
            return False
        directory, _, name = path.rpartition("/")
        if name == PROVENANCE and directory in above:
            return False
    return True


def _parents(path: str) -> list[str]:
    """``a/b/c`` -> ``["a", "a/b"]``: the folders that hold it (the root as "")."""
    parts = path.split("/")
    return ["", *("/".join(parts[:end]) for end in range(1, len(parts)))]
