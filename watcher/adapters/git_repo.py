"""The GitOps repository: a private repository of objects and refs that mirrors one branch.

The checkout is a bare repository in ``<checkout_dir>/.git`` (``core.bare=true``):
git objects and refs only, no working tree and no index, and nothing else in
checkout_dir. It never holds anything worth keeping between runs: ``sync()`` fetches
and points the branch at the remote branch (local commits that were not pushed are
dropped; the reconciler re-applies its plan on the new head). Files are read from
git objects and commits are built by ``git fast-import`` from objects, so exactly one
folder changes per commit, and neither a sync nor a commit costs more in a
repository of ten thousand files than in one of ten. No repository path is ever
written to disk; a folder that is, or goes through, a symlink in HEAD is refused all
the same. Pushes are never forced. Not thread-safe: one writer per checkout.

A checkout made by an older version (a working tree beside ``.git``) is converted in
place on the first sync: its objects and refs are kept, its files are deleted.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import nullcontext
from pathlib import Path, PurePosixPath
from types import TracebackType

from git import Blob, Repo, Tree
from git.exc import CommandError, GitCommandError, InvalidGitRepositoryError, NoSuchPathError

from watcher.adapters.git_transport import (
    check_transport_files,
    network_env,
    remote_url,
    secrets_of,
    wrap_command_error,
)
from watcher.config.settings import Credentials, GitSettings
from watcher.core.plan import git_blob_id
from watcher.errors import GitError, PushRejectedError

__all__ = ["MARKER", "GitOpsRepo", "GitTree", "PushRejectedError", "blob_id", "tree_id"]

log = logging.getLogger(__name__)

#: Written into .git/ at creation: only a checkout that carries it is ever deleted.
MARKER = "gitops-watcher-checkout"
_GIT_DIR = ".git"
_SYMLINK_MODE = 0o120000
_FORBIDDEN_SEGMENTS = {"", ".", "..", ".git"}


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


class GitOpsRepo:
    """Sync, read, change one folder per commit, and push a GitOps branch."""

    def __init__(self, settings: GitSettings, checkout_dir: Path, credentials: Credentials) -> None:
        self._settings = settings
        self._dir = Path(checkout_dir).absolute()
        self._git_dir = self._dir / _GIT_DIR
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
        """Point the branch at origin/<branch>; None if the remote has no such branch.

        Fetches, then moves ``refs/heads/<branch>`` (HEAD is the symbolic ref to it):
        no checkout, no clean, no index, whatever the size of the repository.
        """
        if not self._settings.repo_url:
            raise GitError("no git repository configured", hint="set GIT_REPO_URL (git.repo_url)")
        check_transport_files(self._settings)
        self._check_branch_name()
        reused = self._open_or_create()
        exists = self._fetch()
        try:
            return self._point_branch(exists)
        except GitError as exc:
            if not reused:
                raise
            # Local state is damaged (a stale lock, lost objects): start over, once.
            log.warning("checkout %s is damaged (%s); cloning again", self._dir, exc)
            self._remove_checkout()
            self._create()
            return self._point_branch(self._fetch())

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
        ref = f"refs/heads/{self._branch}"
        out = self._git("log", f"--max-count={max_count}", "--format=%H %s", ref, "--")
        return [(line[:40], line[41:]) for line in out.splitlines() if line]

    def read_tree(self, prefix: str) -> GitTree:
        """Every file under ``prefix`` at HEAD, from git objects (there is no working tree).

        One ``ls-tree`` lists paths and blob ids; contents are read from the object
        store only when asked for, so comparing by id reads nothing.
        """
        prefix = "" if prefix.strip("/") in ("", ".") else _safe_relpath(prefix)
        head = self.head()
        if head is None:
            return GitTree({}, self._read_blob)
        args = ["ls-tree", "-r", "-z", "--full-tree", head]
        out = self._git(*args, "--", prefix) if prefix else self._git(*args)
        ids: dict[str, str] = {}
        for record in out.split("\0"):
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

    def apply_folder(self, folder: str, files: Mapping[str, bytes], message: str) -> str | None:
        """Commit ``folder`` holding exactly ``files``; None (no commit) when nothing changed."""
        return self.apply_folders([(folder, files, message)])[0]

    def apply_folders(
        self, changes: Sequence[tuple[str, Mapping[str, bytes], str]]
    ) -> list[str | None]:
        """One commit per (folder, files, message), in order, on top of HEAD.

        Each commit changes exactly its folder; a folder already as wanted makes
        no commit (None in its place). Trees and commits are built by one
        ``git fast-import`` for the whole batch, from git objects only, and it
        moves ``refs/heads/<branch>`` itself: no index and no working tree are
        written and unchanged subtrees are reused, so a commit costs the same in a
        repository of ten files or ten thousand. Whether a folder changes is
        decided by comparing the tree id git has for it with the id its wanted
        files hash to, without reading any blob. A folder that is, or goes
        through, a symlink in HEAD, or a symlink of HEAD the batch would write
        over, is refused (GitError) before anything is written.
        """
        prepared = [self._prepare(folder, files, message) for folder, files, message in changes]
        head = self.head()
        kinds: dict[str, str | None] = {}  # path -> object type once the batch so far is applied
        trees: dict[str, str | None] = {}  # folder -> its tree id once the batch so far is applied
        results: list[str | None] = []
        stream: list[bytes] = []
        commits: list[tuple[int, str, str]] = []  # (index in results, folder, subject)
        for folder, wanted, message in prepared:
            # fast-import would replace a file standing where a folder must go: never ours.
            for path in (*_parents(folder), folder):
                if self._kind(head, path, kinds) not in (None, "tree"):
                    if path not in kinds and self._is_symlink(head, path):
                        raise GitError(f"path {folder!r} goes through a symlink ({path!r})")
                    raise GitError(f"writing {folder!r} would change {path!r}: refused")
            before = trees[folder] if folder in trees else self._tree_id(head, folder)
            after = (
                tree_id({p[len(folder) + 1 :]: d for p, d in wanted.items()}) if wanted else None
            )
            if before == after:
                log.debug("'%s' is unchanged; no commit", folder)
                results.append(None)
                continue
            if folder not in trees and before is not None:
                self._check_no_symlink_written(folder, before, wanted)
            trees[folder] = after
            for path in [p for p in kinds if p.startswith(folder + "/")]:
                kinds[path] = None
            kinds[folder] = "tree" if wanted else None
            for path in wanted:
                kinds[path] = "blob"
                for parent in _parents(path)[len(_parents(folder)) + 1 :]:
                    kinds[parent] = "tree"
            mark = len(commits) + 1
            commits.append((len(results), folder, message.strip().splitlines()[0]))
            results.append("")
            stream.append(self._commit_command(mark, folder, wanted, message, head, mark == 1))
        if not commits:
            return results
        with tempfile.TemporaryDirectory(dir=self._git_dir, prefix="gitops-watcher-") as tmp:
            marks = Path(tmp) / "marks"
            self._git(
                "fast-import",
                "--quiet",
                "--done",
                "--date-format=now",
                f"--export-marks={marks}",
                stdin=b"".join(stream) + b"done\n",
            )
            shas = dict(line.split() for line in marks.read_text().splitlines() if line)
        for mark, (index, folder, subject) in enumerate(commits, start=1):
            results[index] = shas[f":{mark}"]
            log.info("committed %s to '%s': %s", shas[f":{mark}"][:12], folder, subject)
        return results

    def _prepare(
        self, folder: str, files: Mapping[str, bytes], message: str
    ) -> tuple[str, dict[str, bytes], str]:
        if not message.strip():
            raise ValueError("a commit message is required")
        folder = _safe_relpath(folder)
        wanted = {f"{folder}/{_safe_relpath(name)}": data for name, data in files.items()}
        for path in (folder, *wanted):
            if "\n" in path:
                raise GitError(f"unsafe path {path!r}: no line breaks")
            if any(parent in wanted for parent in _parents(path)):
                raise GitError(f"unsafe path {path!r}: a file of that name is also a folder")
        return folder, wanted, message

    def _kind(self, head: str | None, path: str, known: Mapping[str, str | None]) -> str | None:
        """The type of object at ``path`` (blob, tree, commit) after the batch so far."""
        if path in known:
            return known[path]
        if head is None:
            return None
        try:
            _sha, kind, _size = self._require_repo().git.get_object_header(f"{head}:{path}")
        except ValueError:
            return None
        return kind.decode() if isinstance(kind, bytes) else str(kind)

    def _is_symlink(self, head: str | None, path: str) -> bool:
        """Whether ``path`` is a symlink in ``head`` (read only on the way to a refusal)."""
        if head is None:
            return False
        try:
            item = self._require_repo().tree(head) / path
        except KeyError:
            return False
        return bool(item.mode == _SYMLINK_MODE)

    def _check_no_symlink_written(
        self, folder: str, before: str, wanted: Mapping[str, bytes]
    ) -> None:
        """Refuse to write over a symlink of HEAD: reads the folder's own trees only."""
        tree = Tree(self._require_repo(), bytes.fromhex(before), Tree.tree_id << 12, "")
        for item in tree.traverse():
            if not isinstance(item, Blob) or item.mode != _SYMLINK_MODE:
                continue
            path = f"{folder}/{item.path}"
            if path in wanted:
                raise GitError(f"path {path!r} is a symlink in the repository: refused")

    def _tree_id(self, head: str | None, path: str) -> str | None:
        """The id of the tree at ``path`` in ``head`` (None when there is none)."""
        if head is None:
            return None
        try:
            sha, kind, _size = self._require_repo().git.get_object_header(f"{head}:{path}")
        except ValueError:
            return None
        if (kind.decode() if isinstance(kind, bytes) else str(kind)) != "tree":
            return None
        return sha.decode() if isinstance(sha, bytes) else str(sha)

    def _commit_command(
        self,
        mark: int,
        folder: str,
        wanted: Mapping[str, bytes],
        message: str,
        head: str | None,
        first: bool,
    ) -> bytes:
        who = f"{self._settings.author_name} <{self._settings.author_email}> now".encode()
        text = message.encode()
        if not text.endswith(b"\n"):
            text += b"\n"
        lines = [
            f"commit refs/heads/{self._branch}\nmark :{mark}\n".encode(),
            b"author " + who + b"\n",
            b"committer " + who + b"\n",
            b"data %d\n" % len(text) + text,
        ]
        if first and head is not None:
            lines.append(f"from {head}\n".encode())
        lines.append(b"D " + _quote(folder) + b"\n")
        for path, data in sorted(wanted.items()):
            lines.append(b"M 100644 inline " + _quote(path) + b"\n")
            lines.append(b"data %d\n" % len(data) + data + b"\n")
        return b"".join(lines) + b"\n"

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
            repo = Repo(self._dir)
        except (InvalidGitRepositoryError, NoSuchPathError):
            return False
        self._adopt(repo)
        return True

    def _adopt(self, repo: Repo) -> None:
        # GIT_DIR for every git process, GitPython's cat-file ones too: git never goes
        # looking in parent folders (a damaged checkout must not lead it into a user's
        # repository), and a bare repository is found even with safe.bareRepository=explicit.
        repo.git.update_environment(GIT_DIR=str(self._git_dir))
        self._repo = repo

    def _open_or_create(self) -> bool:
        """Reuse a sound checkout of the same URL (True), else make a fresh one (False)."""
        self.close()
        if self._dir.exists() or self._dir.is_symlink():
            problem = self._problem_with_existing()
            if problem is None:
                self._keep_objects_only()
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
        if Path(repo.git_dir).resolve() != self._git_dir.resolve():
            return "keeps its git directory elsewhere than .git"  # a bare repo itself, a worktree
        if repo.working_tree_dir is not None and (
            Path(repo.working_tree_dir).resolve() != self._dir.resolve()
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

    def _keep_objects_only(self) -> None:
        """Leave only ``.git`` in checkout_dir, a bare repository, when it is ours.

        A checkout made by an older version (non-bare, a working tree full of files)
        is converted in place: ``core.bare=true``, its index dropped, its files
        deleted; objects and refs stay, so nothing is fetched again. Anything else
        beside ``.git`` (files dropped in by hand) goes too. In a folder without our
        MARKER nothing is deleted: GitError.
        """
        repo = self._require_repo()
        strays = [path for path in self._dir.iterdir() if path.name != _GIT_DIR]
        if repo.bare and not strays:
            return
        if not (self._git_dir / MARKER).is_file():
            raise self._not_ours()
        if not repo.bare:
            log.info(
                "checkout %s has a working tree (made by an older version): keeping its "
                "objects and refs, deleting its files",
                self._dir,
            )
            # The index first: killed in between, the next sync sees non-bare and goes on.
            for name in ("index", "index.lock"):
                (self._git_dir / name).unlink(missing_ok=True)
            with repo.config_writer("repository") as config:
                config.set_value("core", "bare", "true")
            self.close()
            if not self._open_quietly():
                raise GitError(f"checkout {self._dir} cannot be opened after conversion")
        for path in strays:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        log.debug("deleted %d entries beside .git in %s", len(strays), self._dir)

    def _not_ours(self) -> GitError:
        return GitError(
            f"checkout_dir {self._dir} holds files that gitops-watcher did not create",
            hint="point git.checkout_dir at an empty or missing folder; the daemon owns it",
        )

    def _remove_checkout(self) -> None:
        """Delete the checkout, but only one that we created: never a user's folder."""
        self.close()
        if self._dir.is_symlink() or self._dir.is_file():
            raise GitError(
                f"checkout_dir {self._dir} is not a directory",
                hint="point git.checkout_dir at a folder the daemon owns",
            )
        if any(self._dir.iterdir()) and not (self._git_dir / MARKER).is_file():
            raise self._not_ours()
        shutil.rmtree(self._dir)

    def _create(self) -> None:
        """An empty bare repository in checkout_dir/.git, origin configured; fetch fills it."""
        self._dir.mkdir(parents=True, exist_ok=True)
        try:
            repo = Repo.init(self._git_dir, bare=True, initial_branch=self._branch)
        except GitCommandError as exc:
            raise GitError(f"cannot create checkout in {self._dir}: {exc.stderr.strip()}") from exc
        self._adopt(repo)
        (self._git_dir / MARKER).write_text("owned by gitops-watcher; deleted at will\n")
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

    def _point_branch(self, remote_has_branch: bool) -> str | None:
        """HEAD -> refs/heads/<branch> -> what origin/<branch> is: refs only, no files."""
        branch = f"refs/heads/{self._branch}"
        self._point_head(branch)
        if remote_has_branch:
            target = f"refs/remotes/origin/{self._branch}"
            # --verify ...^{commit} reads the commit: lost objects show up here, as damage.
            sha = self._git("rev-parse", "-q", "--verify", f"{target}^{{commit}}")
            # Through a ref transaction: a stale refs/heads/<branch>.lock fails it.
            self._git("update-ref", branch, sha)
            log.info("checkout at %s (origin/%s)", sha[:12], self._branch)
            return sha
        # An unborn branch: the first commit creates it, the first push creates it remotely.
        self._git("update-ref", "-d", branch)
        log.info("remote has no branch '%s' yet; starting it", self._branch)
        return None

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


def _parents(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:depth]) for depth in range(1, len(parts))]


def _quote(path: str) -> bytes:
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


blob_id = git_blob_id


def tree_id(files: Mapping[str, bytes]) -> str:
    """The id git gives a tree of regular files (paths relative to it), computed here."""
    return _tree_of({tuple(path.split("/")): data for path, data in files.items()})


def _tree_of(files: Mapping[tuple[str, ...], bytes]) -> str:
    entries: list[tuple[bytes, bytes]] = []  # (sort key, entry)
    subtrees: dict[str, dict[tuple[str, ...], bytes]] = {}
    for parts, data in files.items():
        if len(parts) == 1:
            leaf = parts[0].encode()
            entries.append((leaf, b"100644 " + leaf + b"\0" + bytes.fromhex(blob_id(data))))
        else:
            subtrees.setdefault(parts[0], {})[parts[1:]] = data
    for name, inner in subtrees.items():
        raw = name.encode()
        entries.append((raw + b"/", b"40000 " + raw + b"\0" + bytes.fromhex(_tree_of(inner))))
    body = b"".join(entry for _, entry in sorted(entries))
    return hashlib.sha1(b"tree %d\0" % len(body) + body, usedforsecurity=False).hexdigest()


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
