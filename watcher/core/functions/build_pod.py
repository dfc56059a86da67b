"""The pod of a DigitalHub build task: Kaniko builds the function's image and pushes it."""

from __future__ import annotations

from typing import Any

from watcher.core.functions import runtime
from watcher.core.functions.pod_parts import CODE_VOLUME, env_from, with_fields
from watcher.core.functions.python_pod import code_files
from watcher.core.functions.releases import FunctionRelease

_WORKSPACE = "/workspace"
#: Copies the ConfigMap's files (not its ``..data`` links) into Kaniko's build context.
_COPY_CONTEXT = (
    "import shutil; shutil.copytree('/config', '/workspace', dirs_exist_ok=True, "
    "ignore=shutil.ignore_patterns('..*'))"
)


def build_pod(payload: FunctionRelease, fn: dict[str, Any]) -> dict[str, Any]:
    """Template variables of ``function-build``: the Dockerfile, the copier and Kaniko."""
    del fn  # a build mounts no user volume and exposes no port
    workload = payload.workload
    images = payload.images
    base = workload.base_image or images.python_for(workload.python_version)
    destination = payload.overlay.build_destination or workload.image
    files = code_files(workload)
    files["Dockerfile"] = runtime.dockerfile(
        base, bool(workload.requirements), workload.instructions, workload.handler
    )
    volumes: list[Any] = [
        {"name": CODE_VOLUME, "configMap": {"name": f"{payload.slug}-code"}},
        {"name": "workspace", "emptyDir": {}},
    ]
    kaniko_mounts: list[Any] = [{"name": "workspace", "mountPath": _WORKSPACE}]
    push_secret = payload.overlay.build_push_secret
    if push_secret:
        volumes.append(_push_secret_volume(push_secret))
        kaniko_mounts.append({"name": "push-secret", "mountPath": "/kaniko/.docker"})
    copy = {
        "name": "copy-context",
        "image": images.tools_python,
        "command": ["python", "-c", _COPY_CONTEXT],
        "volumeMounts": [
            {"name": CODE_VOLUME, "mountPath": "/config", "readOnly": True},
            {"name": "workspace", "mountPath": _WORKSPACE},
        ],
    }
    kaniko = with_fields(
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
        envFrom=env_from(workload),
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


def _push_secret_volume(secret: str) -> dict[str, Any]:
    """The docker-config Secret, as Kaniko reads it (``/kaniko/.docker/config.json``)."""
    return {
        "name": "push-secret",
        "secret": {
            "secretName": secret,
            "items": [{"key": ".dockerconfigjson", "path": "config.json"}],
        },
    }
