"""Init containers that put a function's remote source into the pod's ``source`` volume.

Git sources are fetched with the git image, archives over http(s) downloaded and
unpacked with the tools python image, and S3 objects copied first with the
aws-cli image; every helper image is pinned in ``functions[].images``.
"""

from __future__ import annotations

from typing import Any

from watcher.core.functions import runtime
from watcher.core.functions.model import RemoteSource
from watcher.core.functions.pod_parts import FETCH_VOLUME, SOURCE_VOLUME, with_fields
from watcher.core.functions.releases import FunctionRelease


def fetchers(payload: FunctionRelease, source: RemoteSource) -> tuple[list[Any], list[Any]]:
    """The init containers that fetch ``source``, and the volumes they need."""
    images = payload.images
    secret = payload.overlay.source_secret
    env_from = [{"secretRef": {"name": secret}}] if secret else []
    target_mount = {"name": SOURCE_VOLUME, "mountPath": source.target_dir}
    volumes: list[Any] = [{"name": SOURCE_VOLUME, "emptyDir": {}}]
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
        return [with_fields(container, envFrom=env_from)], volumes
    containers: list[Any] = []
    unpack_env = list(env)
    unpack_mounts: list[Any] = [target_mount]
    if source.kind == "s3":
        archive = f"/fetch/source{_suffix(source.url)}"
        volumes.append({"name": FETCH_VOLUME, "emptyDir": {}})
        fetch_mount = {"name": FETCH_VOLUME, "mountPath": "/fetch"}
        copy = {
            "name": "copy-source",
            "image": images.aws_cli,
            "command": ["aws"],
            "args": ["s3", "cp", "--only-show-errors", "$(SOURCE_URL)", "$(SOURCE_FILE)"],
            "env": [*env, {"name": "SOURCE_FILE", "value": archive}],
            "volumeMounts": [fetch_mount],
        }
        containers.append(with_fields(copy, envFrom=env_from))
        unpack_env.append({"name": "SOURCE_FILE", "value": archive})
        unpack_mounts.append(fetch_mount)
    unpack = {
        "name": "fetch-source",
        "image": images.tools_python,
        "command": ["python", "-c", runtime.ARCHIVE_FETCH_SCRIPT],
        "env": unpack_env,
        "volumeMounts": unpack_mounts,
    }
    containers.append(with_fields(unpack, envFrom=env_from if source.kind == "archive" else []))
    return containers, volumes


def _suffix(url: str) -> str:
    lowered = url.lower().split("?", 1)[0]
    return ".zip" if lowered.endswith(".zip") else ".tar.gz"
