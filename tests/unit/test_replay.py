"""A plan made on an older head is made again on a newer one only when the commits in
between touched none of its folders: ``watcher.core.replay``."""

from __future__ import annotations

from collections.abc import Mapping

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.test_plan import MODELS, desired, tree
from watcher.core.plan import DesiredFolder, Plan, make_plan
from watcher.core.replay import holds_after, spoken_folders

CURRENT = tree(
    {
        "a/staging": desired("a", "1", "staging"),
        "b/staging": desired("b", "1", "staging"),
        "gone/staging": desired("gone", "1", "staging"),
    }
)
WANTED = {
    "a/staging": desired("a", "2", "staging"),
    "b/staging": desired("b", "1", "staging"),
    "new/staging": desired("new", "1", "staging"),
}


def plan_now() -> Plan:
    return make_plan(CURRENT, WANTED, MODELS)


def test_the_plan_speaks_for_what_it_writes_removes_and_leaves() -> None:
    assert spoken_folders(plan_now()) == {"a/staging", "b/staging", "gone/staging", "new/staging"}


def test_commits_elsewhere_leave_the_plan_standing() -> None:
    touched = ["other/staging/deployment.yaml", "other/staging/promotion.json", "README.md"]
    assert holds_after(plan_now(), touched)


def test_a_commit_in_a_changed_or_an_unchanged_folder_means_planning_again() -> None:
    assert not holds_after(plan_now(), ["a/staging/deployment.yaml"])
    assert not holds_after(plan_now(), ["b/staging/deployment.yaml"])  # a hand edit: a hold
    assert not holds_after(plan_now(), ["new/staging/promotion.json"])  # someone deployed it
    assert not holds_after(plan_now(), ["gone/staging/extra/notes.txt"])


def test_a_hold_record_or_a_marker_above_a_folder_means_planning_again() -> None:
    assert not holds_after(plan_now(), [".gitops-watcher/holds/x/staging/hold.json"])
    assert not holds_after(plan_now(), ["a/promotion.json"])
    assert not holds_after(plan_now(), ["promotion.json"])
    # A marker beside the folders, not above any of them, regroups nothing of ours.
    assert holds_after(plan_now(), ["ab/promotion.json"])


def same(one: Plan, other: Plan) -> bool:
    def changes(plan: Plan) -> list[tuple[str, str, dict[str, bytes], str]]:
        return [(c.folder, c.action, dict(c.files), c.message) for c in plan.changes]

    def named(plan: Plan) -> list[object]:
        return [
            sorted(f for f, _ in group)
            for group in (plan.unchanged, plan.problems, plan.held_back, plan.held, plan.kept)
        ]

    return changes(one) == changes(other) and named(one) == named(other)


FOLDERS = [f"{name}/{stage}" for name in ("a", "b", "c") for stage in ("staging", "prod")]
EDITS = st.dictionaries(
    st.sampled_from(
        [
            *(f"{folder}/deployment.yaml" for folder in FOLDERS),
            *(f"{folder}/promotion.json" for folder in FOLDERS),
            "a/promotion.json",
            "z/staging/deployment.yaml",
            ".gitops-watcher/holds/a/staging/hold.json",
        ]
    ),
    st.one_of(st.none(), st.sampled_from([b"kind: Z\n", b"{}"])),
    max_size=4,
)


def world(versions: Mapping[str, int]) -> dict[str, DesiredFolder]:
    return {
        folder: desired(folder.split("/")[0], str(version), folder.split("/")[1])
        for folder, version in versions.items()
    }


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.sampled_from(FOLDERS), st.integers(1, 2)),
    st.dictionaries(st.sampled_from(FOLDERS), st.integers(1, 2)),
    EDITS,
)
def test_whenever_the_plan_holds_planning_again_gives_the_same_plan(
    before: dict[str, int], wanted: dict[str, int], edits: dict[str, bytes | None]
) -> None:
    """The rule's promise, over random trees and random commits of another writer."""
    current = tree(world(before))
    desired_now = world(wanted)
    plan = make_plan(current, desired_now, MODELS)
    after = dict(current)
    for path, data in edits.items():
        if data is None:
            after.pop(path, None)
        else:
            after[path] = data
    touched = sorted(path for path in edits if current.get(path) != after.get(path))
    if holds_after(plan, touched):
        assert same(make_plan(after, desired_now, MODELS), plan)
