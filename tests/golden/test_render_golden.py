"""Golden folders: `gitops-watcher render --snapshot` output is byte-for-byte reviewed.

Each case under testdata/ has input/{snapshot.json,config.yaml[,templates/,artifacts.json]}
and expected/ (the rendered tree). Every rendered folder must also build with
`kubectl kustomize`, and every value must parse back to exactly the registry's text.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.tree_compare import assert_same_tree
from watcher.commands.cli import main
from watcher.config.loader import load_settings
from watcher.core.artifacts import ArtifactRef, CopyStats
from watcher.core.release import ArtifactNeed
from watcher.core.stages import NameFilter
from watcher.sources.mlflow.settings_view import stage_policy
from watcher.sources.mlflow.snapshot_file import SnapshotFile
from watcher.sources.mlflow.source import MlflowSource
from watcher.spine.desired_state import build_desired
from watcher.wiring import build_targets

TESTDATA = Path(__file__).parent / "testdata"
CASES = sorted(p.name for p in TESTDATA.iterdir() if (p / "input" / "snapshot.json").is_file())


def render_case(case: str, out: Path) -> int:
    source = TESTDATA / case / "input"
    if (source / "artifacts.json").is_file():
        return render_with_artifacts(source, out)
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


class _GivenCopies:
    """Verified copies handed in from artifacts.json: the one fake, at the artifact port."""

    def __init__(self, refs: dict[tuple[str, ...], ArtifactRef]) -> None:
        self._refs = refs

    def describe(self) -> str:
        return "artifacts.json"

    def check(self, *, dry_run: bool = False) -> None:
        pass

    def ensure(self, need: ArtifactNeed, *, dry_run: bool = False) -> tuple[ArtifactRef, CopyStats]:
        return self._refs[need.key], CopyStats()


def render_with_artifacts(source: Path, out: Path) -> int:
    """As `render --snapshot`, plus verified copies: the CLI renders offline and has none."""
    settings, _ = load_settings(str(source / "config.yaml"), env={})
    refs: dict[tuple[str, ...], ArtifactRef] = {
        (item["model"], item["version"]): ArtifactRef(
            item["uri"], item["digest"], item["files"], item["bytes"]
        )
        for item in json.loads((source / "artifacts.json").read_text())
    }
    models = settings.registry.models
    mlflow = MlflowSource(
        "mlflow",
        "",
        SnapshotFile.read(source / "snapshot.json"),
        tuple(stage_policy(stage, settings.render) for stage in settings.stages),
        NameFilter(models.include, models.exclude),
        _GivenCopies(refs),  # type: ignore[arg-type]
    )
    state = build_desired([mlflow], build_targets(settings))
    for folder, desired in state.folders.items():
        for name, data in desired.files.items():
            path = out / settings.git.path / folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    return 1 if state.failures else 0


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
        assert kinds


def test_hostile_values_arrive_intact_and_inert(tmp_path: Path) -> None:
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
    # No model name reaches a path: names made to escape the output folder are rendered
    # into a sandbox, and every file must land in deployments/<dns-label>/<stage>/<file>.
    escapes = ["../../escape", "/abs/olute", "a/../../b", "..\\..\\win", "x/./.git/hooks"]
    for number, name in enumerate(escapes):
        copy = json.loads(json.dumps(hostile))
        copy["name"] = name
        copy["versions"][0]["run_id"] = f"run{number}"
        snapshot["models"].append(copy)
    sandbox = tmp_path / "sandbox"
    (sandbox / "in").mkdir(parents=True)
    (sandbox / "in" / "snapshot.json").write_text(json.dumps(snapshot))
    source = TESTDATA / "hostile-values" / "input"
    argv = ["-q", "--config", str(source / "config.yaml"), "render"]
    argv += ["--snapshot", str(sandbox / "in" / "snapshot.json"), "--out", str(sandbox / "out")]
    assert main(argv) in (0, 1)
    written = [p.relative_to(sandbox) for p in sandbox.rglob("*") if not p.is_dir()]
    slugs = set()
    for path in written:
        if path.parts[0] == "in":
            continue
        assert len(path.parts) == 5 and path.parts[:2] == ("out", "deployments"), path
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", path.parts[2]), path
        assert not (sandbox / path).is_symlink(), path
        slugs.add(path.parts[2])
    assert len(slugs) == 2 + len(escapes), slugs  # every escaping name rendered, apart
