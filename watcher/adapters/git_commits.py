"""One commit per folder: a batch of folder changes written in process when it is small
(a promotion: ``git_loose``), by one ``git fast-import`` run when it is large.

Trees and commits are built from git objects only (no index, no working tree),
unchanged subtrees are reused, and whether a folder changes is decided by tree
ids alone, so a commit costs the same in a repository of ten files or ten
thousand. A folder that is, or goes through, a symlink in HEAD, or a symlink the
batch would write over, is refused before anything is written.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from git import Blob, Repo, Tree

from watcher.adapters.git_loose import LooseCommits
from watcher.adapters.git_objects import parents, quote_path, safe_relpath, tree_id
from watcher.adapters.git_refs import move_ref
from watcher.errors import GitError

log = logging.getLogger(__name__)

_SYMLINK_MODE = 0o120000
#: Up to this many commits a batch is written in process (``git_loose``: a promotion, no
#: git process between a fetch and its push); more go through one ``git fast-import``
#: (a first import: one pack, not thousands of loose objects).
SMALL_BATCH = 32

#: Runs git in the checkout: ``git(*args, stdin=bytes)`` returns its output.
GitRunner = Callable[..., str]


class FolderCommits:
    """Commits folder changes on top of the branch of one checkout."""

    def __init__(
        self,
        repo: Repo,
        git: GitRunner,
        git_dir: Path,
        branch: str,
        author: str,
        head: Callable[[], str | None] | None = None,
    ) -> None:
        self._repo = repo
        self._git = git
        self._git_dir = git_dir
        self._branch = branch
        self._author = author
        #: Where the branch is, when the caller knows without asking git.
        self._known_head = head

    def head(self) -> str | None:
        if self._known_head is not None:
            return self._known_head()
        try:
            return self._git("rev-parse", "-q", "--verify", f"refs/heads/{self._branch}^{{commit}}")
        except GitError:
            return None

    def apply_folders(
        self, changes: Sequence[tuple[str, Mapping[str, bytes], str]]
    ) -> list[str | None]:
        """One commit per (folder, files, message), in order, on top of HEAD.

        Each commit changes exactly its folder; a folder already as wanted makes
        no commit (None in its place). Trees and commits are built from git
        objects only, in process for up to SMALL_BATCH commits, else by one
        ``git fast-import``, and ``refs/heads/<branch>`` moves to the last one
        (the author is checked first): no index and no working tree are
        written and unchanged subtrees are reused, so a commit costs the same in a
        repository of ten files or ten thousand. Whether a folder changes is
        decided by comparing the tree id git has for it with the id its wanted
        files hash to, without reading any blob. A folder that is, or goes
        through, a symlink in HEAD, or a symlink of HEAD the batch would write
        over, is refused (GitError) before anything is written.
        """
        _check_ident(self._author)
        prepared = [self._prepare(folder, files, message) for folder, files, message in changes]
        head = self.head()
        kinds: dict[str, str | None] = {}  # path -> object type once the batch so far is applied
        trees: dict[str, str | None] = {}  # folder -> its tree id once the batch so far is applied
        results: list[str | None] = []
        made: list[tuple[int, str, dict[str, bytes], str]] = []  # (index, folder, files, message)
        for folder, wanted, message in prepared:
            if not self._changes(head, folder, wanted, kinds, trees):
                log.debug("'%s' is unchanged; no commit", folder)
                results.append(None)
                continue
            made.append((len(results), folder, wanted, message))
            results.append("")
        if not made:
            return results
        if len(made) <= SMALL_BATCH:
            shas = self._write_loose(head, made)
        else:
            stream = [
                self._commit_command(mark, folder, wanted, message, head, mark == 1)
                for mark, (_, folder, wanted, message) in enumerate(made, start=1)
            ]
            marks = self._fast_import(stream)
            shas = [marks[f":{mark}"] for mark in range(1, len(made) + 1)]
        for sha, (index, folder, _, message) in zip(shas, made, strict=True):
            results[index] = sha
            log.info("committed %s to '%s': %s", sha[:12], folder, message.strip().splitlines()[0])
        return results

    def _write_loose(
        self, head: str | None, made: Sequence[tuple[int, str, dict[str, bytes], str]]
    ) -> list[str]:
        """The commits written in process (``git_loose``), then the branch moved to the
        last one through git's lock file protocol."""
        writer = LooseCommits(self._repo, self._author)
        shas: list[str] = []
        for _, folder, wanted, message in made:
            shas.append(writer.commit(shas[-1] if shas else head, folder, wanted, message))
        move_ref(self._repo, f"refs/heads/{self._branch}", shas[-1])
        return shas

    def _changes(
        self,
        head: str | None,
        folder: str,
        wanted: Mapping[str, bytes],
        kinds: dict[str, str | None],
        trees: dict[str, str | None],
    ) -> bool:
        """Whether writing ``folder`` changes it; if so, record what the batch then holds.

        Refuses (GitError) a folder that a file stands in the way of, or that is or goes
        through a symlink, and a write over a symlink of HEAD.
        """
        # fast-import would replace a file standing where a folder must go: never ours.
        for path in (*parents(folder), folder):
            if self._kind(head, path, kinds) not in (None, "tree"):
                if path not in kinds and self._is_symlink(head, path):
                    raise GitError(f"path {folder!r} goes through a symlink ({path!r})")
                raise GitError(f"writing {folder!r} would change {path!r}: refused")
        before = trees[folder] if folder in trees else self._tree_id(head, folder)
        after = tree_id({p[len(folder) + 1 :]: d for p, d in wanted.items()}) if wanted else None
        if before == after:
            return False
        if folder not in trees and before is not None:
            self._check_no_symlink_written(folder, before, wanted)
        trees[folder] = after
        for path in [p for p in kinds if p.startswith(folder + "/")]:
            kinds[path] = None
        kinds[folder] = "tree" if wanted else None
        for path in wanted:
            kinds[path] = "blob"
            for parent in parents(path)[len(parents(folder)) + 1 :]:
                kinds[parent] = "tree"
        return True

    def _fast_import(self, stream: list[bytes]) -> dict[str, str]:
        """Run the commands; the commit id of each mark (``:1`` …)."""
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
            return dict(line.split() for line in marks.read_text().splitlines() if line)

    def _prepare(
        self, folder: str, files: Mapping[str, bytes], message: str
    ) -> tuple[str, dict[str, bytes], str]:
        if not message.strip():
            raise ValueError("a commit message is required")
        folder = safe_relpath(folder)
        wanted = {f"{folder}/{safe_relpath(name)}": data for name, data in files.items()}
        for path in (folder, *wanted):
            if "\n" in path:
                raise GitError(f"unsafe path {path!r}: no line breaks")
            if any(parent in wanted for parent in parents(path)):
                raise GitError(f"unsafe path {path!r}: a file of that name is also a folder")
        return folder, wanted, message

    def _kind(self, head: str | None, path: str, known: Mapping[str, str | None]) -> str | None:
        """The type of object at ``path`` (blob, tree, commit) after the batch so far."""
        if path in known:
            return known[path]
        if head is None:
            return None
        try:
            _sha, kind, _size = self._repo.git.get_object_header(f"{head}:{path}")
        except ValueError:
            return None
        return kind.decode() if isinstance(kind, bytes) else str(kind)

    def _is_symlink(self, head: str | None, path: str) -> bool:
        """Whether ``path`` is a symlink in ``head`` (read only on the way to a refusal)."""
        if head is None:
            return False
        try:
            item = self._repo.tree(head) / path
        except KeyError:
            return False
        return bool(item.mode == _SYMLINK_MODE)

    def _check_no_symlink_written(
        self, folder: str, before: str, wanted: Mapping[str, bytes]
    ) -> None:
        """Refuse to write over a symlink of HEAD: reads the folder's own trees only."""
        tree = Tree(self._repo, bytes.fromhex(before), Tree.tree_id << 12, "")
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
            sha, kind, _size = self._repo.git.get_object_header(f"{head}:{path}")
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
        who = f"{self._author} now".encode()
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
        lines.append(b"D " + quote_path(folder) + b"\n")
        for path, data in sorted(wanted.items()):
            lines.append(b"M 100644 inline " + quote_path(path) + b"\n")
            lines.append(b"data %d\n" % len(data) + data + b"\n")
        return b"".join(lines) + b"\n"


def _check_ident(ident: str) -> None:
    """``Name <email>`` as git writes it into a commit: one of each bracket, no line break."""
    name, _, rest = ident.partition(" <")
    email, _, tail = rest.partition(">")
    if (
        not name.strip()
        or tail
        or any(c in ident for c in "\n\0")
        or any(c in name + email for c in "<>")
    ):
        raise GitError(
            f"invalid commit author {ident!r}",
            hint="git.author_name and git.author_email may not hold '<', '>' or line breaks",
        )
