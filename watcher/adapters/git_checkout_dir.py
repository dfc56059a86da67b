"""The checkout's folder on disk: opened when it is ours and sound, converted from an
older layout, emptied of strays, deleted and made again; never a folder we did not make.

``checkout_dir`` holds one thing, ``.git``: a bare repository carrying our MARKER.
A checkout made by an older version (a working tree beside ``.git``) is converted in
place: its objects and refs stay, so nothing is fetched again; its files go.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from git import Repo
from git.exc import GitCommandError, InvalidGitRepositoryError, NoSuchPathError

from watcher.adapters.git_transport import remote_url
from watcher.errors import GitError

log = logging.getLogger(__name__)

#: Written into .git/ at creation: only a checkout that carries it is ever deleted.
MARKER = "gitops-watcher-checkout"
GIT_DIR = ".git"


class CheckoutDir:
    """``checkout_dir`` for the remote ``url`` (no credential in it) and ``branch``."""

    def __init__(self, checkout_dir: Path, url: str, branch: str) -> None:
        self.path = Path(checkout_dir).absolute()
        self.git_dir = self.path / GIT_DIR
        self._url = url
        self._branch = branch

    def open_or_create(self) -> tuple[Repo, bool]:
        """The checkout, and whether it was reused (False: freshly made, empty)."""
        if self.path.exists() or self.path.is_symlink():
            repo, problem = self._examine()
            if repo is not None and problem is None:
                return self.keep_objects_only(repo), True
            if repo is not None:
                repo.close()
            log.warning("checkout %s %s; cloning again", self.path, problem)
            self.remove()
        return self.create(), False

    def keep_objects_only(self, repo: Repo) -> Repo:
        """Leave only ``.git`` in checkout_dir, a bare repository; the repository to use
        from now on (opened again after a conversion). Files beside ``.git`` (dropped
        in by hand, or an older version's working tree) are deleted, but only in a
        folder that carries our MARKER: otherwise nothing is deleted, GitError."""
        strays = [path for path in self.path.iterdir() if path.name != GIT_DIR]
        if repo.bare and not strays:
            return repo
        if not (self.git_dir / MARKER).is_file():
            raise self._not_ours()
        if not repo.bare:
            self._make_bare(repo)
            repo.close()
            reopened = self.open()
            if reopened is None:
                raise GitError(f"checkout {self.path} cannot be opened after conversion")
            repo = reopened
        for path in strays:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        log.debug("deleted %d entries beside .git in %s", len(strays), self.path)
        return repo

    def remove(self) -> None:
        """Delete the checkout, but only one that we created: never a user's folder.
        The caller has closed the repository first."""
        if self.path.is_symlink() or self.path.is_file():
            raise GitError(
                f"checkout_dir {self.path} is not a directory",
                hint="point git.checkout_dir at a folder the daemon owns",
            )
        if any(self.path.iterdir()) and not (self.git_dir / MARKER).is_file():
            raise self._not_ours()
        shutil.rmtree(self.path)

    def create(self) -> Repo:
        """An empty bare repository in checkout_dir/.git, origin configured; fetch fills it."""
        self.path.mkdir(parents=True, exist_ok=True)
        try:
            repo = Repo.init(self.git_dir, bare=True, initial_branch=self._branch)
        except GitCommandError as exc:
            raise GitError(f"cannot create checkout in {self.path}: {exc.stderr.strip()}") from exc
        self._adopt(repo)
        (self.git_dir / MARKER).write_text("owned by gitops-watcher; deleted at will\n")
        fetch = f"+refs/heads/{self._branch}:refs/remotes/origin/{self._branch}"
        # Through the config writer, not `git remote add URL`: no URL is read as an
        # option. (Only fetch-pack gets one in argv: a path, file:// or ssh URL, without
        # a password and never starting with '-'; see git_transport.speaks_native_git.)
        with repo.config_writer("repository") as config:
            config.set_value('remote "origin"', "url", self._url)
            config.set_value('remote "origin"', "fetch", fetch)
            config.set_value("core", "autocrlf", "false")
            config.set_value("gc", "autoDetach", "false")
        return repo

    def _examine(self) -> tuple[Repo | None, str | None]:
        """The repository in checkout_dir (None if it cannot be opened) and what is wrong
        with it for reuse (None: nothing)."""
        if not self.path.is_dir() or self.path.is_symlink():
            return None, "is not a directory"
        if not any(self.path.iterdir()):
            return None, "is empty"
        repo = self.open()
        if repo is None:
            return None, "is not a git repository"
        return repo, self._problem_with(repo)

    def _problem_with(self, repo: Repo) -> str | None:
        if Path(repo.git_dir).resolve() != self.git_dir.resolve():
            return "keeps its git directory elsewhere than .git"  # a bare repo itself, a worktree
        if repo.working_tree_dir is not None and (
            Path(repo.working_tree_dir).resolve() != self.path.resolve()
        ):
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

    def open(self) -> Repo | None:
        """The repository in checkout_dir as it is, unchecked (None: there is none)."""
        try:
            repo = Repo(self.path)
        except (InvalidGitRepositoryError, NoSuchPathError):
            return None
        self._adopt(repo)
        return repo

    def _adopt(self, repo: Repo) -> None:
        # GIT_DIR for every git process, GitPython's cat-file ones too: git never goes
        # looking in parent folders (a damaged checkout must not lead it into a user's
        # repository), and a bare repository is found even with safe.bareRepository=explicit.
        repo.git.update_environment(GIT_DIR=str(self.git_dir))

    def _make_bare(self, repo: Repo) -> None:
        """``core.bare=true`` and no index: the objects and refs stay; the files beside
        ``.git`` are deleted by the caller, after the repository is opened anew."""
        log.info(
            "checkout %s has a working tree (made by an older version): keeping its "
            "objects and refs, deleting its files",
            self.path,
        )
        # The index first: killed in between, the next sync sees non-bare and goes on.
        for name in ("index", "index.lock"):
            (self.git_dir / name).unlink(missing_ok=True)
        with repo.config_writer("repository") as config:
            config.set_value("core", "bare", "true")

    def _not_ours(self) -> GitError:
        return GitError(
            f"checkout_dir {self.path} holds files that gitops-watcher did not create",
            hint="point git.checkout_dir at an empty or missing folder; the daemon owns it",
        )
