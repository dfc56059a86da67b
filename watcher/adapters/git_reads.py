"""Reading the GitOps checkout: files and histories from git objects, never from disk.

Kept apart from the checkout's lifecycle (``git_checkout``: sync, push, repair):
a reconcile reads the tree it plans against and the histories its policy asks
about, the commit batch and pull request branches build on them.
"""

from __future__ import annotations

from collections.abc import Sequence

from watcher.adapters.git_checkout import GitCheckout
from watcher.adapters.git_objects import GitTree, log_record, safe_relpath
from watcher.core.policy.history import FolderCommit


class CheckoutReads(GitCheckout):
    """The checkout's branch as files (``read_tree``) and as history (``log``,
    ``folder_log``)."""

    def log(self, max_count: int) -> list[tuple[str, str]]:
        """(sha, subject) of the newest commits, newest first."""
        if self.head() is None or max_count <= 0:
            return []
        ref = f"refs/heads/{self._branch}"
        out = self._git("log", f"--max-count={max_count}", "--format=%H %s", ref, "--")
        return [(line[:40], line[41:]) for line in out.splitlines() if line]

    def folder_log(self, path: str, limit: int = 50) -> list[FolderCommit]:
        """The newest ``limit`` commits of the branch that touched ``path``, newest first,
        with their trailers (the history holds, rollbacks and soak are read from)."""
        path = safe_relpath(path)
        if self.head() is None or limit <= 0:
            return []
        fields = "%x1f".join(("%H", "%ct", "%an", "%s", "%(trailers:only,unfold)"))
        out = self._git(
            "log", f"--max-count={limit}", f"--format={fields}%x1e",
            f"refs/heads/{self._branch}", "--", path,
        )  # fmt: skip
        return [commit for record in out.split("\x1e") if (commit := log_record(record))]

    def read_tree(self, prefix: str, only: Sequence[str] | None = None) -> GitTree:
        """Every file under ``prefix`` at HEAD, from git objects (there is no working tree).

        One ``ls-tree`` lists paths and blob ids; contents are read from the object
        store only when asked for, so comparing by id reads nothing. ``only``: just the
        files in these folders below ``prefix`` (a partial plan: the cost follows them).
        """
        prefix = "" if prefix.strip("/") in ("", ".") else safe_relpath(prefix)
        head = self.head()
        if head is None or (only is not None and not only):
            return GitTree({}, self._read_blob)
        args = ["ls-tree", "-r", "-z", "--full-tree", head, "--"]
        if only is not None:
            args += [safe_relpath(f"{prefix}/{f}" if prefix else f) for f in only]
        elif prefix:
            args.append(prefix)
        ids: dict[str, str] = {}
        for record in self._git(*args).split("\0"):
            if not record:
                continue
            meta, path = record.split("\t", 1)
            _mode, kind, sha = meta.split()
            if kind != "blob" or (prefix and not path.startswith(prefix + "/")):
                continue
            ids[path] = sha
        return GitTree(ids, self._read_blob)

    def _read_blob(self, sha: str) -> bytes:
        data: bytes = self._require_repo().git.get_object_data(sha)[3]
        return data
