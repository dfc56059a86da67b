"""A marker's ``url`` becomes an application's link and info row only when there is one.

A model's marker links its MLflow model-version page; a function's links its
spec in git when the source is a repository with a web page, and has no url
otherwise: then the application has no such link and no empty row.

The ApplicationSet is evaluated as Argo CD evaluates it: its ``template`` and its
``templatePatch`` are Go templates, run here by ``helm template`` (Go's
text/template with the sprig functions, as Argo CD's ApplicationSet controller
uses) with a real marker as the parameters. Argo CD then merges the patch into
the application with a strategic merge patch; ``kubectl patch --local --type
merge`` stands in for it, which gives the same result here because the
Application type declares no merge keys for ``metadata.annotations`` (a map:
merged) or ``spec.info`` (a list: replaced), see Argo CD's
applicationset/utils ``applyTemplatePatch``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.test_argocd import documents, settings
from tests.integration.test_functions_runnable import commit_folder, read_releases
from tests.servers.git_http import GitHttpServer
from tests.tools.helm import Helm, ToolUnavailable, helm_binary
from watcher.commands.argocd import render_argocd
from watcher.config.function_settings import FunctionSourceSettings
from watcher.core.functions.catalog import read_catalog
from watcher.core.functions.releases import FunctionOptions, FunctionStage, build_releases
from watcher.core.functions.spec_links import link_template
from watcher.core.provenance import provenance_of

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "testdata"
SPEC = b"kind: application\nmetadata: {name: web-app}\nspec: {image: 'repo/app:1.0.0'}\n"


@pytest.fixture(scope="module")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    try:
        binary = helm_binary()
    except ToolUnavailable as exc:
        pytest.skip(f"no helm binary: {exc}")
    return Helm(binary, tmp_path_factory.mktemp("helm-home"))


def application(helm: Helm, tmp_path: Path, marker: dict[str, Any], folder: str) -> Any:
    """The Application Argo CD would make from this marker in ``folder``."""
    files = render_argocd(settings())
    (appset,) = [d for d in documents(files) if d["kind"] == "ApplicationSet"]
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: appset\nversion: 0.1.0\n")
    app = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application"}
    app.update(appset["spec"]["template"])
    patch_text = appset["spec"]["templatePatch"]
    for name, text in (("app", yaml.safe_dump(app)), ("patch", patch_text)):
        body = "{{- with .Values.params }}\n" + text + "{{- end }}\n"
        (chart / "templates" / f"{name}.yaml").write_text(body)
    params = {**marker, "path": {"path": folder}}
    (chart / "values.yaml").write_text(json.dumps({"params": params}))
    outputs = helm.render(chart)
    (rendered,) = [d for d in outputs if d.get("kind") == "Application"]
    (patch,) = [d for d in outputs if "kind" not in d]
    (tmp_path / "app.yaml").write_text(yaml.safe_dump(rendered))
    merged = subprocess.run(
        ["kubectl", "patch", "--local", "-f", str(tmp_path / "app.yaml"), "--type", "merge",
         "-p", json.dumps(patch), "-o", "yaml"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert merged.returncode == 0, merged.stderr
    return yaml.safe_load(merged.stdout)


def function_marker(options: FunctionOptions) -> dict[str, Any]:
    (release,), _ = build_releases(
        "functions", "functions", read_catalog({"web-app.yaml": SPEC}),
        [FunctionStage("staging", "fs")], options,
    )  # fmt: skip
    return dict(json.loads(provenance_of(release, None).to_json()))


needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="no kubectl")


@needs_kubectl
def test_a_model_links_its_registry_page(helm: Helm, tmp_path: Path) -> None:
    folder = "deployments/fraud-detector/staging"
    marker = json.loads((GOLDEN / "basic/expected" / folder / "promotion.json").read_text())
    app = application(helm, tmp_path, marker, folder)
    assert app["metadata"]["name"] == "fraud-detector-staging"
    url = marker["url"]
    assert app["metadata"]["annotations"]["link.argocd.argoproj.io/mlflow-model-version"] == url
    rows = {row["name"]: row["value"] for row in app["spec"]["info"]}
    assert rows["Registry page"] == url and rows["Name"] == "fraud-detector"
    assert len(rows) == 8


@needs_kubectl
def test_a_function_without_a_url_gets_no_link_and_no_empty_row(
    helm: Helm, tmp_path: Path
) -> None:
    marker = function_marker(FunctionOptions())
    assert marker["url"] == ""
    app = application(helm, tmp_path, marker, "deployments/functions/web-app/staging")
    assert not app["metadata"].get("annotations")
    rows = {row["name"]: row["value"] for row in app["spec"]["info"]}
    assert "Registry page" not in rows and "Function spec" not in rows
    assert all(rows.values()) and len(rows) == 7


@needs_kubectl
def test_a_function_from_a_repository_links_its_spec(helm: Helm, tmp_path: Path) -> None:
    link = link_template("https://github.com/org/specs.git", "main")
    marker = function_marker(FunctionOptions(spec_link=link, spec_folder="teams/web"))
    url = "https://github.com/org/specs/blob/main/teams/web/web-app.yaml"
    assert marker["url"] == url
    app = application(helm, tmp_path, marker, "deployments/functions/web-app/staging")
    assert app["metadata"]["annotations"] == {"link.argocd.argoproj.io/function-spec": url}
    rows = {row["name"]: row["value"] for row in app["spec"]["info"]}
    assert rows["Function spec"] == url and "Registry page" not in rows


@pytest.mark.slow
def test_a_function_read_from_git_names_its_spec_without_credentials(
    tmp_path: Path, git_http_server: GitHttpServer
) -> None:
    remote = git_http_server.create_repo("specs.git")
    commit_folder(tmp_path / "work", remote, {"fn/web-app.yaml": SPEC.decode()})
    secret = git_http_server.password
    userinfo = f"{git_http_server.username}:{secret}"
    settings = FunctionSourceSettings(
        git={"repo_url": git_http_server.url_for("specs.git", userinfo), "path": "fn"}
    )
    releases = read_releases(settings, tmp_path / "state")
    assert {r.url for r in releases} == {f"{git_http_server.url}/specs/blob/main/fn/web-app.yaml"}
    for release in releases:
        assert secret not in provenance_of(release, None).to_json().decode()
