"""Render releases into folders: one source at a time, each finished folder cached.

The targets, their caches and the folder cache here are shared by every reconcile
of the process; the daemon reconciles each source on its own thread, so renders
take turns (rendering is CPU work: taking turns costs nothing on one interpreter).
An unexpected exception in one release is that release's failure.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from types import MappingProxyType

from watcher.core.artifacts import ArtifactRef
from watcher.core.plan import DesiredFolder
from watcher.core.provenance import PROVENANCE, provenance_of
from watcher.core.release import Release, ReleaseFailure
from watcher.core.targets import CACHE_ENTRIES, Target
from watcher.errors import ConfigError, InternalError, WatcherError

log = logging.getLogger(__name__)

#: Rendering is one source at a time: the targets, their caches and the folder cache
#: below are shared by every reconcile of the process (one thread per source).
_TURN = threading.RLock()

#: Per target: finished folders (files with promotion.json, the provenance, and what the
#: plan derives from them: blob ids, the marker read back) by the target's cache key, so
#: an unchanged release costs one key, not a render, a marker and a hash of every file.
_FOLDERS: weakref.WeakKeyDictionary[object, OrderedDict[str, DesiredFolder]] = (
    weakref.WeakKeyDictionary()
)



@contextlib.contextmanager
def rendering(targets: Mapping[str, Target]) -> Iterator[None]:
    """This thread's turn to render; each target lists and loads its template folder once
    for the renders of the turn."""
    with _TURN, contextlib.ExitStack() as batch:
        for target in targets.values():
            begin = getattr(target, "batch", None)
            if callable(begin):
                batch.enter_context(begin())
        yield


def render(
    release: Release,
    artifact: ArtifactRef | None,
    targets: Mapping[str, Target],
    failures: list[ReleaseFailure],
) -> DesiredFolder | None:
    target = targets.get(release.target)
    try:
        if target is None:
            raise ConfigError(
                f"unknown target {release.target!r}",
                hint=f"choose one of: {', '.join(sorted(targets))}",
            )
        keyer = getattr(target, "cache_key", None)
        key = keyer(release, artifact) if callable(keyer) else None
        cache = _folder_cache(target) if key is not None else None
        if cache is not None and key is not None:
            hit = cache.get(key)
            if hit is not None:
                cache.move_to_end(key)
                # Equal keys: an equal release (maybe an earlier object) and equal files.
                return hit
        files = target.render(release, artifact)
    except WatcherError as exc:
        failures.append(
            ReleaseFailure(release.id, exc, release.folder, release.revision, release.url)
        )
        return None
    except Exception as exc:  # one release's bug stays that release's failure
        log.debug("rendering %s crashed", release.id.describe(), exc_info=True)
        error = InternalError(f"rendering {release.id.describe()}: {exc!r:.200}")
        failures.append(
            ReleaseFailure(release.id, error, release.folder, release.revision, release.url)
        )
        return None
    provenance = provenance_of(release, artifact)
    # Read-only: the cache hands this very object to later reconciles.
    complete = MappingProxyType({**files, PROVENANCE: provenance.to_json()})
    desired = DesiredFolder(release, complete, provenance)
    if cache is not None and key is not None:
        # The provenance is a function of (release, artifact), which the key covers.
        cache[key] = desired
        while len(cache) > CACHE_ENTRIES:
            cache.popitem(last=False)
    return desired


def _folder_cache(target: object) -> OrderedDict[str, DesiredFolder] | None:
    try:
        return _FOLDERS.setdefault(target, OrderedDict())
    except TypeError:  # a target that cannot be weakly referenced is not cached here
        return None


