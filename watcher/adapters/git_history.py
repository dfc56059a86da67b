"""Read a deployment folder's recent history in one streaming pass, stopped early.

For a reconcile's changed folders, whether their newest commits are ours (holds)
is read newest first and stopped as soon as every folder has met one of our
commits. A few folders (a promotion): one ``git log`` per folder, limited to it,
which the commit-graph's changed-path filters (``write_commit_graph``, after each
sync) answer without reading the trees of the commits that did not touch it, so
the cost follows the folder's own commits, not the repository's history. Many
folders (a first import): one pass over the deployments folder's history.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

from watcher.adapters.git_objects import log_record
from watcher.core.policy.history import FolderCommit
from watcher.errors import GitError

#: The fields of one commit, then the names of the files it touched.
LOG_FORMAT = "%x1e" + "%x1f".join(("%H", "%ct", "%an", "%s", "%(trailers:only,unfold)")) + "%x1d"
#: Up to this many folders, each is read on its own (git's changed-path filters need one
#: path per ``git log``); more are read in one pass.
FOLDERS_ONE_BY_ONE = 8


def write_commit_graph(git_dir: Path, env: Mapping[str, str]) -> None:
    """Add the commits that are new since the last call to the commit-graph, with their
    changed-path filters (a few milliseconds; the first time, one pass over the history).
    Best effort: without it, histories are read the slower way."""
    command = [
        "git", "--git-dir", str(git_dir), "commit-graph", "write", "--reachable",
        "--changed-paths", "--split", "--no-progress",
    ]  # fmt: skip
    subprocess.run(command, env=dict(env), capture_output=True, check=False)


def recent_logs(
    git_dir: Path,
    env: Mapping[str, str],
    branch_ref: str,
    prefix: str,
    folders: Iterable[str],
) -> dict[str, list[FolderCommit]]:
    """``folder -> commits`` newest first, down to (and including) the newest of ours."""
    wanted = set(folders)
    if 0 < len(wanted) <= FOLDERS_ONE_BY_ONE:
        found: dict[str, list[FolderCommit]] = {}
        for folder in wanted:
            path = f"{prefix}/{folder}" if prefix else folder
            found.update(_stream(git_dir, env, branch_ref, path, prefix, {folder}))
        return found
    return _stream(git_dir, env, branch_ref, prefix or ".", prefix, wanted)


def _stream(
    git_dir: Path,
    env: Mapping[str, str],
    branch_ref: str,
    pathspec: str,
    prefix: str,
    wanted: set[str],
) -> dict[str, list[FolderCommit]]:
    """One ``git log`` of ``pathspec``, newest first, stopped once every folder of
    ``wanted`` met one of our commits."""
    logs: dict[str, list[FolderCommit]] = {folder: [] for folder in wanted}
    if not wanted:
        return logs
    base = f"{prefix}/" if prefix else ""
    command = [
        "git", "--git-dir", str(git_dir), "log", "--name-only", "--no-renames",
        f"--format={LOG_FORMAT}", branch_ref, "--", pathspec,
    ]  # fmt: skip
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(env)
    ) as process:
        assert process.stdout is not None
        try:
            for commit, paths in _commits(process.stdout):
                touched = {_folder(path[len(base) :]) for path in paths if path.startswith(base)}
                for folder in touched & wanted:
                    logs[folder].append(commit)
                    if commit.ours:
                        wanted.discard(folder)
                if not wanted:
                    break
        finally:
            if process.poll() is None:
                process.kill()
            stderr = process.stderr.read() if process.stderr is not None else b""
        if process.wait() not in (0, -9) and wanted:
            raise GitError(
                f"reading the history of {pathspec} failed: "
                f"{stderr.decode('utf-8', 'replace').strip()[:300]}"
            )
    return logs


def _commits(stream: Iterable[bytes]) -> Iterable[tuple[FolderCommit, list[str]]]:
    """Commits as git log prints them: a header record, then the touched paths."""
    header: FolderCommit | None = None
    paths: list[str] = []
    for raw in stream:
        line = raw.decode("utf-8", "replace")
        if line.startswith("\x1e"):
            if header is not None:
                yield header, paths
            text = line[1:]
            while "\x1d" not in text:  # trailers span lines
                more = next(iter(stream), b"")
                if not more:
                    break
                text += more.decode("utf-8", "replace")
            header, paths = log_record(text.split("\x1d", 1)[0]), []
        elif line.strip():
            paths.append(line.rstrip("\n"))
    if header is not None:
        yield header, paths


def _folder(relative: str) -> str:
    """The deployment folder a file is in: its parent (our files sit directly in it)."""
    return relative.rsplit("/", 1)[0] if "/" in relative else ""
