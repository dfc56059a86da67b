"""Source plug-ins: each package reads one kind of input and yields releases.

A kind is registered here with one line; everything else asks the registry.
"""

from __future__ import annotations

from watcher.sources.functions.kind import KIND as FUNCTIONS
from watcher.sources.mlflow.kind import KIND as MLFLOW
from watcher.spine.source_kinds import SourceKind

#: The built-in kinds, in the order their sources are read.
BUILT_IN: tuple[SourceKind, ...] = (MLFLOW, FUNCTIONS)

_registered: dict[str, SourceKind] = {kind.key: kind for kind in BUILT_IN}


def register(kind: SourceKind) -> None:
    """Add a kind of source (a plug-in outside this package, or a test's); its key is new."""
    if kind.key in _registered and _registered[kind.key] is not kind:
        raise ValueError(f"a source kind {kind.key!r} is registered already")
    _registered[kind.key] = kind


def unregister(key: str) -> None:
    """Remove a kind added with ``register`` (built-in ones stay)."""
    if key not in {kind.key for kind in BUILT_IN}:
        _registered.pop(key, None)


def registered() -> tuple[SourceKind, ...]:
    return tuple(_registered.values())
