"""Small batches of folder commits are written in process (``git_loose``), large ones by
``git fast-import``: the same batch gives the same trees and commits either way, and
``git fsck --strict`` finds nothing wrong with what was written in process."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.integration.test_git_repo import commit_and_push, git, make_repo, other_writer
from watcher.adapters import git_commits
from watcher.adapters.git_commits import FolderCommits
from watcher.adapters.git_repo import GitOpsRepo
from watcher.errors import GitError

pytestmark = pytest.mark.slow

# Names that sort around '/' in git's tree order ('-' and '.' before it, '0' after).
SEGMENTS = ["a", "b", "a-b", "a.b", "ab", "b0"]
FOLDERS = st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=3).map("/".join)
FILES = st.dictionaries(
    st.sampled_from(["x.yaml", "y", "sub/z", "sub/w.txt", "é.txt"]), st.binary(max_size=8),
    max_size=3,
)  # fmt: skip
BATCHES = st.lists(st.tuples(FOLDERS, FILES), min_size=1, max_size=6)


def written(repo: GitOpsRepo, batch: list[tuple[str, dict[str, bytes]]]) -> list[str]:
    """Apply ``batch`` on the remote's head; each new commit as tree, parent's tree, author,
    message (ids differ by the second they were made in)."""
    base = repo.sync()
    changes = [(folder, files, f"change {n} of {folder}") for n, (folder, files) in
               enumerate(batch)]  # fmt: skip
    try:
        made = [sha for sha in repo.apply_folders(changes) if sha]
    except GitError as exc:
        return [f"refused: {exc}"]
    if not made:
        return []
    log = git("log", "--format=%T %P %an <%ae> %s", f"{base}..{made[-1]}", cwd=repo_dir(repo))
    parents = [line.split()[1] for line in log.splitlines()]
    trees = {sha: git("rev-parse", f"{sha}^{{tree}}", cwd=repo_dir(repo)) for sha in parents}
    return [
        f"{line.split()[0]} on {trees[line.split()[1]]} {' '.join(line.split()[2:])}"
        for line in log.splitlines()
    ]


def repo_dir(repo: GitOpsRepo) -> Path:
    return Path(repo._git_dir)


@pytest.fixture(scope="module")
def seeded_repo() -> Iterator[GitOpsRepo]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        remote = root / "remote.git"
        git("init", "-q", "--bare", "-b", "main", str(remote))
        clone = other_writer(remote, root, "seed")
        commit_and_push(
            clone,
            {"a/b/x.yaml": "x\n", "a-b/y": "y\n", "b/sub/z": "z\n", "README": "r\n"},
            "start",
        )
        with make_repo(str(remote), root / "checkout") as repo:
            yield repo


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batch=BATCHES)
@example(batch=[("a/b", {})])  # "a" left empty: it goes too
@example(batch=[("b/sub", {}), ("a-b", {}), ("a/b", {}), ("README", {})])  # nothing left
@example(batch=[("a", {"x.yaml": b"1"}), ("a/b", {"y": b"2"}), ("a", {})])
def test_in_process_and_fast_import_write_the_same_commits(
    seeded_repo: GitOpsRepo, batch: list[tuple[str, dict[str, bytes]]]
) -> None:
    repo = seeded_repo
    in_process = written(repo, batch)
    with mock.patch.object(git_commits, "SMALL_BATCH", 0):
        by_fast_import = written(repo, batch)

    assert in_process == by_fast_import


def test_what_is_written_in_process_passes_fsck(seeded_repo: GitOpsRepo) -> None:
    repo = seeded_repo
    batch = [
        ("a", {"x.yaml": b"1\n", "sub/z": b"2\n"}),
        ("a.b/a", {"é.txt": b"3\n"}),
        ("a/b", {}),
        ("b0", {"y": b""}),
        ("a", {}),
    ]
    assert len(written(repo, batch)) == 5
    git("fsck", "--strict", "--no-dangling", "--no-progress", cwd=repo_dir(repo))
    assert git("count-objects", cwd=repo_dir(repo)).split()[0] != "0"  # loose, not a pack


def test_an_author_git_would_misread_is_refused(seeded_repo: GitOpsRepo) -> None:
    """The settings refuse such an author first (tests/unit/test_config.py); a commit
    batch refuses it too, before it writes anything."""
    repo = seeded_repo
    head = repo.sync()
    commits = FolderCommits(
        repo._require_repo(), repo._git, repo_dir(repo), "main", "Eve <eve@x> <x@y>"
    )
    with pytest.raises(GitError, match="invalid commit author"):
        commits.apply_folders([("a/staging", {"x": b"x"}, "m")])
    assert repo.sync() == head
