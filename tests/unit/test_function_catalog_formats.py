"""The function catalog reads each SDK's format through one small interface.

A format is a ``SpecFormat`` (which documents it claims, which kinds it has) with
a per-catalog ``Reading``; ``catalog.FORMATS`` is the only list of them. A format
defined entirely in this test is read, paired with its overlay and named in the
"unknown kind" message, without editing anything else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from watcher.core.functions.catalog import FORMATS, read_catalog
from watcher.core.functions.digitalhub_format import DigitalHubFormat
from watcher.core.functions.mlrun_format import MLRunFormat
from watcher.core.functions.model import JOB, Workload
from watcher.core.functions.units import Overlays, SpecFile, Unit


class ToyFormat:
    """``kind: toy``: one file, one job; the name is ``metadata.name``."""

    kinds = ("toy",)

    def claims(self, document: Mapping[str, Any]) -> bool:
        return document.get("kind") == "toy"

    def reading(self) -> ToyReading:
        return ToyReading()


class ToyReading:
    def __init__(self) -> None:
        self.kept: list[SpecFile] = []

    def add(self, spec: SpecFile, overlays: Overlays) -> list[Unit]:
        del overlays
        self.kept.append(spec)  # kept until finish, as a format that pairs files would
        return []

    def finish(self, overlays: Overlays) -> tuple[list[Unit], list[str]]:
        units = []
        for spec in self.kept:
            name = str(spec.document["metadata"]["name"])
            found = overlays.beside(spec.path)
            workload = Workload(file=spec.path, sdk="mlrun", kind="toy", target=JOB, name=name)
            units.append(
                Unit(spec.path, name, workload, found.overlay, found.problems, (spec.path,))
            )
        return units, []


def test_the_registered_formats_are_mlrun_and_digitalhub() -> None:
    assert [type(f) for f in FORMATS] == [MLRunFormat, DigitalHubFormat]


def test_a_format_defined_outside_the_catalog_is_read_with_its_overlay() -> None:
    files = {
        "toy.yaml": b"kind: toy\nmetadata: {name: toy-job}\n",
        "toy.overlay.yaml": b"stages: {staging: {replicas: 1}}\n",
        "other.yaml": b"kind: unknown-thing\n",
    }
    catalog = read_catalog(files, (*FORMATS, ToyFormat()))
    by_file = {unit.file: unit for unit in catalog.units}
    toy = by_file["toy.yaml"]
    assert toy.workload is not None and toy.workload.kind == "toy"
    assert toy.overlay.file == "toy.overlay.yaml"
    # The overlay was claimed, so it is not reported as an overlay without a spec.
    assert "toy.overlay.yaml" not in by_file
    (problem,) = by_file["other.yaml"].problems
    assert problem.message.endswith("python+build, toy")


def test_without_the_format_its_files_are_unknown_kinds() -> None:
    catalog = read_catalog({"toy.yaml": b"kind: toy\nmetadata: {name: toy-job}\n"})
    (unit,) = catalog.units
    assert unit.workload is None
    assert "unknown kind 'toy'" in unit.problems[0].message
