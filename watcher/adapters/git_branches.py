"""Pull request branches in the GitOps checkout: one commit on the GitOps branch's head,
a forced push of that branch alone, its deletion, and when a folder last changed.

A pull request branch is gitops-watcher's own: each time what it proposes changes,
it is made anew as one commit on top of the GitOps branch (so it never conflicts
with the commits that landed meanwhile) and pushed with the refspec
``+refs/heads/<branch>:refs/heads/<branch>``. The GitOps branch itself is never a
pull request branch and is never forced.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from git import Repo
from git.exc import CommandError, GitCommandError

from watcher.adapters.git_commits import FolderCommits
from watcher.adapters.git_objects import safe_relpath
from watcher.adapters.git_reads import CheckoutReads
from watcher.errors import GitError

log = logging.getLogger(__name__)


class PullRequestBranches(CheckoutReads):
    """The checkout, plus what pull request stages need of git."""

    def commit_on_branch(
        self, branch: str, folder: str, files: Mapping[str, bytes], message: str
    ) -> str:
        """``refs/heads/<branch>`` := one commit on the GitOps head with ``folder`` holding
        exactly ``files`` (none: the folder removed). Local only; ``push_branch`` sends it."""
        self._check_pr_branch(branch)
        head = self.head()
        if head is None:
            raise GitError(
                f"branch '{self._branch}' does not exist on the remote yet: a pull request "
                "needs a branch to merge into",
                hint="push a first commit to git.branch, or let a direct stage deploy first",
            )
        ref = f"refs/heads/{branch}"
        self._git("update-ref", ref, head)
        author = f"{self._settings.author_name} <{self._settings.author_email}>"
        commits = FolderCommits(self._require_repo(), self._git, self._git_dir, branch, author)
        commit = commits.apply_folders([(folder, files, message)])[0]
        return commit or head

    def push_branch(self, branch: str) -> None:
        """Force-push ``branch`` (and only it) to origin."""
        self._check_pr_branch(branch)
        ref = f"refs/heads/{branch}"
        try:
            self._git("push", "--porcelain", "origin", f"+{ref}:{ref}", network="push")
        except GitError as exc:
            if "[remote rejected]" in _output(exc):
                raise GitError(
                    f"the git server refused branch '{branch}': {exc}",
                    hint=f"allow this account to push (and force-push) '{branch}': a branch "
                    "rule or a hook on the pull request branches?",
                ) from exc.__cause__
            raise
        log.info("pushed pull request branch '%s'", branch)

    def delete_branch(self, branch: str) -> None:
        """Delete ``branch`` on origin (gone already: fine) and here."""
        self._check_pr_branch(branch)
        ref = f"refs/heads/{branch}"
        try:
            self._git("push", "--porcelain", "origin", f":{ref}", network="push")
        except GitError as exc:
            text = _output(exc)
            if "remote ref does not exist" not in text and "unable to delete" not in text:
                raise
        self._git("update-ref", "-d", ref)

    def last_change(self, path: str) -> tuple[str, float] | None:
        """The commit of the GitOps branch's first-parent history that last changed ``path``,
        and its commit time: for a merged pull request, the merge (or squash, or rebased
        commit), whatever its kind."""
        if self.head() is None:
            return None
        out = self._git(
            "log", "-1", "--first-parent", "--format=%H %ct",
            f"refs/heads/{self._branch}", "--", safe_relpath(path),
        )  # fmt: skip
        if not out:
            return None
        sha, _, when = out.partition(" ")
        return sha, float(when or 0)

    def _check_pr_branch(self, branch: str) -> None:
        if branch == self._branch or not branch or branch.startswith("-"):
            raise GitError(f"refusing to use {branch!r} as a pull request branch")
        try:
            check = ["git", "check-ref-format", f"refs/heads/{branch}"]
            Repo.GitCommandWrapperType().execute(check)
        except GitCommandError as exc:
            raise GitError(f"invalid pull request branch name {branch!r}") from exc


def _output(error: GitError) -> str:
    cause = error.__cause__
    if isinstance(cause, CommandError):
        return f"{cause.stdout} {cause.stderr} {error}"
    return str(error)
