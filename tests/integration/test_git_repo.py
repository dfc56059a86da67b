"""GitOpsRepo against real remotes: local paths, file://, ssh (a real sshd) and http(s)."""

from __future__ import annotations

import base64
import json
import logging
import os
import socket
import subprocess
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml
from git.cmd import Git
from git.exc import GitCommandError

from tests.servers.git_http import GitHttpServer
from tests.servers.git_http_fixtures import PASSWORD, USERNAME
from tests.servers.mlflow_server import MlflowServer, register_version
from tests.servers.sshd import SshGitServer
from watcher.adapters.git_repo import MARKER, GitOpsRepo, PushRejectedError
from watcher.adapters.git_transport import (
    is_ssh_url,
    network_env,
    redact,
    secrets_of,
    speaks_native_git,
    ssh_command,
    wrap_command_error,
)
from watcher.commands.cli import main
from watcher.config.settings import Credentials, GitSettings
from watcher.errors import GitAuthError, GitError, GitUnavailableError, TemporaryError

pytestmark = pytest.mark.slow


FOLDER = "deployments/fraud/staging"


def git(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout.strip()


def make_repo(
    url: str, checkout: Path, *, credentials: Credentials | None = None, **settings: object
) -> GitOpsRepo:
    options: dict[str, object] = {"repo_url": url, "timeout_seconds": 20.0, **settings}
    return GitOpsRepo(GitSettings.model_validate(options), checkout, credentials or Credentials())


def other_writer(remote: Path, tmp_path: Path, name: str) -> Path:
    """A plain clone, as a human or another tool would have it."""
    clone = tmp_path / name
    git("clone", "-q", str(remote), str(clone))
    git("config", "user.name", "someone", cwd=clone)
    git("config", "user.email", "someone@example.com", cwd=clone)
    return clone


def commit_and_push(clone: Path, files: dict[str, str], message: str) -> str:
    for rel, text in files.items():
        target = clone / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    git("add", "-A", cwd=clone)
    git("commit", "-q", "-m", message, cwd=clone)
    git("push", "-q", "origin", "HEAD:main", cwd=clone)
    return git("rev-parse", "HEAD", cwd=clone)


def remote_files(remote: Path, ref: str = "main") -> list[str]:
    return git("ls-tree", "-r", "--name-only", ref, cwd=remote).splitlines()


def drop_by_hand(checkout: Path, files: dict[str, str]) -> None:
    """Files a human (or a bug) wrote into checkout_dir, at paths of the repository."""
    for rel, text in files.items():
        target = checkout / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def only_git_in(checkout: Path) -> None:
    """checkout_dir holds a bare repository in .git and nothing else: no files, no index."""
    assert sorted(p.name for p in checkout.iterdir()) == [".git"]
    assert git("rev-parse", "--is-bare-repository", cwd=checkout) == "true"
    assert not (checkout / ".git" / "index").exists()
    assert [p for p in checkout.rglob("*.yaml")] == []


@pytest.fixture
def repo(bare_remote: Path, tmp_path: Path) -> Iterator[GitOpsRepo]:
    with make_repo(str(bare_remote), tmp_path / "checkout") as opened:
        yield opened


# -- the basic cycle -------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["path", "file"])
def test_empty_remote_then_apply_and_push_creates_the_branch(
    bare_remote: Path, tmp_path: Path, scheme: str
) -> None:
    url = str(bare_remote) if scheme == "path" else bare_remote.as_uri()
    with make_repo(url, tmp_path / "checkout", author_name="Bot", author_email="bot@x.org") as repo:
        assert repo.sync() is None
        assert repo.head() is None
        assert repo.read_tree("deployments") == {}
        assert repo.log(5) == []
        files = {"deployment.yaml": b"kind: Deployment\n", "extra/notes.txt": b"\x00binary\xff"}
        sha = repo.apply_folder(FOLDER, files, "promote fraud v1 to staging\n\nrun: abc")
        assert sha is not None and repo.head() == sha
        repo.push()

    assert git("rev-parse", "main", cwd=bare_remote) == sha
    assert git("log", "-1", "--format=%an <%ae>|%cn <%ce>|%s", "main", cwd=bare_remote) == (
        "Bot <bot@x.org>|Bot <bot@x.org>|promote fraud v1 to staging"
    )
    assert sorted(remote_files(bare_remote)) == [
        f"{FOLDER}/deployment.yaml",
        f"{FOLDER}/extra/notes.txt",
    ]
    blob = subprocess.run(
        ["git", "cat-file", "blob", f"main:{FOLDER}/extra/notes.txt"],
        cwd=bare_remote,
        capture_output=True,
        check=True,
    ).stdout
    assert blob == b"\x00binary\xff"


def test_sync_of_a_fresh_checkout_returns_the_remote_head(
    bare_remote: Path, tmp_path: Path
) -> None:
    theirs = commit_and_push(other_writer(bare_remote, tmp_path, "w"), {"README": "hi\n"}, "init")
    with make_repo(str(bare_remote), tmp_path / "checkout") as repo:
        assert repo.sync() == theirs
        assert repo.log(3) == [(theirs, "init")]
        assert repo.read_tree("") == {"README": b"hi\n"}


def test_equal_bytes_make_no_commit(repo: GitOpsRepo, bare_remote: Path) -> None:
    repo.sync()
    files = {"a.yaml": b"a: 1\n", "b.yaml": b"b: 2\n"}
    first = repo.apply_folder(FOLDER, files, "promote fraud v1 to staging")
    assert first is not None
    assert repo.apply_folder(FOLDER, dict(files), "promote fraud v1 to staging") is None
    repo.push()
    assert repo.sync() == first
    assert repo.apply_folder(FOLDER, dict(reversed(files.items())), "again") is None
    assert repo.apply_folder("deployments/none", {}, "remove nothing") is None
    assert repo.head() == first
    assert git("rev-list", "--count", "main", cwd=bare_remote) == "1"


def test_a_change_commits_only_its_folder(repo: GitOpsRepo, tmp_path: Path) -> None:
    repo.sync()
    other = "deployments/fraud/production"
    repo.apply_folder(FOLDER, {"a.yaml": b"v1\n", "b.yaml": b"same\n"}, "stage v1")
    repo.apply_folder(other, {"a.yaml": b"prod\n"}, "prod v1")
    checkout = tmp_path / "checkout"
    # A human (or a bug) left files in checkout_dir: none may be committed.
    drop_by_hand(
        checkout,
        {
            f"{other}/hand-written.yaml": "not mine\n",
            f"{other}/a.yaml": "edited by hand\n",
            f"{FOLDER}/c.yaml": "not asked for\n",
            "stray.txt": "stray\n",
        },
    )

    sha = repo.apply_folder(FOLDER, {"a.yaml": b"v2\n", "b.yaml": b"same\n"}, "stage v2")

    assert sha is not None
    changed = git("diff-tree", "--no-commit-id", "--name-only", "-r", sha, cwd=checkout)
    assert changed.splitlines() == [f"{FOLDER}/a.yaml"]
    tree = repo.read_tree("deployments")
    assert tree == {
        f"{FOLDER}/a.yaml": b"v2\n",
        f"{FOLDER}/b.yaml": b"same\n",
        f"{other}/a.yaml": b"prod\n",
    }
    assert git("ls-tree", "-r", "--name-only", sha, cwd=checkout).splitlines() == [
        f"{other}/a.yaml",
        f"{FOLDER}/a.yaml",
        f"{FOLDER}/b.yaml",
    ]


def test_a_file_dropped_from_the_mapping_is_removed(repo: GitOpsRepo) -> None:
    repo.sync()
    repo.apply_folder(FOLDER, {"a.yaml": b"a\n", "sub/b.yaml": b"b\n"}, "v1")
    assert repo.apply_folder(FOLDER, {"a.yaml": b"a\n"}, "v2") is not None
    assert repo.read_tree(FOLDER) == {f"{FOLDER}/a.yaml": b"a\n"}


def test_an_empty_mapping_removes_the_folder(
    repo: GitOpsRepo, bare_remote: Path, tmp_path: Path
) -> None:
    repo.sync()
    repo.apply_folder(FOLDER, {"a.yaml": b"a\n", "sub/b.yaml": b"b\n"}, "promote")
    repo.apply_folder("deployments/keep/staging", {"k.yaml": b"k\n"}, "keep")
    sha = repo.apply_folder(FOLDER, {}, "remove fraud from staging")
    assert sha is not None
    repo.push()
    assert remote_files(bare_remote) == ["deployments/keep/staging/k.yaml"]
    assert git("ls-tree", "HEAD", "--", FOLDER, cwd=tmp_path / "checkout") == ""
    assert repo.read_tree(FOLDER) == {}
    assert repo.apply_folder(FOLDER, {}, "remove again") is None


def test_read_tree_reads_git_objects_not_the_disk(repo: GitOpsRepo, tmp_path: Path) -> None:
    repo.sync()
    sha = repo.apply_folder(FOLDER, {"a.yaml": b"committed\n"}, "v1")
    checkout = tmp_path / "checkout"
    drop_by_hand(checkout, {f"{FOLDER}/a.yaml": "scribbled\n", f"{FOLDER}/new.yaml": "new\n"})
    assert repo.read_tree(FOLDER) == {f"{FOLDER}/a.yaml": b"committed\n"}
    # Neither reaches a commit, and the next sync deletes them.
    again = repo.apply_folder(FOLDER, {"a.yaml": b"committed\n", "b.yaml": b"b\n"}, "v2")
    assert git("ls-tree", "-r", "--name-only", str(again), cwd=checkout).splitlines() == [
        f"{FOLDER}/a.yaml",
        f"{FOLDER}/b.yaml",
    ]
    assert git("rev-parse", f"{again}^", cwd=checkout) == sha
    repo.sync()
    only_git_in(checkout)
    assert repo.read_tree("deployments/fraud/staging/") == repo.read_tree(FOLDER)
    assert repo.read_tree("deployments/fraud/stag") == {}
    assert repo.read_tree("nowhere") == {}


def test_read_tree_after_sync_sees_pushes_of_others(
    repo: GitOpsRepo, bare_remote: Path, tmp_path: Path
) -> None:
    repo.sync()
    repo.apply_folder(FOLDER, {"a.yaml": b"mine\n"}, "mine")
    repo.push()
    clone = other_writer(bare_remote, tmp_path, "other")
    theirs = commit_and_push(clone, {"deployments/x/prod/x.yaml": "theirs\n"}, "theirs")
    assert "deployments/x/prod/x.yaml" not in repo.read_tree("deployments")
    assert repo.sync() == theirs
    assert repo.read_tree("deployments") == {
        f"{FOLDER}/a.yaml": b"mine\n",
        "deployments/x/prod/x.yaml": b"theirs\n",
    }
    assert [subject for _, subject in repo.log(10)] == ["theirs", "mine"]


def test_a_concurrent_writer_is_never_overwritten(
    repo: GitOpsRepo, bare_remote: Path, tmp_path: Path
) -> None:
    repo.sync()
    repo.apply_folder("deployments/base/staging", {"b.yaml": b"base\n"}, "base")
    repo.push()
    clone = other_writer(bare_remote, tmp_path, "racer")

    repo.sync()
    mine = repo.apply_folder(FOLDER, {"a.yaml": b"mine\n"}, "promote fraud v2 to staging")
    theirs = commit_and_push(clone, {"deployments/other/prod/o.yaml": "theirs\n"}, "theirs")

    with pytest.raises(PushRejectedError) as caught:
        repo.push()
    assert isinstance(caught.value, TemporaryError)
    assert "rejected" in str(caught.value)
    assert git("rev-parse", "main", cwd=bare_remote) == theirs

    assert repo.sync() == theirs  # our unpushed commit is dropped...
    again = repo.apply_folder(FOLDER, {"a.yaml": b"mine\n"}, "promote fraud v2 to staging")
    assert again is not None and again != mine  # ...and re-applied on the new head
    repo.push()

    assert git("rev-parse", "main", cwd=bare_remote) == again
    git("merge-base", "--is-ancestor", theirs, "main", cwd=bare_remote)  # raises if not
    assert sorted(remote_files(bare_remote)) == [
        "deployments/base/staging/b.yaml",
        f"{FOLDER}/a.yaml",
        "deployments/other/prod/o.yaml",
    ]


def test_a_branch_deleted_on_the_remote_starts_over(repo: GitOpsRepo, bare_remote: Path) -> None:
    repo.sync()
    repo.apply_folder(FOLDER, {"a.yaml": b"a\n"}, "v1")
    repo.push()
    git("update-ref", "-d", "refs/heads/main", cwd=bare_remote)
    assert repo.sync() is None
    assert repo.head() is None and repo.read_tree("") == {}
    assert repo.apply_folder(FOLDER, {"a.yaml": b"b\n"}, "v1 again") is not None
    repo.push()
    assert git("rev-list", "--count", "main", cwd=bare_remote) == "1"


def test_another_branch_is_used_and_created(bare_remote: Path, tmp_path: Path) -> None:
    commit_and_push(other_writer(bare_remote, tmp_path, "w"), {"README": "x\n"}, "init")
    with make_repo(str(bare_remote), tmp_path / "checkout", branch="gitops") as repo:
        assert repo.sync() is None
        sha = repo.apply_folder(FOLDER, {"a.yaml": b"a\n"}, "first on gitops")
        repo.push()
    assert git("rev-parse", "gitops", cwd=bare_remote) == sha
    assert git("log", "--format=%s", "main", cwd=bare_remote) == "init"


# -- the checkout is disposable, but only ours ---------------------------------------------


def test_the_checkout_holds_git_objects_and_refs_only(
    bare_remote: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No working tree and no index: what sync and a batch cost cannot grow with them."""
    theirs = commit_and_push(
        other_writer(bare_remote, tmp_path, "w"),
        {f"deployments/m{n}/staging/a.yaml": f"{n}\n" for n in range(20)},
        "twenty folders",
    )
    checkout = tmp_path / "checkout"
    argv = _spy_on_git(monkeypatch)
    with make_repo(str(bare_remote), checkout) as repo:
        assert repo.sync() == theirs
        only_git_in(checkout)
        assert git("symbolic-ref", "HEAD", cwd=checkout) == "refs/heads/main"
        assert git("rev-parse", "refs/heads/main", cwd=checkout) == theirs
        results = repo.apply_folders(
            [
                ("deployments/m1/staging", {"a.yaml": b"changed\n"}, "change m1"),
                ("deployments/m2/staging", {}, "remove m2"),
                ("deployments/new/staging", {"n.yaml": b"new\n"}, "add new"),
            ]
        )
        assert all(results) and repo.head() == results[-1]
        assert [subject for _, subject in repo.log(4)] == [
            "add new",
            "remove m2",
            "change m1",
            "twenty folders",
        ]
        only_git_in(checkout)
        repo.push()
        assert repo.sync() == results[-1]
        only_git_in(checkout)
    assert git("rev-parse", "main", cwd=bare_remote) == results[-1]
    commands = {part for part in argv if not part.startswith("-")}
    assert not commands & {"checkout", "clean", "reset", "read-tree", "update-index", "add"}


def test_a_checkout_with_a_working_tree_is_converted_in_place(
    bare_remote: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An older version kept a working tree beside .git: objects and refs are kept (no
    clone again), the files go, and the next reconcile makes no commit."""
    clone = other_writer(bare_remote, tmp_path, "w")
    sha = commit_and_push(clone, {f"{FOLDER}/a.yaml": "a\n", "README": "r\n"}, "v1")
    checkout = tmp_path / "checkout"
    # What the older version left behind: a clone with a checked-out tree, our MARKER,
    # files edited or dropped by hand, a stale index.lock of a killed daemon.
    git("clone", "-q", str(bare_remote), str(checkout))
    (checkout / ".git" / MARKER).write_text("owned by gitops-watcher; deleted at will\n")
    drop_by_hand(checkout, {f"{FOLDER}/a.yaml": "dirty\n", "junk/file": "junk\n"})
    (checkout / "link").symlink_to(tmp_path / "w")
    (checkout / ".git" / "index.lock").write_text("")
    (checkout / ".git" / "kept-in-place").write_text("a re-clone would lose this\n")
    caplog.set_level(logging.INFO)

    with make_repo(str(bare_remote), checkout) as repo:
        assert repo.sync() == sha
        only_git_in(checkout)
        assert (checkout / ".git" / "kept-in-place").exists()  # converted, not cloned again
        assert "cloning again" not in caplog.text and "older version" in caplog.text
        assert list((tmp_path / "w").iterdir())  # the symlink went, not what it pointed at
        assert repo.read_tree("") == {f"{FOLDER}/a.yaml": b"a\n", "README": b"r\n"}
        assert repo.apply_folder(FOLDER, {"a.yaml": b"a\n"}, "the same again") is None
        assert repo.head() == sha
        repo.close()
        assert repo.sync() == sha
        only_git_in(checkout)
    assert git("rev-parse", "main", cwd=bare_remote) == sha


def test_a_checkout_of_another_url_is_replaced(bare_remote: Path, tmp_path: Path) -> None:
    first = tmp_path / "first.git"
    git("init", "-q", "--bare", "-b", "main", str(first))
    checkout = tmp_path / "checkout"
    with make_repo(str(first), checkout) as repo:
        repo.sync()
        repo.apply_folder("deployments/old/staging", {"o": b"o\n"}, "old")
        repo.push()
    theirs = commit_and_push(other_writer(bare_remote, tmp_path, "w"), {"new": "n\n"}, "new")
    with make_repo(str(bare_remote), checkout) as repo:
        assert repo.sync() == theirs
        assert repo.read_tree("") == {"new": b"n\n"}
    assert git("config", "--get", "remote.origin.url", cwd=checkout) == str(bare_remote)


@pytest.mark.parametrize("damage", ["lock", "tracking-lock", "head", "config", "no-objects"])
def test_a_broken_checkout_is_cloned_again(
    repo: GitOpsRepo,
    bare_remote: Path,
    tmp_path: Path,
    damage: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    repo.sync()
    sha = repo.apply_folder(FOLDER, {"a.yaml": b"a\n"}, "v1")
    repo.push()
    repo.close()
    expected = sha
    dot_git = tmp_path / "checkout" / ".git"
    if damage == "lock":  # a daemon killed while it moved the branch
        (dot_git / "refs" / "heads" / "main.lock").write_text("")
    elif damage == "tracking-lock":  # killed while it moved origin/main after a fetch
        (dot_git / "refs" / "remotes" / "origin").mkdir(parents=True, exist_ok=True)
        (dot_git / "refs" / "remotes" / "origin" / "main.lock").write_text("")
        # The remote moved on: the fetch has a new head to record there.
        expected = commit_and_push(other_writer(bare_remote, tmp_path, "w"), {"b": "b\n"}, "m")
    elif damage == "head":
        (dot_git / "HEAD").write_text("garbage\n")
    elif damage == "config":
        (dot_git / "config").write_text("[core\n\x00garbage")
    else:  # lost objects: fetch notices and fetches them again, no clone needed
        for sub in (dot_git / "objects").iterdir():
            if len(sub.name) == 2:
                for obj in sub.iterdir():
                    obj.unlink()
    caplog.set_level(logging.WARNING)
    assert repo.sync() == expected
    assert ("cloning again" in caplog.text) is (damage != "no-objects")
    only_git_in(tmp_path / "checkout")
    assert repo.read_tree(FOLDER) == {f"{FOLDER}/a.yaml": b"a\n"}
    assert repo.apply_folder(FOLDER, {"a.yaml": b"b\n"}, "v2") is not None


@pytest.mark.parametrize("kind", ["folder", "clone of the same remote", "bare repository"])
def test_a_folder_we_did_not_create_is_never_deleted(
    bare_remote: Path, tmp_path: Path, kind: str
) -> None:
    commit_and_push(other_writer(bare_remote, tmp_path, "w"), {"README": "r\n"}, "init")
    precious = tmp_path / "precious"
    if kind == "clone of the same remote":  # a user's own clone: no MARKER, same URL
        git("clone", "-q", str(bare_remote), str(precious))
    elif kind == "bare repository":
        git("init", "-q", "--bare", str(precious))
    else:
        precious.mkdir()
    (precious / "thesis.tex").write_text("years of work\n")
    before = sorted(str(p) for p in precious.rglob("*"))
    with make_repo(str(bare_remote), precious) as repo, pytest.raises(GitError) as caught:
        repo.sync()
    assert "did not create" in str(caught.value)
    assert (precious / "thesis.tex").read_text() == "years of work\n"
    assert sorted(str(p) for p in precious.rglob("*")) == before


# -- paths that could escape ------------------------------------------------------------


@pytest.mark.parametrize(
    "folder",
    [
        "",
        "/etc",
        "../outside",
        "deployments/../../outside",
        "deployments/./x",
        ".git",
        "deployments/.git/hooks",
        ".GIT/x",
        "a\\..\\b",
        "deployments//x",
        "C:/x",
    ],
)
def test_unsafe_folders_are_refused(repo: GitOpsRepo, folder: str) -> None:
    repo.sync()
    with pytest.raises(GitError, match="unsafe path"):
        repo.apply_folder(folder, {"a.yaml": b"a\n"}, "evil")
    assert repo.head() is None


@pytest.mark.parametrize(
    "name", ["../escape.yaml", "/etc/passwd", "sub/../../x", ".git/config", "x/.git/hooks/pre-push"]
)
def test_unsafe_file_names_are_refused(repo: GitOpsRepo, name: str) -> None:
    repo.sync()
    with pytest.raises(GitError, match="unsafe path"):
        repo.apply_folder(FOLDER, {"ok.yaml": b"ok\n", name: b"evil\n"}, "evil")
    assert repo.head() is None


def test_a_file_where_a_folder_must_go_is_refused(repo: GitOpsRepo) -> None:
    repo.sync()
    sha = repo.apply_folder("deployments/fraud", {"notes": b"a file\n"}, "a file")
    with pytest.raises(GitError, match="would change 'deployments/fraud/notes'"):
        repo.apply_folder("deployments/fraud/notes/staging", {"a.yaml": b"a\n"}, "evil")
    with pytest.raises(GitError, match="also a folder"):
        repo.apply_folder(FOLDER, {"a": b"1", "a/b": b"2"}, "file and folder")
    assert repo.head() == sha
    assert repo.read_tree("") == {"deployments/fraud/notes": b"a file\n"}


def test_paths_through_symlinks_are_refused(bare_remote: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    clone = other_writer(bare_remote, tmp_path, "w")
    (clone / "deployments").mkdir()
    (clone / "deployments" / "link").symlink_to(outside)
    (clone / "deployments" / "real").mkdir()
    (clone / "deployments" / "real" / "f.yaml").symlink_to(outside / "f.yaml")
    git("add", "-A", cwd=clone)
    git("commit", "-q", "-m", "symlinks", cwd=clone)
    git("push", "-q", "origin", "HEAD:main", cwd=clone)
    head = git("rev-parse", "HEAD", cwd=clone)
    with make_repo(str(bare_remote), tmp_path / "checkout") as repo:
        repo.sync()
        # Modes of git's trees, not the disk: the checkout has no files at all.
        only_git_in(tmp_path / "checkout")
        with pytest.raises(GitError, match="symlink"):  # through a symlinked parent
            repo.apply_folder("deployments/link/x", {"a.yaml": b"a\n"}, "evil")
        with pytest.raises(GitError, match="symlink"):  # the folder itself
            repo.apply_folder("deployments/link", {"a.yaml": b"a\n"}, "evil")
        with pytest.raises(GitError, match="symlink"):  # over a symlink of the folder
            repo.apply_folder("deployments/real", {"f.yaml": b"a\n"}, "evil")
        with pytest.raises(GitError, match="symlink"):  # anywhere in a batch: nothing lands
            repo.apply_folders(
                [
                    ("deployments/fine", {"a.yaml": b"a\n"}, "fine"),
                    ("deployments/real", {"f.yaml": b"a\n", "g.yaml": b"g\n"}, "evil"),
                ]
            )
        assert repo.head() == head
        # A symlink the batch does not write over is no reason to refuse.
        sha = repo.apply_folder("deployments/real", {"g.yaml": b"g\n"}, "replace the link")
        assert sha is not None
        listed = git("ls-tree", "-r", sha, "--", "deployments/real", cwd=tmp_path / "checkout")
        assert [line.split()[0] + " " + line.split()[-1] for line in listed.splitlines()] == [
            "100644 deployments/real/g.yaml"
        ]
    assert list(outside.iterdir()) == []


# -- ssh -------------------------------------------------------------------------------


def test_ssh_with_the_right_host_key_works(
    ssh_git_server: SshGitServer, bare_remote: Path, tmp_path: Path
) -> None:
    url = ssh_git_server.url_for(bare_remote)
    options: dict[str, Any] = {
        "ssh_key_file": str(ssh_git_server.key_file),
        "known_hosts_file": str(ssh_git_server.known_hosts_file),
    }
    with make_repo(url, tmp_path / "checkout", **options) as repo:
        assert repo.sync() is None
        sha = repo.apply_folder(FOLDER, {"a.yaml": b"over ssh\n"}, "over ssh")
        repo.push()
        assert repo.sync() == sha
    assert git("rev-parse", "main", cwd=bare_remote) == sha


def test_ssh_with_a_wrong_host_key_is_an_auth_error(
    ssh_git_server: SshGitServer, bare_remote: Path, tmp_path: Path
) -> None:
    url = ssh_git_server.url_for(bare_remote)
    options: dict[str, Any] = {
        "ssh_key_file": str(ssh_git_server.key_file),
        "known_hosts_file": str(ssh_git_server.wrong_known_hosts_file),
    }
    with (
        make_repo(url, tmp_path / "checkout", **options) as repo,
        pytest.raises(GitAuthError) as caught,
    ):
        repo.sync()
    text = str(caught.value)
    assert "Host key verification failed" in text and "GIT_KNOWN_HOSTS_FILE" in text
    assert "@@@" not in text


def test_ssh_with_an_unknown_host_is_refused_not_trusted(
    ssh_git_server: SshGitServer, bare_remote: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    options: dict[str, Any] = {
        "ssh_key_file": str(ssh_git_server.key_file),
        "known_hosts_file": str(empty),
    }
    url = ssh_git_server.url_for(bare_remote)
    with make_repo(url, tmp_path / "checkout", **options) as repo, pytest.raises(GitAuthError):
        repo.sync()
    assert empty.read_text() == ""  # nothing was learned on first use


def test_ssh_with_a_key_the_server_does_not_know_is_an_auth_error(
    ssh_git_server: SshGitServer, bare_remote: Path, tmp_path: Path
) -> None:
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    options: dict[str, Any] = {
        "ssh_key_file": str(stranger),
        "known_hosts_file": str(ssh_git_server.known_hosts_file),
    }
    url = ssh_git_server.url_for(bare_remote)
    with (
        make_repo(url, tmp_path / "checkout", **options) as repo,
        pytest.raises(GitAuthError, match=r"(?i)permission denied"),
    ):
        repo.sync()


def test_a_missing_key_file_is_an_auth_error_before_connecting(
    bare_remote: Path, tmp_path: Path
) -> None:
    options: dict[str, Any] = {"ssh_key_file": str(tmp_path / "nope")}
    with (
        make_repo("git@127.0.0.1:x.git", tmp_path / "checkout", **options) as repo,
        pytest.raises(GitAuthError, match="does not exist"),
    ):
        repo.sync()


def test_ssh_to_a_closed_port_is_unavailable(bare_remote: Path, tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"ssh://git@127.0.0.1:{port}{bare_remote}"
    with (
        make_repo(url, tmp_path / "checkout") as repo,
        pytest.raises(GitUnavailableError) as caught,
    ):
        repo.sync()
    assert "connection refused" in str(caught.value).lower()
    assert "git fetch failed" in str(caught.value)


def test_a_silent_server_times_out(bare_remote: Path, tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts (backlog) and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(5)
        port = silent.getsockname()[1]
        url = f"ssh://git@127.0.0.1:{port}{bare_remote}"
        with (
            make_repo(url, tmp_path / "checkout", timeout_seconds=2.0) as repo,
            pytest.raises(GitUnavailableError, match=r"(?i)time"),
        ):
            repo.sync()


def test_a_missing_remote_path_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-remote.git"
    with make_repo(str(missing), tmp_path / "checkout") as repo, pytest.raises(GitError) as caught:
        repo.sync()
    assert "does not appear to be a git repository" in str(caught.value)
    assert "GIT_REPO_URL" in str(caught.value)


def test_ssh_command_is_strict_and_quoted(tmp_path: Path) -> None:
    spaced = tmp_path / "my keys" / "id"
    settings = GitSettings(repo_url="git@example.com:org/repo.git", ssh_key_file=str(spaced))
    command = ssh_command(settings)
    assert f"-i '{spaced}'" in command
    assert "-o StrictHostKeyChecking=yes" in command and "-o BatchMode=yes" in command
    assert "UserKnownHostsFile" not in command  # the user's default known_hosts, still strict
    env = network_env(settings, Credentials())
    assert env["GIT_SSH_COMMAND"] == command and env["GIT_TERMINAL_PROMPT"] == "0"


@pytest.mark.parametrize(
    ("url", "ssh"),
    [
        ("ssh://git@host/x.git", True),
        ("git@github.com:org/repo.git", True),
        ("host:path/repo", True),
        ("https://github.com/org/repo.git", False),
        ("file:///srv/repo.git", False),
        ("/srv/repo.git", False),
        ("./relative/repo:odd", False),
    ],
)
def test_ssh_urls_are_told_apart(url: str, ssh: bool) -> None:
    assert is_ssh_url(url) is ssh


@pytest.mark.parametrize(
    ("url", "native"),
    [
        ("/srv/repo.git", True),
        ("relative/repo.git", True),
        ("file:///srv/repo.git", True),
        ("ssh://git@host/x.git", True),
        ("git@github.com:org/repo.git", True),
        ("git://host/repo.git", True),
        ("https://github.com/org/repo.git", False),
        ("HTTP://host/repo.git", False),
        ("ext::sh -c touch% /tmp/x", False),  # a remote helper: only git fetch runs those
        ("-u/tmp/evil", False),  # fetch-pack would read it as an option
        ("ftp://host/repo.git", False),
    ],
)
def test_fetch_pack_is_used_only_where_it_reaches_the_remote_itself(
    url: str, native: bool
) -> None:
    assert speaks_native_git(url) is native


def test_a_fetch_from_a_path_or_ssh_remote_walks_no_tree(
    bare_remote: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``git fetch`` proves the new head connected with ``rev-list --objects`` over every
    tree of the old one (most of a fetch in a large GitOps repository, while another
    writer may push first); fetch-pack's index-pack checks what it receives and nothing
    else runs. git's own trace of every process shows it."""
    clone = other_writer(bare_remote, tmp_path, "clone")
    commit_and_push(clone, {f"{FOLDER}/a.yaml": "a: 1\n"}, "first")
    with make_repo(str(bare_remote), tmp_path / "checkout") as repo:
        repo.sync()
        commit_and_push(clone, {f"{FOLDER}/a.yaml": "a: 2\n"}, "second")
        trace = tmp_path / "trace.json"
        monkeypatch.setenv("GIT_TRACE2_EVENT", str(trace))
        head = repo.sync()
        monkeypatch.delenv("GIT_TRACE2_EVENT")
    assert head == git("rev-parse", "HEAD", cwd=clone)
    started = [
        event["argv"]
        for event in map(json.loads, trace.read_text().splitlines())
        if event.get("event") == "start"
    ]
    assert any("fetch-pack" in argv for argv in started), started
    assert any("index-pack" in argv or "unpack-objects" in argv for argv in started), started
    assert not any("rev-list" in argv for argv in started), started


# -- credentials never leak -----------------------------------------------------------


def _all_text(error: BaseException) -> str:
    """Everything a log or traceback could show about the error and its causes."""
    return "".join(traceback.format_exception(error)) + repr(error) + repr(error.__cause__)


@pytest.mark.parametrize("scheme", ["https", "ssh"])
def test_a_password_in_the_url_never_shows_in_errors_argv_or_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scheme: str
) -> None:
    """git itself strips a password from the URLs it prints, so the error text alone
    proves little: the password must not reach git's argv (an ssh remote's URL is on
    fetch-pack's), .git/config or any file."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"{scheme}://user:s3cr3t-pass@127.0.0.1:{port}/org/repo.git"
    kept = f"{scheme}://{'user@' if scheme == 'ssh' else ''}127.0.0.1:{port}/org/repo.git"
    argv = _spy_on_git(monkeypatch)
    checkout = tmp_path / "checkout"
    with make_repo(url, checkout) as repo, pytest.raises(GitUnavailableError) as caught:
        repo.sync()
    text = _all_text(caught.value)
    assert "s3cr3t-pass" not in text
    assert "127.0.0.1" in text
    assert argv and not [a for a in argv if "s3cr3t-pass" in a]
    assert _files_holding(checkout, "s3cr3t-pass") == []
    config = (checkout / ".git" / "config").read_text()
    assert f"url = {kept}" in config


def test_an_unreachable_remote_promises_no_retry(tmp_path: Path) -> None:
    """``reconcile --once`` retries nothing: the hint must not say it will."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/org/repo.git"
    with (
        make_repo(url, tmp_path / "checkout") as repo,
        pytest.raises(GitUnavailableError) as caught,
    ):
        repo.sync()
    assert "will retry" not in str(caught.value)
    assert "GIT_REPO_URL" in caught.value.hint
    assert "next reconcile" in caught.value.hint


def test_a_git_error_that_echoes_the_url_is_redacted() -> None:
    """Not every git message strips credentials (hooks, proxies, older gits): ours do."""
    url = "https://bob:hunter2-pass@git.example/org/repo.git"
    settings = GitSettings(repo_url=url)
    credentials = Credentials(git_token="tok-" + "7" * 20)
    error = GitCommandError(
        ["git", "fetch", url],
        128,
        stderr=f"fatal: unable to access '{url}': boom {'tok-' + '7' * 20}",
    )
    ours = wrap_command_error(error, "fetch", "fetch", url, secrets_of(settings, credentials))
    text = _all_text(ours) + str(error)
    assert "hunter2-pass" not in text and "7" * 20 not in text
    assert "git.example" in text


def _spy_on_git(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every argument of every git command GitPython runs from now on."""
    seen: list[str] = []
    original = Git.execute

    def spy(self: object, command: list[str], *args: object, **kwargs: object) -> object:
        seen.extend(str(part) for part in command)
        return original(self, command, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(Git, "execute", spy)
    return seen


def _files_holding(root: Path, *secrets: str) -> list[str]:
    """Files under ``root`` (every one, .git included) whose bytes hold any of ``secrets``."""
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            found += [f"{path}: {s[:6]}..." for s in secrets if s and s.encode() in data]
    return found


def test_redact_covers_urls_headers_and_literals() -> None:
    text = (
        "fatal: unable to access 'https://bob:hunter2@h/r/': x\n"
        "https://ghp_tok3n@github.com/o/r http.extraHeader=Authorization: Basic QWxhZGRpbg==\n"
        "ssh://git@host/x stays"
    )
    out = redact(text, ["literal-secret"]) + redact("a literal-secret b", ["literal-secret"])
    for secret in ("hunter2", "ghp_tok3n", "QWxhZGRpbg==", "literal-secret"):
        assert secret not in out
    assert "ssh://git@host/x stays" in out


def test_the_token_travels_only_in_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "tok-" + "9" * 20
    credentials = Credentials(git_token=token)
    settings = GitSettings(repo_url="https://example.invalid/org/repo.git")
    env = network_env(settings, credentials, base={"GIT_CONFIG_COUNT": "2"})
    assert env["GIT_CONFIG_COUNT"] == "3"
    assert env["GIT_CONFIG_KEY_2"] == "http.extraHeader"
    expected = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    assert env["GIT_CONFIG_VALUE_2"] == f"Authorization: Basic {expected}"
    assert "GIT_SSH_COMMAND" not in env
    assert "GIT_CONFIG_COUNT" not in network_env(settings, Credentials())

    seen: list[tuple[list[str], dict[str, str]]] = []
    original = Git.execute

    def spy(self: object, command: list[str], *args: object, **kwargs: object) -> object:
        seen.append(([str(c) for c in command], dict(kwargs.get("env") or {})))  # type: ignore[call-overload]
        return original(self, command, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(Git, "execute", spy)
    checkout = tmp_path / "checkout"
    with GitOpsRepo(settings, checkout, credentials) as repo, pytest.raises(GitError) as caught:
        repo.sync()  # example.invalid never resolves: the fetch fails after building its env
    assert seen, "no git command ran"
    assert all(token not in " ".join(argv) and expected not in " ".join(argv) for argv, _ in seen)
    fetches = [env for argv, env in seen if "fetch" in argv]
    assert fetches and all(expected in e.get("GIT_CONFIG_VALUE_0", "") for e in fetches)
    assert all("GIT_CONFIG_COUNT" not in env for argv, env in seen if "fetch" not in argv)
    for path in (checkout / ".git").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert token.encode() not in data and expected.encode() not in data, path
    assert token not in _all_text(caught.value)


# -- a real smart-HTTP git server with Basic auth (tests/servers/git_http.py) ---------------


def _secret_forms(username: str, password: str) -> list[str]:
    """The password as it could be written down: plain, percent-encoded, in a header."""
    header = base64.b64encode(f"{username}:{password}".encode()).decode()
    return [password, quote(password, safe=""), header]


def test_https_token_round_trip_over_a_real_http_server(
    git_http_server: GitHttpServer, tmp_path: Path
) -> None:
    server = git_http_server
    remote = server.create_repo()
    credentials = Credentials(git_username=USERNAME, git_token=PASSWORD)
    url = server.url_for()
    with make_repo(url, tmp_path / "a", credentials=credentials) as repo:
        assert repo.sync() is None
        # Large enough that git sends a chunked POST.
        big = os.urandom(2 * 1024 * 1024)
        sha = repo.apply_folder(FOLDER, {"a.yaml": b"over http\n", "big.bin": big}, "http")
        repo.push()
    assert git("rev-parse", "main", cwd=remote) == sha
    with make_repo(url, tmp_path / "b", credentials=credentials) as repo:
        assert repo.sync() == sha
        assert repo.read_tree(FOLDER)[f"{FOLDER}/big.bin"] == big
    assert _files_holding(tmp_path / "a", *_secret_forms(USERNAME, PASSWORD)) == []
    assert _files_holding(tmp_path / "b", *_secret_forms(USERNAME, PASSWORD)) == []
    assert "Authorization" not in (tmp_path / "b" / ".git" / "config").read_text()


def test_https_with_a_wrong_or_missing_token_is_an_auth_error(
    git_http_server: GitHttpServer, tmp_path: Path
) -> None:
    git_http_server.create_repo()
    url = git_http_server.url_for()
    wrong = [
        (url, Credentials(git_username=USERNAME, git_token="wrong-token")),
        (url, Credentials()),
        (git_http_server.url_for(userinfo=f"{USERNAME}:wrong-token"), Credentials()),
    ]
    for number, (remote_url, credentials) in enumerate(wrong):
        checkout = tmp_path / f"c{number}"
        with (
            make_repo(remote_url, checkout, credentials=credentials) as repo,
            pytest.raises(GitAuthError) as caught,
        ):
            repo.sync()
        assert "wrong-token" not in _all_text(caught.value)
        assert "GIT_TOKEN" in str(caught.value)
        assert _files_holding(checkout, "wrong-token") == []


@pytest.mark.parametrize("form", ["password in the URL", "GIT_TOKEN", "token with URL user"])
def test_http_credentials_never_reach_the_disk_or_the_logs(
    form: str,
    git_http_server: GitHttpServer,
    mlflow_server: MlflowServer,
    unique_model_name: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A whole reconcile (twice: fresh and reused checkout) through the CLI, as deployed."""
    server = git_http_server
    remote = server.create_repo()
    if form == "password in the URL":
        # A password with characters that must be percent-encoded in a URL.
        url = server.url_for(userinfo=f"{USERNAME}:{quote(PASSWORD + '@:/', safe='')}")
        server.password = PASSWORD + "@:/"
    elif form == "GIT_TOKEN":
        url = server.url_for()
        monkeypatch.setenv("GIT_USERNAME", USERNAME)
        monkeypatch.setenv("GIT_TOKEN", PASSWORD)
    else:
        url = server.url_for(userinfo=USERNAME)
        monkeypatch.setenv("GIT_TOKEN", PASSWORD)
    name = unique_model_name("creds")
    client = mlflow_server.client()
    register_version(client, name)
    client.set_registered_model_alias(name, "staging", "1")
    state = tmp_path / "state"
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "registry": {"models": {"include": [name]}},
                "artifacts": {"sources": {"local_roots": [str(mlflow_server.artifact_root)]}},
            }
        )
    )
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)
    monkeypatch.setenv("GIT_REPO_URL", url)
    monkeypatch.setenv("GITOPS_WATCHER_STATE_DIR", str(state))
    monkeypatch.chdir(tmp_path)
    caplog.set_level(logging.DEBUG)

    assert main(["-vv", "--config", str(config), "reconcile", "--once"]) == 0
    assert main(["-vv", "--config", str(config), "reconcile", "--once"]) == 0
    # And once that fails (a branch the server has not got is fine; a wrong repo is not).
    monkeypatch.setenv("GIT_REPO_URL", url.replace("repo.git", "missing.git"))
    assert main(["-vv", "--config", str(config), "reconcile", "--once"]) != 0

    subjects = git("log", "--format=%s", "main", cwd=remote).splitlines()
    assert len(subjects) == 1 and f"{name} v1" in subjects[0], subjects
    assert server.auth_headers and set(server.auth_headers) == {server.expected_auth}
    forms = _secret_forms(USERNAME, server.password)
    captured = capsys.readouterr()
    logs = captured.out + captured.err + caplog.text
    assert name in logs and "pushed" in logs  # the logs were captured
    assert [f for f in forms if f in logs] == []
    assert [p for _m, p in server.requests if any(f in p for f in forms)] == []
    checkouts = [p.parent.parent for p in state.rglob(".git/config")]
    assert checkouts, "no checkout under the state folder"
    for checkout in checkouts:
        assert "url = http://127.0.0.1:" in (checkout / ".git" / "config").read_text()
    # Every file we wrote: the state folder (checkout, ledger, copies) and the rest of tmp.
    assert _files_holding(tmp_path, *forms) == []


def test_a_checkout_with_a_password_in_its_config_is_repaired(
    git_http_server: GitHttpServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An older version wrote the URL with its password into .git/config: start over."""
    server = git_http_server
    remote = server.create_repo()
    url = server.url_for(userinfo=f"{USERNAME}:{PASSWORD}")
    checkout = tmp_path / "checkout"
    with make_repo(url, checkout) as repo:
        repo.sync()
        sha = repo.apply_folder(FOLDER, {"a.yaml": b"a\n"}, "first")
        repo.push()
    # What the older version left behind.
    git("config", "remote.origin.url", url, cwd=checkout)
    assert _files_holding(checkout, PASSWORD)
    caplog.set_level(logging.WARNING)
    with make_repo(url, checkout) as repo:
        assert repo.sync() == sha == git("rev-parse", "main", cwd=remote)
    assert "holds a credential in its .git/config" in caplog.text
    assert _files_holding(checkout, *_secret_forms(USERNAME, PASSWORD)) == []
    assert (checkout / ".git" / "config").read_text().count(server.url_for()) == 1


# -- batches of commits (fast-import) ---------------------------------------------------


def test_batch_makes_one_revertable_commit_per_changed_folder(
    repo: GitOpsRepo, bare_remote: Path, tmp_path: Path
) -> None:
    repo.sync()
    repo.apply_folder("deployments/old/staging", {"a.yaml": b"old\n"}, "promote old")
    repo.apply_folder("deployments/same/staging", {"a.yaml": b"same\n"}, "promote same")
    start = repo.head()
    results = repo.apply_folders(
        [
            ("deployments/a/staging", {"x.yaml": b"a\n", "sub/y.yaml": b"y\n"}, "promote a"),
            ("deployments/same/staging", {"a.yaml": b"same\n"}, "no change here"),
            ("deployments/old/staging", {}, "remove old"),
            ("deployments/b/production", {"x.yaml": b"b\n"}, "promote b"),
            ("deployments/a/staging", {"x.yaml": b"a2\n"}, "update a"),
        ]
    )
    assert results[1] is None and all(results[i] for i in (0, 2, 3, 4))
    checkout = tmp_path / "checkout"
    log = git("log", "--format=%H %s", f"{start}..HEAD", cwd=checkout).splitlines()
    assert [line.split(" ", 1)[1] for line in reversed(log)] == [
        "promote a",
        "remove old",
        "promote b",
        "update a",
    ]
    assert [line.split()[0] for line in reversed(log)] == [r for r in results if r]
    # Each commit touches exactly its folder.
    folders = ["deployments/a/staging", "deployments/old/staging", "deployments/b/production"]
    for sha, folder in zip([r for r in results if r], [*folders, folders[0]], strict=True):
        changed = git("diff-tree", "-r", "--no-commit-id", "--name-only", sha, cwd=checkout)
        assert changed and all(p.startswith(folder + "/") for p in changed.splitlines())
    assert repo.read_tree("deployments") == {
        "deployments/a/staging/x.yaml": b"a2\n",
        "deployments/b/production/x.yaml": b"b\n",
        "deployments/same/staging/a.yaml": b"same\n",
    }
    # The branch moved with the batch; checkout_dir still holds no files.
    assert git("rev-parse", "refs/heads/main", cwd=checkout) == results[4]
    only_git_in(checkout)
    # One promotion is undone by reverting its one commit (in a clone, as a human would).
    repo.push()
    clone = other_writer(bare_remote, tmp_path, "human")
    git("revert", "--no-edit", results[3] or "", cwd=clone)
    git("push", "-q", "origin", "HEAD:main", cwd=clone)
    assert not (clone / "deployments/b").exists()
    assert (clone / "deployments/a/staging/x.yaml").read_bytes() == b"a2\n"
    # A batch of unchanged folders makes nothing at all.
    repo.sync()
    assert repo.apply_folders([("deployments/same/staging", {"a.yaml": b"same\n"}, "x")]) == [None]
    assert "deployments/b/production/x.yaml" not in remote_files(bare_remote)


def test_tree_ids_are_computed_as_git_does(repo: GitOpsRepo, tmp_path: Path) -> None:
    from watcher.adapters.git_repo import blob_id, tree_id

    repo.sync()
    files = {
        "a.yaml": b"a\n",
        "a-b.yaml": b"",
        "a/c.yaml": b"deep\n",
        "z/y/x.yaml": b"x" * 5000,
        '\u00e9t\u00e9 "q".yaml': b"quoted\n",
    }
    repo.apply_folder(FOLDER, files, "promote")
    checkout = tmp_path / "checkout"
    assert tree_id(files) == git("rev-parse", f"HEAD:{FOLDER}", cwd=checkout)
    assert blob_id(b"a\n") == git("rev-parse", f"HEAD:{FOLDER}/a.yaml", cwd=checkout)
    assert repo.read_tree(FOLDER)[f'{FOLDER}/\u00e9t\u00e9 "q".yaml'] == b"quoted\n"


def test_batch_refuses_to_write_over_a_file_outside_its_folder(
    repo: GitOpsRepo, tmp_path: Path
) -> None:
    repo.sync()
    repo.apply_folder("deployments/x", {"file": b"mine\n"}, "one")
    start = repo.head()
    with pytest.raises(GitError, match="refused"):
        repo.apply_folders(
            [
                ("deployments/ok/staging", {"a.yaml": b"a\n"}, "fine"),
                ("deployments/x/file/staging", {"a.yaml": b"a\n"}, "over a file"),
            ]
        )
    # Nothing of the batch was committed.
    assert repo.head() == start
    # A file written earlier in the same batch counts too.
    with pytest.raises(GitError, match="refused"):
        repo.apply_folders(
            [
                ("deployments/y", {"f": b"f\n"}, "a file f"),
                ("deployments/y/f/staging", {"a.yaml": b"a\n"}, "over it"),
            ]
        )
    assert repo.head() == start
