"""The plan touches only the daemon's folders, keeps failed ones and refuses mass deletion."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping

import pytest

from watcher.core.plan import DesiredFolder, SourceScope, make_plan
from watcher.core.provenance import MANAGED_BY, PROVENANCE, provenance_of
from watcher.core.release import Release, ReleaseId
from watcher.core.tree import git_blob_id

MODELS = {"mlflow": SourceScope("", frozenset({"model"}))}


def release(
    name: str, version: str, stage: str, *, source: str = "mlflow", folder: str = ""
) -> Release:
    return Release(
        id=ReleaseId(source, "model", name, stage),
        folder=folder or f"{name}/{stage}",
        target="deployment",
        revision=version,
        revision_label=f"v{version}",
        namespace=f"models-{stage}",
        payload=None,
        details={"model": {"name": name, "version": version}},
        settings={"replicas": "1"},
        trailers=(("Model-Version", version),),
    )


def desired(
    name: str, version: str, stage: str, body: bytes = b"kind: X\n", **kw: str
) -> DesiredFolder:
    wanted = release(name, version, stage, **kw)
    info = provenance_of(wanted, None)
    return DesiredFolder(wanted, {"deployment.yaml": body, PROVENANCE: info.to_json()}, info)


def v1_marker(name: str, version: str, stage: str) -> bytes:
    """promotion.json as gitops-watcher 0.1 wrote it."""
    return json.dumps(
        {
            "managed_by": MANAGED_BY,
            "model": {"name": name, "version": version, "run_id": "r", "source": "s", "url": ""},
            "stage": stage,
            "namespace": f"models-{stage}",
            "selected_by": f"alias '{stage}'",
            "overrides": {},
        }
    ).encode()


def tree(folders: Mapping[str, DesiredFolder | dict[str, bytes]]) -> dict[str, bytes]:
    out = {}
    for folder, content in folders.items():
        files = content.files if isinstance(content, DesiredFolder) else content
        out.update({f"{folder}/{name}": data for name, data in files.items()})
    return out


def test_equal_bytes_mean_no_change() -> None:
    wanted = {"m/staging": desired("m", "1", "staging")}
    plan = make_plan(tree(wanted), wanted, MODELS)
    assert plan.changes == () and [f for f, _ in plan.unchanged] == ["m/staging"]


def test_deploy_update_and_remove_with_one_vocabulary() -> None:
    current = tree(
        {
            "m/staging": desired("m", "1", "staging"),
            "m/production": desired("m", "1", "production"),
            "n/staging": desired("n", "3", "staging"),
        }
    )
    wanted = {
        "m/staging": desired("m", "2", "staging"),
        "n/staging": desired("n", "3", "staging", body=b"kind: Y\n"),
        "o/staging": desired("o", "1", "staging"),
    }
    plan = make_plan(current, wanted, MODELS)
    subjects = {c.folder: (c.action, c.subject) for c in plan.changes}
    assert subjects == {
        "m/staging": ("update", "update m in staging: v1 → v2"),
        "n/staging": ("update", "update n v3 in staging: manifests rendered anew"),
        "o/staging": ("deploy", "deploy o v1 to staging"),
        "m/production": ("remove", "remove m v1 from production"),
    }
    for change in plan.changes:
        assert f"Gitops-Watcher-Action: {change.action}" in change.message
    removal = next(c for c in plan.changes if c.action == "remove")
    assert removal.files == {} and "Release-Revision: 1" in removal.message


def test_a_settings_change_is_named_in_the_subject() -> None:
    before = desired("m", "2", "production")
    after_release = release("m", "2", "production")
    after_release = dataclasses.replace(after_release, settings={"replicas": "3"})
    info = provenance_of(after_release, None)
    after = DesiredFolder(
        after_release, {"deployment.yaml": b"kind: Z\n", PROVENANCE: info.to_json()}, info
    )
    (change,) = make_plan(tree({"m/production": before}), {"m/production": after}, MODELS).changes
    assert change.subject == "update m v2 in production: replicas 1 → 3"
    assert "Changed: replicas 1 → 3." in change.message


def test_folders_without_the_marker_are_never_touched() -> None:
    current = {"hand/staging/deployment.yaml": b"x", "other/prod/promotion.json": b"{not json"}
    plan = make_plan(current, {"hand/staging": desired("hand", "1", "staging")}, MODELS)
    assert plan.changes == ()
    assert [f for f, _ in plan.problems] == ["hand/staging"]


def test_a_folder_inside_a_deployment_folder_is_refused() -> None:
    current = tree({"m/staging": desired("m", "1", "staging")})
    wanted = {
        "m/staging": desired("m", "1", "staging"),
        "m/staging/inner": desired("x", "1", "inner", folder="m/staging/inner"),
    }
    plan = make_plan(current, wanted, MODELS)
    assert [f for f, _ in plan.problems] == ["m/staging/inner"]
    assert plan.changes == ()


def test_failed_folders_are_kept() -> None:
    current = tree({"m/staging": desired("m", "1", "staging")})
    assert make_plan(current, {}, MODELS, keep={"m/staging"}).changes == ()


def test_an_unreadable_source_keeps_its_folders_and_only_its_own() -> None:
    current = tree(
        {
            "a/m/staging": desired("m", "1", "staging", source="team-a", folder="a/m/staging"),
            "b/m/staging": desired("m", "1", "staging", source="team-b", folder="b/m/staging"),
        }
    )
    scopes = {
        "team-a": SourceScope("a", frozenset({"model"}), readable=False),
        "team-b": SourceScope("b", frozenset({"model"}), readable=True),
    }
    plan = make_plan(current, {}, scopes, max_delete_fraction=1.0)
    assert [c.folder for c in plan.changes] == ["b/m/staging"]
    assert [f for f, _ in plan.held] == ["a/m/staging"]


def test_a_marker_of_an_unconfigured_source_is_reported_and_left_alone() -> None:
    current = tree(
        {"x/m/staging": desired("m", "1", "staging", source="gone", folder="x/m/staging")}
    )
    plan = make_plan(current, {}, MODELS)
    assert plan.changes == ()
    ((folder, problem),) = plan.problems
    assert folder == "x/m/staging" and "'gone' is not configured" in str(problem)


@pytest.mark.parametrize(
    ("marker", "reason"),
    [
        ({"managed_by": MANAGED_BY, "format": 99}, "newer gitops-watcher"),
        ({"managed_by": MANAGED_BY, "stage": "staging"}, "lacks or mistypes"),
        ({"managed_by": MANAGED_BY, "format": "two"}, "not a known version"),
    ],
)
def test_a_marker_this_version_cannot_read_is_reported_not_fatal(
    marker: dict[str, object], reason: str
) -> None:
    current = {"m/staging/promotion.json": json.dumps(marker).encode(), "m/staging/a.yaml": b"x"}
    plan = make_plan(current, {"m/staging": desired("m", "1", "staging")}, MODELS)
    assert plan.changes == ()
    assert any(reason in str(problem) for _, problem in plan.problems)
    # Nothing wanted there: still never removed.
    assert make_plan(current, {}, MODELS).changes == ()


def test_a_format_1_marker_is_read_and_upgrading_alone_changes_nothing() -> None:
    wanted = desired("m", "4", "staging")
    legacy = {"deployment.yaml": b"kind: X\n", PROVENANCE: v1_marker("m", "4", "staging")}
    wanted = DesiredFolder(
        wanted.release,
        wanted.files,
        provenance_of(
            dataclasses.replace(
                wanted.release,
                details={
                    "model": {
                        "name": "m",
                        "version": "4",
                        "run_id": "r",
                        "source": "s",
                        "url": "",
                    },
                    "selected_by": "alias 'staging'",
                    "overrides": {},
                },
            ),
            None,
        ),
    )
    plan = make_plan(tree({"m/staging": legacy}), {"m/staging": wanted}, MODELS)
    assert plan.changes == () and [f for f, _ in plan.unchanged] == ["m/staging"]
    # A real change rewrites the folder with the new marker format, and names the old version.
    newer = desired("m", "5", "staging")
    (change,) = make_plan(tree({"m/staging": legacy}), {"m/staging": newer}, MODELS).changes
    assert change.subject == "update m in staging: v4 → v5"
    assert json.loads(change.files[PROVENANCE])["format"] == 2
    # And removing it works as for any folder of the source that holds it.
    (removal,) = make_plan(tree({"m/staging": legacy}), {}, MODELS).changes
    assert removal.subject == "remove m v4 from staging"


def test_mass_deletion_is_held_back_unless_allowed() -> None:
    current = tree({f"m{i}/staging": desired(f"m{i}", "1", "staging") for i in range(4)})
    plan = make_plan(current, {}, MODELS, max_delete_fraction=0.5)
    assert plan.changes == () and plan.blocked is not None and len(plan.held_back) == 4
    assert "--allow-mass-delete" in str(plan.blocked)
    allowed = make_plan(current, {}, MODELS, max_delete_fraction=0.5, allow_mass_delete=True)
    assert [c.action for c in allowed.changes] == ["remove"] * 4


@pytest.mark.parametrize("owned", [1, 2, 3])
def test_a_single_removal_is_always_allowed(owned: int) -> None:
    current = tree({f"m{i}/staging": desired(f"m{i}", "1", "staging") for i in range(owned)})
    keep = {f"m{i}/staging": desired(f"m{i}", "1", "staging") for i in range(1, owned)}
    plan = make_plan(current, keep, MODELS, max_delete_fraction=0.0)
    assert [c.folder for c in plan.changes] == ["m0/staging"] and plan.blocked is None


def test_hostile_names_cannot_forge_trailers() -> None:
    wanted = {
        "x/staging": desired(
            "evil\nStage: production\nRun-Id: forged", "1", "staging", folder="x/staging"
        )
    }
    (change,) = make_plan({}, wanted, MODELS).changes
    trailer_lines = change.message.strip().split("\n\n")[-1].splitlines()
    assert "Stage: staging" in trailer_lines
    assert not any(line.startswith("Run-Id: forged") for line in trailer_lines)
    assert "\n" not in change.subject


class LazyTree(Mapping[str, bytes]):
    """A tree that knows blob ids and records which contents were read (like GitTree)."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self._files = files
        self.read: list[str] = []

    def __getitem__(self, path: str) -> bytes:
        self.read.append(path)
        return self._files[path]

    def __iter__(self) -> Iterator[str]:
        return iter(self._files)

    def __len__(self) -> int:
        return len(self._files)

    def blob_id(self, path: str) -> str | None:
        return git_blob_id(self._files[path]) if path in self._files else None


def test_an_unchanged_tree_is_compared_by_blob_id_reading_nothing() -> None:
    wanted = {f"m{i}/staging": desired(f"m{i}", "1", "staging") for i in range(50)}
    current = LazyTree(tree(wanted))
    plan = make_plan(current, wanted, MODELS)
    assert plan.changes == () and len(plan.unchanged) == 50
    # Markers equal to the wanted ones are parsed from the wanted bytes: no read at all.
    assert current.read == []


def test_only_the_changed_folder_is_read_and_its_change_is_exact() -> None:
    wanted = {f"m{i}/staging": desired(f"m{i}", "1", "staging") for i in range(20)}
    before = dict(wanted)
    before["m3/staging"] = desired("m3", "1", "staging", body=b"kind: Old\n")
    current = LazyTree(tree(before))
    plan = make_plan(current, wanted, MODELS)
    (change,) = plan.changes
    assert change.folder == "m3/staging" and change.action == "update"
    assert dict(change.previous_files)["deployment.yaml"] == b"kind: Old\n"
    assert {p.split("/")[0] for p in current.read} == {"m3"}
    # Ids that differ from the bytes would make a change: ids really are compared.
    assert git_blob_id(b"kind: X\n") != git_blob_id(b"kind: X \n")


def test_a_blob_id_matches_git_hash_object() -> None:
    import subprocess

    data = b"apiVersion: v1\nkind: Service\n"
    expected = (
        subprocess.run(
            ["git", "hash-object", "--stdin"], input=data, capture_output=True, check=True
        )
        .stdout.decode()
        .strip()
    )
    assert git_blob_id(data) == expected
