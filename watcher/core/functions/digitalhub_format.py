"""The DigitalHub export format as a catalog reader: functions paired with their tasks.

A ``kind: python`` function deploys nothing alone; each ``python+<action>`` task
that points at it (by project and name) makes one unit, and so does an overlay
``action`` for a function without a task file. Pairing needs every file, so
functions and tasks are kept until ``finish``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from watcher.core.functions import digitalhub
from watcher.core.functions.digitalhub import PythonFunction, PythonTask
from watcher.core.functions.problems import Problem, Problems
from watcher.core.functions.units import FoundOverlay, Overlays, SpecFile, Unit, broken
from watcher.core.names import describe

_Key = tuple[str, str]


class DigitalHubFormat:
    """``kind: python`` functions and their ``python+job|serve|build`` tasks."""

    kinds: tuple[str, ...] = (digitalhub.FUNCTION_KIND, *digitalhub.TASK_KINDS)

    def claims(self, document: Mapping[str, Any]) -> bool:
        return digitalhub.is_digitalhub(document)

    def reading(self) -> DigitalHubReading:
        return DigitalHubReading()


class DigitalHubReading:
    def __init__(self) -> None:
        self._functions: dict[_Key, tuple[PythonFunction, list[Problem]]] = {}
        self._tasks: list[tuple[PythonTask, list[Problem]]] = []

    def add(self, spec: SpecFile, overlays: Overlays) -> list[Unit]:
        del overlays  # looked up in finish, once the function and its task are paired
        problems = spec.problems
        if spec.document.get("kind") == digitalhub.FUNCTION_KIND:
            function = digitalhub.parse_function(problems, spec.document, spec.siblings())
            if function is not None:
                self._functions[(function.project, function.name)] = (function, problems.found)
            return []
        task = digitalhub.parse_task(problems, spec.document)
        if task is None:
            return [broken(spec.path, spec.stem, problems.found, "")]
        self._tasks.append((task, problems.found))
        return []

    def finish(self, overlays: Overlays) -> tuple[list[Unit], list[str]]:
        units = [self._task_unit(task, found, overlays) for task, found in self._tasks]
        tasked = {(task.project, task.function) for task, _found in self._tasks}
        idle: list[str] = []
        for key, (function, function_problems) in sorted(self._functions.items()):
            found = overlays.beside(function.file)
            if found.overlay.action:
                task = digitalhub.bare_task(function, found.overlay.action)
                units.append(_combined(function, function_problems, task, [], found))
            elif function_problems or found.problems:
                problems = [*function_problems, *found.problems]
                units.append(broken(function.file, function.name, problems, found.file))
            elif key not in tasked:
                idle.append(function.file)
        return units, idle

    def _task_unit(
        self, task: PythonTask, task_problems: list[Problem], overlays: Overlays
    ) -> Unit:
        found = overlays.beside(task.file)
        paired = self._functions.get((task.project, task.function))
        if paired is None:
            name = f"{task.function}-{task.action}"
            problem = Problem(
                task.file,
                "spec.function",
                f"no function {describe(task.function)} of project {describe(task.project)} "
                "among the specs",
            )
            return broken(task.file, name, [problem, *task_problems], found.file, name)
        function, function_problems = paired
        return _combined(function, function_problems, task, task_problems, found)


def _combined(
    function: PythonFunction,
    function_problems: list[Problem],
    task: PythonTask,
    task_problems: list[Problem],
    found: FoundOverlay,
) -> Unit:
    problems = Problems(task.file)
    workload = digitalhub.combine(problems, function, task)
    every = (*function_problems, *task_problems, *problems.found, *found.problems)
    inputs = tuple(sorted({p for p in (function.file, task.file, found.file) if p}))
    return Unit(task.file, workload.name, workload, found.overlay, every, inputs)
