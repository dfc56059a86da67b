"""Gates on a model version's logged metrics: absolute bounds, or not worse than what runs.

A version that would newly run in a stage must pass every gate of the stage. A
metric the run did not log fails its gate by name; ``not_worse_than: deployed``
passes, and says so, while nothing runs in the stage yet.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

Direction = Literal["higher", "lower"]


@dataclass(frozen=True)
class Gate:
    """One gate: ``metric`` within ``min``/``max``, or not worse than the deployed version's."""

    metric: str
    min: float | None = None
    max: float | None = None
    #: "deployed": compare with the version the stage runs now.
    not_worse_than: str = ""
    #: Which way is better, for ``not_worse_than``.
    direction: Direction | None = None
    #: How much worse is still fine, in the metric's own units.
    tolerance: float = 0.0

    def describe(self) -> str:
        parts = []
        if self.min is not None:
            parts.append(f"min {_number(self.min)}")
        if self.max is not None:
            parts.append(f"max {_number(self.max)}")
        if self.not_worse_than:
            better = f", {self.direction} is better" if self.direction else ""
            parts.append(f"not worse than {self.not_worse_than}{better}")
        return f"{self.metric}: {', '.join(parts)}"


@dataclass(frozen=True)
class GateResult:
    """Why a candidate fails (``failures``), and what passed but is worth saying (``notes``)."""

    failures: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.failures


def check_gates(
    gates: Sequence[Gate],
    candidate: Mapping[str, float],
    deployed: Mapping[str, float] | None,
    *,
    candidate_label: str,
    deployed_label: str,
) -> GateResult:
    """Every gate's verdict on ``candidate``; ``deployed`` is None while nothing runs."""
    failures: list[str] = []
    notes: list[str] = []
    for gate in gates:
        value = candidate.get(gate.metric)
        if value is None or math.isnan(value):
            failures.append(f"{gate.metric} is not logged for {candidate_label}")
            continue
        failures += _bounds(gate, value)
        if gate.not_worse_than:
            verdict, note = _compared(gate, value, deployed, deployed_label)
            failures += verdict
            notes += note
    return GateResult(tuple(failures), tuple(notes))


def _bounds(gate: Gate, value: float) -> list[str]:
    failures = []
    if gate.min is not None and value < gate.min:
        failures.append(f"{gate.metric} {_number(value)} is below the minimum {_number(gate.min)}")
    if gate.max is not None and value > gate.max:
        failures.append(f"{gate.metric} {_number(value)} is above the maximum {_number(gate.max)}")
    return failures


def _compared(
    gate: Gate, value: float, deployed: Mapping[str, float] | None, deployed_label: str
) -> tuple[list[str], list[str]]:
    if deployed is None:
        return [], [f"nothing runs in the stage yet: the gate on {gate.metric} passes"]
    baseline = deployed.get(gate.metric)
    if baseline is None or math.isnan(baseline):
        return [f"{gate.metric} is not logged for {deployed_label}, which runs now"], []
    worse = (
        value < baseline - gate.tolerance
        if gate.direction == "higher"
        else (value > baseline + gate.tolerance)
    )
    if not worse:
        return [], []
    tolerance = f" (tolerance {_number(gate.tolerance)})" if gate.tolerance else ""
    return [
        f"{gate.metric} {_number(value)} is worse than {deployed_label}'s "
        f"{_number(baseline)}{tolerance}"
    ], []


def _number(value: float) -> str:
    """Short and exact enough for a message: 0.871, 12, 1.5e-05."""
    return f"{value:.6g}"
