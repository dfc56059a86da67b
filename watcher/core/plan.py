"""Plan: compare the rendered folders with what is in git.

The result lists one change per folder: deployed, updated or removed. A folder
is any directory, at any depth, that holds a ``promotion.json`` marker written
by gitops-watcher. Only such folders are ever changed or removed, and only by
the source that owns them; a folder whose source could not be read, or whose
release failed this time, is kept as it is; a marker this version cannot read
is reported and left alone; and a plan that would remove too large a share of
the deployments keeps them and says so.

A plan may speak for part of the tree only: the sources of this reconcile (each
source has its own run in the daemon), the names a source selects (shards over one
registry), and of a hinted read only the names it read again. Whatever lies
outside is left exactly as it is and is not reported: another run speaks for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, field

from watcher.core.desired_folder import DesiredFolder
from watcher.core.messages import Action, deploy_message, removal_message
from watcher.core.ownership import Found, NameSelector, Owned, SourceScope, ownership
from watcher.core.provenance import PROVENANCE, Provenance
from watcher.core.publishing import DIRECT, Publishing
from watcher.core.tree import marker_folders, nearest_folder, same_files
from watcher.errors import OwnershipError, UnsafeDeletionError, WatcherError

__all__ = ["Change", "DesiredFolder", "NameSelector", "Plan", "SourceScope", "make_plan"]


@dataclass(frozen=True)
class Change:
    """One folder to write (``files``) or remove (empty ``files``), as one commit."""

    folder: str
    action: Action
    files: Mapping[str, bytes]
    message: str
    #: What the folder deploys after the change (for a removal: what it deployed).
    provenance: Provenance
    previous: Provenance | None = None
    #: The folder's files before the change (empty for a new folder), for diffs.
    previous_files: Mapping[str, bytes] = field(default_factory=dict)
    #: A commit on the GitOps branch, or a pull request (the stage's publish mode).
    publish: Publishing = DIRECT
    #: What a reviewer should see besides the diff (metric and signature changes),
    #: also in ``message``.
    notes: tuple[str, ...] = ()

    @property
    def subject(self) -> str:
        return self.message.splitlines()[0]


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...] = ()
    #: Folders already as wanted, with what they deploy.
    unchanged: tuple[tuple[str, Provenance], ...] = ()
    #: Folders in the way that the daemon does not own, or markers it cannot read.
    problems: tuple[tuple[str, WatcherError], ...] = ()
    #: Removals held back by the safety limit.
    blocked: UnsafeDeletionError | None = None
    held_back: tuple[tuple[str, Provenance], ...] = ()
    #: Owned folders kept because their source could not be read this time.
    held: tuple[tuple[str, Provenance], ...] = field(default=())
    #: Owned folders kept as they are because their release failed, with their markers.
    kept: tuple[tuple[str, Provenance], ...] = field(default=())
    #: Sources read and planned completely this time: what they no longer want is gone.
    complete_sources: frozenset[str] = frozenset()
    #: The source each problem is reported for (by folder): the one whose runs see it.
    problem_sources: Mapping[str, str] = field(default_factory=dict)
    #: Folders each source owns in the part of the tree this plan read.
    owned_counts: Mapping[str, int] = field(default_factory=dict)


def make_plan(
    current: Mapping[str, bytes],
    desired: Mapping[str, DesiredFolder],
    scopes: Mapping[str, SourceScope],
    keep: Set[str] = frozenset(),
    max_delete_fraction: float = 1.0,
    allow_mass_delete: bool = False,
    guard_base: int = 0,
) -> Plan:
    """Changes that turn ``current`` into ``desired``, in four phases: whose folders are
    there, what to write, what to remove, and whether the removals are too many.

    ``current``: files under the deployments folder now (or the part of them a partial
    plan speaks for); ``desired``: folder -> what it should hold; ``keep``: folders of
    releases that failed and must stay; ``guard_base``: how many deployments the
    mass-deletion guard counts at least (a partial plan sees only a few of them).
    """
    existing = marker_folders(current)
    found = ownership(existing, desired, scopes)
    changes, unchanged = _writes(current, existing, found, desired)
    removals, held, kept = _removals(existing, found.owned, desired, scopes, keep)
    removals, blocked, held_back = _guard_removals(
        removals, max(len(found.owned), guard_base), max_delete_fraction, allow_mass_delete
    )
    counts = _owned_after(found.owned, changes + removals)
    return Plan(
        tuple(changes + removals),
        tuple(unchanged),
        tuple(found.problems),
        blocked,
        held_back,
        tuple(held),
        tuple(kept),
        frozenset(name for name, scope in scopes.items() if scope.whole),
        dict(found.reported_by),
        counts,
    )


def _owned_after(owned: Owned, changes: list[Change]) -> dict[str, int]:
    """How many folders each source owns once ``changes`` are made: the mass-deletion
    guard's base for the next partial plan (counted before them, the first hinted run
    after a first import saw only its own folders and refused any removal)."""
    counts: dict[str, int] = {}
    for owner, _marker_of in owned.values():
        counts[owner] = counts.get(owner, 0) + 1
    for change in changes:
        step = {"deploy": 1, "remove": -1}.get(change.action, 0)
        owner = change.provenance.source
        counts[owner] = counts.get(owner, 0) + step
    return counts


def _writes(
    current: Mapping[str, bytes],
    existing: Mapping[str, Mapping[str, bytes]],
    found: Found,
    desired: Mapping[str, DesiredFolder],
) -> tuple[list[Change], list[tuple[str, Provenance]]]:
    """A deploy or an update for each desired folder that differs; the rest unchanged."""
    owned = found.owned
    changes: list[Change] = []
    unchanged: list[tuple[str, Provenance]] = []
    for folder in sorted(desired):
        want = desired[folder]
        refusal = _refusal(folder, want, current, existing, found)
        if refusal is not None:
            found.problem(folder, want.release.id.source, refusal)
            continue
        before = owned.get(folder)
        previous = before[1] if before is not None else None
        old_files = existing.get(folder)
        if old_files is not None and _same(old_files, want, previous):
            unchanged.append((folder, previous or want.provenance))
            continue
        changes.append(
            Change(
                folder,
                "deploy" if previous is None else "update",
                dict(sorted(want.files.items())),
                deploy_message(want.release, want.provenance, previous),
                want.provenance,
                previous,
                old_files or {},
                want.release.publish,
            )
        )
    return changes, unchanged


def _refusal(
    folder: str,
    want: DesiredFolder,
    current: Mapping[str, bytes],
    existing: Mapping[str, Mapping[str, bytes]],
    found: Found,
) -> OwnershipError | None:
    """Why ``folder`` must not be written: something not ours is in the way, or another
    source (or shard) owns it."""
    owned = found.owned
    other = found.others.get(folder)
    if other is not None and other == want.release.id.source:
        return OwnershipError(
            f"folder {folder} deploys a name that source {other!r} does not select here "
            "(another shard's, or excluded since)",
            hint="give the shards patterns that select each name once",
        )
    if other is not None:
        return OwnershipError(
            f"folder {folder} belongs to source {other!r}, not {want.release.id.source!r}",
            hint="give the sources different paths",
        )
    in_the_way = _in_the_way(folder, current, existing, owned)
    if in_the_way:
        return OwnershipError(
            f"folder {folder} {in_the_way}",
            hint="move it away or delete it; the daemon never overwrites what it did not write",
        )
    before = owned.get(folder)
    if before is not None and before[0] != want.release.id.source:
        return OwnershipError(
            f"folder {folder} belongs to source {before[0]!r}, not {want.release.id.source!r}",
            hint="give the sources different paths",
        )
    return None


def _same(old_files: Mapping[str, bytes], want: DesiredFolder, previous: Provenance | None) -> bool:
    """Equal files; or equal manifests and a marker that says the same in an older format."""
    ids = want.blob_ids
    if same_files(old_files, want.files, after_ids=ids):
        return True
    return (
        previous is not None
        and same_files(old_files, want.files, skip=PROVENANCE, after_ids=ids)
        and previous.same_deployment(want.provenance)
    )


def _removals(
    existing: Mapping[str, Mapping[str, bytes]],
    owned: Owned,
    desired: Mapping[str, DesiredFolder],
    scopes: Mapping[str, SourceScope],
    keep: Set[str],
) -> tuple[list[Change], list[tuple[str, Provenance]], list[tuple[str, Provenance]]]:
    """Owned folders nothing wants any more; those of unreadable sources are held, those
    of failed releases (``keep``) kept, with their markers."""
    held: list[tuple[str, Provenance]] = []
    kept: list[tuple[str, Provenance]] = []
    removals: list[Change] = []
    for folder, (owner, marker) in sorted(owned.items()):
        if folder in desired:
            continue
        if folder in keep:
            kept.append((folder, marker))
            continue
        if not scopes[owner].readable:
            held.append((folder, marker))
            continue
        publish = scopes[owner].publishing.get(marker.stage, DIRECT)
        message = removal_message(marker)
        removals.append(
            Change(folder, "remove", {}, message, marker, marker, existing[folder], publish)
        )
    return removals, held, kept


def _guard_removals(
    removals: list[Change], owned: int, max_delete_fraction: float, allow_mass_delete: bool
) -> tuple[list[Change], UnsafeDeletionError | None, tuple[tuple[str, Provenance], ...]]:
    """Removals above the safety limit are all held back, and said so (one is always fine)."""
    limit = max(1, int(max_delete_fraction * owned))
    if len(removals) <= limit or allow_mass_delete:
        return removals, None, ()
    held_back = tuple((change.folder, change.provenance) for change in removals)
    blocked = UnsafeDeletionError(
        f"this reconcile would remove {len(removals)} of {owned} deployments "
        f"(limit {limit}); nothing was removed",
        hint="check the registry and the stage selectors; if the removals are right, run "
        "'gitops-watcher reconcile --once --allow-mass-delete' "
        "or raise safety.max_delete_fraction",
    )
    return [], blocked, held_back


def _in_the_way(
    folder: str,
    current: Mapping[str, bytes],
    existing: Mapping[str, Mapping[str, bytes]],
    owned: Mapping[str, object],
) -> str:
    """Why writing ``folder`` would touch what is not ours ("" when nothing is in the way)."""
    if folder in existing:
        return "" if folder in owned else f"exists but has no gitops-watcher {PROVENANCE} marker"
    holder = nearest_folder(f"{folder}/x", existing)
    if holder is not None:
        return f"lies inside the deployment folder {holder}"
    start = f"{folder}/"
    if any(path.startswith(start) for path in current):
        return f"exists but has no gitops-watcher {PROVENANCE} marker"
    return ""
