"""The GitOps repository: the checkout (sync, read, push) plus one commit per folder.

The lifecycle of the private bare checkout is ``git_checkout``; building commits,
one per changed folder (in process, or one ``git fast-import`` run for many), is
``git_commits``; pull request branches are ``git_branches``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence

from watcher.adapters.git_branches import PullRequestBranches
from watcher.adapters.git_checkout_dir import MARKER
from watcher.adapters.git_commits import FolderCommits
from watcher.adapters.git_history import recent_logs, write_commit_graph
from watcher.adapters.git_objects import GitTree, blob_id, safe_relpath, tree_id
from watcher.core.policy.history import FolderCommit
from watcher.errors import GitError, PushRejectedError

__all__ = ["MARKER", "GitOpsRepo", "GitTree", "PushRejectedError", "blob_id", "tree_id"]


class GitOpsRepo(PullRequestBranches):
    """Sync, read, change one folder per commit, and push a GitOps branch (and, for stages
    that publish pull requests, their branches: ``git_branches``)."""

    #: The branch head the commit-graph was last written for.
    _graphed: str | None = None

    def sync(self) -> str | None:
        """As the checkout syncs; the first time, the commit-graph learns the history, so a
        folder's history is read without walking the whole repository's."""
        head = super().sync()
        if head is not None and self._graphed is None:
            self._write_graph(head)
        return head

    def push(self) -> None:
        """As the checkout pushes; then the commit-graph learns the new commits, and git's
        housekeeping runs if due. Not at every sync: between a fetch and its push every
        millisecond widens the window in which another writer (a shard) pushes first; the
        few commits the graph lacks are walked the plain way."""
        super().push()
        head = self.head()
        if head is not None and head != self._graphed:
            self._write_graph(head)
        self.tidy()

    def touched_since(self, base: str, head: str, prefix: str) -> list[str] | None:
        """The paths under ``prefix`` (relative to it) that the commits from ``base`` to
        ``head`` changed, renames as both names and merges against their first parent;
        None when ``base`` is not in the head's history (the branch was rewritten).

        One ``git log --boundary``, as it runs between a fetch and a push: ``base`` is
        in the head's history exactly when it is a boundary commit of ``base..head``
        (some commit of the range has it as a parent). Not limited to ``prefix``: a
        path limit would hide the boundary."""
        if base == head:
            return []
        prefix = "" if prefix.strip("/") in ("", ".") else safe_relpath(prefix)
        try:
            out = self._git(
                "log", "--boundary", "--format=%x1e%m%H", "--name-only", "-z", "--no-renames",
                "--diff-merges=first-parent", f"{base}..{head}", "--",
            )  # fmt: skip
        except GitError:  # ``base`` is not even an object here any more: plan again
            return None
        start = f"{prefix}/" if prefix else ""
        touched: set[str] = set()
        found_base = False
        # Not [1:]: the output comes stripped, and str.strip() takes \x1e for a space.
        for record in filter(None, out.split("\x1e")):
            header, _, names = record.partition("\0")
            if header[:1] == "-":  # a boundary commit: in base's history, not in the range
                found_base = found_base or header[1:] == base
                continue
            for path in names.split("\0"):
                path = path.strip("\n")
                if path and path.startswith(start):
                    touched.add(path[len(start) :])
        return sorted(touched) if found_base else None

    def _write_graph(self, head: str) -> None:
        write_commit_graph(self._git_dir, {**os.environ, **self._local_env})
        self._graphed = head

    def apply_folder(self, folder: str, files: Mapping[str, bytes], message: str) -> str | None:
        """Commit ``folder`` holding exactly ``files``; None (no commit) when nothing changed."""
        return self.apply_folders([(folder, files, message)])[0]

    def apply_folders(
        self, changes: Sequence[tuple[str, Mapping[str, bytes], str]]
    ) -> list[str | None]:
        """One commit per (folder, files, message), in order, on top of HEAD; a folder
        already as wanted makes no commit (None in its place). See ``FolderCommits``."""
        author = f"{self._settings.author_name} <{self._settings.author_email}>"
        commits = FolderCommits(
            self._require_repo(), self._git, self._git_dir, self._branch, author, self.head
        )
        try:
            made = commits.apply_folders(changes)
        except BaseException:
            self._head_known = False  # fast-import may have moved the branch: ask git
            raise
        if any(made):
            self._moved_to([sha for sha in made if sha][-1])
        return made

    def recent_logs(self, prefix: str, folders: Iterable[str]) -> dict[str, list[FolderCommit]]:
        """Each folder's newest commits, down to and including the newest of ours (one
        streaming ``git log``, stopped early; see ``git_history``)."""
        wanted = list(folders)
        if self.head() is None:
            return {folder: [] for folder in wanted}
        env = {**os.environ, **self._local_env}
        ref = f"refs/heads/{self._branch}"
        return recent_logs(self._git_dir, env, ref, prefix, wanted)
