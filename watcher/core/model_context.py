"""Template variables for model targets.

Every model target renders from the same variables, documented in
docs/templates.md, so a user's template folder works with any of them. What
differs between targets (where a route sends traffic, which labels pick the pods,
variables of their own) is asked of the target's spec: this module names none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from watcher import __version__
from watcher.core.artifacts import ArtifactRef
from watcher.core.labels import ANNOTATION_PREFIX, object_labels, selector_labels
from watcher.core.model_releases import STATUS_TAG_PREFIX, ModelDeployment
from watcher.core.release import Release
from watcher.core.stages import StagePolicy
from watcher.core.targets import TargetSpec
from watcher.core.urls import redact_url
from watcher.errors import TemplateError

#: The shared volume: the init container writes the copy to MODEL_DIR, the server reads it.
MODELS_MOUNT = "/models"
MODEL_DIR = f"{MODELS_MOUNT}/model"
SERVING_PORT = 8080
#: Variables that name the S3 endpoint for the pods, in the order boto3 and MLflow prefer them.
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "MLFLOW_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL")
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


def route_context(stage: StagePolicy, target: TargetSpec, slug: str) -> dict[str, Any] | None:
    """The route in front of the model, to the Service the target names (see its spec)."""
    route = stage.route
    if route is None:
        return None
    backend = target.route_backend
    if backend is None:
        raise TemplateError(
            f"target {target.name!r} cannot have a route in front", hint=target.no_route
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
        "backend": f"{slug}{backend.suffix}",
        "port": backend.port,
    }


def model_context(
    release: Release, artifact: ArtifactRef | None, target: TargetSpec
) -> Mapping[str, Any]:
    """Everything a model template may use; ``target`` answers what only it knows."""
    deployment = _deployment_of(release)
    stage = deployment.stage
    selector = selector_labels(deployment.slug, stage.name)
    context: dict[str, Any] = {
        "model": _model_variables(deployment, artifact),
        "artifact": artifact.to_dict() if artifact else None,
        "deployment": _deployment_variables(deployment, artifact, selector),
        "serving": _serving_variables(deployment, artifact),
        "fetch": _fetch_variables(stage, artifact),
        "s3": s3_context(stage.env),
        "route": route_context(stage, target, deployment.slug),
        "network_policy": {
            "enabled": stage.network_policy,
            "ingress_namespaces": list(stage.network_policy_ingress_namespaces),
        },
        "watcher": {"version": __version__},
    }
    if target.extend is not None:
        context[target.name] = target.extend(context, stage.target_options)
    select = target.pod_selector
    context["network_policy"]["pod_selector"] = dict(
        select(context) if select is not None else selector
    )
    return context


def _deployment_of(release: Release) -> ModelDeployment:
    deployment = release.payload
    if not isinstance(deployment, ModelDeployment):
        raise TemplateError(
            f"target {release.target!r} renders model versions, not {release.id.kind}s",
            hint="choose a function target for function specs",
        )
    return deployment


def _model_uri(deployment: ModelDeployment, artifact: ArtifactRef | None) -> str:
    """The verified copy when artifacts are copied; the registry URI otherwise."""
    return artifact.uri if artifact else deployment.registry_uri


def _model_variables(deployment: ModelDeployment, artifact: ArtifactRef | None) -> dict[str, Any]:
    version = deployment.version
    tags = {k: v for k, v in version.tag_map.items() if not k.startswith(STATUS_TAG_PREFIX)}
    return {
        "name": version.name,
        "version": version.version,
        "run_id": version.run_id,
        "source": redact_url(version.source),
        "uri": _model_uri(deployment, artifact),
        "registry_uri": deployment.registry_uri,
        "digest": artifact.digest if artifact else "",
        "tags": tags,
        "url": deployment.url,
    }


def _annotations(deployment: ModelDeployment, artifact: ArtifactRef | None) -> dict[str, str]:
    """Provenance on every object, and the link Argo CD shows back to the registry."""
    version = deployment.version
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
    if deployment.url:
        annotations["link.argocd.argoproj.io/mlflow-model-version"] = deployment.url
    return annotations


def _deployment_variables(
    deployment: ModelDeployment, artifact: ArtifactRef | None, selector: Mapping[str, str]
) -> dict[str, Any]:
    stage = deployment.stage
    labels = object_labels(
        deployment.slug, stage.name, version=deployment.version.version, component="model-server"
    )
    return {
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
        "selector_labels": dict(selector),
        "annotations": _annotations(deployment, artifact),
    }


def _serving_variables(deployment: ModelDeployment, artifact: ArtifactRef | None) -> dict[str, Any]:
    """The server loads the fetched folder; without a copy, the models:/ URI itself."""
    served = MODEL_DIR if artifact else _model_uri(deployment, artifact)
    return {
        "model_uri": served,
        "model_dir": MODEL_DIR,
        "mount_path": MODELS_MOUNT,
        "port": SERVING_PORT,
        "command": ["mlflow", "models", "serve"],
        "args": serving_args(served),
    }


def _fetch_variables(stage: StagePolicy, artifact: ArtifactRef | None) -> dict[str, Any] | None:
    """The init container that downloads and verifies the copy; None without a copy."""
    if artifact is None:
        return None
    return {
        "image": stage.fetch_image or DEFAULT_FETCH_IMAGE,
        "command": ["python", "-m", "watcher.fetch"],
        "args": fetch_args(artifact),
    }
