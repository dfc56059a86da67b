"""A folder of spec files becomes deployable units: specs paired with tasks and overlays.

Input is data (relative path -> bytes), so the same code reads a local folder, a
git tree and the files given to ``gitops-watcher validate``. Every YAML file is a
spec, a task or an overlay (``*.overlay.yaml``); other files (``main.py``) are
code that specs may name. Each SDK's format is one reader in ``FORMATS``
(the interface is in ``units``): a new format is one module and one line here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from watcher.core.functions.digitalhub_format import DigitalHubFormat
from watcher.core.functions.documents import load_mapping
from watcher.core.functions.mlrun_format import MLRunFormat
from watcher.core.functions.overlay import is_overlay, spec_path_for
from watcher.core.functions.problems import Problem, Problems
from watcher.core.functions.units import (
    Catalog,
    Overlays,
    Reading,
    SpecFile,
    SpecFormat,
    Unit,
    broken,
    stem_of,
)
from watcher.core.names import describe

__all__ = ["FORMATS", "Catalog", "Unit", "read_catalog"]

YAML_SUFFIXES = (".yaml", ".yml")
#: Every spec format, in the order its documents are offered to them.
FORMATS: tuple[SpecFormat, ...] = (MLRunFormat(), DigitalHubFormat())


def read_catalog(files: Mapping[str, bytes], formats: Sequence[SpecFormat] = FORMATS) -> Catalog:
    """Every unit the files define; problems stay with the unit they belong to."""
    paths = sorted(p for p in files if p.endswith(YAML_SUFFIXES) and not _hidden(p))
    overlays = Overlays(files, (p for p in paths if is_overlay(p)))
    readings = [(spec_format, spec_format.reading()) for spec_format in formats]
    units: list[Unit] = []
    for path in paths:
        if not is_overlay(path):
            units += _read_spec(path, files, overlays, readings)
    idle: list[str] = []
    for _format, reading in readings:
        kept, unused = reading.finish(overlays)
        units += kept
        idle += unused
    units += [_orphan(found.file, found.problems) for found in overlays.unused()]
    return Catalog(tuple(units), tuple(idle))


def _read_spec(
    path: str,
    files: Mapping[str, bytes],
    overlays: Overlays,
    readings: list[tuple[SpecFormat, Reading]],
) -> list[Unit]:
    problems = Problems(path)
    document, found = load_mapping(path, files[path])
    problems.extend(found)
    if document is None:
        beside = overlays.beside(path)
        return [broken(path, stem_of(path), [*problems.found, *beside.problems], beside.file)]
    for spec_format, reading in readings:
        if spec_format.claims(document):
            return reading.add(SpecFile(path, document, problems, files), overlays)
    kind = document.get("kind")
    known = ", ".join(k for spec_format, _reading in readings for k in spec_format.kinds)
    problems.add(
        "kind",
        f"unknown kind {describe(str(kind), 40)}; supported: {known}"
        if kind is not None
        else "is missing; is this an MLRun or DigitalHub export?",
    )
    return [broken(path, stem_of(path), problems.found, "")]


def _orphan(path: str, problems: tuple[Problem, ...]) -> Unit:
    """An overlay without a spec beside it."""
    candidates = spec_path_for(path)
    problem = Problem(path, "", f"has no spec beside it (expected {' or '.join(candidates)})")
    return broken(path, stem_of(candidates[0]), [problem, *problems], path)


def _hidden(path: str) -> bool:
    return any(part.startswith(".") for part in path.split("/"))
