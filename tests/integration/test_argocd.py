"""Argo CD objects: schema-valid, buildable, and their generator finds exactly the markers.

The ApplicationSet's files generator is checked against rendered repository
trees (the golden folders, which hold what the daemon commits): its glob must
match every promotion.json under git.path and nothing else, the application
names it derives must be distinct valid names, and every marker must carry the
keys its Go templates read.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from argparse import Namespace
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.crd_schemas import validate_custom_resource
from watcher.commands.argocd import argocd_command, marker_glob, render_argocd
from watcher.config.argocd_settings import ArgoCDSettings
from watcher.config.settings import Settings
from watcher.errors import ConfigError

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "testdata"
_GO_FIELD = re.compile(r"\{\{\s*\.([a-z_]+)")


class WithArgo:
    """Settings plus an ``argocd`` group, as the settings tree will hold it."""

    def __init__(self, settings: Settings, argocd: ArgoCDSettings) -> None:
        self.git = settings.git
        self.render = settings.render
        self.argocd = argocd


def settings(git: dict[str, Any] | None = None, **argocd: Any) -> WithArgo:
    base = Settings.model_validate(
        {"git": git or {"repo_url": "ssh://git@git.example.com/platform/gitops.git"}}
    )
    return WithArgo(base, ArgoCDSettings.model_validate(argocd))


FULL: dict[str, Any] = {
    "create_project": True,
    "project": "ml-team",
    "project_namespaces": ["models-*", "functions-*"],
    "repo_web_url": "https://gitlab.example.com/platform/gitops",
    "web_flavor": "gitlab",
    "automated": False,
    "bootstrap_path": "clusters/prod/argocd",
}


def documents(files: dict[str, bytes]) -> list[dict[str, Any]]:
    out = []
    for name, data in sorted(files.items()):
        out += [
            d for d in yaml.safe_load_all(data) if d and not name.endswith("kustomization.yaml")
        ]
    return out


def glob_regex(pattern: str) -> re.Pattern[str]:
    """Doublestar semantics (Argo CD's new globbing; its legacy one agrees for this pattern)."""
    out = ""
    for part in re.split(r"(\*\*/|\*)", pattern):
        out += {"**/": "(?:.*/)?", "*": "[^/]*"}.get(part, re.escape(part))
    return re.compile(out)


@pytest.mark.parametrize("options", [{}, FULL], ids=["defaults", "full"])
def test_every_object_passes_its_crd_schema_and_the_folder_builds(
    options: dict[str, Any], tmp_path: Path
) -> None:
    files = render_argocd(settings(**options))
    kinds = sorted(d["kind"] for d in documents(files))
    assert kinds == ["AppProject", "Application", "ApplicationSet"]
    for document in documents(files):
        validate_custom_resource(document)
    if shutil.which("kubectl"):
        for name, data in files.items():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_bytes(data)
        base = options.get("bootstrap_path", "argocd")
        built = subprocess.run(
            ["kubectl", "kustomize", str(tmp_path / base)], capture_output=True, text=True
        )
        assert built.returncode == 0, built.stderr


def test_the_applicationset_follows_the_settings() -> None:
    files = render_argocd(settings(**FULL))
    (appset,) = [d for d in documents(files) if d["kind"] == "ApplicationSet"]
    (bootstrap,) = [d for d in documents(files) if d["kind"] == "Application"]
    git = appset["spec"]["generators"][0]["git"]
    assert git["repoURL"] == "ssh://git@git.example.com/platform/gitops.git"
    assert git["files"] == [{"path": "deployments/**/promotion.json"}]
    template = appset["spec"]["template"]
    assert template["spec"]["project"] == "ml-team"
    assert "automated" not in template["spec"]["syncPolicy"]
    assert template["spec"]["syncPolicy"]["syncOptions"] == ["CreateNamespace=true"]
    assert template["spec"]["destination"]["namespace"] == "{{ .namespace }}"
    annotations = template["metadata"]["annotations"]
    # The marker's url link is added by the templatePatch, only where the marker has a url.
    assert "link.argocd.argoproj.io/mlflow-model-version" not in annotations
    assert "link.argocd.argoproj.io/mlflow-model-version" in appset["spec"]["templatePatch"]
    assert annotations["link.argocd.argoproj.io/gitops-commits"] == (
        "https://gitlab.example.com/platform/gitops/-/commits/main/{{ .path.path }}"
    )
    assert bootstrap["spec"]["source"]["path"] == "clusters/prod/argocd"
    assert "clusters/prod/argocd/applicationset.yaml" in files and "bootstrap.yaml" in files


def test_defaults_sync_automatically_with_prune_and_self_heal() -> None:
    files = render_argocd(settings())
    (appset,) = [d for d in documents(files) if d["kind"] == "ApplicationSet"]
    template = appset["spec"]["template"]
    assert template["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    assert template["metadata"]["finalizers"] == ["resources-finalizer.argocd.argoproj.io"]


def test_credentials_in_the_repo_url_never_reach_the_objects() -> None:
    files = render_argocd(settings({"repo_url": "https://bot:s3cr3t@git.example.com/g.git"}))
    text = b"".join(files.values()).decode()
    assert "s3cr3t" not in text and "bot@" not in text
    assert "https://git.example.com/g.git" in text


@pytest.mark.parametrize("path", ["deployments", "clusters/prod/apps", ""])
def test_the_generator_matches_exactly_the_markers_of_rendered_trees(path: str) -> None:
    pattern = glob_regex(marker_glob(path))
    trees = [p / "expected" for p in sorted(GOLDEN.iterdir()) if (p / "expected").is_dir()]
    assert len(trees) >= 5
    checked = 0
    for tree in trees:
        files = [p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file()]
        # The golden trees are rendered under "deployments"; place them under ``path``.
        moved = [f"{path}/{f.removeprefix('deployments/')}".lstrip("/") for f in files]
        markers = {f for f in moved if f.endswith("/promotion.json")}
        matched = {f for f in moved if pattern.fullmatch(f)}
        assert matched == markers, tree
        names = []
        for relative in sorted(markers):
            folder = relative.rsplit("/", 1)[0]
            original = tree / ("deployments/" + folder.removeprefix(path).lstrip("/"))
            marker = json.loads((original / "promotion.json").read_text())
            for field in ("name", "namespace", "stage", "kind", "url", "source", "target"):
                assert isinstance(marker.get(field), str), (relative, field)
            assert marker["namespace"], relative
            assert (original / "kustomization.yaml").is_file()
            names.append(
                folder.removeprefix(f"{path}/").replace("/", "-")
                if path
                else folder.replace("/", "-")
            )
            checked += 1
        assert len(set(names)) == len(names)
        for name in names:
            assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name) and len(name) <= 63, name
    assert checked >= 10


def test_the_templates_read_only_keys_every_marker_has() -> None:
    files = render_argocd(settings())
    (appset,) = [d for d in documents(files) if d["kind"] == "ApplicationSet"]
    text = json.dumps([appset["spec"]["template"], appset["spec"]["templatePatch"]])
    used = set(_GO_FIELD.findall(text)) - {"path"}
    assert used == {
        "name",
        "namespace",
        "stage",
        "kind",
        "url",
        "source",
        "target",
        "revision_label",
    }
    for marker in GOLDEN.glob("*/expected/**/promotion.json"):
        data = json.loads(marker.read_text())
        assert used <= set(data), marker


def test_the_command_writes_into_an_empty_folder_only(tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "argo"
    assert argocd_command(Namespace(out=out), settings()) == 0
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == [
        "argocd/applicationset.yaml",
        "argocd/appproject.yaml",
        "argocd/kustomization.yaml",
        "bootstrap.yaml",
    ]
    assert "kubectl apply -n argocd -f" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="not an empty folder"):
        argocd_command(Namespace(out=out), settings())


def test_without_a_repository_it_says_what_to_set() -> None:
    with pytest.raises(ConfigError, match="repository"):
        render_argocd(settings({"repo_url": ""}))
