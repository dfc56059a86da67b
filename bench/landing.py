"""When commits land on a bare remote, and which (model, stage) folders each one changed.

Helpers for benchmarks where more than one writer pushes to one remote: a promotion's
clock stops at the first moment the remote's ``main`` holds a commit that changed
that model's folder, not merely when ``main`` moved (another source's or shard's
commit may move it first).
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from latency import ref


def git(remote: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(remote), *args], capture_output=True, text=True, check=True
    ).stdout


def changed_paths(remote: Path, old: str, new: str) -> list[str]:
    """Paths that differ between two commits of the remote."""
    return git(remote, "diff", "--name-only", old, new).splitlines()


def commits_touching(remote: Path, since: str, touches: Callable[[str], bool]) -> int:
    """How many commits on ``main`` after ``since`` changed a path for which ``touches``
    is true (each commit counted, even when a later one undoes it)."""
    out = git(remote, "log", "--format=%x00%H", "--name-only", f"{since}..main")
    return sum(
        any(touches(path) for path in entry.splitlines()[1:]) for entry in out.split("\0")[1:]
    )


def wait_touching(
    remote: Path, before: str, touches: Callable[[str], bool], timeout: float = 120.0
) -> float:
    """perf_counter() when ``main`` first held, past ``before``, a change to a path for
    which ``touches`` is true (commits that change other paths are passed over)."""
    deadline = time.perf_counter() + timeout
    seen = before
    while time.perf_counter() < deadline:
        now = ref(remote)
        if now != seen:
            moved = time.perf_counter()
            if not before or any(touches(p) for p in changed_paths(remote, before, now)):
                return moved
            seen = now
        time.sleep(0.005)
    raise TimeoutError(f"{remote}: no change matching in {timeout} s after {before[:10]}")


class RefWatch:
    """Polls a remote's ``main`` every 5 ms in a thread; keeps (perf_counter, sha) for
    every value it saw, so each commit's landing time is the first sight of a ``main``
    that contains it."""

    def __init__(self, remote: Path) -> None:
        self.remote = remote
        self.seen: list[tuple[float, str]] = [(time.perf_counter(), ref(remote))]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="ref-watch", daemon=True)

    def __enter__(self) -> RefWatch:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _poll(self) -> None:
        while not self._stop.is_set():
            now = ref(self.remote)
            if now != self.seen[-1][1]:
                self.seen.append((time.perf_counter(), now))
            time.sleep(0.005)

    def landed(self) -> dict[str, float]:
        """Every commit that arrived while watching: sha -> when it was first seen."""
        times: dict[str, float] = {}
        for (_, old), (at, new) in zip(self.seen, self.seen[1:], strict=False):
            span = f"{old}..{new}" if old else new
            for sha in git(self.remote, "rev-list", span).split():
                times.setdefault(sha, at)
        return times


def folders_of_commit(remote: Path, sha: str, pattern: re.Pattern[str]) -> set[tuple[str, str]]:
    """(model, stage) of every folder a commit changed: the path part that matches
    ``pattern`` (a model name) and the part after it."""
    names = git(remote, "diff-tree", "--no-commit-id", "--name-only", "-r", "--root", sha)
    found = set()
    for path in names.splitlines():
        parts = path.split("/")
        for index, part in enumerate(parts[:-1]):
            if pattern.fullmatch(part):
                found.add((part, parts[index + 1]))
                break
    return found
