"""Template variables for model targets (Deployment, KServe, Knative …).

Every model target renders from the same variables, documented in
docs/templates.md, so a user's template folder works with any of them.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import yaml

from watcher import __version__
from watcher.core.artifacts import ArtifactRef
from watcher.core.model_releases import STATUS_TAG_PREFIX, ModelDeployment
from watcher.core.release import Release
from watcher.core.stages import StagePolicy
from watcher.core.urls import redact_url
from watcher.errors import TemplateError

MANAGED_BY = "gitops-watcher"
ANNOTATION_PREFIX = "gitops-watcher.io"
#: The shared volume: the init container writes the copy to MODEL_DIR, the server reads it.
MODELS_MOUNT = "/models"
MODEL_DIR = f"{MODELS_MOUNT}/model"
SERVING_PORT = 8080
#: Variables that name the S3 endpoint for the pods, in the order boto3 and MLflow prefer them.
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "MLFLOW_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL")
#: Where a route sends traffic, per target: the Service the target's controller (or we) create.
ROUTE_BACKENDS = {"deployment": ("", 80), "kserve": ("-predictor", 80)}
#: The init container's image when the stage names none: this project's own, which has boto3.
DEFAULT_FETCH_IMAGE = f"ghcr.io/gitops-watcher/gitops-watcher:{__version__}"


def fetch_args(artifact: ArtifactRef) -> list[str]:
    """Arguments of ``python -m watcher.fetch`` for the init container."""
    return ["--uri", artifact.uri, "--digest", artifact.digest, "--dest", MODEL_DIR]


def serving_args(model_uri: str) -> list[str]:
    """Arguments of ``mlflow models serve``: the local folder (or models:/ without a copy)."""
    return [
        "--model-uri",
        model_uri,
        "--env-manager",
        "local",
        "--host",
        "0.0.0.0",  # noqa: S104 - a pod's server must listen on its pod IP
        "--port",
        str(SERVING_PORT),
    ]


def s3_context(env: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """The pods' S3 endpoint as KServe's annotations want it, read from the stage's env."""
    values = dict(env)
    url = next((values[k] for k in ENDPOINT_VARIABLES if values.get(k)), "")
    parts = urlsplit(url) if url else None
    region = values.get("AWS_REGION") or values.get("AWS_DEFAULT_REGION") or ""
    return {
        "endpoint_url": url,
        "endpoint": parts.netloc if parts else "",
        "use_https": "" if parts is None else ("0" if parts.scheme == "http" else "1"),
        "region": region,
        "ignore_tls": "1" if values.get("MLFLOW_S3_IGNORE_TLS", "").lower() == "true" else "",
    }


def route_context(stage: StagePolicy, target: str, slug: str) -> dict[str, Any] | None:
    route = stage.route
    if route is None:
        return None
    backend = ROUTE_BACKENDS.get(target)
    if backend is None:
        raise TemplateError(
            f"target {target!r} cannot have a route in front",
            hint="Knative routes its own traffic; set route.kind: none for this stage",
        )
    namespace, _, name = route.gateway.rpartition("/")
    return {
        "kind": route.kind,
        "hosts": list(route.hosts),
        "gateway_name": name,
        "gateway_namespace": namespace,
        # Istio names a gateway in another namespace as "namespace/name".
        "istio_gateway": route.gateway,
        "path_prefix": route.path_prefix.replace("{model}", slug),
        "backend": f"{slug}{backend[0]}",
        "port": backend[1],
    }


def model_context(release: Release, artifact: ArtifactRef | None) -> Mapping[str, Any]:
    """Everything a model template may use."""
    deployment = release.payload
    if not isinstance(deployment, ModelDeployment):
        raise TemplateError(
            f"target {release.target!r} renders model versions, not {release.id.kind}s",
            hint="choose a function target for function specs",
        )
    version = deployment.version
    stage = deployment.stage
    link = deployment.url
    selector_labels = {
        "app.kubernetes.io/name": deployment.slug,
        "app.kubernetes.io/instance": f"{deployment.slug}-{stage.name}",
    }
    labels = {
        **selector_labels,
        "app.kubernetes.io/version": version.version,
        "app.kubernetes.io/component": "model-server",
        "app.kubernetes.io/part-of": deployment.slug,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        f"{ANNOTATION_PREFIX}/stage": stage.name,
    }
    annotations = {
        f"{ANNOTATION_PREFIX}/model-name": version.name,
        f"{ANNOTATION_PREFIX}/model-version": version.version,
        f"{ANNOTATION_PREFIX}/run-id": version.run_id,
        f"{ANNOTATION_PREFIX}/source": redact_url(version.source),
        f"{ANNOTATION_PREFIX}/selected-by": deployment.selected_by,
    }
    if artifact is not None:
        annotations[f"{ANNOTATION_PREFIX}/artifact-uri"] = artifact.uri
        annotations[f"{ANNOTATION_PREFIX}/artifact-digest"] = artifact.digest
    if link:
        annotations["link.argocd.argoproj.io/mlflow-model-version"] = link
    tags = {k: v for k, v in version.tag_map.items() if not k.startswith(STATUS_TAG_PREFIX)}
    model_uri = artifact.uri if artifact else deployment.registry_uri
    context: dict[str, Any] = {
        "model": {
            "name": version.name,
            "version": version.version,
            "run_id": version.run_id,
            "source": redact_url(version.source),
            # The verified copy when artifacts are copied; the registry URI otherwise.
            "uri": model_uri,
            "registry_uri": deployment.registry_uri,
            "digest": artifact.digest if artifact else "",
            "tags": tags,
            "url": link,
        },
        "artifact": artifact.to_dict() if artifact else None,
        "deployment": {
            "name": deployment.slug,
            "stage": stage.name,
            "namespace": stage.namespace,
            "replicas": deployment.replicas,
            "image": stage.image,
            "fetch_image": stage.fetch_image or DEFAULT_FETCH_IMAGE,
            "service_account": stage.service_account,
            "resources": {k: dict(v) for k, v in deployment.resources.items()},
            "env": [list(pair) for pair in stage.env],
            "env_from": list(stage.env_from),
            "selected_by": deployment.selected_by,
            "labels": labels,
            "selector_labels": selector_labels,
            "annotations": annotations,
        },
        "serving": {
            # The server loads the fetched folder; without a copy, the models:/ URI itself.
            "model_uri": MODEL_DIR if artifact else model_uri,
            "model_dir": MODEL_DIR,
            "mount_path": MODELS_MOUNT,
            "port": SERVING_PORT,
            "command": ["mlflow", "models", "serve"],
            "args": serving_args(MODEL_DIR if artifact else model_uri),
        },
        "fetch": {
            "image": stage.fetch_image or DEFAULT_FETCH_IMAGE,
            "command": ["python", "-m", "watcher.fetch"],
            "args": fetch_args(artifact),
        }
        if artifact
        else None,
        "s3": s3_context(stage.env),
        "route": route_context(stage, release.target, deployment.slug),
        "network_policy": {
            "enabled": stage.network_policy,
            "ingress_namespaces": list(stage.network_policy_ingress_namespaces),
        },
        "watcher": {"version": __version__},
    }
    if release.target == "knative":
        context["knative"] = knative_context(context, stage.service_template)
    context["network_policy"]["pod_selector"] = _pod_selector(release.target, context)
    return context


#: The mlflow-knative plugin's idea of a service template, built in: one container.
DEFAULT_KNATIVE_TEMPLATE = """\
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: $name
  namespace: $namespace
spec:
  template:
    spec:
      containers:
        - image: $image
"""


def _fill(node: Any, values: Mapping[str, str]) -> Any:
    """Placeholders filled inside string values only, after parsing: never new structure."""
    if isinstance(node, str):
        try:
            return string.Template(node).substitute(values)
        except (KeyError, ValueError) as exc:
            raise TemplateError(
                f"the Knative service template has an unknown placeholder in {node[:60]!r}",
                hint="use only $name, $namespace and $image; write $$ for a literal $",
            ) from exc
    if isinstance(node, dict):
        return {str(_fill(k, values)): _fill(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [_fill(item, values) for item in node]
    return node


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TemplateError(f"the Knative service template's {where} is not a mapping")
    return dict(value)


def knative_context(context: Mapping[str, Any], template_text: str) -> dict[str, Any]:
    """The Knative Service's metadata and pod template: the user's template plus our serving.

    As the mlflow-knative plugin does, ``$name``, ``$namespace`` and ``$image`` are
    filled in; then the fetch init container, the shared volume, the serving
    command, env, ports, probe, resources and provenance are added where the
    template does not set them (labels and annotations are merged, ours win).
    """
    deployment = context["deployment"]
    serving = context["serving"]
    fetch = context["fetch"]
    try:
        parsed = yaml.safe_load(template_text or DEFAULT_KNATIVE_TEMPLATE)
    except yaml.YAMLError as exc:
        raise TemplateError(f"the Knative service template is not YAML: {exc}") from exc
    values = {
        "name": deployment["name"],
        "namespace": deployment["namespace"],
        "image": deployment["image"],
    }
    service = _mapping(_fill(parsed, values), "top level")
    if service.get("apiVersion") != "serving.knative.dev/v1" or service.get("kind") != "Service":
        raise TemplateError(
            "the Knative service template must be a serving.knative.dev/v1 Service",
            hint="start from the default in docs/serving.md",
        )
    meta = _mapping(service.get("metadata"), "metadata")
    spec = _mapping(service.get("spec"), "spec")
    template = _mapping(spec.get("template"), "spec.template")
    pod_meta = _mapping(template.get("metadata"), "spec.template.metadata")
    pod = _mapping(template.get("spec"), "spec.template.spec")
    containers = pod.get("containers") or [{}]
    if not isinstance(containers, list) or not all(isinstance(c, dict) for c in containers):
        raise TemplateError("the Knative service template's containers must be a list of mappings")
    server = dict(containers[0])
    server.setdefault("name", "model-server")
    server.setdefault("image", deployment["image"])
    server.setdefault("command", list(serving["command"]))
    server.setdefault("args", list(serving["args"]))
    env = [
        {"name": "MODEL_URI", "value": context["model"]["uri"]},
        {"name": "MODEL_NAME", "value": context["model"]["name"]},
        {"name": "MODEL_VERSION", "value": context["model"]["version"]},
        *({"name": k, "value": v} for k, v in deployment["env"]),
    ]
    server["env"] = [*env, *(server.get("env") or [])]
    if deployment["env_from"] and not fetch:
        refs = [{"secretRef": {"name": name}} for name in deployment["env_from"]]
        server["envFrom"] = [*refs, *(server.get("envFrom") or [])]
    server.setdefault("ports", [{"name": "http1", "containerPort": serving["port"]}])
    server.setdefault(
        "readinessProbe",
        {"httpGet": {"path": "/ping", "port": serving["port"]}, "periodSeconds": 10},
    )
    if deployment["resources"]:
        server.setdefault("resources", deployment["resources"])
    pod = {**pod, "containers": [server, *containers[1:]]}
    if fetch:
        mount = {"name": "model", "mountPath": serving["mount_path"], "readOnly": True}
        server["volumeMounts"] = [*(server.get("volumeMounts") or []), mount]
        init = {
            "name": "fetch-model",
            "image": fetch["image"],
            "command": list(fetch["command"]),
            "args": list(fetch["args"]),
            **(
                {"env": [{"name": k, "value": v} for k, v in deployment["env"]]}
                if deployment["env"]
                else {}
            ),
            **(
                {"envFrom": [{"secretRef": {"name": n}} for n in deployment["env_from"]]}
                if deployment["env_from"]
                else {}
            ),
            "volumeMounts": [{"name": "model", "mountPath": serving["mount_path"]}],
            "securityContext": {
                "runAsNonRoot": True,
                "readOnlyRootFilesystem": True,
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
            },
        }
        pod["initContainers"] = [init, *(pod.get("initContainers") or [])]
        pod["volumes"] = [*(pod.get("volumes") or []), {"name": "model", "emptyDir": {}}]
    if deployment["service_account"]:
        pod.setdefault("serviceAccountName", deployment["service_account"])
    pod_annotations = {
        "autoscaling.knative.dev/min-scale": str(deployment["replicas"]),
        **_mapping(pod_meta.get("annotations"), "spec.template.metadata.annotations"),
        **deployment["annotations"],
    }
    pod_labels = {
        **_mapping(pod_meta.get("labels"), "spec.template.metadata.labels"),
        **deployment["labels"],
    }
    return {
        "labels": {**_mapping(meta.get("labels"), "metadata.labels"), **deployment["labels"]},
        "annotations": {
            **_mapping(meta.get("annotations"), "metadata.annotations"),
            **deployment["annotations"],
        },
        "template": {
            **{k: v for k, v in template.items() if k not in ("metadata", "spec")},
            "metadata": {**pod_meta, "labels": pod_labels, "annotations": pod_annotations},
            "spec": pod,
        },
    }


def _pod_selector(target: str, context: Mapping[str, Any]) -> dict[str, str]:
    """Labels that pick a model's pods: ours on a Deployment, the controller's otherwise."""
    name = context["deployment"]["name"]
    if target == "kserve":
        return {"serving.kserve.io/inferenceservice": name}
    if target == "knative":
        return {"serving.knative.dev/service": name}
    return dict(context["deployment"]["selector_labels"])
