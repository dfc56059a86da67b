"""Template variables of the function targets, built from a function release.

Containers, volumes and init containers are assembled here as plain data and
inserted whole (``{{ fn.containers | yaml(8) }}``): the rules that decide them
(where code lands, which helper fetches it, how probes find their port) are
Python that tests can read, and the templates keep the object structure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from watcher import __version__
from watcher.core.artifacts import ArtifactRef
from watcher.core.functions import runtime
from watcher.core.functions.model import APPLICATION, BUILD, JOB, SERVE, RemoteSource, Workload
from watcher.core.functions.releases import FunctionRelease
from watcher.core.release import Release
from watcher.errors import TemplateError

MANAGED_BY = "gitops-watcher"
PREFIX = "gitops-watcher.io"
_SOURCE_VOLUME = "source"
_FETCH_VOLUME = "fetch"
_CODE_VOLUME = "code"
_DEPS_VOLUME = "deps"
_WORKSPACE = "/workspace"


def function_context(release: Release, artifact: ArtifactRef | None) -> Mapping[str, Any]:
    """Everything the function templates may use, under ``fn`` (see docs/functions.md)."""
    del artifact  # functions carry their code in git; nothing is copied
    payload = release.payload
    if not isinstance(payload, FunctionRelease):
        raise TemplateError(f"{release.id.describe()} carries no function payload")
    workload = payload.workload
    fn = _base(release, payload)
    if workload.target == APPLICATION:
        fn.update(_application(payload, fn))
    elif workload.target in (SERVE, JOB):
        fn.update(_python(payload, fn))
    elif workload.target == BUILD:
        fn.update(_build(payload, fn))
    fn["pod"] = _pod(fn)
    return {"fn": fn, "watcher": {"version": __version__}}


def _base(release: Release, payload: FunctionRelease) -> dict[str, Any]:
    workload = payload.workload
    stage = payload.stage
    selector = {
        "app.kubernetes.io/name": payload.slug,
        "app.kubernetes.io/instance": f"{payload.slug}-{stage.name}",
    }
    labels = {
        **selector,
        "app.kubernetes.io/version": payload.revision,
        "app.kubernetes.io/component": "function",
        "app.kubernetes.io/part-of": workload.project or payload.slug,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        f"{PREFIX}/stage": stage.name,
    }
    annotations = {
        f"{PREFIX}/function-name": workload.name,
        f"{PREFIX}/function-kind": f"{workload.sdk}/{workload.kind}",
        f"{PREFIX}/function-spec": workload.file,
        f"{PREFIX}/revision": payload.revision,
    }
    if release.url:
        annotations["link.argocd.argoproj.io/function-spec"] = release.url
    claims = []
    volumes = []
    mounts = []
    for volume in workload.volumes:
        source = json.loads(json.dumps(volume.source))
        claim = source.get("persistentVolumeClaim")
        if claim is not None and not claim.get("claimName"):
            claim["claimName"] = f"{payload.slug}-{volume.name}"
            claims.append({"name": claim["claimName"], "size": volume.claim_size})
        volumes.append({"name": volume.name, **source})
        mounts.append(
            {"name": volume.name, "mountPath": volume.mount_path, "readOnly": volume.read_only}
        )
    return {
        "name": payload.slug,
        "function": workload.name,
        "stage": stage.name,
        "namespace": stage.namespace,
        "revision": payload.revision,
        "labels": labels,
        "selector_labels": selector,
        "annotations": annotations,
        "replicas": workload.replicas,
        "service_type": workload.service_type,
        "node_selector": dict(workload.node_selector),
        "tolerations": [dict(t) for t in workload.tolerations],
        "affinity": dict(workload.affinity),
        "priority_class": workload.priority_class,
        "claims": claims,
        "user_volumes": volumes,
        "user_mounts": mounts,
        "gateway": _gateway(payload),
        "schedule": payload.overlay.schedule,
        "ports": [_port(i, p) for i, p in enumerate(workload.ports)],
    }


def _pod(fn: Mapping[str, Any]) -> dict[str, Any]:
    """A job's pod spec (jobs never restart in place: the Job retries)."""
    return _with(
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


def _env_from(workload: Workload) -> list[dict[str, Any]]:
    return [{"secretRef": {"name": name}} for name in workload.secrets]


def _fetchers(payload: FunctionRelease, source: RemoteSource) -> tuple[list[Any], list[Any]]:
    """Init containers that put a remote source into the shared ``source`` volume."""
    images = payload.images
    secret = payload.overlay.source_secret
    env_from = [{"secretRef": {"name": secret}}] if secret else []
    target_mount = {"name": _SOURCE_VOLUME, "mountPath": source.target_dir}
    volumes: list[Any] = [{"name": _SOURCE_VOLUME, "emptyDir": {}}]
    env = [
        {"name": "SOURCE_URL", "value": source.url},
        {"name": "TARGET_DIR", "value": source.target_dir},
    ]
    if source.kind == "git":
        container = {
            "name": "fetch-source",
            "image": images.git,
            "command": ["sh", "-c", runtime.GIT_FETCH_SCRIPT],
            "env": [*env, {"name": "SOURCE_REF", "value": source.ref}],
            "volumeMounts": [target_mount],
        }
        return [_with(container, envFrom=env_from)], volumes
    containers: list[Any] = []
    unpack_env = list(env)
    unpack_mounts: list[Any] = [target_mount]
    if source.kind == "s3":
        archive = f"/fetch/source{_suffix(source.url)}"
        volumes.append({"name": _FETCH_VOLUME, "emptyDir": {}})
        fetch_mount = {"name": _FETCH_VOLUME, "mountPath": "/fetch"}
        copy = {
            "name": "copy-source",
            "image": images.aws_cli,
            "command": ["aws"],
            "args": ["s3", "cp", "--only-show-errors", "$(SOURCE_URL)", "$(SOURCE_FILE)"],
            "env": [*env, {"name": "SOURCE_FILE", "value": archive}],
            "volumeMounts": [fetch_mount],
        }
        containers.append(_with(copy, envFrom=env_from))
        unpack_env.append({"name": "SOURCE_FILE", "value": archive})
        unpack_mounts.append(fetch_mount)
    unpack = {
        "name": "fetch-source",
        "image": images.tools_python,
        "command": ["python", "-c", runtime.ARCHIVE_FETCH_SCRIPT],
        "env": unpack_env,
        "volumeMounts": unpack_mounts,
    }
    containers.append(_with(unpack, envFrom=env_from if source.kind == "archive" else []))
    return containers, volumes


def _suffix(url: str) -> str:
    lowered = url.lower().split("?", 1)[0]
    return ".zip" if lowered.endswith(".zip") else ".tar.gz"


def _with(container: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """The container with the extra keys that are not empty (Kubernetes omits empty ones)."""
    return {**container, **{k: v for k, v in extra.items() if v}}


def _application(payload: FunctionRelease, fn: dict[str, Any]) -> dict[str, Any]:
    workload = payload.workload
    init: list[Any] = []
    volumes: list[Any] = list(fn["user_volumes"])
    mounts: list[Any] = list(fn["user_mounts"])
    working_dir = ""
    if workload.source is not None:
        init, extra = _fetchers(payload, workload.source)
        volumes += extra
        mounts.append({"name": _SOURCE_VOLUME, "mountPath": workload.source.target_dir})
        working_dir = workload.source.target_dir
    container = _with(
        {"name": "app", "image": payload.image},
        command=list(workload.command),
        args=list(workload.args),
        workingDir=working_dir,
        ports=[
            {"name": p["name"], "containerPort": p["port"], "protocol": "TCP"} for p in fn["ports"]
        ],
        env=list(workload.env),
        envFrom=_env_from(workload),
        resources=dict(workload.resources),
        volumeMounts=mounts,
        **{k: v for k, v in sorted(workload.probes.items())},
    )
    return {"init_containers": init, "containers": [container], "volumes": volumes}


def _launcher_env(payload: FunctionRelease, mode: str) -> list[dict[str, Any]]:
    workload = payload.workload
    paths = [runtime.CODE_DIR]
    if workload.source is not None:
        paths.insert(0, workload.source.target_dir)
    env = [
        {"name": "FUNCTION_NAME", "value": workload.name},
        {"name": "FUNCTION_PROJECT", "value": workload.project},
        {"name": "FUNCTION_HANDLER", "value": workload.handler},
        {"name": "FUNCTION_PATHS", "value": ":".join(paths)},
        {"name": "PYTHONPATH", "value": runtime.DEPS_DIR},
        {"name": "PYTHONUNBUFFERED", "value": "1"},
    ]
    if workload.init_function:
        env.append({"name": "FUNCTION_INIT", "value": workload.init_function})
    if mode == "serve":
        env.append({"name": "PORT", "value": str(workload.ports[0])})
    else:
        params = json.dumps(payload.overlay.params, sort_keys=True, default=str)
        env.append({"name": "FUNCTION_PARAMS", "value": params})
        if not workload.handler and workload.code:
            script = f"{runtime.CODE_DIR}/{sorted(workload.code)[0]}"
            env.append({"name": "FUNCTION_SCRIPT", "value": script})
    taken = {e["name"] for e in env}
    return env + [e for e in workload.env if e["name"] not in taken]


def _code_files(workload: Workload, handler: str) -> dict[str, str]:
    files = dict(sorted(workload.code.items()))
    files[runtime.LAUNCHER] = runtime.LAUNCHER_TEXT
    if workload.requirements:
        files["requirements.txt"] = "\n".join(workload.requirements) + "\n"
    del handler
    return files


def _python(payload: FunctionRelease, fn: dict[str, Any]) -> dict[str, Any]:
    workload = payload.workload
    mode = "serve" if workload.target == SERVE else "run"
    init: list[Any] = []
    volumes: list[Any] = [
        {"name": _CODE_VOLUME, "configMap": {"name": f"{payload.slug}-code"}},
        {"name": _DEPS_VOLUME, "emptyDir": {}},
        *fn["user_volumes"],
    ]
    mounts: list[Any] = [
        {"name": _CODE_VOLUME, "mountPath": runtime.CODE_DIR, "readOnly": True},
        {"name": _DEPS_VOLUME, "mountPath": runtime.DEPS_DIR},
        *fn["user_mounts"],
    ]
    if workload.source is not None:
        init, extra = _fetchers(payload, workload.source)
        volumes += extra
        mounts.append({"name": _SOURCE_VOLUME, "mountPath": workload.source.target_dir})
    if workload.requirements:
        init.append(
            {
                "name": "install-requirements",
                "image": payload.image,
                "command": [
                    "python",
                    "-m",
                    "pip",
                    "install",
                    "--no-cache-dir",
                    "--disable-pip-version-check",
                    "--target",
                    runtime.DEPS_DIR,
                    "-r",
                    f"{runtime.CODE_DIR}/requirements.txt",
                ],
                "volumeMounts": mounts[:2],
                **({"resources": dict(workload.resources)} if workload.resources else {}),
            }
        )
    probes: dict[str, Any] = {}
    if mode == "serve":
        probes = {
            "readinessProbe": {
                "httpGet": {"path": "/healthz", "port": "http"},
                "periodSeconds": 10,
            },
            "livenessProbe": {"tcpSocket": {"port": "http"}, "initialDelaySeconds": 10},
        }
    container = _with(
        {
            "name": "function",
            "image": payload.image,
            "command": ["python", f"{runtime.CODE_DIR}/{runtime.LAUNCHER}", mode],
        },
        ports=[
            {"name": p["name"], "containerPort": p["port"], "protocol": "TCP"} for p in fn["ports"]
        ],
        env=_launcher_env(payload, mode),
        envFrom=_env_from(workload),
        resources=dict(workload.resources),
        volumeMounts=mounts,
        **probes,
    )
    return {
        "init_containers": init,
        "containers": [container],
        "volumes": volumes,
        "code_files": _code_files(workload, workload.handler),
        "job_name": f"{payload.slug}-{payload.revision}",
    }


def _build(payload: FunctionRelease, fn: dict[str, Any]) -> dict[str, Any]:
    workload = payload.workload
    images = payload.images
    base = workload.base_image or images.python_for(workload.python_version)
    destination = payload.overlay.build_destination or workload.image
    files = _code_files(workload, workload.handler)
    files["Dockerfile"] = runtime.dockerfile(
        base, bool(workload.requirements), workload.instructions, workload.handler
    )
    volumes: list[Any] = [
        {"name": _CODE_VOLUME, "configMap": {"name": f"{payload.slug}-code"}},
        {"name": "workspace", "emptyDir": {}},
    ]
    kaniko_mounts: list[Any] = [{"name": "workspace", "mountPath": _WORKSPACE}]
    push_secret = payload.overlay.build_push_secret
    if push_secret:
        volumes.append(
            {
                "name": "push-secret",
                "secret": {
                    "secretName": push_secret,
                    "items": [{"key": ".dockerconfigjson", "path": "config.json"}],
                },
            }
        )
        kaniko_mounts.append({"name": "push-secret", "mountPath": "/kaniko/.docker"})
    copy = {
        "name": "copy-context",
        "image": images.tools_python,
        "command": [
            "python",
            "-c",
            "import shutil; shutil.copytree('/config', '/workspace', dirs_exist_ok=True, "
            "ignore=shutil.ignore_patterns('..*'))",
        ],
        "volumeMounts": [
            {"name": _CODE_VOLUME, "mountPath": "/config", "readOnly": True},
            {"name": "workspace", "mountPath": _WORKSPACE},
        ],
    }
    kaniko = _with(
        {
            "name": "build",
            "image": images.kaniko,
            "args": [
                f"--dockerfile={_WORKSPACE}/Dockerfile",
                f"--context=dir://{_WORKSPACE}",
                f"--destination={destination}",
            ],
        },
        env=list(workload.env),
        envFrom=_env_from(workload),
        resources=dict(workload.resources),
        volumeMounts=kaniko_mounts,
    )
    return {
        "init_containers": [copy],
        "containers": [kaniko],
        "volumes": volumes,
        "code_files": files,
        "job_name": f"{payload.slug}-{payload.revision}",
        "destination": destination,
    }


def _gateway(payload: FunctionRelease) -> dict[str, Any] | None:
    gateway = payload.overlay.gateway
    if gateway is None:
        return None
    ports = payload.workload.ports
    port = gateway.port or (ports[0] if ports else 80)
    annotations: dict[str, str] = {}
    if gateway.type == "ingress":
        annotations["nginx.ingress.kubernetes.io/ssl-redirect"] = str(gateway.ssl_redirect).lower()
        if gateway.auth == "basic":
            annotations["nginx.ingress.kubernetes.io/auth-type"] = "basic"
            annotations["nginx.ingress.kubernetes.io/auth-secret"] = gateway.secret
            annotations["nginx.ingress.kubernetes.io/auth-realm"] = "Authentication required"
        elif gateway.auth == "access-key":
            annotations["nginx.ingress.kubernetes.io/auth-url"] = gateway.auth_url
            if gateway.secret:
                annotations["nginx.ingress.kubernetes.io/auth-secret"] = gateway.secret
    parent = dict(gateway.parent)
    parent_ref: dict[str, Any] = {"name": parent.get("name", "")}
    if parent.get("namespace"):
        parent_ref["namespace"] = parent["namespace"]
    https_ref = dict(parent_ref)
    http_ref = dict(parent_ref)
    if gateway.ssl_redirect:
        https_ref["sectionName"] = parent.get("https_section", "https")
        http_ref["sectionName"] = parent.get("http_section", "http")
    filters = []
    if gateway.auth != "none" and gateway.auth_filter:
        filters.append({"type": "ExtensionRef", "extensionRef": dict(gateway.auth_filter)})
    return {
        "type": gateway.type,
        "host": gateway.host,
        "path": gateway.path,
        "port": port,
        "auth": gateway.auth,
        "annotations": annotations,
        "ingress_class": gateway.ingress_class,
        "tls_secret": gateway.tls_secret,
        "ssl_redirect": gateway.ssl_redirect,
        "parent_ref": https_ref,
        "redirect_parent_ref": http_ref,
        "filters": filters,
    }
