"""The plan touches only the daemon's folders, keeps failed ones and refuses mass deletion."""

from __future__ import annotations

import json

import pytest

from watcher.core.plan import make_plan
from watcher.core.render import MANAGED_BY, PROVENANCE


def marker(name: str, version: str, stage: str) -> bytes:
    return json.dumps(
        {
            "managed_by": MANAGED_BY,
            "model": {"name": name, "version": version, "run_id": "r", "source": "s"},
            "stage": stage,
            "namespace": f"models-{stage}",
            "selected_by": f"alias '{stage}'",
        }
    ).encode()


def folder(name: str, version: str, stage: str, body: bytes = b"kind: X\n") -> dict[str, bytes]:
    return {"deployment.yaml": body, PROVENANCE: marker(name, version, stage)}


def tree(**folders: dict[str, bytes]) -> dict[str, bytes]:
    return {
        f"{key.replace('__', '/')}/{file}": data
        for key, files in folders.items()
        for file, data in files.items()
    }


def test_equal_bytes_mean_no_change() -> None:
    wanted = {"m/staging": folder("m", "1", "staging")}
    plan = make_plan(tree(m__staging=wanted["m/staging"]), wanted)
    assert plan.changes == () and plan.unchanged == ("m/staging",)


def test_create_update_and_remove_with_messages() -> None:
    current = tree(
        m__staging=folder("m", "1", "staging"),
        m__production=folder("m", "1", "production"),
        n__staging=folder("n", "3", "staging"),
    )
    wanted = {
        "m/staging": folder("m", "2", "staging"),
        "n/staging": folder("n", "3", "staging", body=b"kind: Y\n"),
        "o/staging": folder("o", "1", "staging"),
    }
    plan = make_plan(current, wanted)
    subjects = {c.folder: (c.kind, c.subject) for c in plan.changes}
    assert subjects == {
        "m/staging": ("update", "promote m v2 to staging (was v1)"),
        "n/staging": ("update", "update n v3 in staging"),
        "o/staging": ("create", "promote o v1 to staging"),
        "m/production": ("remove", "demote m v1 from production"),
    }
    removal = next(c for c in plan.changes if c.kind == "remove")
    assert removal.files == {}
    assert (
        "Model-Version: 1" in removal.message and "Gitops-Watcher-Action: demote" in removal.message
    )


def test_folders_without_the_marker_are_never_touched() -> None:
    current = {"hand/staging/deployment.yaml": b"x", "other/prod/promotion.json": b"{not json"}
    plan = make_plan(current, {"hand/staging": folder("hand", "1", "staging")})
    assert plan.changes == ()
    assert [f for f, _ in plan.conflicts] == ["hand/staging"]


def test_failed_folders_are_kept() -> None:
    current = tree(m__staging=folder("m", "1", "staging"))
    assert make_plan(current, {}, keep={"m/staging"}).changes == ()


def test_mass_deletion_is_held_back_unless_allowed() -> None:
    current = tree(**{f"m{i}__staging": folder(f"m{i}", "1", "staging") for i in range(4)})
    plan = make_plan(current, {}, max_delete_fraction=0.5)
    assert plan.changes == () and plan.blocked is not None and len(plan.held_back) == 4
    assert "--allow-mass-delete" in str(plan.blocked)
    allowed = make_plan(current, {}, max_delete_fraction=0.5, allow_mass_delete=True)
    assert [c.kind for c in allowed.changes] == ["remove"] * 4


@pytest.mark.parametrize("owned", [1, 2, 3])
def test_a_single_removal_is_always_allowed(owned: int) -> None:
    current = tree(**{f"m{i}__staging": folder(f"m{i}", "1", "staging") for i in range(owned)})
    keep = {f"m{i}/staging": folder(f"m{i}", "1", "staging") for i in range(1, owned)}
    plan = make_plan(current, keep, max_delete_fraction=0.0)
    assert [c.folder for c in plan.changes] == ["m0/staging"] and plan.blocked is None


def test_hostile_names_cannot_forge_trailers() -> None:
    wanted = {
        "x/staging": {PROVENANCE: marker("evil\nStage: production\nRun-Id: forged", "1", "staging")}
    }
    (change,) = make_plan({}, wanted).changes
    trailer_lines = change.message.strip().split("\n\n")[-1].splitlines()
    assert "Stage: staging" in trailer_lines
    assert not any(line.startswith("Run-Id: forged") for line in trailer_lines)
    assert "\n" not in change.subject
