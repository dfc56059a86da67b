"""The MLRun export format as a catalog reader: one spec file is one unit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from watcher.core.functions import mlrun
from watcher.core.functions.units import Overlays, SpecFile, Unit, name_of


class MLRunFormat:
    """``kind: application`` and ``job`` (and the kinds MLRun has that we refuse by name)."""

    kinds: tuple[str, ...] = mlrun.SUPPORTED

    def claims(self, document: Mapping[str, Any]) -> bool:
        return mlrun.is_mlrun(document)

    def reading(self) -> MLRunReading:
        return MLRunReading()


class MLRunReading:
    """MLRun specs stand alone: each becomes its unit as soon as it is read."""

    def add(self, spec: SpecFile, overlays: Overlays) -> list[Unit]:
        workload = mlrun.parse(spec.problems, spec.document)
        found = overlays.beside(spec.path)
        name = workload.name if workload else name_of(spec.document, spec.stem)
        guessed = workload is None and name == spec.stem and name_of(spec.document, "") == ""
        unit = Unit(
            spec.path,
            name,
            workload,
            found.overlay,
            (*spec.problems.found, *found.problems),
            tuple(p for p in (spec.path, found.file) if p),
            guessed,
        )
        return [unit]

    def finish(self, overlays: Overlays) -> tuple[list[Unit], list[str]]:
        del overlays  # nothing is kept back
        return [], []
