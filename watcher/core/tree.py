"""The GitOps tree as the plan reads it: files by path, folders by their marker, and
files compared by git blob id, so an unchanged repository is planned without reading
its blobs."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from typing import Protocol, runtime_checkable

from watcher.core.provenance import PROVENANCE


def git_blob_id(data: bytes) -> str:
    """The id git gives a file holding ``data`` (as ``git hash-object`` computes it)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


@runtime_checkable
class BlobIds(Protocol):
    """A tree that knows the git blob id of each file without reading its contents."""

    def blob_id(self, path: str) -> str | None: ...


def blob_ids_of(tree: object) -> Callable[[str], str | None] | None:
    """``tree.blob_id`` when the tree knows blob ids, else None.

    The same question as ``isinstance(tree, BlobIds)``, without the cost of a
    runtime protocol check (microseconds each, paid per file of a large plan).
    """
    method = getattr(tree, "blob_id", None)
    return method if callable(method) else None


class FolderView(Mapping[str, bytes]):
    """The files of one folder of a larger tree, relative to it; contents read on access.

    Planning an unchanged repository must not read every blob: when the tree
    knows blob ids, files are compared by id and only those that differ (and
    the markers) are ever read.
    """

    def __init__(self, tree: Mapping[str, bytes], folder: str, names: list[str]) -> None:
        prefix = f"{folder}/"
        if isinstance(tree, FolderView):  # a view of a view reads the tree below directly
            prefix = tree._prefix + prefix
            tree = tree._tree
        self._tree: Mapping[str, bytes] = tree
        self._prefix: str = prefix
        self._names = names
        self._set = frozenset(names)
        self._ids = blob_ids_of(tree)

    def __getitem__(self, name: str) -> bytes:
        if name not in self._set:
            raise KeyError(name)
        return self._tree[self._prefix + name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def blob_id(self, name: str) -> str | None:
        if name not in self._set or self._ids is None:
            return None
        return self._ids(self._prefix + name)


def marker_folders(tree: Mapping[str, bytes]) -> dict[str, Mapping[str, bytes]]:
    """Files grouped by the nearest folder that holds a promotion.json (any depth)."""
    markers = sorted(
        path[: -len(PROVENANCE) - 1] for path in tree if path.endswith(f"/{PROVENANCE}")
    )
    names: dict[str, list[str]] = {folder: [] for folder in markers}
    for path in tree:
        owner = nearest_folder(path, names)
        if owner is not None:
            names[owner].append(path[len(owner) + 1 :])
    return {folder: FolderView(tree, folder, found) for folder, found in names.items()}


def same_files(
    before: Mapping[str, bytes],
    after: Mapping[str, bytes],
    skip: str | None = None,
    after_ids: Mapping[str, str] | None = None,
) -> bool:
    """Equal names and contents (``skip`` aside); by blob id where ``before`` knows them.

    ``after_ids``: the blob ids of ``after`` when already known.
    """
    if {k for k in before if k != skip} != {k for k in after if k != skip}:
        return False
    ids = blob_ids_of(before)
    for name, data in after.items():
        if name == skip:
            continue
        known = ids(name) if ids is not None else None
        if known is not None:
            wanted = after_ids.get(name) if after_ids is not None else None
            if known != (wanted or git_blob_id(data)):
                return False
        elif before[name] != data:
            return False
    return True


def nearest_folder(path: str, folders: Mapping[str, object]) -> str | None:
    parts = path.split("/")
    for depth in range(len(parts) - 1, 0, -1):
        candidate = "/".join(parts[:depth])
        if candidate in folders:
            return candidate
    return None
