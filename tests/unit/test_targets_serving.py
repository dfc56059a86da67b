"""Every object the model targets render is valid, and each stage folder builds.

The golden serving cases (kserve, knative, routes and NetworkPolicies, with and
without copies) are read as committed: built-in kinds pass kubernetes-validate
strict, custom resources their CRD schemas, Knative's pod template also as a
Kubernetes PodSpec, and every folder builds with ``kubectl kustomize``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.crd_schemas import validate_custom_resource
from watcher.config.settings import Settings
from watcher.errors import TemplateError
from watcher.targets.knative import DEFAULT_KNATIVE_TEMPLATE, knative_context

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "testdata"
MODEL_CASES = sorted(
    p.name
    for p in GOLDEN.iterdir()
    if (p / "expected").is_dir() and not p.name.startswith("functions-")
)
BUILT_IN = {"apps/v1", "v1", "networking.k8s.io/v1", "policy/v1"}
#: Knative's RevisionSpec adds these to a PodSpec.
REVISION_FIELDS = (
    "containerConcurrency",
    "timeoutSeconds",
    "responseStartTimeoutSeconds",
    "idleTimeoutSeconds",
)
KUBERNETES = "1.33"


def objects(case: str) -> list[tuple[Path, dict[str, Any]]]:
    found = []
    for path in sorted((GOLDEN / case / "expected").rglob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        found += [(path, d) for d in yaml.safe_load_all(path.read_text()) if d]
    return found


def validate_built_in(document: dict[str, Any]) -> None:
    kubernetes_validate.validate(document, KUBERNETES, strict=True)


@pytest.mark.parametrize("case", MODEL_CASES)
def test_every_rendered_object_passes_its_schema(case: str) -> None:
    seen = set()
    for path, document in objects(case):
        seen.add(document["kind"])
        if document["apiVersion"] in BUILT_IN:
            validate_built_in(document)
        elif document["apiVersion"] == "networking.istio.io/v1":
            # No Istio schema is bundled: check the shape the route relies on.
            spec = document["spec"]
            assert spec["hosts"] and spec["gateways"] and spec["http"][0]["route"], path
        else:
            validate_custom_resource(document)
        if document["kind"] == "Service" and document["apiVersion"] == "serving.knative.dev/v1":
            pod = {
                k: v
                for k, v in document["spec"]["template"]["spec"].items()
                if k not in REVISION_FIELDS
            }
            validate_built_in(
                {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": pod}
            )
    assert seen


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
@pytest.mark.parametrize("case", [c for c in MODEL_CASES if c.startswith("serving-")])
def test_every_serving_folder_builds_with_kustomize(case: str) -> None:
    folders = sorted(p.parent for p in (GOLDEN / case / "expected").rglob("kustomization.yaml"))
    assert folders
    for folder in folders:
        built = subprocess.run(
            ["kubectl", "kustomize", str(folder)], capture_output=True, text=True
        )
        assert built.returncode == 0, built.stderr
        assert [d for d in yaml.safe_load_all(built.stdout) if d]


def kinds(case: str, stage: str) -> list[str]:
    return sorted(d["kind"] for p, d in objects(case) if p.parent.name == stage)


def test_each_target_renders_its_objects() -> None:
    assert kinds("serving-kserve", "staging") == ["InferenceService", "ServiceAccount"]
    assert kinds("serving-kserve", "production") == ["InferenceService"]  # its own account
    assert kinds("serving-knative", "staging") == ["Service"]
    assert kinds("serving-knative", "production") == ["NetworkPolicy", "Service"]
    assert kinds("serving-routes", "staging") == [
        "Deployment",
        "HTTPRoute",
        "NetworkPolicy",
        "Service",
    ]
    assert kinds("serving-routes", "production") == [
        "InferenceService", "NetworkPolicy", "ServiceAccount", "VirtualService"
    ]  # fmt: skip


def test_kserve_reads_the_copy_with_the_service_accounts_s3_settings() -> None:
    docs = {d["kind"]: d for p, d in objects("serving-kserve") if p.parent.name == "staging"}
    model = docs["InferenceService"]["spec"]["predictor"]["model"]
    assert model["modelFormat"] == {"name": "mlflow"} and model["protocolVersion"] == "v2"
    assert model["storageUri"] == "s3://models/fraud-detector/4/model"
    account = docs["ServiceAccount"]
    assert (
        docs["InferenceService"]["spec"]["predictor"]["serviceAccountName"]
        == account["metadata"]["name"]
    )
    annotations = account["metadata"]["annotations"]
    assert annotations["serving.kserve.io/s3-endpoint"] == "seaweedfs.storage.svc:8333"
    assert annotations["serving.kserve.io/s3-usehttps"] == "0"
    assert annotations["serving.kserve.io/s3-region"] == "eu-west-1"
    assert account["secrets"] == [{"name": "model-store-s3"}]  # a name, never a value


def test_knative_and_deployment_run_the_same_init_container() -> None:
    deployment = next(
        d
        for p, d in objects("artifact-copy")
        if d["kind"] == "Deployment" and p.parent.name == "staging"
    )
    service = next(d for p, d in objects("serving-knative") if p.parent.name == "staging")
    (ours,) = deployment["spec"]["template"]["spec"]["initContainers"]
    (theirs,) = service["spec"]["template"]["spec"]["initContainers"]
    for key in ("image", "command", "args", "volumeMounts", "securityContext"):
        assert ours[key] == theirs[key], key
    server = service["spec"]["template"]["spec"]["containers"][0]
    assert server["args"][:2] == ["--model-uri", "/models/model"]


def test_the_user_service_template_is_filled_in_values_not_structure() -> None:
    settings = Settings.model_validate({})
    assert settings.render.fetch_image.startswith("ghcr.io/gitops-watcher/gitops-watcher:")
    context: dict[str, Any] = {
        "deployment": {
            "name": "m", "namespace": "ns", "image": "img:1\nspec: {evil: true}", "env": [],
            "env_from": [], "resources": {}, "service_account": "", "replicas": 1,
            "labels": {}, "annotations": {},
        },
        "serving": {"command": ["mlflow"], "args": [], "port": 8080, "mount_path": "/models"},
        "fetch": None,
        "model": {"uri": "models:/m/1", "name": "m", "version": "1"},
    }  # fmt: skip
    result = knative_context(context, DEFAULT_KNATIVE_TEMPLATE)
    container = result["template"]["spec"]["containers"][0]
    assert container["image"] == "img:1\nspec: {evil: true}"  # one inert string
    with pytest.raises(TemplateError, match="unknown placeholder"):
        knative_context(context, DEFAULT_KNATIVE_TEMPLATE.replace("$image", "$secret"))
    with pytest.raises(TemplateError, match=r"serving\.knative\.dev/v1 Service"):
        knative_context(context, "apiVersion: v1\nkind: Pod\n")


def test_unpinned_fetch_images_are_refused() -> None:
    for image in ("gitops-watcher", "ghcr.io/x/gitops-watcher:latest"):
        with pytest.raises(ValueError, match="must be pinned"):
            Settings.model_validate(
                {"stages": [{"name": "s", "select": [{"alias": "a"}], "fetch_image": image}]}
            )
