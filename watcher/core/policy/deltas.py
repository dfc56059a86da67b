"""What a reviewer wants to see of a model update: its metrics and signature, old → new.

These are notes, never verdicts (the gates and the contract decide): every metric
either version logged, with the difference, and every change of the signature,
breaking or not. They go into the commit message and a pull request's body.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from watcher.core.policy.signature import Column, Signature

#: Metrics listed at most; the rest are counted (a run may log hundreds).
METRIC_LIMIT = 25


def metric_deltas(
    before: Mapping[str, float], after: Mapping[str, float], limit: int = METRIC_LIMIT
) -> list[str]:
    """``accuracy: 0.85 → 0.87 (+0.02)`` for each metric either side logged, by name."""
    names = sorted(set(before) | set(after))
    lines = [_delta(name, before.get(name), after.get(name)) for name in names[:limit]]
    if len(names) > limit:
        lines.append(f"… and {len(names) - limit} more metric(s)")
    return lines


def _delta(name: str, old: float | None, new: float | None) -> str:
    if old is None or math.isnan(old):
        return f"{name}: {_shown(new)} (not logged before)"
    if new is None or math.isnan(new):
        return f"{name}: {_shown(old)} → not logged"
    if new == old:
        return f"{name}: {_shown(new)} (unchanged)"
    return f"{name}: {_shown(old)} → {_shown(new)} ({new - old:+.4g})"


def _shown(value: float | None) -> str:
    return "not logged" if value is None or math.isnan(value) else f"{value:.6g}"


def signature_changes(before: Signature | None, after: Signature | None) -> list[str]:
    """Every difference between two signatures: columns added, removed or retyped."""
    if before is None and after is None:
        return []
    if before is None:
        return ["the new version has a signature, the running one has none"]
    if after is None:
        return ["the new version has no signature, the running one has"]
    return _columns("input", before.inputs, after.inputs) + _columns(
        "output", before.outputs, after.outputs
    )


def _columns(side: str, before: Sequence[Column], after: Sequence[Column]) -> list[str]:
    old = {column.name: column.type for column in before}
    new = {column.name: column.type for column in after}
    changes = []
    for name, kind in old.items():
        if name not in new:
            changes.append(f"{side} {name!r} removed")
        elif new[name] != kind:
            changes.append(f"{side} {name!r} retyped {kind} → {new[name]}")
    changes += [f"{side} {name!r} added ({kind})" for name, kind in new.items() if name not in old]
    return changes
