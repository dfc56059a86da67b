"""Git objects as gitops-watcher reads and writes them: a lazy tree of files, safe
repository paths, and the ids git gives blobs and trees, computed without git."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import PurePosixPath

from watcher.core.policy.history import FolderCommit
from watcher.core.tree import git_blob_id
from watcher.errors import GitError

_FORBIDDEN_SEGMENTS = {"", ".", "..", ".git"}
#: The modes of a folder and of a regular file in a tree object.
TREE_MODE = b"40000"
FILE_MODE = b"100644"

blob_id = git_blob_id


class GitTree(Mapping[str, bytes]):
    """Files of a commit: paths and blob ids listed up front, contents read on first use."""

    def __init__(self, ids: dict[str, str], read: Callable[[str], bytes]) -> None:
        self._ids = ids
        self._read = read
        self._data: dict[str, bytes] = {}

    def __getitem__(self, path: str) -> bytes:
        data = self._data.get(path)
        if data is None:
            data = self._read(self._ids[path])
            self._data[path] = data
        return data

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def blob_id(self, path: str) -> str | None:
        return self._ids.get(path)

    @property
    def blobs_read(self) -> int:
        """How many contents were read so far (for tests and benchmarks)."""
        return len(self._data)


def parents(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:depth]) for depth in range(1, len(parts))]


def quote_path(path: str) -> bytes:
    """A path as fast-import reads it: C-style quoted when it needs to be."""
    raw = path.encode()
    if not raw.startswith(b'"') and not any(c in raw for c in (b"\\", b'"')) and raw.isascii():
        return raw
    out = bytearray(b'"')
    for byte in raw:
        if byte in (0x22, 0x5C):
            out += b"\\" + bytes([byte])
        elif byte < 0x20 or byte >= 0x7F:
            out += b"\\%03o" % byte
        else:
            out.append(byte)
    return bytes(out + b'"')


def tree_id(files: Mapping[str, bytes]) -> str:
    """The id git gives a tree of regular files (paths relative to it), computed here."""
    return _tree_of({tuple(path.split("/")): data for path, data in files.items()})


def _tree_of(files: Mapping[tuple[str, ...], bytes]) -> str:
    entries: dict[bytes, tuple[bytes, bytes]] = {}
    subtrees: dict[str, dict[tuple[str, ...], bytes]] = {}
    for parts, data in files.items():
        if len(parts) == 1:
            entries[parts[0].encode()] = (FILE_MODE, bytes.fromhex(blob_id(data)))
        else:
            subtrees.setdefault(parts[0], {})[parts[1:]] = data
    for name, inner in subtrees.items():
        entries[name.encode()] = (TREE_MODE, bytes.fromhex(_tree_of(inner)))
    body = tree_body(entries)
    return hashlib.sha1(b"tree %d\0" % len(body) + body, usedforsecurity=False).hexdigest()


def tree_body(entries: Mapping[bytes, tuple[bytes, bytes]]) -> bytes:
    """A tree object's body from ``name -> (mode, binary id)``, in git's order: by name,
    a folder's name as if it ended in '/'."""
    names = sorted(entries, key=lambda n: n + b"/" if entries[n][0] == TREE_MODE else n)
    return b"".join(entries[n][0] + b" " + n + b"\0" + entries[n][1] for n in names)


def safe_relpath(path: str) -> str:
    """A normalised repo-relative POSIX path, or GitError for anything that could escape."""
    if not path or "\0" in path or "\\" in path or PurePosixPath(path).is_absolute():
        raise GitError(f"unsafe path {path!r}: must be relative, without '\\' or NUL")
    if len(path) > 1 and path[1] == ":":
        raise GitError(f"unsafe path {path!r}: must be relative")
    parts = path.rstrip("/").split("/")
    if any(part.lower() in _FORBIDDEN_SEGMENTS for part in parts):
        raise GitError(f"unsafe path {path!r}: no empty, '.', '..' or '.git' segments")
    return "/".join(parts)


def log_record(record: str) -> FolderCommit | None:
    """One ``folder_log`` record: sha, time, author, subject, trailers."""
    parts = record.strip("\n").split("\x1f")
    if len(parts) != 5 or len(parts[0]) < 40:
        return None
    trailers: dict[str, str] = {}
    for line in parts[4].splitlines():
        key, sep, value = line.partition(":")
        if sep and key and key not in trailers:
            trailers[key.strip()] = value.strip()
    return FolderCommit(parts[0], int(parts[1] or 0), parts[2], parts[3], trailers)
