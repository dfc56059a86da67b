"""Short unified diffs of a folder change: for dry runs and pull request descriptions."""

from __future__ import annotations

import difflib
from collections.abc import Mapping

from watcher.core.plan import Change

#: Lines of diff shown per file in a dry run; the rest is counted.
DIFF_LINES_PER_FILE = 40


def folder_diff(change: Change, limit: int = DIFF_LINES_PER_FILE) -> list[str]:
    """A short unified diff of one folder's files, each file's part cut to ``limit`` lines."""
    before = _texts(change.previous_files)
    after = _texts(change.files)
    lines: list[str] = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        diff = list(
            difflib.unified_diff(
                (old or "").splitlines(),
                (new or "").splitlines(),
                fromfile=f"a/{change.folder}/{name}" if old is not None else "/dev/null",
                tofile=f"b/{change.folder}/{name}" if new is not None else "/dev/null",
                lineterm="",
                n=1,
            )
        )
        if len(diff) > limit:
            diff = [*diff[:limit], f"… {len(diff) - limit} more diff line(s) of {name}"]
        lines += diff
    return lines


def _texts(files: Mapping[str, bytes]) -> dict[str, str]:
    return {name: data.decode("utf-8", "replace") for name, data in files.items()}
