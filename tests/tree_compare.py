"""Compare a folder with a golden folder; ``pytest --update-golden`` rewrites the golden copy."""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path


def read_tree(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def assert_same_tree(actual: Path, expected: Path, update: bool) -> None:
    if update:
        shutil.rmtree(expected, ignore_errors=True)
        shutil.copytree(actual, expected)
    got, want = read_tree(actual), read_tree(expected)
    problems = [f"missing file {name}" for name in sorted(set(want) - set(got))]
    problems += [f"unexpected file {name}" for name in sorted(set(got) - set(want))]
    for name in sorted(set(got) & set(want)):
        if got[name] != want[name]:
            diff = difflib.unified_diff(
                want[name].decode(errors="replace").splitlines(),
                got[name].decode(errors="replace").splitlines(),
                f"expected/{name}",
                f"actual/{name}",
                lineterm="",
            )
            problems.append("\n".join(diff))
    assert not problems, "rendered tree differs (pytest --update-golden to accept):\n" + "\n".join(
        problems
    )
