"""The review notes' pure parts: metric deltas and signature differences."""

from __future__ import annotations

import math

from watcher.core.policy.deltas import metric_deltas, signature_changes
from watcher.core.policy.signature import Column, Signature


def test_every_metric_either_side_logged_is_listed_by_name_with_its_difference() -> None:
    lines = metric_deltas(
        {"accuracy": 0.902, "rmse": 0.5, "auc": 0.8, "f1": math.nan},
        {"accuracy": 0.95, "auc": 0.8, "latency_ms": 12.0, "f1": 0.7},
    )
    assert lines == [
        "accuracy: 0.902 → 0.95 (+0.048)",
        "auc: 0.8 (unchanged)",
        "f1: 0.7 (not logged before)",
        "latency_ms: 12 (not logged before)",
        "rmse: 0.5 → not logged",
    ]


def test_many_metrics_are_cut_short_with_a_count() -> None:
    before = {f"m{i:03d}": float(i) for i in range(40)}
    lines = metric_deltas(before, {k: v - 1 for k, v in before.items()}, limit=3)
    assert lines == ["m000: 0 → -1 (-1)", "m001: 1 → 0 (-1)", "m002: 2 → 1 (-1)",
                     "… and 37 more metric(s)"]  # fmt: skip
    assert metric_deltas({}, {}) == []


def test_signature_differences_breaking_or_not() -> None:
    before = Signature(
        (Column("tenure", "long"), Column("plan", "string")), (Column("#0", "double"),)
    )
    after = Signature(
        (Column("plan", "long"), Column("region", "string")), (Column("#0", "float"),)
    )
    assert signature_changes(before, after) == [
        "input 'tenure' removed",
        "input 'plan' retyped string → long",
        "input 'region' added (string)",
        "output '#0' retyped double → float",
    ]
    assert signature_changes(before, before) == []
    assert signature_changes(None, None) == []
    assert signature_changes(None, after) == [
        "the new version has a signature, the running one has none"
    ]
    assert signature_changes(before, None) == [
        "the new version has no signature, the running one has"
    ]
