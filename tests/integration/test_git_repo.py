"""GitOpsRepo against real remotes: local paths, file://, ssh (a real sshd) and http(s)."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import threading
import traceback
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from git.cmd import Git

from tests.servers.sshd import SshGitServer
from watcher.adapters.git_repo import GitOpsRepo, PushRejectedError
from watcher.adapters.git_transport import is_ssh_url, network_env, redact, ssh_command
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
    # A human (or a bug) left files in the working copy: neither may be committed.
    (checkout / other / "hand-written.yaml").write_text("not mine\n")
    (checkout / other / "a.yaml").write_text("edited by hand\n")
    (checkout / "stray.txt").write_text("stray\n")

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
    assert git("status", "--porcelain", "--", FOLDER, cwd=checkout) == ""


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
    assert not (tmp_path / "checkout" / FOLDER).exists()
    assert repo.read_tree(FOLDER) == {}
    assert repo.apply_folder(FOLDER, {}, "remove again") is None


def test_read_tree_reads_git_objects_not_the_disk(repo: GitOpsRepo, tmp_path: Path) -> None:
    repo.sync()
    repo.apply_folder(FOLDER, {"a.yaml": b"committed\n"}, "v1")
    (tmp_path / "checkout" / FOLDER / "a.yaml").write_text("scribbled\n")
    (tmp_path / "checkout" / FOLDER / "new.yaml").write_text("untracked\n")
    assert repo.read_tree(FOLDER) == {f"{FOLDER}/a.yaml": b"committed\n"}
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


def test_sync_discards_local_changes_and_untracked_files(repo: GitOpsRepo, tmp_path: Path) -> None:
    repo.sync()
    sha = repo.apply_folder(FOLDER, {"a.yaml": b"a\n"}, "v1")
    repo.push()
    checkout = tmp_path / "checkout"
    (checkout / FOLDER / "a.yaml").write_text("dirty\n")
    (checkout / "junk").mkdir()
    (checkout / "junk" / "file").write_text("junk\n")
    assert repo.sync() == sha
    assert (checkout / FOLDER / "a.yaml").read_text() == "a\n"
    assert not (checkout / "junk").exists()


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


@pytest.mark.parametrize("damage", ["lock", "head", "no-objects"])
def test_a_broken_checkout_is_cloned_again(repo: GitOpsRepo, tmp_path: Path, damage: str) -> None:
    repo.sync()
    sha = repo.apply_folder(FOLDER, {"a.yaml": b"a\n"}, "v1")
    repo.push()
    repo.close()
    dot_git = tmp_path / "checkout" / ".git"
    if damage == "lock":  # a daemon killed mid-write
        (dot_git / "index.lock").write_text("")
    elif damage == "head":
        (dot_git / "HEAD").write_text("garbage\n")
    else:
        for sub in (dot_git / "objects").iterdir():
            if len(sub.name) == 2:
                for obj in sub.iterdir():
                    obj.unlink()
    assert repo.sync() == sha
    assert repo.read_tree(FOLDER) == {f"{FOLDER}/a.yaml": b"a\n"}
    assert repo.apply_folder(FOLDER, {"a.yaml": b"b\n"}, "v2") is not None


def test_a_folder_we_did_not_create_is_never_deleted(bare_remote: Path, tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work\n")
    with make_repo(str(bare_remote), precious) as repo, pytest.raises(GitError) as caught:
        repo.sync()
    assert "did not create" in str(caught.value)
    assert (precious / "thesis.tex").read_text() == "years of work\n"


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
    with make_repo(str(bare_remote), tmp_path / "checkout") as repo:
        repo.sync()
        with pytest.raises(GitError, match="symlink"):
            repo.apply_folder("deployments/link/x", {"a.yaml": b"a\n"}, "evil")
        with pytest.raises(GitError, match="symlink"):
            repo.apply_folder("deployments/link", {"a.yaml": b"a\n"}, "evil")
        with pytest.raises(GitError, match="symlink"):
            repo.apply_folder("deployments/real", {"f.yaml": b"a\n"}, "evil")
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


# -- credentials never leak -----------------------------------------------------------


def _all_text(error: BaseException) -> str:
    """Everything a log or traceback could show about the error and its causes."""
    return "".join(traceback.format_exception(error)) + repr(error) + repr(error.__cause__)


def test_a_password_in_the_url_never_shows_in_errors(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"https://user:s3cr3t-pass@127.0.0.1:{port}/org/repo.git"
    with (
        make_repo(url, tmp_path / "checkout") as repo,
        pytest.raises(GitUnavailableError) as caught,
    ):
        repo.sync()
    text = _all_text(caught.value)
    assert "s3cr3t-pass" not in text
    assert "127.0.0.1" in text


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


# -- a real smart-http git server with Basic auth ------------------------------------------


class _GitHttpHandler(BaseHTTPRequestHandler):
    """``git http-backend`` as CGI: just enough of a web server for git's smart HTTP."""

    project_root: Path
    expected_auth: str

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _serve(self) -> None:
        if self.headers.get("Authorization") != self.expected_auth:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = self._body() if self.command == "POST" else b""
        path, _, query = self.path.partition("?")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.project_root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REMOTE_USER": "tester",
            "REMOTE_ADDR": "127.0.0.1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
            "GIT_HTTP_MAX_REQUEST_BUFFER": "100M",
        }
        result = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
        )
        head, _, payload = result.stdout.partition(b"\r\n\r\n")
        status, headers = 200, []
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def http_git_server(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """(base URL, token, project root) of a git smart-http server that wants the token."""
    token = "ghs_" + "t0ken" * 6
    root = tmp_path / "http-root"
    root.mkdir()
    auth = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    handler = type(
        "Handler",
        (_GitHttpHandler,),
        {"project_root": root, "expected_auth": f"Basic {auth}"},
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", token, root
    finally:
        server.shutdown()
        server.server_close()


def test_https_token_round_trip_over_a_real_http_server(
    http_git_server: tuple[str, str, Path], tmp_path: Path
) -> None:
    base, token, root = http_git_server
    git("init", "-q", "--bare", "-b", "main", str(root / "repo.git"))
    url = f"{base}/repo.git"
    with make_repo(url, tmp_path / "a", credentials=Credentials(git_token=token)) as repo:
        assert repo.sync() is None
        # Large enough that git sends a chunked POST.
        big = os.urandom(2 * 1024 * 1024)
        sha = repo.apply_folder(FOLDER, {"a.yaml": b"over http\n", "big.bin": big}, "http")
        repo.push()
    assert git("rev-parse", "main", cwd=root / "repo.git") == sha
    with make_repo(url, tmp_path / "b", credentials=Credentials(git_token=token)) as repo:
        assert repo.sync() == sha
        assert repo.read_tree(FOLDER)[f"{FOLDER}/big.bin"] == big
    config = (tmp_path / "b" / ".git" / "config").read_text()
    assert token not in config and "Authorization" not in config


def test_https_with_a_wrong_or_missing_token_is_an_auth_error(
    http_git_server: tuple[str, str, Path], tmp_path: Path
) -> None:
    base, _token, root = http_git_server
    git("init", "-q", "--bare", "-b", "main", str(root / "repo.git"))
    url = f"{base}/repo.git"
    for number, credentials in enumerate([Credentials(git_token="wrong-token"), Credentials()]):
        checkout = tmp_path / f"c{number}"
        with (
            make_repo(url, checkout, credentials=credentials) as repo,
            pytest.raises(GitAuthError) as caught,
        ):
            repo.sync()
        assert "wrong-token" not in _all_text(caught.value)
        assert "GIT_TOKEN" in str(caught.value)
