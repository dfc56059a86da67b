"""What one reconcile speaks for: every source, one source (the daemon runs each on its
own), or of a source only what a hint named.

A run plans only the folders of its own sources; the others' are left exactly as
they are and not reported (their own runs speak for them). A hinted run reads and
plans only the folders its sources' partial reads cover, and the hold records of
those folders; a run whose hint covers nothing touches git not at all.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from watcher.core.plan import SourceScope
from watcher.core.policy.holds import HOLDS_FOLDER
from watcher.spine.desired_state import Source


def pick(sources: Sequence[Source], names: Collection[str] | None) -> list[Source]:
    """The sources a run reads (None: all of them), in configuration order."""
    if names is None:
        return list(sources)
    return [source for source in sources if source.name in names]


def with_the_others(
    read: Mapping[str, SourceScope], sources: Sequence[Source]
) -> dict[str, SourceScope]:
    """The plan's scopes: those this run read, and every other configured source as one
    this run does not plan (its folders are someone else's word this time)."""
    scopes = dict(read)
    for source in sources:
        if source.name not in scopes:
            scopes[source.name] = SourceScope(
                source.path, source.kinds, selects=getattr(source, "selects", None),
                planned=False,
            )  # fmt: skip
    return scopes


def narrowed(read: Mapping[str, SourceScope]) -> list[str] | None:
    """The folders a hinted run reads from git (and their hold records); None when some
    source of the run is read whole (the whole tree, then)."""
    if not read or any(scope.coverage is None for scope in read.values()):
        return None
    folders: set[str] = set()
    for scope in read.values():
        assert scope.coverage is not None
        folders |= scope.coverage.folders
    return sorted(folders | {f"{HOLDS_FOLDER}/{folder}" for folder in folders})
