"""A small batch of folder commits written in process, as loose objects: no git process.

Between a fetch and its push every git process widens the time in which another
writer (a shard) may push first. A promotion is a few commits of a few files, which
gitdb (the object database GitPython is built on: zlib, a temporary file, a rename)
writes faster than ``git fast-import`` starts on a busy machine. Only the trees on
the way from the root to each folder are written again; everything else is referred
to by id, and trees are read through GitPython's persistent cat-file process. Large
batches (a first import) still go through fast-import (``git_commits``): one pack,
not thousands of files.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from io import BytesIO
from pathlib import Path

from git import Repo
from gitdb.base import IStream
from gitdb.db import LooseObjectDB

from watcher.adapters.git_objects import FILE_MODE, TREE_MODE, tree_body
from watcher.errors import GitError

#: A tree entry: (mode, binary id), by name.
Entries = dict[bytes, tuple[bytes, bytes]]


class LooseCommits:
    """Writes commits that each set one folder to exactly its files, one on another."""

    def __init__(self, repo: Repo, ident: str) -> None:
        # Reads through GitPython's persistent cat-file; writes through gitdb's loose
        # object store, in process (GitPython's own store runs ``git hash-object``).
        self._odb = repo.odb
        self._loose = LooseObjectDB(str(Path(repo.git_dir) / "objects"))
        self._ident = ident.encode()
        #: Trees read or written in this batch, by binary id.
        self._trees: dict[bytes, Entries] = {}

    def commit(
        self, parent: str | None, folder: str, files: Mapping[str, bytes], message: str
    ) -> str:
        """A commit on ``parent`` whose tree is the parent's with ``folder`` holding exactly
        ``files`` (paths relative to the repository; none: the folder goes, and with it
        any folder left empty above it). Returns its id."""
        root = self._root_of(parent) if parent else None
        inner = {path[len(folder) + 1 :]: data for path, data in files.items()}
        subtree = self._write_files(inner) if inner else None
        tree = self._replace(root, folder.encode().split(b"/"), subtree)
        if tree is None:
            tree = self._write_tree({})
        now = b"%d %s" % (int(time.time()), time.strftime("%z").encode() or b"+0000")
        who = self._ident + b" " + now
        text = message.encode()
        if not text.endswith(b"\n"):
            text += b"\n"
        body = b"tree " + tree.hex().encode() + b"\n"
        if parent:
            body += b"parent " + parent.encode() + b"\n"
        body += b"author " + who + b"\ncommitter " + who + b"\n\n" + text
        return self._write(b"commit", body).hex()

    def _root_of(self, commit: str) -> bytes:
        data = self._read(bytes.fromhex(commit))
        if not data.startswith(b"tree "):
            raise GitError(f"{commit} is not a commit")
        return bytes.fromhex(data[5:45].decode())

    def _replace(self, tree: bytes | None, parts: list[bytes], new: bytes | None) -> bytes | None:
        """``tree`` with the entry at ``parts`` set to the tree ``new`` (None: removed);
        None when nothing is left in it."""
        entries = dict(self._entries(tree)) if tree else {}
        name = parts[0]
        if len(parts) > 1:
            mode, child = entries.get(name, (TREE_MODE, b""))
            if mode != TREE_MODE:  # refused earlier (``FolderCommits``); never written over
                raise GitError(f"{name.decode(errors='replace')!r} is not a folder")
            new = self._replace(child or None, parts[1:], new)
        if new is None:
            entries.pop(name, None)
        else:
            entries[name] = (TREE_MODE, new)
        return self._write_tree(entries) if entries else None

    def _write_files(self, files: Mapping[str, bytes]) -> bytes:
        """The tree of ``files`` (relative paths, regular files), its blobs and subtrees."""
        entries: Entries = {}
        below: dict[str, dict[str, bytes]] = {}
        for path, data in files.items():
            head, sep, rest = path.partition("/")
            if sep:
                below.setdefault(head, {})[rest] = data
            else:
                entries[head.encode()] = (FILE_MODE, self._write(b"blob", data))
        for name, inner in below.items():
            entries[name.encode()] = (TREE_MODE, self._write_files(inner))
        return self._write_tree(entries)

    def _entries(self, tree: bytes) -> Entries:
        known = self._trees.get(tree)
        if known is not None:
            return known
        data, entries, at = self._read(tree), {}, 0
        while at < len(data):
            space = data.index(b" ", at)
            nul = data.index(b"\0", space)
            entries[data[space + 1 : nul]] = (data[at:space], data[nul + 1 : nul + 21])
            at = nul + 21
        self._trees[tree] = entries
        return entries

    def _write_tree(self, entries: Entries) -> bytes:
        binsha = self._write(b"tree", tree_body(entries))
        self._trees[binsha] = dict(entries)
        return binsha

    def _write(self, kind: bytes, body: bytes) -> bytes:
        stored = self._loose.store(IStream(kind, len(body), BytesIO(body)))
        return bytes(stored.binsha)

    def _read(self, binsha: bytes) -> bytes:
        try:
            return bytes(self._odb.stream(binsha).read())
        except (ValueError, OSError) as exc:
            raise GitError(f"object {binsha.hex()} cannot be read: {exc}") from exc
