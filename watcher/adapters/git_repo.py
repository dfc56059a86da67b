"""The GitOps repository: a private working copy that mirrors one remote branch.

The checkout never holds anything worth keeping between runs: ``sync()`` makes it
equal to the remote branch (local commits that were not pushed are dropped; the
reconciler re-applies its plan on the new head). Commits are built from git objects
(a private index seeded from HEAD), so exactly one folder changes per commit, no
matter what else lies in the working tree, and nothing is ever written through a
symlink. Pushes are never forced. Not thread-safe: one writer per checkout.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Mapping
from contextlib import nullcontext
from pathlib import Path, PurePosixPath
from types import TracebackType

from git import Repo
from git.exc import CommandError, GitCommandError, InvalidGitRepositoryError, NoSuchPathError

from watcher.adapters.git_transport import (
    check_transport_files,
    network_env,
    remote_url,
    secrets_of,
    wrap_command_error,
)
from watcher.config.settings import Credentials, GitSettings
from watcher.errors import GitError, PushRejectedError

__all__ = ["MARKER", "GitOpsRepo", "PushRejectedError"]

log = logging.getLogger(__name__)

#: Written into .git/ at creation: only a checkout that carries it is ever deleted.
MARKER = "gitops-watcher-checkout"
_INDEX = "gitops-watcher.index"
_FORBIDDEN_SEGMENTS = {"", ".", "..", ".git"}


class GitOpsRepo:
    """Sync, read, change one folder per commit, and push a GitOps branch."""

    def __init__(self, settings: GitSettings, checkout_dir: Path, credentials: Credentials) -> None:
        self._settings = settings
        self._dir = Path(checkout_dir).absolute()
        self._branch = settings.branch
        # What git sees and .git/config holds: the URL without any credential in it.
        self._url = remote_url(settings.repo_url)
        self._net_env = network_env(settings, credentials)
        self._secrets = secrets_of(settings, credentials)
        # Literal pathspecs: a folder named '*' must mean only itself.
        self._local_env = {"GIT_LITERAL_PATHSPECS": "1", "GIT_TERMINAL_PROMPT": "0"}
        self._repo: Repo | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        """Stop GitPython's persistent cat-file processes."""
        if self._repo is not None:
            self._repo.close()
            self._repo = None

    def __enter__(self) -> GitOpsRepo:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- public API --------------------------------------------------------------------

    def sync(self) -> str | None:
        """Make the checkout equal to origin/<branch>; None if the remote has no such branch."""
        if not self._settings.repo_url:
            raise GitError("no git repository configured", hint="set GIT_REPO_URL (git.repo_url)")
        check_transport_files(self._settings)
        self._check_branch_name()
        reused = self._open_or_create()
        exists = self._fetch()
        try:
            return self._reset(exists)
        except GitError as exc:
            if not reused:
                raise
            # Local state is damaged (a stale lock, lost objects): start over, once.
            log.warning("checkout %s is damaged (%s); cloning again", self._dir, exc)
            self._remove_checkout()
            self._create()
            return self._reset(self._fetch())

    def head(self) -> str | None:
        """The commit the branch points at, or None while it is unborn (or before sync)."""
        if self._repo is None and not self._open_quietly():
            return None
        try:
            return self._git("rev-parse", "-q", "--verify", f"refs/heads/{self._branch}^{{commit}}")
        except GitError:
            return None

    def log(self, max_count: int) -> list[tuple[str, str]]:
        """(sha, subject) of the newest commits, newest first."""
        if self.head() is None or max_count <= 0:
            return []
        out = self._git("log", f"--max-count={max_count}", "--format=%H %s", "HEAD")
        return [(line[:40], line[41:]) for line in out.splitlines() if line]

    def read_tree(self, prefix: str) -> dict[str, bytes]:
        """Every file under ``prefix`` at HEAD, read from git objects (the disk may lie)."""
        prefix = "" if prefix.strip("/") in ("", ".") else _safe_relpath(prefix)
        head = self.head()
        if head is None:
            return {}
        args = ["ls-tree", "-r", "-z", "--full-tree", head]
        out = self._git(*args, "--", prefix) if prefix else self._git(*args)
        repo = self._require_repo()
        files: dict[str, bytes] = {}
        for record in out.split("\0"):
            if not record:
                continue
            meta, path = record.split("\t", 1)
            _mode, kind, sha = meta.split()
            if kind != "blob" or (prefix and not path.startswith(prefix + "/")):
                continue
            files[path] = repo.git.get_object_data(sha)[3]
        return files

    def apply_folder(self, folder: str, files: Mapping[str, bytes], message: str) -> str | None:
        """Commit ``folder`` holding exactly ``files``; None (no commit) when nothing changed."""
        if not message.strip():
            raise ValueError("a commit message is required")
        folder = _safe_relpath(folder)
        wanted = {f"{folder}/{_safe_relpath(name)}": data for name, data in files.items()}
        for path in (folder, *wanted):
            self._check_no_symlink(path)
            parents = path.split("/")
            if any("/".join(parents[:depth]) in wanted for depth in range(1, len(parents))):
                raise GitError(f"unsafe path {path!r}: a file of that name is also a folder")
        head = self.head()
        if head is None and not wanted:
            return None
        index = Path(self._git("rev-parse", "--absolute-git-dir")) / _INDEX
        env = {"GIT_INDEX_FILE": str(index)}
        try:
            index.unlink(missing_ok=True)
            if head is not None:
                self._git("read-tree", head, env=env)
            self._git("rm", "-r", "-q", "--cached", "--ignore-unmatch", "--", folder, env=env)
            if wanted:
                shas = self._store_blobs(list(wanted.values()))
                entries = [f"100644 {sha}\t{path}" for path, sha in zip(wanted, shas, strict=True)]
                self._git(
                    "update-index",
                    "--add",
                    "-z",
                    "--index-info",
                    env=env,
                    stdin="".join(e + "\0" for e in entries).encode(),
                )
            tree = self._git("write-tree", env=env)
        finally:
            index.unlink(missing_ok=True)
        if head is not None:
            if tree == self._git("rev-parse", f"{head}^{{tree}}"):
                log.debug("'%s' is unchanged; no commit", folder)
                return None
            # git replaces a file that stands where a folder must go: never outside ours.
            changed = self._git("diff-tree", "-r", "--no-renames", "--name-only", "-z", head, tree)
            outside = [p for p in changed.split("\0") if p and not p.startswith(folder + "/")]
            if outside:
                raise GitError(f"writing {folder!r} would change {outside[0]!r}: refused")
        parents = ["-p", head] if head is not None else []
        author = {
            "GIT_AUTHOR_NAME": self._settings.author_name,
            "GIT_AUTHOR_EMAIL": self._settings.author_email,
            "GIT_COMMITTER_NAME": self._settings.author_name,
            "GIT_COMMITTER_EMAIL": self._settings.author_email,
        }
        commit = self._git("commit-tree", tree, *parents, "-m", message, env=author)
        subject = message.strip().splitlines()[0]
        self._git(
            "update-ref",
            "-m",
            f"gitops-watcher: {subject}",
            f"refs/heads/{self._branch}",
            commit,
            head or "",
        )
        # Bring index and working tree along (untracked files stay untracked).
        self._git("reset", "-q", "--hard", commit)
        log.info("committed %s to '%s': %s", commit[:12], folder, subject)
        return commit

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
            if "[rejected]" in text or "non-fast-forward" in text or "fetch first" in text:
                raise PushRejectedError(
                    f"push of '{self._branch}' was rejected: the remote has commits we do not "
                    "have (another writer pushed first)",
                    hint="sync and re-apply, then push again",
                ) from exc.__cause__
            if "[remote rejected]" in text:
                hint = "the server refused the update: a protected branch or a hook?"
                raise GitError(str(exc), hint=hint) from exc.__cause__
            raise
        log.info("pushed %s to '%s'", head[:12], self._branch)

    # -- the checkout ------------------------------------------------------------------

    def _check_branch_name(self) -> None:
        name = self._branch
        if not name or name.startswith("-"):
            raise GitError(f"invalid branch name {name!r}", hint="check git.branch")
        try:
            Repo.GitCommandWrapperType().execute(["git", "check-ref-format", f"refs/heads/{name}"])
        except GitCommandError as exc:
            raise GitError(f"invalid branch name {name!r}", hint="check git.branch") from exc

    def _open_quietly(self) -> bool:
        try:
            self._repo = Repo(self._dir)
        except (InvalidGitRepositoryError, NoSuchPathError):
            return False
        return True

    def _open_or_create(self) -> bool:
        """Reuse a sound checkout of the same URL (True), else make a fresh one (False)."""
        self.close()
        if self._dir.exists() or self._dir.is_symlink():
            problem = self._problem_with_existing()
            if problem is None:
                return True
            log.warning("checkout %s %s; cloning again", self._dir, problem)
            self._remove_checkout()
        self._create()
        return False

    def _problem_with_existing(self) -> str | None:
        if not self._dir.is_dir() or self._dir.is_symlink():
            return "is not a directory"
        if not any(self._dir.iterdir()):
            return "is empty"
        if not self._open_quietly():
            return "is not a git repository"
        repo = self._require_repo()
        if repo.bare or repo.working_tree_dir is None:
            return "is a bare repository"
        if Path(repo.working_tree_dir).resolve() != self._dir.resolve():
            return "is inside another repository"
        try:
            with repo.config_reader("repository") as config:
                url = str(config.get_value('remote "origin"', "url", ""))
        except Exception:  # a config file git cannot parse is as broken as it gets
            return "has an unreadable .git/config"
        if url != self._url:
            if remote_url(url) == self._url:  # made by an older version
                return "holds a credential in its .git/config"
            return "tracks another remote"
        return None

    def _remove_checkout(self) -> None:
        """Delete the checkout, but only one that we created: never a user's folder."""
        self.close()
        if self._dir.is_symlink() or self._dir.is_file():
            raise GitError(
                f"checkout_dir {self._dir} is not a directory",
                hint="point git.checkout_dir at a folder the daemon owns",
            )
        if any(self._dir.iterdir()) and not (self._dir / ".git" / MARKER).is_file():
            raise GitError(
                f"checkout_dir {self._dir} holds files that gitops-watcher did not create",
                hint="point git.checkout_dir at an empty or missing folder; the daemon owns it",
            )
        shutil.rmtree(self._dir)

    def _create(self) -> None:
        """An empty repository with origin configured; fetch fills it (even an empty remote)."""
        self._dir.mkdir(parents=True, exist_ok=True)
        try:
            self._repo = Repo.init(self._dir, initial_branch=self._branch)
        except GitCommandError as exc:
            raise GitError(f"cannot create checkout in {self._dir}: {exc.stderr.strip()}") from exc
        (self._dir / ".git" / MARKER).write_text("owned by gitops-watcher; deleted at will\n")
        fetch = f"+refs/heads/{self._branch}:refs/remotes/origin/{self._branch}"
        # Through the config writer, not `git remote add URL`: a URL never goes into argv.
        with self._require_repo().config_writer("repository") as config:
            config.set_value('remote "origin"', "url", self._url)
            config.set_value('remote "origin"', "fetch", fetch)
            config.set_value("core", "autocrlf", "false")
            config.set_value("gc", "autoDetach", "false")

    def _fetch(self) -> bool:
        """Fetch the branch; False when the remote does not have it (yet)."""
        tracking = f"refs/remotes/origin/{self._branch}"
        try:
            self._git(
                "fetch",
                "--no-tags",
                "--no-write-fetch-head",
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

    def _reset(self, remote_has_branch: bool) -> str | None:
        if remote_has_branch:
            target = f"refs/remotes/origin/{self._branch}"
            self._git("checkout", "-q", "-f", "-B", self._branch, target)
            self._git("reset", "-q", "--hard", target)
            self._git("clean", "-q", "-ffdx")
            sha = self._git("rev-parse", "HEAD")
            log.info("checkout at %s (origin/%s)", sha[:12], self._branch)
            return sha
        # An unborn branch: the first commit creates it, the first push creates it remotely.
        self._git("symbolic-ref", "HEAD", f"refs/heads/{self._branch}")
        self._git("update-ref", "-d", f"refs/heads/{self._branch}")
        self._git("read-tree", "--empty")
        self._git("clean", "-q", "-ffdx")
        log.info("remote has no branch '%s' yet; starting it", self._branch)
        return None

    # -- helpers -----------------------------------------------------------------------

    def _check_no_symlink(self, relpath: str) -> None:
        root = self._dir.resolve()
        parts = relpath.split("/")
        for depth in range(1, len(parts) + 1):
            candidate = self._dir.joinpath(*parts[:depth])
            if candidate.is_symlink():
                raise GitError(f"path {relpath!r} goes through a symlink in the checkout")
        if not self._dir.joinpath(*parts).resolve().is_relative_to(root):
            raise GitError(f"path {relpath!r} resolves outside the checkout")

    def _store_blobs(self, contents: list[bytes]) -> list[str]:
        """Write blobs into the object store in one git call; their shas in order."""
        git_dir = self._git("rev-parse", "--absolute-git-dir")
        with tempfile.TemporaryDirectory(dir=git_dir, prefix="gitops-watcher-") as tmp:
            paths = []
            for number, data in enumerate(contents):
                path = Path(tmp) / str(number)
                path.write_bytes(data)
                paths.append(str(path))
            out = self._git(
                "hash-object",
                "-w",
                "--no-filters",
                "--stdin-paths",
                stdin="".join(p + "\n" for p in paths).encode(),
            )
        return out.split()

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
            raise wrap_command_error(
                exc, args[0], network, self._url, self._secrets
            ) from exc
        return out.decode("utf-8", "replace").strip()


def _safe_relpath(path: str) -> str:
    """A normalised repo-relative POSIX path, or GitError for anything that could escape."""
    if not path or "\0" in path or "\\" in path or PurePosixPath(path).is_absolute():
        raise GitError(f"unsafe path {path!r}: must be relative, without '\\' or NUL")
    if len(path) > 1 and path[1] == ":":
        raise GitError(f"unsafe path {path!r}: must be relative")
    parts = path.rstrip("/").split("/")
    if any(part.lower() in _FORBIDDEN_SEGMENTS for part in parts):
        raise GitError(f"unsafe path {path!r}: no empty, '.', '..' or '.git' segments")
    return "/".join(parts)
