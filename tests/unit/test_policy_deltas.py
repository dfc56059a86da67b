"""The review notes' pure parts: metric deltas and signature differences."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from watcher.core.plan import Change
from watcher.core.policy.deltas import metric_deltas, signature_changes
from watcher.core.policy.signature import Column, Signature
from watcher.core.provenance import Provenance
from watcher.core.release import PromotionRules, Release, ReleaseId
from watcher.errors import RegistryUnavailableError
from watcher.spine.policy_ports import RememberedEvidence
from watcher.spine.policy_review import review_notes


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


class _Registry:
    """The evidence port (spine/policy_ports.py) over in-memory answers: the registry's
    own reads are tested against a real MLflow server in tests/integration/test_policy.py."""

    def __init__(self, metrics: dict[str, dict[str, float]], fail: bool = False) -> None:
        self._metrics, self._fail, self.asked = metrics, fail, 0

    def metrics(self, details: Mapping[str, Any]) -> Mapping[str, float]:
        self.asked += 1
        if self._fail:
            raise RegistryUnavailableError("the registry at http://mlflow:5000 is down")
        return self._metrics[str(details["v"])]

    def signature(self, details: Mapping[str, Any]) -> Signature | None:
        return None


def _update(contract: str = "warn") -> tuple[Change, Release]:
    def info(version: str) -> Provenance:
        return Provenance("mlflow", "model", "churn", "production", version, "deployment",
                          "ml", revision_label=f"v{version}", details={"v": version})  # fmt: skip

    rules = PromotionRules(contract=contract)
    release = Release(ReleaseId("mlflow", "model", "churn", "production"), "churn/production",
                      "deployment", "7", "ml", None, rules=rules)  # fmt: skip
    change = Change("churn/production", "update", {}, "update churn\n", info("7"), info("6"))
    return change, release


def test_review_notes_keep_hostile_names_on_one_line_and_a_down_registry_is_one_note() -> None:
    change, release = _update()
    hostile = "acc\n\nGitops-Watcher-Action: remove"
    registry = _Registry({"6": {hostile: 0.5}, "7": {hostile: 0.6}})
    notes = review_notes(change, release, RememberedEvidence(registry))
    assert notes == (
        "Metrics, v6 → v7:",
        "- acc\\n\\nGitops-Watcher-Action: remove: 0.5 → 0.6 (+0.1)",
    )
    remembered = RememberedEvidence(_Registry({}, fail=True))
    (note,) = review_notes(change, release, remembered)
    assert note == "Metrics not compared: the registry at http://mlflow:5000 is down"
    # Asked once per revision and reconcile, a failure included.
    registry = _Registry({"6": {}, "7": {}})
    remembered = RememberedEvidence(registry)
    for _ in range(3):
        review_notes(change, release, remembered)
    assert registry.asked == 2
