"""The serving contract: a model's signature (from its ``MLmodel``), and what breaks it.

MLflow writes ``signature.inputs`` and ``signature.outputs`` as JSON strings of
column specs (``{"name", "type", "required"}``) or tensor specs
(``{"type": "tensor", "tensor-spec": {"dtype", "shape"}}``). A candidate breaks
the contract of the version that runs when an input is removed or retyped, or an
output retyped; a candidate without a signature breaks a contract that exists.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml


@dataclass(frozen=True)
class Column:
    """One input or output: by name (columns) or by position (unnamed outputs, tensors)."""

    name: str
    type: str


@dataclass(frozen=True)
class Signature:
    inputs: tuple[Column, ...] = ()
    outputs: tuple[Column, ...] = ()


def read_signature(mlmodel: bytes) -> Signature | None:
    """The signature in an ``MLmodel`` file; None when it has none (or cannot be read)."""
    try:
        data = yaml.safe_load(mlmodel)
    except yaml.YAMLError:
        return None
    signature = data.get("signature") if isinstance(data, Mapping) else None
    if not isinstance(signature, Mapping):
        return None
    inputs = _columns(signature.get("inputs"))
    outputs = _columns(signature.get("outputs"))
    if inputs is None and outputs is None:
        return None
    return Signature(inputs or (), outputs or ())


def _columns(raw: Any) -> tuple[Column, ...] | None:
    if raw is None:
        return None
    try:
        specs = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return None
    if not isinstance(specs, list):
        return None
    columns = []
    for index, spec in enumerate(specs):
        if not isinstance(spec, Mapping):
            continue
        kind = str(spec.get("type", ""))
        if kind == "tensor":
            tensor = spec.get("tensor-spec") or {}
            shape = tensor.get("shape") if isinstance(tensor, Mapping) else None
            dtype = tensor.get("dtype") if isinstance(tensor, Mapping) else None
            kind = f"tensor {dtype} {list(shape) if isinstance(shape, list) else shape}"
        columns.append(Column(str(spec.get("name") or f"#{index}"), kind))
    return tuple(columns)


def breaking_changes(deployed: Signature | None, candidate: Signature | None) -> list[str]:
    """What in ``candidate`` breaks clients of ``deployed`` ([] when nothing does)."""
    if deployed is None:
        return []
    if candidate is None:
        return ["the new version has no signature, the running one has"]
    changes = _inputs(deployed.inputs, candidate.inputs)
    changes += _outputs(deployed.outputs, candidate.outputs)
    return changes


def _inputs(before: Sequence[Column], after: Sequence[Column]) -> list[str]:
    now = {column.name: column.type for column in after}
    changes = []
    for column in before:
        if column.name not in now:
            changes.append(f"input {column.name!r} removed")
        elif now[column.name] != column.type:
            changes.append(f"input {column.name!r} retyped {column.type} → {now[column.name]}")
    return changes


def _outputs(before: Sequence[Column], after: Sequence[Column]) -> list[str]:
    now = {column.name: column.type for column in after}
    changes = []
    for column in before:
        new = now.get(column.name)
        if new is not None and new != column.type:
            changes.append(f"output {column.name!r} retyped {column.type} → {new}")
    return changes
