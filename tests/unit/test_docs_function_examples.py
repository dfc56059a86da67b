"""The complete examples of docs/functions.md validate and render, as documented.

Every fenced block of the page whose first line is ``# file: <path>`` is written
to that path; the folder is then checked with ``gitops-watcher validate`` and
rendered with the built-in templates (each object checked against the Kubernetes
schema), so the page cannot drift from what the daemon accepts.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import yaml

from watcher.adapters.templates import template_loader
from watcher.commands.validate import validate_paths
from watcher.core.functions.catalog import read_catalog
from watcher.core.functions.releases import FunctionStage, build_releases
from watcher.core.targets import make_environment
from watcher.sources.functions.source import read_folder
from watcher.targets.functions import function_targets

DOC = Path(__file__).resolve().parents[2] / "docs" / "functions.md"
_BLOCK = re.compile(r"^```[a-z]*\n# file: (?P<path>\S+)\n(?P<body>.*?)^```$", re.M | re.S)
STAGES = (
    FunctionStage("staging", "functions-staging"),
    FunctionStage("production", "functions-production", production=True),
)


def documented_files(root: Path) -> list[str]:
    """Write the page's ``# file:`` blocks under ``root``; their paths."""
    paths = []
    for match in _BLOCK.finditer(DOC.read_text(encoding="utf-8")):
        path = root / match["path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# file: {match['path']}\n{match['body']}", encoding="utf-8")
        paths.append(match["path"])
    return paths


def test_the_examples_are_complete_specs_with_overlays(tmp_path: Path) -> None:
    paths = documented_files(tmp_path)
    assert sorted(paths) == [
        "functions/churn-dashboard.overlay.yaml",
        "functions/churn-dashboard.yaml",
        "functions/churn-score.yaml",
        "functions/score.py",
        "functions/task-churn-score-serve.overlay.yaml",
        "functions/task-churn-score-serve.yaml",
    ]


def test_the_examples_validate(tmp_path: Path) -> None:
    documented_files(tmp_path)
    out = io.StringIO()
    assert validate_paths([tmp_path / "functions"], out) == 0, out.getvalue()
    assert out.getvalue() == "ok: 2 spec(s) checked\n"


def test_the_examples_render_what_the_page_says(tmp_path: Path) -> None:
    documented_files(tmp_path)
    catalog = read_catalog(read_folder(tmp_path / "functions"))
    releases, failures = build_releases("functions", "functions", catalog, STAGES)
    assert not failures, [str(f.error) for f in failures]
    targets = function_targets(make_environment(template_loader()), "1.33")
    kinds: dict[str, set[str]] = {}
    for release in releases:
        files = targets[release.target].render(release, None)
        objects = [d for name, data in files.items() for d in yaml.safe_load_all(data) if d]
        kinds[release.folder] = {o["kind"] for o in objects if o["kind"] != "Kustomization"}
    assert kinds == {
        "functions/churn-dashboard/staging": {"Deployment", "Service", "Ingress"},
        "functions/churn-dashboard/production": {"Deployment", "Service", "Ingress"},
        "functions/churn-score-serve/staging": {"ConfigMap", "Deployment", "Service"},
        "functions/churn-score-serve/production": {
            "ConfigMap",
            "Deployment",
            "Service",
            "HTTPRoute",
        },
    }
