"""Every validation rule has a broken spec here, and each problem names its file and field."""
# ruff: noqa: E501  (the table of broken specs reads best one case a line)

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from watcher.commands.validate import validate_paths
from watcher.core.functions.catalog import read_catalog
from watcher.core.functions.contexts import function_context
from watcher.core.functions.releases import FunctionOptions, FunctionStage, build_releases

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "functions"
STAGES = (FunctionStage("staging", "fs"), FunctionStage("production", "fp", production=True))

APP = """\
kind: application
metadata: {name: my-app}
spec:
  image: repo/app:1.0.0
  command: python
  args: [app.py]
"""
PY = """\
kind: python
metadata: {name: fn, project: p}
spec:
  python_version: PYTHON3_11
  source: {handler: handler, base64: ZGVmIGhhbmRsZXIoKTogcmV0dXJuIDEK}
"""
SERVE_TASK = """\
kind: python+serve
metadata: {name: t1}
spec: {function: "python://p/fn:abc"}
"""


def problems_of(files: dict[str, str], options: FunctionOptions | None = None) -> list[str]:
    catalog = read_catalog({k: v.encode() for k, v in files.items()})
    _releases, failures = build_releases("functions", "functions", catalog, STAGES, options)
    return sorted({str(p) for f in failures for p in getattr(f.error, "problems", ())})


def assert_problem(files: dict[str, str], expected: str, **kw: object) -> None:
    found = problems_of(files, **kw)  # type: ignore[arg-type]
    assert any(expected in p for p in found), found


def test_every_fixture_is_accepted() -> None:
    out = io.StringIO()
    code = validate_paths(
        [
            FIXTURES / "mlrun/my-app.yaml",
            FIXTURES / "mlrun/my-vizro-app.yaml",
            FIXTURES / "digitalhub/task-python-serve.yaml",
            FIXTURES / "digitalhub/python-inline.yaml",
        ],
        out,
    )
    assert code == 0, out.getvalue()


def test_fixture_folder_reports_what_production_needs() -> None:
    out = io.StringIO()
    assert validate_paths([FIXTURES], out) == 1
    text = out.getvalue()
    assert "my-job.yaml: spec.image: 'mlrun/mlrun' is untagged" in text
    assert "task-python-build.yaml: stages.staging.build.destination: is missing" in text


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"a.yaml": "kind: wizard\nmetadata: {name: a}\n"}, "a.yaml: kind: unknown kind 'wizard'"),
        (
            {"a.yaml": "kind: serving\nmetadata: {name: a}\n"},
            "MLRun kind 'serving' is not supported",
        ),
        ({"a.yaml": "kind: nuclio\nmetadata: {name: a}\n"}, "MLRun kind 'nuclio' is not supported"),
        ({"a.yaml": "kind: dask\n"}, "MLRun kind 'dask' is not supported"),
        ({"a.yaml": "metadata: {name: a}\n"}, "a.yaml: kind: is missing"),
        ({"a.yaml": "- just\n- a list\n"}, "a.yaml: (file): must be a YAML mapping, not a list"),
        ({"a.yaml": "kind: [unclosed\n"}, "a.yaml: (file): is not valid YAML at line"),
        ({"a.yaml": ""}, "a.yaml: (file): is empty"),
        (
            {"f.yaml": PY.replace("handler: handler, ", "")},
            "f.yaml: spec.source.handler: is missing",
        ),
        (
            {
                "f.yaml": PY.replace(", base64: ZGVmIGhhbmRsZXIoKTogcmV0dXJuIDEK", ""),
                "f.overlay.yaml": "action: serve\n",
            },
            "f.yaml: spec.source: no source",
        ),
        (
            {"f.yaml": PY.replace("PYTHON3_11", "PYTHON2_7"), "f.overlay.yaml": "action: job\n"},
            "f.yaml: spec.python_version: 'PYTHON2_7' is not supported",
        ),
        (
            {"a.yaml": APP.replace("  command: python\n", "")},
            "a.yaml: spec.args: are set without a command",
        ),
        (
            {"a.yaml": APP + "  internal_application_port: 70000\n"},
            "spec.internal_application_port: '70000' is not a port",
        ),
        (
            {"a.yaml": APP + "  application_ports: [http]\n"},
            "spec.application_ports[0]: 'http' is not a port",
        ),
        (
            {
                "a.yaml": APP
                + "  config:\n    spec.sidecars:\n    - readinessProbe: {periodSeconds: 3}\n"
            },
            "readinessProbe: needs exactly one of httpGet, tcpSocket, grpc, exec; has none",
        ),
        (
            {
                "a.yaml": APP
                + "  config:\n    spec.sidecars:\n    - livenessProbe:\n        httpGet: {path: /}\n        tcpSocket: {port: 1}\n"
            },
            "livenessProbe: needs exactly one of httpGet, tcpSocket, grpc, exec; has httpGet, tcpSocket",
        ),
        (
            {"a.yaml": APP.replace("my-app", "../etc")},
            "a.yaml: metadata.name: '../etc' is not a safe",
        ),
        ({"a.yaml": APP.replace("my-app", "'.git'")}, "metadata.name: '.git' is not a safe"),
        (
            {"a.yaml": APP.replace("repo/app:1.0.0", "repo/app")},
            "a.yaml: spec.image: 'repo/app' is untagged",
        ),
        (
            {"a.yaml": APP.replace("repo/app:1.0.0", "repo/app:latest")},
            "'repo/app:latest' is tagged latest",
        ),
        (
            {"a.yaml": APP + "  env:\n  - {name: DB_PASSWORD, value: hunter2}\n"},
            "a.yaml: spec.env[0].value: DB_PASSWORD holds a literal value",
        ),
        (
            {
                "f.yaml": PY,
                "t.yaml": SERVE_TASK.replace("spec: {", "spec: {secrets: [{name: s, value: x}], "),
            },
            "t.yaml: spec.secrets[0]: must be the name of a Secret",
        ),
        (
            {
                "a.yaml": APP,
                "a.overlay.yaml": "stages:\n  staging:\n    gateway: {host: h.example.com, auth: basic, password: pw}\n",
            },
            "a.overlay.yaml: stages.staging.gateway.password: secret values never belong in git",
        ),
        (
            {"a.yaml": APP, "a.overlay.yaml": "stages:\n  staging:\n    env: {API_TOKEN: abc}\n"},
            "a.overlay.yaml: stages.staging.env[0].value: API_TOKEN holds a literal value",
        ),
        (
            {"a.yaml": APP, "a.overlay.yaml": "stages:\n  staging: {replicaz: 2}\n"},
            "stages.staging: unknown keys ['replicaz']",
        ),
        ({"b.overlay.yaml": "stages: {}\n"}, "b.overlay.yaml: (file): has no spec beside it"),
        ({"t.yaml": SERVE_TASK}, "t.yaml: spec.function: no function 'fn'"),
        (
            {"a.yaml": APP.replace("{name: my-app}", "{name: my-app, project: Team A!}")},
            "a.yaml: metadata.project: 'Team A!' is not a Kubernetes label value",
        ),
        (
            {"a.yaml": APP.replace("{name: my-app}", "{name: my-app, project: {a: 1}}")},
            "a.yaml: metadata.project: must be a string, not a mapping",
        ),
        (
            {"f.yaml": PY.replace("project: p", f"project: {'p' * 64}")},
            "f.yaml: metadata.project: 'pppp",
        ),
        (
            {
                "a.yaml": APP,
                "a.overlay.yaml": "stages:\n  staging:\n    gateway: {type: httproute, host: h.example.com, auth: basic}\n",
            },
            "stages.staging.gateway.auth_filter: an HTTPRoute carries auth only",
        ),
        (
            {
                "a.yaml": APP,
                "b.yaml": APP.replace("args", "# args").replace("command: python\n", ""),
            },
            "is deployed by more than one spec",
        ),
    ],
)
def test_broken_spec_is_reported_with_file_and_field(files: dict[str, str], expected: str) -> None:
    assert_problem(files, expected)


def test_a_project_becomes_the_part_of_label() -> None:
    """The project names the application group Argo CD and dashboards show; at 63
    characters it is still a label value."""
    project = "fraud_team-2.a" + "x" * 49
    files = {
        "f.yaml": PY.replace("project: p", f"project: {project}"),
        "t.yaml": SERVE_TASK.replace("python://p/", f"python://{project}/"),
    }
    catalog = read_catalog({name: text.encode() for name, text in files.items()})
    releases, failures = build_releases("functions", "functions", catalog, STAGES)
    assert not failures
    assert releases
    contexts = [function_context(release, None)["fn"] for release in releases]
    assert {c["labels"]["app.kubernetes.io/part-of"] for c in contexts} == {project}
    assert all(c["selector_labels"].items() <= c["labels"].items() for c in contexts)


def test_air_gapped_registry_prefix() -> None:
    options = FunctionOptions(production_registry_prefix="registry.internal/")
    assert_problem(
        {"a.yaml": APP}, "is not from the allowed registry registry.internal/", options=options
    )


def test_latest_is_fine_outside_production() -> None:
    files = {"a.yaml": APP.replace("repo/app:1.0.0", "repo/app")}
    catalog = read_catalog({k: v.encode() for k, v in files.items()})
    releases, failures = build_releases("functions", "functions", catalog, STAGES)
    assert [r.id.stage for r in releases] == ["staging"]
    assert [(f.id.stage, f.folder) for f in failures] == [
        ("production", "functions/my-app/production")
    ]


def test_validate_cli_prints_every_problem(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        APP.replace("  command: python\n", "").replace("1.0.0", "latest")
    )
    (tmp_path / "junk.yaml").write_text("\t: : not yaml [")
    out = io.StringIO()
    assert validate_paths([tmp_path, tmp_path / "missing.yaml"], out) == 1
    text = out.getvalue()
    assert f"{tmp_path}/a.yaml: spec.args: are set without a command" in text
    assert f"{tmp_path}/a.yaml: spec.image: 'repo/app:latest' is tagged latest" in text
    assert f"{tmp_path}/junk.yaml: (file): is not valid YAML" in text
    assert f"{tmp_path}/missing.yaml: (file): does not exist" in text
    assert "Traceback" not in text


def test_revision_changes_only_with_the_spec_or_overlay() -> None:
    def revisions(files: dict[str, str]) -> dict[str, str]:
        catalog = read_catalog({k: v.encode() for k, v in files.items()})
        releases, _ = build_releases("functions", "functions", catalog, STAGES)
        return {r.folder: r.revision for r in releases}

    base = revisions({"a.yaml": APP})
    assert revisions({"a.yaml": APP}) == base
    reordered = "metadata: {name: my-app}\nkind: application\n" + APP.split("\n", 2)[2]
    assert revisions({"a.yaml": reordered}) == base
    changed = revisions({"a.yaml": APP, "a.overlay.yaml": "stages:\n  production: {replicas: 4}\n"})
    assert changed["functions/my-app/staging"] == base["functions/my-app/staging"]
    assert changed["functions/my-app/production"] != base["functions/my-app/production"]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("  affinity: {nodeAfinity: {}}\n", "'nodeAfinity' was unexpected"),
        ("  tolerations: [{key: 1, operator: Exists}]\n", "tolerations"),
        ("  env: [{name: A, valueFrom: {secretKeyRef: {key: [1]}}}]\n", "valueFrom"),
    ],
)
def test_validate_reports_what_only_rendering_refuses(
    tmp_path: Path, extra: str, expected: str
) -> None:
    """Values passed through to Kubernetes are checked against its schema, as render does."""
    (tmp_path / "a.yaml").write_text(APP + extra)
    out = io.StringIO()
    assert validate_paths([tmp_path], out) == 1, out.getvalue()
    text = out.getvalue()
    assert "a.yaml: (file): stage staging: deployment.yaml" in text
    assert "is invalid for Kubernetes 1.33" in text and expected in text


def test_validate_refuses_a_name_that_leaves_its_folder(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(APP.replace("my-app", "../../etc/passwd"))
    out = io.StringIO()
    assert validate_paths([tmp_path], out) == 1
    assert "'../../etc/passwd' is not a safe Kubernetes name or folder" in out.getvalue()


def test_validate_notes_how_a_name_is_folded(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(APP.replace("my-app", "Bad_App"))
    (tmp_path / "u.yaml").write_text(APP.replace("my-app", "Ünïcode Modèl"))
    (tmp_path / "ok.yaml").write_text(APP.replace("my-app", "fine-app"))
    out = io.StringIO()
    assert validate_paths([tmp_path], out) == 0, out.getvalue()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith(
        f"{tmp_path}/a.yaml: metadata.name: note: 'Bad_App' is deployed as 'bad-app-4e6b616b'"
    )
    assert "'Ünïcode Modèl' is deployed as 'unicode-model-5497da07'" in lines[1]
    assert lines[2:] == ["ok: 3 spec(s) checked"]


def test_validate_renders_with_the_templates_given(tmp_path: Path, capsys: Any) -> None:
    """``--templates-dir`` is render.templates_dir: an override's mistakes are reported too."""
    from watcher.commands.cli import main

    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "a.yaml").write_text(APP)
    override = tmp_path / "templates" / "function-application"
    override.mkdir(parents=True)
    builtin = Path(__file__).resolve().parents[2] / "templates" / "function-application"
    text = (builtin / "deployment.yaml.j2").read_text()
    (override / "deployment.yaml.j2").write_text(text.replace("replicas:", "replicaz:", 1))
    assert main(["validate", str(specs)]) == 0
    assert main(["validate", "--templates-dir", str(tmp_path / "templates"), str(specs)]) == 1
    assert "'replicaz' was unexpected" in capsys.readouterr().out
