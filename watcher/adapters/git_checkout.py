"""The GitOps checkout: a private repository of objects and refs that mirrors one branch.

The checkout is a bare repository in ``<checkout_dir>/.git`` (``core.bare=true``):
git objects and refs only, no working tree and no index, and nothing else in
checkout_dir. It never holds anything worth keeping between runs: ``sync()`` fetches
and points the branch at the remote branch (local commits that were not pushed are
dropped; the reconciler re-applies its plan on the new head). Files are read from
git objects (``git_reads``) and commits are built from objects (``git_commits``),
so exactly one folder changes per commit, and neither a sync nor a commit costs more in a
repository of ten thousand files than in one of ten. No repository path is ever
written to disk; a folder that is, or goes through, a symlink in HEAD is refused all
the same. Pushes are never forced. Not thread-safe: one writer per checkout, which
is why the branch's head is remembered rather than asked of git each time.

The folder itself (opened when ours and sound, converted from an older layout,
deleted and made again) is ``git_checkout_dir``'s.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping
from contextlib import nullcontext
from pathlib import Path

from git import Repo
from git.exc import CommandError, GitCommandError

from watcher.adapters.git_checkout_dir import CheckoutDir
from watcher.adapters.git_refs import commit_at, move_ref
from watcher.adapters.git_transport import (
    check_transport_files,
    network_env,
    remote_url,
    secrets_of,
    speaks_native_git,
    wrap_command_error,
)
from watcher.closing import Closing
from watcher.config.settings import Credentials, GitSettings
from watcher.errors import GitError, PushRejectedError

log = logging.getLogger(__name__)

#: What ``git fetch-pack`` says when the remote has no such branch (yet).
_NO_SUCH_BRANCH = ("no such remote ref", "no matching remote head")

#: Syncs between two housekeeping runs that are not after a push (``tidy``).
TIDY_EVERY = 25


class GitCheckout(Closing):
    """A private bare repository that mirrors one branch: sync, read, push."""

    def __init__(self, settings: GitSettings, checkout_dir: Path, credentials: Credentials) -> None:
        self._settings = settings
        self._branch = settings.branch
        # What git sees and .git/config holds: the URL without any credential in it.
        self._url = remote_url(settings.repo_url)
        self._native = speaks_native_git(self._url)
        #: The commit the last ``git fetch-pack`` found the remote's branch at, until the
        #: tracking ref is moved there.
        self._fetched_by_pack: str | None = None
        self._folder = CheckoutDir(checkout_dir, self._url, self._branch)
        self._dir = self._folder.path
        self._git_dir = self._folder.git_dir
        self._net_env = network_env(settings, credentials)
        self._secrets = secrets_of(settings, credentials)
        # Literal pathspecs: a folder named '*' must mean only itself.
        self._local_env = {"GIT_LITERAL_PATHSPECS": "1", "GIT_TERMINAL_PROMPT": "0"}
        self._repo: Repo | None = None
        #: The branch name passed ``git check-ref-format`` (it never changes: once).
        self._branch_checked = False
        #: Where this process last pointed ``refs/heads/<branch>`` (one writer per
        #: checkout: nobody else moves it), so reading the head needs no git process.
        self._head: str | None = None
        self._head_known = False
        #: The remote's head as last fetched or pushed; unknown before the first sync.
        self._remote_head: str | None = None
        self._remote_known = False
        #: Opened and checked by a sync that went well; until it is closed.
        self._sound = False
        self._syncs = 0

    # -- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        """Stop GitPython's persistent cat-file processes."""
        self._head_known = self._remote_known = self._sound = False
        if self._repo is not None:
            self._repo.close()
            self._repo = None

    # -- public API --------------------------------------------------------------------

    def sync(self) -> str | None:
        """Point the branch at origin/<branch>; None if the remote has no such branch.

        Fetches, then moves ``refs/heads/<branch>`` (HEAD is the symbolic ref to it):
        no checkout, no clean, no index, whatever the size of the repository.
        """
        if not self._settings.repo_url:
            raise GitError("no git repository configured", hint="set GIT_REPO_URL (git.repo_url)")
        check_transport_files(self._settings)
        self._check_branch_name()
        # The checkout is opened and checked once while it stays open: reopening it at
        # every sync would restart the cat-file processes too, between the fetch and the
        # push. Any failure closes it, so the next sync looks again.
        if self._sound:
            reused = True
            # Files dropped beside .git by hand: a directory listing.
            self._repo = self._folder.keep_objects_only(self._require_repo())
        else:
            reused = self._open_or_create()
        self._syncs += 1
        if self._syncs % TIDY_EVERY == 1:  # also the first: a checkout left from before
            self.tidy()
        try:
            exists = self._fetch()
        except GitError:
            self.close()
            raise
        try:
            head = self._point_branch(self._fetched_head() if exists else None)
            self._sound = True
            return head
        except GitError as exc:
            if not reused:
                raise
            # Local state is damaged (a stale lock, lost objects): start over, once.
            log.warning("checkout %s is damaged (%s); cloning again", self._dir, exc)
            self._start_over()
            head = self._point_branch(self._fetched_head() if self._fetch() else None)
            self._sound = True
            return head

    def rewind(self) -> bool:
        """Point the branch back at the remote's head as last fetched (or pushed), without
        fetching: commits that were not pushed are dropped. False before the first sync.

        A publisher plans on this head and fetches afterwards, so that the time between
        the fetch and the push holds no plan (``DirectPushPublisher``).
        """
        if not self._remote_known or self._repo is None:
            return False
        if not self._head_known or self._head != self._remote_head:
            try:
                self._point_branch(self._remote_head)
            except GitError as exc:  # a stale lock, lost objects: sync repairs those
                log.warning("checkout %s cannot go back to %s (%s)", self._dir,
                            str(self._remote_head)[:12], exc)  # fmt: skip
                self.close()
                return False
        return True

    def tidy(self) -> None:
        """git's automatic housekeeping (``git maintenance run --auto``: pack loose objects
        and packs once there are many), run after a push and every ``TIDY_EVERY`` syncs
        instead of inside every fetch. Best effort."""
        if self._repo is None:
            return
        try:
            self._git("maintenance", "run", "--auto", "--quiet")
        except GitError as exc:
            log.debug("git housekeeping failed: %s", exc)

    def head(self) -> str | None:
        """The commit the branch points at, or None while it is unborn (or before sync)."""
        if self._head_known:
            return self._head
        if self._repo is None:
            self._repo = self._folder.open()
            if self._repo is None:
                return None
        try:
            return self._git("rev-parse", "-q", "--verify", f"refs/heads/{self._branch}^{{commit}}")
        except GitError:
            return None

    def push(self) -> None:
        """Push the branch to origin, never forced; a lost race raises PushRejectedError."""
        head = self.head()
        if head is None:
            log.debug("branch '%s' has no commits; nothing to push", self._branch)
            return
        ref = f"refs/heads/{self._branch}"
        try:
            self._git("push", "--porcelain", "origin", f"{ref}:{ref}", network="push")
        except GitError as exc:
            cause = exc.__cause__
            text = f"{cause.stdout} {cause.stderr}" if isinstance(cause, CommandError) else ""
            lost_race = ("[rejected]", "non-fast-forward", "fetch first", "failed to update ref")
            # Over smart HTTP a race lost on the server side reads "[remote rejected]
            # (failed to update ref) … cannot lock ref … but expected …": a race, not a hook.
            if any(marker in text for marker in lost_race) or (
                "cannot lock ref" in text and "but expected" in text
            ):
                raise PushRejectedError(
                    f"push of '{self._branch}' was rejected: the remote has commits we do not "
                    "have (another writer pushed first)",
                    hint="sync and re-apply, then push again",
                ) from exc.__cause__
            if "[remote rejected]" in text:
                hint = "the server refused the update: a protected branch or a hook?"
                raise GitError(str(exc), hint=hint) from exc.__cause__
            raise
        # git push moved refs/remotes/origin/<branch> too.
        self._remote_head, self._remote_known = head, True
        log.info("pushed %s to '%s'", head[:12], self._branch)

    # -- the checkout ------------------------------------------------------------------

    def _check_branch_name(self) -> None:
        if self._branch_checked:
            return
        name = self._branch
        if not name or name.startswith("-"):
            raise GitError(f"invalid branch name {name!r}", hint="check git.branch")
        try:
            Repo.GitCommandWrapperType().execute(["git", "check-ref-format", f"refs/heads/{name}"])
        except GitCommandError as exc:
            raise GitError(f"invalid branch name {name!r}", hint="check git.branch") from exc
        self._branch_checked = True

    def _open_or_create(self) -> bool:
        """Reuse a sound checkout of the same URL (True), else make a fresh one (False)."""
        self.close()
        self._repo, reused = self._folder.open_or_create()
        return reused

    def _start_over(self) -> None:
        """Delete the checkout (ours only) and make it again, empty."""
        self.close()
        self._folder.remove()
        self._repo = self._folder.create()

    def _fetch(self) -> bool:
        """Fetch the branch; False when the remote does not have it (yet)."""
        if self._native:
            return self._fetch_pack()
        tracking = f"refs/remotes/origin/{self._branch}"
        try:
            self._git(
                "fetch",
                "--no-tags",
                "--no-write-fetch-head",
                # Housekeeping waits until after the push (``tidy``): a fetch is the start
                # of the time in which another writer may push first.
                "--no-auto-maintenance",
                "--no-show-forced-updates",
                "origin",
                f"+refs/heads/{self._branch}:{tracking}",
                network="fetch",
            )
        except GitError as exc:
            if "couldn't find remote ref" not in str(exc):
                raise
            self._git("update-ref", "-d", tracking)
            return False
        return True

    def _fetch_pack(self) -> bool:
        """The fetch of a path, file:// or ssh remote: ``git fetch-pack``; the tracking ref
        is moved in process (``_fetched_head``).

        The same transfer as ``git fetch`` (index-pack checks every object received and
        completes the thin pack from ours) without its connectivity walk: a
        ``rev-list --objects`` over every tree of the old head, which in a GitOps
        repository of thousands of folders is most of a fetch of one commit, and a fetch
        starts the time in which another writer may push first. A remote that failed to
        send what its branch needs shows up at the first read of it, as an error.
        """
        tracking = f"refs/remotes/origin/{self._branch}"
        wanted = f"refs/heads/{self._branch}"
        self._fetched_by_pack = None
        try:
            out = self._git("fetch-pack", "--thin", "--no-progress", self._url, wanted,
                            network="fetch")  # fmt: skip
        except GitError as exc:
            # Said by a local remote and by one over ssh (protocol v0), respectively.
            if not any(text in str(exc) for text in _NO_SUCH_BRANCH):
                raise
            self._git("update-ref", "-d", tracking)
            return False
        heads = [line.split()[0] for line in out.splitlines() if line.endswith(f" {wanted}")]
        if not heads:
            raise GitError(f"git fetch-pack named no commit for {wanted}: {out[:200]!r}")
        self._fetched_by_pack = heads[0]
        return True

    def _fetched_head(self) -> str:
        """The commit ``origin/<branch>`` is at, read in process (no git process), after
        moving it where fetch-pack said (fetch-pack moves no ref). A stale lock and lost
        objects show up here, as damage."""
        tracking = f"refs/remotes/origin/{self._branch}"
        repo = self._require_repo()
        if self._fetched_by_pack is not None:
            sha, self._fetched_by_pack = self._fetched_by_pack, None
            move_ref(repo, tracking, sha)
        return commit_at(repo, tracking)

    def _point_branch(self, sha: str | None) -> str | None:
        """HEAD -> refs/heads/<branch> -> ``sha`` (what origin/<branch> is); None: unborn."""
        branch = f"refs/heads/{self._branch}"
        self._point_head(branch)
        self._remote_head, self._remote_known = sha, True
        self._head_known = False
        if sha is not None:
            move_ref(self._require_repo(), branch, sha)  # a stale lock fails it: damage
            self._moved_to(sha)
            log.info("checkout at %s (origin/%s)", sha[:12], self._branch)
            return sha
        # An unborn branch: the first commit creates it, the first push creates it remotely.
        self._git("update-ref", "-d", branch)
        self._moved_to(None)
        log.info("remote has no branch '%s' yet; starting it", self._branch)
        return None

    def _moved_to(self, sha: str | None) -> None:
        """The branch is at ``sha`` now (set by this process: no need to ask git)."""
        self._head, self._head_known = sha, True

    def _point_head(self, branch: str) -> None:
        """Make HEAD the symbolic ref to ``branch``; no git process when it already is."""
        try:
            current = (self._git_dir / "HEAD").read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            current = ""
        if current != f"ref: {branch}\n":
            self._git("symbolic-ref", "HEAD", branch)

    # -- helpers -----------------------------------------------------------------------

    def _require_repo(self) -> Repo:
        if self._repo is None:
            raise GitError("the checkout is not open", hint="call sync() first")
        return self._repo

    def _git(
        self,
        *args: str,
        network: str | None = None,
        env: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
    ) -> str:
        """Run git in the checkout; wrap failures once, with credentials redacted."""
        command = ["git", *args]
        full_env = {**self._local_env, **(self._net_env if network else {}), **(env or {})}
        timeout = self._settings.timeout_seconds if network else None
        runner = self._require_repo().git
        try:
            with tempfile.TemporaryFile() if stdin is not None else nullcontext() as handle:
                if handle is not None and stdin is not None:
                    handle.write(stdin)
                    handle.seek(0)
                out = runner.execute(
                    command,
                    istream=handle,
                    env=full_env,
                    kill_after_timeout=timeout,
                    stdout_as_string=False,
                )
        except CommandError as exc:
            raise wrap_command_error(exc, args[0], network, self._url, self._secrets) from exc
        return out.decode("utf-8", "replace").strip()
