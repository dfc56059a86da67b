"""The pure promotion policy: gates, the serving contract, holds, rollbacks and soak."""

from __future__ import annotations

import json

import pytest

from watcher.core.policy.gates import Gate, check_gates
from watcher.core.policy.history import FolderCommit, ran_before, revisions_run
from watcher.core.policy.holds import HoldRecord, decide_hold
from watcher.core.policy.signature import breaking_changes, read_signature
from watcher.core.policy.soak import check_soak
from watcher.core.policy.waiver import gate_tags, gates_waived
from watcher.errors import InvalidOverrideError


def ours(
    sha: str, revision: str, time: int = 0, action: str = "update", **more: str
) -> FolderCommit:
    trailers = {"Gitops-Watcher-Action": action, "Release-Revision": revision, **more}
    return FolderCommit(sha * 40, time, "gitops-watcher", f"{action} {revision}", trailers)


def person(sha: str, subject: str = 'Revert "update churn"', time: int = 0) -> FolderCommit:
    return FolderCommit(sha * 40, time, "Alice", subject, {})


# -- gates ----------------------------------------------------------------------------------


def test_absolute_bounds_name_the_metric_and_both_values() -> None:
    gates = [Gate("rmse", max=0.8), Gate("accuracy", min=0.9)]
    result = check_gates(
        gates, {"rmse": 0.93, "accuracy": 0.91}, None, candidate_label="v7", deployed_label=""
    )
    assert result.failures == ("rmse 0.93 is above the maximum 0.8",)


def test_not_worse_than_deployed_uses_direction_and_tolerance() -> None:
    gate = Gate("accuracy", not_worse_than="deployed", direction="higher", tolerance=0.01)
    worse = check_gates(
        [gate], {"accuracy": 0.871}, {"accuracy": 0.902}, candidate_label="v7", deployed_label="v6"
    )
    assert worse.failures == ("accuracy 0.871 is worse than v6's 0.902 (tolerance 0.01)",)
    within = check_gates(
        [gate], {"accuracy": 0.895}, {"accuracy": 0.902}, candidate_label="v7", deployed_label="v6"
    )
    assert within.passed
    lower = Gate("rmse", not_worse_than="deployed", direction="lower")
    assert not check_gates(
        [lower], {"rmse": 0.5}, {"rmse": 0.4}, candidate_label="v7", deployed_label="v6"
    ).passed


def test_a_missing_metric_fails_by_name_and_nothing_deployed_passes_saying_so() -> None:
    gate = Gate("accuracy", not_worse_than="deployed", direction="higher")
    missing = check_gates([gate], {}, None, candidate_label="v7", deployed_label="")
    assert missing.failures == ("accuracy is not logged for v7",)
    first = check_gates([gate], {"accuracy": 0.5}, None, candidate_label="v7", deployed_label="")
    assert first.passed and "nothing runs in the stage yet" in first.notes[0]


# -- the serving contract -------------------------------------------------------------------


def mlmodel(inputs: list[dict[str, object]] | None, outputs: list[dict[str, object]]) -> bytes:
    signature = {"outputs": json.dumps(outputs)}
    if inputs is not None:
        signature["inputs"] = json.dumps(inputs)
    return json.dumps({"flavors": {}, "signature": signature}).encode()


def test_an_input_removed_or_retyped_and_an_output_retyped_break_the_contract() -> None:
    before = read_signature(
        mlmodel(
            [{"name": "tenure", "type": "long"}, {"name": "plan", "type": "string"}],
            [{"type": "double"}],
        )
    )
    after = read_signature(mlmodel([{"name": "plan", "type": "long"}], [{"type": "long"}]))
    assert breaking_changes(before, after) == [
        "input 'tenure' removed",
        "input 'plan' retyped string → long",
        "output '#0' retyped double → long",
    ]
    added = read_signature(
        mlmodel(
            [
                {"name": "tenure", "type": "long"},
                {"name": "plan", "type": "string"},
                {"name": "new", "type": "double"},
            ],
            [{"type": "double"}],
        )
    )
    assert breaking_changes(before, added) == []


def test_no_signature_where_one_ran_is_breaking_and_tensors_compare_by_spec() -> None:
    before = read_signature(
        mlmodel([{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 4]}}], [])
    )
    assert breaking_changes(before, None) == [
        "the new version has no signature, the running one has"
    ]
    assert read_signature(b"flavors: {}\n") is None
    assert breaking_changes(None, before) == []
    wider = read_signature(
        mlmodel([{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 5]}}], [])
    )
    assert breaking_changes(before, wider) == [
        "input '#0' retyped tensor float64 [-1, 4] → tensor float64 [-1, 5]"
    ]


# -- waivers --------------------------------------------------------------------------------


def test_the_waiver_tag_is_read_per_stage_and_a_typo_is_refused() -> None:
    tags = {"deploy.production.gates": "skip", "deploy.replicas": "2"}
    assert gates_waived(tags, "production") == "deploy.production.gates"
    assert gates_waived(tags, "staging") == ""
    assert gate_tags(tags, {"staging", "production"}) == {"deploy.production.gates"}
    with pytest.raises(InvalidOverrideError, match="must be 'skip'"):
        gates_waived({"deploy.production.gates": "skipp"}, "production")


# -- holds ----------------------------------------------------------------------------------


def test_a_persons_change_holds_until_the_registry_decides_anew() -> None:
    log = [person("b"), ours("a", "2")]
    hold = decide_hold(log, None, "2")
    assert hold is not None and hold.cause == "change" and hold.baseline == "2"
    assert hold.reason == "changed by bbbbbbbbbb (Alice): Revert \"update churn\""
    assert decide_hold(log, None, "3") is None  # a new decision lifts it
    assert decide_hold(log, None, None) is not None  # a demotion never lifts it
    assert decide_hold([ours("c", "2"), *log], None, "2") is None  # ours again: no hold


def test_unhold_releases_exactly_the_change_it_saw() -> None:
    log = [person("b"), ours("a", "2")]
    released = HoldRecord(
        "released", "mlflow", "churn", "production", "churn/production", commit="b" * 40
    )
    assert decide_hold(log, released, "2") is None
    newer = [person("c"), *log]
    assert decide_hold(newer, released, "2") is not None


def test_a_manual_hold_lifts_only_with_unhold_and_reports_registry_moves() -> None:
    record = HoldRecord(
        "manual", "mlflow", "churn", "production", "churn/production", reason="incident", by="bob",
        selected="6",
    )
    hold = decide_hold([ours("a", "6")], record, "7")
    assert hold is not None and hold.cause == "manual"
    assert hold.reason == (
        "held by bob with gitops-watcher hold: incident; the registry now selects 7 (not applied)"
    )
    assert HoldRecord.from_json(record.to_json()) == record
    assert HoldRecord.from_json(b'{"format": 9, "kind": "manual"}') is None


# -- rollbacks and soak ---------------------------------------------------------------------


def test_rollbacks_go_one_step_further_back_each_time() -> None:
    log = [ours("c", "7"), ours("b", "6"), ours("a", "5", action="deploy")]
    assert revisions_run(log) == ["5", "6", "7"]
    assert ran_before(log, "6") and not ran_before(log, "8")
    rolled = [ours("d", "6", **{"Gitops-Watcher-Rollback": "7"}), *log]
    assert revisions_run(rolled) == ["5", "6"]
    assert revisions_run([ours("e", "5", **{"Gitops-Watcher-Rollback": "6"}), *rolled]) == ["5"]


def test_soak_counts_from_the_first_deploy_of_the_current_run() -> None:
    log = [ours("c", "7", time=1500), ours("b", "7", time=1000), ours("a", "6", time=10)]
    wait = check_soak(log, "staging", "v7", "7", 1800, now=2000)
    assert wait is not None and wait.reason == "800 s more in staging" and wait.wake_at == 2800
    assert check_soak(log, "staging", "v7", "7", 1800, now=2800) is None
    other = check_soak(log, "staging", "v8", "8", 1800, now=2800)
    assert other is not None and other.reason == "v8 does not run in staging yet"
    held = check_soak([person("d"), *log], "staging", "v7", "7", 1800, now=9000)
    assert held is not None and "held in staging" in held.reason
