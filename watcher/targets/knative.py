"""``knative``: a Knative Service built from the stage's service template plus our serving.

Templates in ``templates/knative/``. As the mlflow-knative plugin does,
``$name``, ``$namespace`` and ``$image`` are filled into the user's template
(``stages[].service_template``); then the fetch init container, the shared volume,
the serving command, env, ports, probe, resources and provenance are added where
the template does not set them (labels and annotations are merged, ours win).
Knative routes its own traffic, so no route goes in front; a NetworkPolicy
selects the pods by Knative's own label.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any

import yaml

from watcher.core.model_context import model_context
from watcher.core.targets import TargetSpec
from watcher.errors import TemplateError

#: The stage setting that holds the service template (``stages[].service_template``).
SERVICE_TEMPLATE = "service_template"

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

#: What the init container may do: read the copy into the shared volume, nothing else.
_LOCKED_DOWN = {
    "runAsNonRoot": True,
    "readOnlyRootFilesystem": True,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
}


def knative_context(context: Mapping[str, Any], template_text: str) -> dict[str, Any]:
    """The Knative Service's metadata and pod template: the user's template plus our serving."""
    deployment = context["deployment"]
    service = _parse(template_text, deployment)
    meta = _mapping(service.get("metadata"), "metadata")
    spec = _mapping(service.get("spec"), "spec")
    template = _mapping(spec.get("template"), "spec.template")
    pod_meta = _mapping(template.get("metadata"), "spec.template.metadata")
    pod = _pod(_mapping(template.get("spec"), "spec.template.spec"), context)
    return {
        "labels": {**_mapping(meta.get("labels"), "metadata.labels"), **deployment["labels"]},
        "annotations": {
            **_mapping(meta.get("annotations"), "metadata.annotations"),
            **deployment["annotations"],
        },
        "template": {
            **{k: v for k, v in template.items() if k not in ("metadata", "spec")},
            "metadata": _pod_metadata(pod_meta, deployment),
            "spec": pod,
        },
    }


def _parse(template_text: str, deployment: Mapping[str, Any]) -> dict[str, Any]:
    """The user's template, parsed first and then filled: a value never adds structure."""
    try:
        parsed = yaml.safe_load(template_text or DEFAULT_KNATIVE_TEMPLATE)
    except yaml.YAMLError as exc:
        raise TemplateError(f"the Knative service template is not YAML: {exc}") from exc
    values = {key: deployment[key] for key in ("name", "namespace", "image")}
    service = _mapping(_fill(parsed, values), "top level")
    if service.get("apiVersion") != "serving.knative.dev/v1" or service.get("kind") != "Service":
        raise TemplateError(
            "the Knative service template must be a serving.knative.dev/v1 Service",
            hint="start from the default in docs/serving.md",
        )
    return service


def _pod(pod: dict[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
    """The pod spec: our serving container first, the fetch init container, the volume."""
    deployment, fetch = context["deployment"], context["fetch"]
    containers = pod.get("containers") or [{}]
    if not isinstance(containers, list) or not all(isinstance(c, dict) for c in containers):
        raise TemplateError("the Knative service template's containers must be a list of mappings")
    server = _server(dict(containers[0]), context)
    pod = {**pod, "containers": [server, *containers[1:]]}
    if fetch:
        mount_path = context["serving"]["mount_path"]
        mount = {"name": "model", "mountPath": mount_path, "readOnly": True}
        server["volumeMounts"] = [*(server.get("volumeMounts") or []), mount]
        pod["initContainers"] = [_fetch_container(context), *(pod.get("initContainers") or [])]
        pod["volumes"] = [*(pod.get("volumes") or []), {"name": "model", "emptyDir": {}}]
    if deployment["service_account"]:
        pod.setdefault("serviceAccountName", deployment["service_account"])
    return pod


def _server(server: dict[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
    """The serving container: what the template sets wins, ours fills the rest."""
    deployment, serving, model = context["deployment"], context["serving"], context["model"]
    server.setdefault("name", "model-server")
    server.setdefault("image", deployment["image"])
    server.setdefault("command", list(serving["command"]))
    server.setdefault("args", list(serving["args"]))
    env = [
        {"name": "MODEL_URI", "value": model["uri"]},
        {"name": "MODEL_NAME", "value": model["name"]},
        {"name": "MODEL_VERSION", "value": model["version"]},
        *_env(deployment),
    ]
    server["env"] = [*env, *(server.get("env") or [])]
    if deployment["env_from"] and not context["fetch"]:
        server["envFrom"] = [*_env_from(deployment), *(server.get("envFrom") or [])]
    server.setdefault("ports", [{"name": "http1", "containerPort": serving["port"]}])
    server.setdefault(
        "readinessProbe",
        {"httpGet": {"path": "/ping", "port": serving["port"]}, "periodSeconds": 10},
    )
    if deployment["resources"]:
        server.setdefault("resources", deployment["resources"])
    return server


def _fetch_container(context: Mapping[str, Any]) -> dict[str, Any]:
    """The init container that downloads and verifies the copy into the shared volume."""
    deployment, fetch = context["deployment"], context["fetch"]
    container: dict[str, Any] = {
        "name": "fetch-model",
        "image": fetch["image"],
        "command": list(fetch["command"]),
        "args": list(fetch["args"]),
    }
    if deployment["env"]:
        container["env"] = _env(deployment)
    if deployment["env_from"]:
        container["envFrom"] = _env_from(deployment)
    container["volumeMounts"] = [{"name": "model", "mountPath": context["serving"]["mount_path"]}]
    container["securityContext"] = dict(_LOCKED_DOWN)
    return container


def _pod_metadata(pod_meta: Mapping[str, Any], deployment: Mapping[str, Any]) -> dict[str, Any]:
    annotations = {
        "autoscaling.knative.dev/min-scale": str(deployment["replicas"]),
        **_mapping(pod_meta.get("annotations"), "spec.template.metadata.annotations"),
        **deployment["annotations"],
    }
    labels = {
        **_mapping(pod_meta.get("labels"), "spec.template.metadata.labels"),
        **deployment["labels"],
    }
    return {**pod_meta, "labels": labels, "annotations": annotations}


def _env(deployment: Mapping[str, Any]) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in deployment["env"]]


def _env_from(deployment: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"secretRef": {"name": name}} for name in deployment["env_from"]]


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


def _extend(context: Mapping[str, Any], options: Mapping[str, str]) -> dict[str, Any]:
    return knative_context(context, options.get(SERVICE_TEMPLATE, ""))


def _pods(context: Mapping[str, Any]) -> dict[str, str]:
    return {"serving.knative.dev/service": context["deployment"]["name"]}


TARGET = TargetSpec(
    name="knative",
    folder="knative",
    context=model_context,
    no_route="Knative routes its own traffic; set route.kind: none for this stage",
    pod_selector=_pods,
    extend=_extend,
    options=frozenset({SERVICE_TEMPLATE}),
)
