"""Hostile input: names, tags, descriptions, function specs, overlays and user templates.

A value is data, never code: ``{{ … }}`` in a tag or description reaches the
manifests as the same text, YAML in a value stays one string, 1 MB values fail
their own release quickly, and a user template (``render.templates_dir``) runs
in Jinja2's sandbox: trying to reach Python internals, files or the environment
fails that release with a TemplateError and leaks nothing. Registry values go
through a real MLflow server and a real reconcile; spec and template cases run
the same pure code the daemon runs, offline.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.builders import decide, model, snapshot, version
from tests.builders import settings as make_settings
from tests.integration.test_reconcile_e2e import remote_files
from tests.servers.mlflow_server import MlflowServer, register_version
from tests.servers.mlflow_webhook import base_config
from watcher.adapters.templates import template_loader
from watcher.config.settings import Credentials, Settings
from watcher.core.functions.catalog import read_catalog
from watcher.core.functions.releases import FunctionStage, build_releases
from watcher.core.names import model_slug
from watcher.core.targets import make_environment
from watcher.errors import TemplateError
from watcher.sources.functions.source import read_folder
from watcher.targets.functions import function_targets
from watcher.wiring import build_reconciler, build_targets

pytestmark = [pytest.mark.slow]

PLANTED = "planted-env-secret-" + "Zq9" * 8
INJECTION = '{{ 7*7 }} {% raw %}x{% endraw %} ${HOME} "\n---\nkind: Secret\nmetadata: {name: x}'

ESCAPES = {
    "cycler-globals": "{{ cycler.__init__.__globals__ | yaml }}",
    "lipsum-globals": "{{ lipsum.__globals__['os'].environ | yaml }}",
    "joiner-globals": "{{ joiner.__init__.__globals__.os.popen('id').read() | yaml }}",
    "self-dict": "{{ self.__dict__ | yaml }}",
    "class-mro": "{{ ''.__class__.__mro__[1].__subclasses__() | yaml }}",
    "range-self": "{{ range.__self__ | yaml }}",
    "namespace-init": "{{ namespace.__init__.__globals__ | yaml }}",
    "config": "{{ config | yaml }}",
    "environ": "{{ environ | yaml }}",
    "request": "{{ request.environ | yaml }}",
    "include-passwd": "{% include '/etc/passwd' %}",
    "include-dotdot": "{% include '../../../../../../etc/passwd' %}",
    "import-os": "{% import 'os' as os %}{{ os | yaml }}",
    "format-attr": "{{ '{0.__class__.__init__.__globals__}'.format(cycler) | yaml }}",
    "str-format-map": "{{ '%s' % cycler.__init__ | yaml }}",
    "raw-insert": "{{ model }}",
}


def _release(tmp_path: Path, template: str) -> tuple[Any, Any]:
    user = tmp_path / "templates" / "model"
    user.mkdir(parents=True)
    (user / "deployment.yaml.j2").write_text(template)
    config = make_settings(render={"templates_dir": str(tmp_path / "templates")})
    read = decide(snapshot(model("m", [version("m", 1)], {"champion": 1})), config)
    (release,) = [r for r in read.releases if r.id.stage == "production"]
    return build_targets(config)[release.target], release


@pytest.mark.parametrize("template", ESCAPES.values(), ids=ESCAPES.keys())
def test_a_user_template_cannot_reach_files_the_environment_or_python(
    template: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITOPS_WATCHER_PLANTED", PLANTED)
    target, release = _release(tmp_path, template)
    with pytest.raises(TemplateError) as caught:
        target.render(release, None)
    text = str(caught.value) + repr(caught.value.__cause__)
    for leak in (PLANTED, "root:x:0:0", "uid=", "/usr/lib/python", "<module 'os'"):
        assert leak not in text


def test_values_are_data_a_template_in_a_value_is_never_evaluated() -> None:
    # The run id reaches the manifests as an annotation, verbatim (a tag such as "note"
    # reaches none, so it could not show an evaluation).
    hostile = dataclasses.replace(
        version("m", 1, **{"note": INJECTION, "deploy.production.replicas": "2"}),
        run_id=INJECTION,
    )
    read = decide(snapshot(model("m", [hostile], {"champion": 1})), make_settings())
    (release,) = [r for r in read.releases if r.id.stage == "production"]
    files = build_targets(make_settings())[release.target].render(release, None)
    run_ids = []
    for name, data in files.items():
        documents = list(yaml.safe_load_all(data))
        assert len(documents) == 1, name
        assert documents[0]["kind"] != "Secret"
        run_ids += _values_of(documents[0], "gitops-watcher.io/run-id")
    # The same text, read back from the YAML: not evaluated, not split into documents.
    assert run_ids and set(run_ids) == {INJECTION}, run_ids


def _values_of(node: Any, key: str) -> list[Any]:
    """Every value stored under ``key``, at any depth."""
    if isinstance(node, dict):
        found = [node[key]] if key in node else []
        return found + [v for child in node.values() for v in _values_of(child, key)]
    if isinstance(node, list):
        return [v for child in node for v in _values_of(child, key)]
    return []


def test_a_deep_or_huge_function_spec_and_overlay_fail_alone(tmp_path: Path) -> None:
    specs = tmp_path / "specs"
    specs.mkdir()
    good = Path(__file__).parents[1] / "fixtures" / "functions" / "mlrun" / "my-app.yaml"
    (specs / "my-app.yaml").write_bytes(good.read_bytes())
    data = yaml.safe_load(good.read_text())
    # Path traversal in the name; a value of 1 MB; nesting 5,000 levels deep; injection.
    traversal = {**data, "metadata": {**data["metadata"], "name": "../../../etc"}}
    (specs / "traversal.yaml").write_text(yaml.safe_dump(traversal))
    huge = json.loads(json.dumps(data))
    huge["metadata"]["name"] = "huge"
    huge["spec"]["env"].append({"name": "BIG", "value": "x" * 1_000_000})
    (specs / "huge.yaml").write_text(yaml.safe_dump(huge))
    (specs / "deep.yaml").write_text(
        "kind: application\nmetadata: {name: deep}\nspec:\n  config: " + "[" * 5000 + "]" * 5000
    )
    injected = json.loads(json.dumps(data))
    injected["metadata"]["name"] = "injected"
    (specs / "injected.yaml").write_text(yaml.safe_dump(injected))
    (specs / "injected.overlay.yaml").write_text(
        yaml.safe_dump({"defaults": {"env": {"TITLE": INJECTION}}})
    )
    (specs / "my-app.overlay.yaml").write_text(
        "defaults:\n  env: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n"
    )

    files = read_folder(specs)
    stages = [FunctionStage("staging", "functions-staging", False)]
    releases, failures = build_releases("functions", "functions", read_catalog(files), stages)
    targets = function_targets(make_environment(template_loader()), "1.33")
    rendered: dict[str, bytes] = {}
    for release in releases:
        assert release.folder.startswith("functions/") and ".." not in release.folder.split("/")
        for name, content in targets[release.target].render(release, None).items():
            rendered[f"{release.folder}/{name}"] = content
    failed = " ".join(str(f.error) for f in failures)
    assert "huge" not in {r.id.name for r in releases}  # over 900 kB: not read at all
    assert "injected" in {r.id.name for r in releases}
    assert "my-app" not in {r.id.name for r in releases} and "my-app" in failed  # bad overlay
    assert not any(part == "etc" for path in rendered for part in path.split("/"))
    assert all(len(str(f.error)) < 2000 for f in failures)
    injected_files = {k: v for k, v in rendered.items() if "/injected/" in k}
    assert any(INJECTION.encode() not in v and b"7*7" in v for v in injected_files.values())
    for path, content in injected_files.items():
        if path.endswith(".yaml"):
            (doc,) = list(yaml.safe_load_all(content))
            assert doc["kind"] != "Secret", path


def test_hostile_registry_values_through_a_real_server_stay_data(
    mlflow_server: MlflowServer, bare_remote: Path, tmp_path: Path, unique_model_name: Any
) -> None:
    from mlflow.exceptions import MlflowException

    client = mlflow_server.client()
    unicode_name = unique_model_name("modèle-ünï-日本-😀")
    dots = unique_model_name("..")
    injected = unique_model_name("inj")
    huge = unique_model_name("huge")
    for name in (unicode_name, dots, injected, huge):
        register_version(client, name)
        client.update_registered_model(name, description=INJECTION)
        client.set_registered_model_alias(name, "staging", "1")
    client.set_model_version_tag(injected, "1", "note", INJECTION)
    client.set_model_version_tag(injected, "1", "deploy.staging.cpu", "{{ 7*7 }}")
    # MLflow caps a tag value at 100,000 characters; a description may be 1 MB.
    client.set_model_version_tag(huge, "1", "deploy.staging.memory", "1" * 99_999)
    client.update_registered_model(huge, description="{{ 7*7 }}" * 110_000)
    # The registry itself refuses path separators in names and odd aliases.
    for refused in (lambda: client.create_registered_model(unique_model_name("a/../../b")),
                    lambda: client.set_registered_model_alias(dots, "../x", "1")):  # fmt: skip
        with pytest.raises(MlflowException):
            refused()

    config = base_config(mlflow_server, bare_remote, tmp_path / "state", unique_model_name.prefix)
    settings = Settings.model_validate(config)
    with build_reconciler(settings, Credentials()) as reconciler:
        result = reconciler.reconcile()
    failed = {(f.id.name, str(f.error)) for f in result.failures}
    assert {name for name, _ in failed} == {injected, huge}, failed
    assert all(len(error) < 1000 for _, error in failed)
    files = remote_files(bare_remote)
    assert all(path.startswith("deployments/") for path in files)
    for name in (unicode_name, dots):
        folder = f"deployments/{model_slug(name)}/staging"
        assert f"{folder}/promotion.json" in files, sorted(files)
        deployment = yaml.safe_load(files[f"{folder}/deployment.yaml"])
        assert deployment["metadata"]["annotations"]["gitops-watcher.io/model-name"] == name
    for path, data in files.items():
        if path.endswith(".yaml"):
            assert all(doc.get("kind") != "Secret" for doc in yaml.safe_load_all(data))
    assert os.path.commonpath([str(bare_remote)]) == str(bare_remote)


def test_a_spec_that_grows_past_the_size_limit_keeps_its_deployment(tmp_path: Path) -> None:
    import subprocess

    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    specs = tmp_path / "specs"
    specs.mkdir()
    fixture = Path(__file__).parents[1] / "fixtures" / "functions" / "mlrun" / "my-app.yaml"
    data = yaml.safe_load(fixture.read_text())
    for name in ("app-a", "app-b", "app-c", "app-d"):
        spec = {**data, "metadata": {**data["metadata"], "name": name}}
        (specs / f"{name}.yaml").write_text(yaml.safe_dump(spec))
    settings = Settings.model_validate(
        {
            "state_dir": str(tmp_path / "state"),
            "git": {"repo_url": str(remote), "push_backoff_seconds": 0},
            "functions": [{"folder": str(specs)}],
            "artifacts": {"store": "none"},
        }
    )
    with build_reconciler(settings, Credentials()) as reconciler:
        assert reconciler.reconcile().pushed
        grown = {**data, "metadata": {**data["metadata"], "name": "app-a"}}
        grown["spec"]["env"] = [*grown["spec"]["env"], {"name": "BIG", "value": "x" * 1_000_000}]
        (specs / "app-a.yaml").write_text(yaml.safe_dump(grown))
        result = reconciler.reconcile()
    assert "functions/app-a/staging/promotion.json" in {
        p.removeprefix("deployments/") for p in remote_files(remote)
    }
    assert any(f.id.name == "app-a" for f in result.failures)
