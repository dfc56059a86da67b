"""Template variables of the function targets, built from a function release.

Containers, volumes and init containers are assembled as plain data and
inserted whole (``{{ fn.containers | yaml(8) }}``): the rules that decide them
(where code lands, which helper fetches it, how probes find their port) are
Python that tests can read, and the templates keep the object structure. This
module builds what every target shares (names, labels, volumes, gateway); each
kind of pod is built by its own module (``application_pod``, ``python_pod``,
``build_pod``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from watcher import __version__
from watcher.core.artifacts import ArtifactRef
from watcher.core.functions.application_pod import application_pod
from watcher.core.functions.build_pod import build_pod
from watcher.core.functions.gateway_context import gateway_context
from watcher.core.functions.model import APPLICATION, BUILD, JOB, SERVE
from watcher.core.functions.pod_parts import with_fields
from watcher.core.functions.python_pod import python_pod
from watcher.core.functions.releases import FunctionRelease
from watcher.core.labels import ANNOTATION_PREFIX, object_labels, selector_labels
from watcher.core.release import Release
from watcher.errors import TemplateError

#: How each target's pod is built.
_PODS: dict[str, Callable[[FunctionRelease, dict[str, Any]], dict[str, Any]]] = {
    APPLICATION: application_pod,
    SERVE: python_pod,
    JOB: python_pod,
    BUILD: build_pod,
}


def function_context(release: Release, artifact: ArtifactRef | None) -> Mapping[str, Any]:
    """Everything the function templates may use, under ``fn`` (see docs/functions.md)."""
    del artifact  # functions carry their code in git; nothing is copied
    payload = release.payload
    if not isinstance(payload, FunctionRelease):
        raise TemplateError(f"{release.id.describe()} carries no function payload")
    fn = _base(release, payload)
    pod = _PODS.get(payload.workload.target)
    if pod is not None:
        fn.update(pod(payload, fn))
    fn["pod"] = _pod(fn)
    return {"fn": fn, "watcher": {"version": __version__}}


def _base(release: Release, payload: FunctionRelease) -> dict[str, Any]:
    workload = payload.workload
    stage = payload.stage
    labels = object_labels(
        payload.slug,
        stage.name,
        version=payload.revision,
        component="function",
        part_of=workload.project,
    )
    return {
        "name": payload.slug,
        "function": workload.name,
        "stage": stage.name,
        "namespace": stage.namespace,
        "revision": payload.revision,
        "labels": labels,
        "selector_labels": selector_labels(payload.slug, stage.name),
        "annotations": _annotations(release, payload),
        "replicas": workload.replicas,
        "service_type": workload.service_type,
        "node_selector": dict(workload.node_selector),
        "tolerations": [dict(t) for t in workload.tolerations],
        "affinity": dict(workload.affinity),
        "priority_class": workload.priority_class,
        **_user_volumes(payload),
        "gateway": gateway_context(payload),
        "schedule": payload.overlay.schedule,
        "ports": [_port(i, p) for i, p in enumerate(workload.ports)],
    }


def _annotations(release: Release, payload: FunctionRelease) -> dict[str, str]:
    workload = payload.workload
    annotations = {
        f"{ANNOTATION_PREFIX}/function-name": workload.name,
        f"{ANNOTATION_PREFIX}/function-kind": f"{workload.sdk}/{workload.kind}",
        f"{ANNOTATION_PREFIX}/function-spec": workload.file,
        f"{ANNOTATION_PREFIX}/revision": payload.revision,
    }
    if release.url:
        annotations["link.argocd.argoproj.io/function-spec"] = release.url
    return annotations


def _user_volumes(payload: FunctionRelease) -> dict[str, Any]:
    """The spec's volumes and mounts; a sized claim without a name gets one and is rendered."""
    claims = []
    volumes = []
    mounts = []
    for volume in payload.workload.volumes:
        source = json.loads(json.dumps(volume.source))
        claim = source.get("persistentVolumeClaim")
        if claim is not None and not claim.get("claimName"):
            claim["claimName"] = f"{payload.slug}-{volume.name}"
            claims.append({"name": claim["claimName"], "size": volume.claim_size})
        volumes.append({"name": volume.name, **source})
        mounts.append(
            {"name": volume.name, "mountPath": volume.mount_path, "readOnly": volume.read_only}
        )
    return {"claims": claims, "user_volumes": volumes, "user_mounts": mounts}


def _pod(fn: Mapping[str, Any]) -> dict[str, Any]:
    """A job's pod spec (jobs never restart in place: the Job retries)."""
    return with_fields(
        {"containers": fn.get("containers", []), "restartPolicy": "Never"},
        initContainers=fn.get("init_containers"),
        volumes=fn.get("volumes"),
        nodeSelector=fn["node_selector"],
        tolerations=fn["tolerations"],
        affinity=fn["affinity"],
        priorityClassName=fn["priority_class"],
    )


def _port(index: int, port: int) -> dict[str, Any]:
    return {"name": "http" if index == 0 else f"port-{port}", "port": port}
