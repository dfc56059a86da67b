"""Golden folders: `gitops-watcher render --snapshot` output is byte-for-byte reviewed.

Each case under testdata/ has input/{snapshot.json,config.yaml[,templates/]} and
expected/ (the rendered tree). Every rendered folder must also build with
`kubectl kustomize`, and every value must parse back to exactly the registry's text.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.tree_compare import assert_same_tree
from watcher.cli import main

TESTDATA = Path(__file__).parent / "testdata"
CASES = sorted(p.name for p in TESTDATA.iterdir() if (p / "input").is_dir())


def render_case(case: str, out: Path) -> int:
    source = TESTDATA / case / "input"
    return main(
        [
            "-q",
            "--config",
            str(source / "config.yaml"),
            "render",
            "--snapshot",
            str(source / "snapshot.json"),
            "--out",
            str(out),
        ]
    )


@pytest.mark.parametrize("case", CASES)
def test_rendered_tree_matches_golden(
    case: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    out = tmp_path / "out"
    assert render_case(case, out) == 0
    assert_same_tree(out, TESTDATA / case / "expected", request.config.getoption("--update-golden"))


def test_rendering_twice_is_byte_identical(tmp_path: Path) -> None:
    for run in ("a", "b"):
        assert render_case("stages-and-overrides", tmp_path / run) == 0
    first = sorted(
        (p.relative_to(tmp_path / "a"), p.read_bytes())
        for p in (tmp_path / "a").rglob("*")
        if p.is_file()
    )
    second = sorted(
        (p.relative_to(tmp_path / "b"), p.read_bytes())
        for p in (tmp_path / "b").rglob("*")
        if p.is_file()
    )
    assert first == second


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
@pytest.mark.parametrize("case", CASES)
def test_every_folder_builds_with_kustomize(case: str) -> None:
    expected = TESTDATA / case / "expected"
    folders = sorted(p.parent for p in expected.rglob("kustomization.yaml"))
    assert folders, f"no kustomization in {case}"
    for folder in folders:
        built = subprocess.run(
            ["kubectl", "kustomize", str(folder)], capture_output=True, text=True, check=False
        )
        assert built.returncode == 0, built.stderr
        kinds = [doc["kind"] for doc in yaml.safe_load_all(built.stdout) if doc]
        assert "Deployment" in kinds


def test_hostile_values_arrive_intact_and_inert() -> None:
    snapshot = json.loads((TESTDATA / "hostile-values" / "input" / "snapshot.json").read_text())
    hostile = snapshot["models"][0]
    expected = TESTDATA / "hostile-values" / "expected" / "deployments"
    (folder,) = [p for p in expected.iterdir() if p.name.startswith("evil")]
    documents = list(yaml.safe_load_all((folder / "staging" / "deployment.yaml").read_text()))
    assert [d["kind"] for d in documents] == ["Deployment"]
    annotations = documents[0]["metadata"]["annotations"]
    assert annotations["gitops-watcher.io/model-name"] == hostile["name"]
    assert annotations["gitops-watcher.io/run-id"] == hostile["versions"][0]["run_id"]
    assert annotations["gitops-watcher.io/source"] == hostile["versions"][0]["source"]
    for path in expected.rglob("*"):
        assert path.resolve().is_relative_to(expected.resolve())
