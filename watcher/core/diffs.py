"""Rendered diffs of one folder's change: what a dry run prints, and what a pull request
description and a notification carry.

Pure: the files before and after come with the planned change, so nothing is
read from git here.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping

from watcher.core.plan import Change

#: Lines of diff shown per file; the rest is counted.
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


def cut_lines(lines: list[str], max_lines: int, max_chars: int) -> str:
    """``lines`` joined, cut to at most ``max_lines`` lines and about ``max_chars``
    characters, with the count of what was left out on a last line."""
    kept: list[str] = []
    size = 0
    for line in lines:
        if len(kept) >= max_lines or size + len(line) + 1 > max_chars:
            break
        kept.append(line)
        size += len(line) + 1
    left = len(lines) - len(kept)
    if left:
        kept.append(f"… {left} more line(s) of diff")
    return "\n".join(kept)


def _texts(files: Mapping[str, bytes]) -> dict[str, str]:
    return {name: data.decode("utf-8", "replace") for name, data in files.items()}
