"""What a spec format reader produces, and the one interface every reader implements.

A catalog is read in two steps: each YAML file goes to the format that claims
its document (``SpecFormat.claims``), whose per-catalog reading (``Reading``)
turns it into units at once or keeps it until every file has been seen (a
DigitalHub task needs its function); then each reading hands over what it kept.
Overlays are looked up through one :class:`Overlays` index, which remembers the
ones used so the catalog can report the others.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from watcher.core.functions.documents import load_mapping
from watcher.core.functions.model import Workload
from watcher.core.functions.overlay import OVERLAY_SUFFIXES, Overlay, parse_overlay
from watcher.core.functions.problems import Problem, Problems


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


@dataclass(frozen=True)
class FoundOverlay:
    """The overlay beside a spec (empty when there is none), its problems and its file."""

    overlay: Overlay = field(default_factory=Overlay)
    problems: tuple[Problem, ...] = ()
    file: str = ""


class Overlays:
    """Every ``*.overlay.yaml`` of a catalog, parsed once; remembers which ones were used."""

    def __init__(self, files: Mapping[str, bytes], paths: Iterable[str]) -> None:
        self._found: dict[str, FoundOverlay] = {}
        self._used: set[str] = set()
        for path in paths:
            problems = Problems(path)
            document, found = load_mapping(path, files[path])
            problems.extend(found)
            overlay = parse_overlay(problems, document) if document is not None else Overlay(path)
            self._found[path] = FoundOverlay(overlay, tuple(problems.found), path)

    def beside(self, spec: str) -> FoundOverlay:
        """The overlay of ``spec`` (``<stem>.overlay.yaml``), marked as used."""
        stem = spec[: spec.rfind(".")]
        for candidate in (f"{stem}{suffix}" for suffix in OVERLAY_SUFFIXES):
            if candidate in self._found:
                self._used.add(candidate)
                return self._found[candidate]
        return FoundOverlay()

    def unused(self) -> list[FoundOverlay]:
        """Overlays no spec claimed, by path."""
        return [found for path, found in sorted(self._found.items()) if path not in self._used]


@dataclass(frozen=True)
class SpecFile:
    """One YAML spec file as a reader gets it: its document and the files it may name."""

    path: str
    document: dict[str, Any]
    problems: Problems
    files: Mapping[str, bytes]

    @property
    def stem(self) -> str:
        return stem_of(self.path)

    def siblings(self) -> dict[str, bytes]:
        """The files in the spec's folder and below, by path relative to that folder."""
        folder = posixpath.dirname(self.path)
        prefix = f"{folder}/" if folder else ""
        return {p[len(prefix) :]: d for p, d in self.files.items() if p.startswith(prefix)}


class Reading(Protocol):
    """One format's reading of one catalog; it may keep files until ``finish``."""

    def add(self, spec: SpecFile, overlays: Overlays) -> list[Unit]:
        """The units this file makes now (often one; none while it waits for others)."""
        ...

    def finish(self, overlays: Overlays) -> tuple[list[Unit], list[str]]:
        """The units of the files kept until every file was seen, and the idle files."""
        ...


class SpecFormat(Protocol):
    """An SDK's export format: which documents are its own, and how to read them."""

    #: The ``kind`` values it deploys, for the "supported:" message of an unknown kind.
    kinds: tuple[str, ...]

    def claims(self, document: Mapping[str, Any]) -> bool: ...

    def reading(self) -> Reading: ...


def broken(
    path: str,
    name: str,
    problems: Iterable[Problem],
    overlay_file: str,
    real_name: str = "",
) -> Unit:
    """A unit that deploys nothing: it carries the problems that stop it."""
    inputs = tuple(p for p in (path, overlay_file) if p)
    return Unit(path, real_name or name, None, Overlay(), tuple(problems), inputs, not real_name)


def stem_of(path: str) -> str:
    return posixpath.basename(path).rsplit(".", 1)[0]


def name_of(document: Mapping[str, object], stem: str) -> str:
    """``metadata.name`` when it is a string, else ``stem``."""
    metadata = document.get("metadata")
    if isinstance(metadata, Mapping) and isinstance(metadata.get("name"), str):
        return str(metadata["name"])
    return stem
