"""A folder of spec files becomes deployable units: specs paired with tasks and overlays.

Input is data (relative path -> bytes), so the same code reads a local folder, a
git tree and the files given to ``gitops-watcher validate``. Every YAML file is a
spec, a task or an overlay (``*.overlay.yaml``); other files (``main.py``) are
code that specs may name.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field

from watcher.core.functions import digitalhub, mlrun
from watcher.core.functions.documents import load_mapping
from watcher.core.functions.model import Workload
from watcher.core.functions.overlay import Overlay, is_overlay, parse_overlay, spec_path_for
from watcher.core.functions.problems import Problem, Problems
from watcher.core.names import describe

YAML_SUFFIXES = (".yaml", ".yml")
KNOWN_KINDS = (*mlrun.SUPPORTED, digitalhub.FUNCTION_KIND, *digitalhub.TASK_KINDS)


@dataclass(frozen=True)
class Unit:
    """One deployable function (before stages), or the problems that stop it."""

    file: str
    name: str
    workload: Workload | None
    overlay: Overlay = field(default_factory=Overlay)
    problems: tuple[Problem, ...] = ()
    #: Every file this unit was read from (spec, function, overlay, code).
    inputs: tuple[str, ...] = ()
    #: The name is the file's stem, not read from the spec: its folder is only a guess.
    name_guessed: bool = False


@dataclass(frozen=True)
class Catalog:
    units: tuple[Unit, ...] = ()
    #: Files that are fine but deploy nothing (a DigitalHub function without a task).
    idle: tuple[str, ...] = ()


def _siblings(files: Mapping[str, bytes], spec: str) -> dict[str, bytes]:
    folder = posixpath.dirname(spec)
    prefix = f"{folder}/" if folder else ""
    return {p[len(prefix) :]: d for p, d in files.items() if p.startswith(prefix)}


def read_catalog(files: Mapping[str, bytes]) -> Catalog:
    """Every unit the files define; problems stay with the unit they belong to."""
    overlays: dict[str, tuple[Overlay, list[Problem]]] = {}
    specs = sorted(p for p in files if p.endswith(YAML_SUFFIXES) and not _hidden(p))
    for path in specs:
        if is_overlay(path):
            problems = Problems(path)
            document, found = load_mapping(path, files[path])
            problems.extend(found)
            overlay = parse_overlay(problems, document) if document is not None else Overlay(path)
            overlays[path] = (overlay, problems.found)
    units: list[Unit] = []
    functions: dict[tuple[str, str], tuple[digitalhub.PythonFunction, list[Problem]]] = {}
    tasks: list[tuple[digitalhub.PythonTask, list[Problem]]] = []
    used_overlays: set[str] = set()

    def overlay_for(spec: str) -> tuple[Overlay, list[Problem], str]:
        for candidate in (
            f"{spec[: spec.rfind('.')]}{s}" for s in (".overlay.yaml", ".overlay.yml")
        ):
            if candidate in overlays:
                used_overlays.add(candidate)
                overlay, found = overlays[candidate]
                return overlay, found, candidate
        return Overlay(), [], ""

    for path in specs:
        if is_overlay(path):
            continue
        problems = Problems(path)
        document, found = load_mapping(path, files[path])
        problems.extend(found)
        stem = posixpath.basename(path).rsplit(".", 1)[0]
        if document is None:
            overlay, overlay_problems, overlay_file = overlay_for(path)
            units.append(_broken(path, stem, problems.found + overlay_problems, overlay_file))
            continue
        kind = document.get("kind")
        if mlrun.is_mlrun(document):
            workload = mlrun.parse(problems, document)
            overlay, overlay_problems, overlay_file = overlay_for(path)
            name = workload.name if workload else _name_of(document, stem)
            inputs = tuple(p for p in (path, overlay_file) if p)
            guessed = workload is None and name == stem and _name_of(document, "") == ""
            units.append(
                Unit(
                    path,
                    name,
                    workload,
                    overlay,
                    tuple(problems.found + overlay_problems),
                    inputs,
                    guessed,
                )
            )
        elif digitalhub.is_digitalhub(document) and kind == digitalhub.FUNCTION_KIND:
            function = digitalhub.parse_function(problems, document, _siblings(files, path))
            if function is not None:
                functions[(function.project, function.name)] = (function, problems.found)
        elif digitalhub.is_digitalhub(document):
            task = digitalhub.parse_task(problems, document)
            if task is None:
                units.append(_broken(path, stem, problems.found, ""))
            else:
                tasks.append((task, problems.found))
        else:
            problems.add(
                "kind",
                f"unknown kind {describe(str(kind), 40)}; supported: {', '.join(KNOWN_KINDS)}"
                if kind is not None
                else "is missing; is this an MLRun or DigitalHub export?",
            )
            units.append(_broken(path, stem, problems.found, ""))

    tasked: set[tuple[str, str]] = set()
    for task, task_problems in tasks:
        key = (task.project, task.function)
        overlay, overlay_problems, overlay_file = overlay_for(task.file)
        name = f"{task.function}-{task.action}"
        if key not in functions:
            problem = Problem(
                task.file,
                "spec.function",
                f"no function {describe(task.function)} of project {describe(task.project)} "
                "among the specs",
            )
            units.append(_broken(task.file, name, [problem, *task_problems], overlay_file, name))
            continue
        tasked.add(key)
        function, function_problems = functions[key]
        units.append(
            _combined(
                function,
                function_problems,
                task,
                task_problems,
                overlay,
                overlay_problems,
                overlay_file,
            )
        )
    idle: list[str] = []
    for key, (function, function_problems) in sorted(functions.items()):
        overlay, overlay_problems, overlay_file = overlay_for(function.file)
        if overlay.action:
            task = digitalhub.bare_task(function, overlay.action)
            units.append(
                _combined(
                    function, function_problems, task, [], overlay, overlay_problems, overlay_file
                )
            )
        elif function_problems or overlay_problems:
            units.append(
                _broken(
                    function.file, function.name, function_problems + overlay_problems, overlay_file
                )
            )
        elif key not in tasked:
            idle.append(function.file)
    for path, (_overlay, found) in sorted(overlays.items()):
        if path in used_overlays:
            continue
        candidates = spec_path_for(path)
        problem = Problem(path, "", f"has no spec beside it (expected {' or '.join(candidates)})")
        units.append(
            _broken(
                path, posixpath.basename(candidates[0]).rsplit(".", 1)[0], [problem, *found], path
            )
        )
    return Catalog(tuple(units), tuple(idle))


def _combined(
    function: digitalhub.PythonFunction,
    function_problems: list[Problem],
    task: digitalhub.PythonTask,
    task_problems: list[Problem],
    overlay: Overlay,
    overlay_problems: list[Problem],
    overlay_file: str,
) -> Unit:
    problems = Problems(task.file)
    workload = digitalhub.combine(problems, function, task)
    found = [*function_problems, *task_problems, *problems.found, *overlay_problems]
    code_files = (function.file, task.file, overlay_file)
    inputs = tuple(sorted({p for p in code_files if p}))
    return Unit(task.file, workload.name, workload, overlay, tuple(found), inputs)


def _broken(
    path: str, name: str, problems: list[Problem], overlay_file: str, real_name: str = ""
) -> Unit:
    inputs = tuple(p for p in (path, overlay_file) if p)
    return Unit(
        path, real_name or name, None, Overlay(), tuple(problems), inputs, not real_name
    )


def _name_of(document: Mapping[str, object], stem: str) -> str:
    metadata = document.get("metadata")
    if isinstance(metadata, Mapping) and isinstance(metadata.get("name"), str):
        return str(metadata["name"])
    return stem


def _hidden(path: str) -> bool:
    return any(part.startswith(".") for part in path.split("/"))
