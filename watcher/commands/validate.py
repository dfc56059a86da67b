"""``gitops-watcher validate PATH…``: check function specs and overlays offline.

No registry, git or network: the files are read, paired (spec, task, overlay,
code) as the daemon pairs them, and built for the default stages (``staging``
and the production stage ``production``) plus any stage an overlay names. Every
problem is printed as ``FILE: FIELD: message``; the exit code is 1 on any.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from watcher.core.functions.catalog import read_catalog
from watcher.core.functions.problems import Problem
from watcher.core.functions.releases import (
    FunctionStage,
    build_releases,
    failures_problems,
    stages_with_overlays,
)

DEFAULT_STAGES = (
    FunctionStage("staging", "functions-staging"),
    FunctionStage("production", "functions-production", production=True),
)
HELP = (
    "Check MLRun and DigitalHub function specs and their stage overlays without a "
    "registry, git or network; folders are walked. Prints every problem as "
    "FILE: FIELD: message and exits 1 on any."
)


def _files_of(root: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file() and not path.is_symlink():
            files[relative.as_posix()] = path.read_bytes()
    return files


def _check(root: Path, only: set[str] | None) -> tuple[list[Problem], int]:
    files = _files_of(root)
    catalog = read_catalog(files)
    stages = stages_with_overlays(catalog, DEFAULT_STAGES)
    _releases, failures = build_releases("validate", "functions", catalog, stages)
    problems = failures_problems(failures)
    checked = len(catalog.units) + len(catalog.idle)
    if only is not None:
        problems = [p for p in problems if p.file in only]
        checked = sum(1 for u in catalog.units if u.file in only) + sum(
            1 for f in catalog.idle if f in only
        )
    return problems, checked


def validate_paths(paths: Sequence[Path], out: TextIO) -> int:
    """Print every problem of the given spec files and folders; 0 when there is none."""
    problems: list[tuple[Path, Problem]] = []
    checked = 0
    by_folder: dict[Path, set[str]] = {}
    for path in paths:
        if path.is_dir():
            found, count = _check(path, None)
            problems += [(path, p) for p in found]
            checked += count
        elif path.is_file():
            by_folder.setdefault(path.parent, set()).add(path.name)
        else:
            out.write(f"{path}: (file): does not exist\n")
            problems.append((path, Problem(str(path), "", "does not exist")))
    for folder, names in sorted(by_folder.items()):
        found, count = _check(folder, names)
        problems += [(folder, p) for p in found]
        checked += count
    for root, problem in problems:
        if problem.message == "does not exist":
            continue
        shown = root / problem.file
        out.write(f"{shown}: {problem.field or '(file)'}: {problem.message}\n")
    if problems:
        out.write(f"{len(problems)} problem(s)\n")
        return 1
    out.write(f"ok: {checked} spec(s) checked\n")
    return 0
