"""Whose is each folder that holds a marker, as far as one plan speaks for it.

A folder with a ``promotion.json`` belongs to the source its marker names (or, for
a format 1 marker, the source whose folder holds it). A plan speaks for the sources
of its reconcile, the names each selects (shards over one registry split it by
patterns) and, for a hinted read, only the names it read again: every other marker
folder is left exactly as it is, and not reported. A marker nobody can own is a
problem, reported by one source's runs only (so the daemon, with one run per
source, says it once).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from watcher.core.desired_folder import DesiredFolder
from watcher.core.provenance import PROVENANCE, ForeignMarker, Provenance, read_marker
from watcher.core.publishing import Publishing
from watcher.core.release import Coverage
from watcher.core.tree import blob_ids_of
from watcher.errors import OwnershipError, WatcherError


class NameSelector(Protocol):
    """Which release names a source may own (``core.stages.NameFilter``)."""

    def matches(self, name: str) -> bool: ...


@dataclass(frozen=True)
class SourceScope:
    """What the plan knows of a source: the folder it owns, its kinds, whether it was read,
    and how much of it this plan speaks for."""

    path: str
    kinds: frozenset[str]
    readable: bool = True
    #: How each stage of the source publishes (``SourceRead.publishing``), for removals.
    publishing: Mapping[str, Publishing] = field(default_factory=dict)
    #: The names it may own (its include/exclude patterns): a folder whose marker names
    #: another is left alone, whoever deploys it (another shard), even after the patterns
    #: changed. None: every name.
    selects: NameSelector | None = None
    #: False: this reconcile does not plan the source (its own run does).
    planned: bool = True
    #: A hinted read: only these names and folders (None: the whole source).
    coverage: Coverage | None = None

    def contains(self, folder: str) -> bool:
        return not self.path or folder == self.path or folder.startswith(f"{self.path}/")

    def speaks_for(self, name: str) -> bool:
        """This plan may write or remove the folders of ``name``."""
        if not self.planned or (self.selects is not None and not self.selects.matches(name)):
            return False
        return self.coverage is None or name in self.coverage.names

    @property
    def whole(self) -> bool:
        """Planned completely this time: what it no longer wants is really gone."""
        return self.planned and self.readable and self.coverage is None


Owned = dict[str, tuple[str, Provenance]]
Problems = list[tuple[str, WatcherError]]


@dataclass
class Found:
    """Who owns each marker folder this plan speaks for, and what is wrong with the rest."""

    owned: Owned = field(default_factory=dict)
    problems: Problems = field(default_factory=list)
    #: Folders of a source this plan does not speak for (another run's, another shard's).
    others: dict[str, str] = field(default_factory=dict)
    #: The source each problem is reported for.
    reported_by: dict[str, str] = field(default_factory=dict)

    def problem(self, folder: str, source: str, error: WatcherError) -> None:
        self.problems.append((folder, error))
        self.reported_by[folder] = source


def ownership(
    existing: Mapping[str, Mapping[str, bytes]],
    desired: Mapping[str, DesiredFolder],
    scopes: Mapping[str, SourceScope],
) -> Found:
    """Each marker folder's owning source; markers we cannot read or own are problems,
    reported by the run of the source whose folder holds them."""
    found = Found()
    for folder, files in existing.items():
        marker = _marker(files, desired.get(folder))
        if marker is None:
            continue
        if isinstance(marker, ForeignMarker):
            if reporter := _reporter(folder, scopes):
                found.problem(folder, reporter, OwnershipError(
                    f"folder {folder} has a {PROVENANCE} this version cannot read: "
                    f"{marker.reason}",
                    hint="upgrade gitops-watcher, or move the folder away; it is left as it is",
                ))  # fmt: skip
            continue
        owner, reason = _owner(folder, marker, scopes)
        if owner is None:
            if reporter := _reporter(folder, scopes):
                found.problem(folder, reporter, OwnershipError(
                    f"folder {folder} is left alone: {reason}",
                    hint="configure its source again, or remove the folder by hand",
                ))  # fmt: skip
            continue
        if scopes[owner].speaks_for(marker.name):
            found.owned[folder] = (owner, marker)
        else:
            found.others[folder] = owner
    return found


def _reporter(folder: str, scopes: Mapping[str, SourceScope]) -> str:
    """The source whose runs report a problem with ``folder`` nobody owns ("" when this
    plan does not speak for it): the one with the deepest path that holds it, else the
    first by name; one source, so the daemon's runs (one per source) say it once."""
    holding = [(len(s.path), name) for name, s in scopes.items() if s.contains(folder)]
    if holding:
        name = min(holding, key=lambda pair: (-pair[0], pair[1]))[1]
    elif scopes:
        name = min(scopes)
    else:
        return ""
    scope = scopes[name]
    if not scope.planned or (scope.coverage is not None and not scope.coverage.holds(folder)):
        return ""
    return name


def _owner(
    folder: str, marker: Provenance, scopes: Mapping[str, SourceScope]
) -> tuple[str | None, str]:
    """The source that owns a marker folder, or None with the reason."""
    if marker.source:
        scope = scopes.get(marker.source)
        if scope is None:
            return None, f"its source {marker.source!r} is not configured"
        if marker.kind not in scope.kinds:
            return None, f"source {marker.source!r} does not deploy {marker.kind!r} releases"
        return marker.source, ""
    # Format 1 markers name no source: the source whose folder holds them owns them.
    matching = [
        (len(scope.path), name)
        for name, scope in scopes.items()
        if scope.contains(folder) and marker.kind in scope.kinds
    ]
    if not matching:
        return None, "no configured source owns it"
    return max(matching)[1], ""


def _marker(
    files: Mapping[str, bytes], want: DesiredFolder | None
) -> Provenance | ForeignMarker | None:
    """The folder's marker as read; when its blob id equals the wanted marker's, the
    wanted folder's own reading (no blob read, no parse)."""
    ids = blob_ids_of(files)
    if (
        want is not None
        and ids is not None
        and PROVENANCE in want.files
        and ids(PROVENANCE) == want.blob_ids[PROVENANCE]
    ):
        return want.marker
    return read_marker(files[PROVENANCE])
