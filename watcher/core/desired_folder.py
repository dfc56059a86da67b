"""A rendered folder as the plan compares it with git: its files and what it deploys."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

from watcher.core.provenance import PROVENANCE, ForeignMarker, Provenance, read_marker
from watcher.core.release import Release
from watcher.core.tree import git_blob_id


@dataclass(frozen=True)
class DesiredFolder:
    """A rendered folder: its files (with promotion.json) and what it deploys."""

    release: Release
    files: Mapping[str, bytes]
    provenance: Provenance

    @cached_property
    def blob_ids(self) -> dict[str, str]:
        """Each file's git blob id, hashed once per folder object (the render cache
        hands out the same object while nothing changed)."""
        return {name: git_blob_id(data) for name, data in self.files.items()}

    @cached_property
    def marker(self) -> Provenance | ForeignMarker | None:
        """Its own ``promotion.json`` as read back: what git holds when the blob ids match."""
        return read_marker(self.files[PROVENANCE])
