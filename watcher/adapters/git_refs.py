"""Refs read and moved in process, as git does on disk: no git process.

Between a fetch and its push every git process widens the time in which another
writer may push first, and a ref is a small file: GitPython reads it (loose or
packed) and moves it through git's lock-file protocol, so a stale ``<ref>.lock``
of a killed process fails the move exactly as it fails git.
"""

from __future__ import annotations

from git import Repo
from git.refs import Reference, SymbolicReference

from watcher.errors import GitError


def commit_at(repo: Repo, ref: str) -> str:
    """The commit ``ref`` points at; GitError when it cannot be read or its object is
    missing or not a commit (damage: the caller starts over)."""
    try:
        sha = str(SymbolicReference.dereference_recursive(repo, ref))
        kind: object = repo.git.get_object_header(sha)[1]  # bytes, typed as str
    except (ValueError, OSError) as exc:
        raise GitError(f"{ref} cannot be read: {exc}") from exc
    if kind not in (b"commit", "commit"):
        raise GitError(f"{ref} is not a commit ({kind!r})")
    return sha


def move_ref(repo: Repo, ref: str, sha: str) -> None:
    """Point ``ref`` at ``sha``; GitError when its lock is taken."""
    try:
        Reference(repo, ref, check_path=False).set_object(sha)
    except (ValueError, OSError) as exc:
        raise GitError(f"cannot move {ref}: {exc}") from exc
