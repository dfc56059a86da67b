"""``gitops-watcher validate PATH…``: check function specs and overlays offline.

No registry, git or network: the files are read, paired (spec, task, overlay,
code) as the daemon pairs them, built for the default stages (``staging`` and
the production stage ``production``) plus any stage an overlay names, and
rendered with the templates and checked against the Kubernetes schema as the
daemon renders them, so that everything ``render`` would refuse is reported
here. Every problem is printed as ``FILE: FIELD: message``, the exit code is 1
on any; a name that is folded into a Kubernetes name is printed as a note.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from watcher.config.settings import RenderSettings
from watcher.core.functions.problems import Problem, Problems
from watcher.core.names import describe
from watcher.errors import WatcherError

if TYPE_CHECKING:
    from watcher.core.functions.catalog import Catalog
    from watcher.core.release import Release
    from watcher.core.targets import Target

DEFAULT_KUBERNETES_VERSION = RenderSettings().kubernetes_version


@dataclass
class Findings:
    """What validating some files found: problems (exit 1) and notes (informative)."""

    problems: list[tuple[Path, Problem]] = field(default_factory=list)
    notes: list[tuple[Path, Problem]] = field(default_factory=list)
    checked: int = 0


def _files_of(root: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file() and not path.is_symlink():
            files[relative.as_posix()] = path.read_bytes()
    return files


def _rendering_problems(
    releases: Sequence[Release], targets: Mapping[str, Target]
) -> list[Problem]:
    """What rendering each release refuses: templates, and the strict Kubernetes schema."""
    found: list[Problem] = []
    for release in releases:
        spec = str(release.details.get("spec", release.id.name))
        try:
            targets[release.target].render(release, None)
        except WatcherError as exc:
            found.append(Problem(spec, "", f"stage {release.id.stage}: {exc}"))
    return found


def _name_notes(catalog: Catalog) -> list[Problem]:
    """How each name that is not already a Kubernetes name will be folded."""
    from watcher.core.functions.checks import function_slug

    notes: list[Problem] = []
    for unit in catalog.units:
        slug = function_slug(Problems(unit.file), unit.name, "metadata.name")
        if slug and slug != unit.name:
            notes.append(
                Problem(
                    unit.file,
                    "metadata.name",
                    f"note: {describe(unit.name)} is deployed as {slug!r} (its folder and "
                    "Kubernetes name: a-z, 0-9 and '-', at most 40 characters, and a hash of "
                    "the name as written so that two names never share a folder)",
                )
            )
    return notes


def _check(
    root: Path, only: set[str] | None, targets: Mapping[str, Target], findings: Findings
) -> None:
    from watcher.core.functions.catalog import read_catalog
    from watcher.core.functions.releases import (
        FunctionStage,
        build_releases,
        failures_problems,
        stages_with_overlays,
    )

    default_stages = (
        FunctionStage("staging", "functions-staging"),
        FunctionStage("production", "functions-production", production=True),
    )

    catalog = read_catalog(_files_of(root))
    stages = stages_with_overlays(catalog, default_stages)
    releases, failures = build_releases("validate", "functions", catalog, stages)
    problems = sorted({*failures_problems(failures), *_rendering_problems(releases, targets)})
    notes = _name_notes(catalog)
    files = [u.file for u in catalog.units] + list(catalog.idle)
    if only is not None:
        problems = [p for p in problems if p.file in only]
        notes = [n for n in notes if n.file in only]
        files = [f for f in files if f in only]
    findings.problems += [(root, p) for p in problems]
    findings.notes += [(root, n) for n in notes]
    findings.checked += len(files)


def validate_paths(
    paths: Sequence[Path],
    out: TextIO,
    templates_dir: str = "",
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION,
) -> int:
    """Print every problem of the given spec files and folders; 0 when there is none."""
    # Imported here: the parser is built for every command, rendering only for this one.
    from watcher.adapters.templates import template_loader
    from watcher.core.targets import make_environment
    from watcher.targets.functions import function_targets

    targets = function_targets(make_environment(template_loader(templates_dir)), kubernetes_version)
    findings = Findings()
    by_folder: dict[Path, set[str]] = {}
    missing = 0
    for path in paths:
        if path.is_dir():
            _check(path, None, targets, findings)
        elif path.is_file():
            by_folder.setdefault(path.parent, set()).add(path.name)
        else:
            out.write(f"{path}: (file): does not exist\n")
            missing += 1
    for folder, names in sorted(by_folder.items()):
        _check(folder, names, targets, findings)
    for root, note in findings.notes:
        out.write(f"{root / note.file}: {note.field}: {note.message}\n")
    for root, problem in findings.problems:
        out.write(f"{root / problem.file}: {problem.field or '(file)'}: {problem.message}\n")
    count = len(findings.problems) + missing
    if count:
        out.write(f"{count} problem(s)\n")
        return 1
    out.write(f"ok: {findings.checked} spec(s) checked\n")
    return 0


def add_validate_parser(commands: Any) -> argparse.ArgumentParser:
    """``gitops-watcher validate PATH… [--templates-dir DIR] [--kubernetes-version V]``."""
    validate: argparse.ArgumentParser = commands.add_parser(
        "validate",
        help="check function spec files and stage overlays offline, rendered as the daemon "
        "renders them; non-zero on any error",
    )
    validate.add_argument("paths", nargs="+", type=Path, help="spec files or folders of specs")
    validate.add_argument(
        "--templates-dir",
        default="",
        help="templates that override the built-in ones, as render.templates_dir (default: none)",
    )
    validate.add_argument(
        "--kubernetes-version",
        default=DEFAULT_KUBERNETES_VERSION,
        help="Kubernetes version whose schemas check the rendered objects "
        f"(default: {DEFAULT_KUBERNETES_VERSION})",
    )
    return validate


def validate_command(args: argparse.Namespace, out: TextIO) -> int:
    return validate_paths(args.paths, out, args.templates_dir, args.kubernetes_version)
