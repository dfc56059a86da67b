"""Golden folders for function specs: the rendered tree of each case is reviewed byte for byte.

Each case is testdata/functions-<case>/{input,expected}: input is a spec folder
(specs, tasks, overlays, code), expected the folders the function targets render
for the default stages. Every folder must also build with `kubectl kustomize`,
every object must pass kubernetes-validate strict (done while rendering), and
every HTTPRoute must match the Gateway API CRD schema.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.tree_compare import assert_same_tree
from watcher.adapters.templates import template_loader
from watcher.config.function_settings import FunctionSourceSettings
from watcher.core.functions.catalog import read_catalog
from watcher.core.functions.releases import FunctionStage, build_releases
from watcher.core.targets import make_environment
from watcher.sources.functions.source import read_folder
from watcher.targets.functions import function_targets

TESTDATA = Path(__file__).parent / "testdata"
CASES = sorted(
    p.name for p in TESTDATA.iterdir() if p.name.startswith("functions-") and (p / "input").is_dir()
)


def render_case(source: Path, out: Path) -> None:
    settings = FunctionSourceSettings(folder=str(source))
    stages = [FunctionStage(s.name, s.namespace, s.production) for s in settings.stages]
    releases, failures = build_releases(
        settings.name, settings.path, read_catalog(read_folder(source)), stages
    )
    assert not failures, [str(f.error) for f in failures]
    targets = function_targets(make_environment(template_loader()), "1.33")
    for release in releases:
        for name, data in targets[release.target].render(release, None).items():
            path = out / release.folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)


@pytest.mark.parametrize("case", CASES)
def test_rendered_tree_matches_golden(
    case: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    render_case(TESTDATA / case / "input", tmp_path / "out")
    assert_same_tree(
        tmp_path / "out", TESTDATA / case / "expected", request.config.getoption("--update-golden")
    )


def test_rendering_twice_is_byte_identical(tmp_path: Path) -> None:
    for run in ("a", "b"):
        render_case(TESTDATA / "functions-fixtures" / "input", tmp_path / run)
    first = {
        p.relative_to(tmp_path / "a"): p.read_bytes()
        for p in (tmp_path / "a").rglob("*")
        if p.is_file()
    }
    second = {
        p.relative_to(tmp_path / "b"): p.read_bytes()
        for p in (tmp_path / "b").rglob("*")
        if p.is_file()
    }
    assert first == second


def _folders(case: str) -> list[Path]:
    return sorted(p.parent for p in (TESTDATA / case / "expected").rglob("kustomization.yaml"))


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
@pytest.mark.parametrize("case", CASES)
def test_every_folder_builds_with_kustomize(case: str) -> None:
    folders = _folders(case)
    assert folders, f"no kustomization in {case}"
    for folder in folders:
        built = subprocess.run(
            ["kubectl", "kustomize", str(folder)], capture_output=True, text=True, check=False
        )
        assert built.returncode == 0, built.stderr
        assert [d for d in yaml.safe_load_all(built.stdout) if d]


@pytest.mark.parametrize("case", CASES)
def test_http_routes_match_the_gateway_api_schema(case: str) -> None:
    try:
        from tests.crd_schemas import validate_custom_resource
    except ImportError:
        pytest.skip("tests/crd_schemas.py is not there yet: HTTPRoute schema check skipped")
    routes = [
        doc
        for path in (TESTDATA / case / "expected").rglob("*.yaml")
        for doc in yaml.safe_load_all(path.read_text())
        if doc and doc.get("kind") == "HTTPRoute"
    ]
    if not routes:
        pytest.skip(f"{case} renders no HTTPRoute")
    for route in routes:
        validate_custom_resource(route)
