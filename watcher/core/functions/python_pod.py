"""The pod of a DigitalHub python function: the python image runs our launcher.

The code and the launcher travel in a ConfigMap mounted at ``/opt/function``;
requirements are installed by an init container into a shared volume; the
launcher serves the handler over HTTP (``serve``) or calls it once (``run``).
"""

from __future__ import annotations

import json
from typing import Any

from watcher.core.functions import runtime
from watcher.core.functions.fetchers import fetchers
from watcher.core.functions.model import SERVE, Workload
from watcher.core.functions.pod_parts import (
    CODE_VOLUME,
    DEPS_VOLUME,
    SOURCE_VOLUME,
    container_ports,
    env_from,
    with_fields,
)
from watcher.core.functions.releases import FunctionRelease


def python_pod(payload: FunctionRelease, fn: dict[str, Any]) -> dict[str, Any]:
    """Template variables of ``function-serve`` and ``function-job``."""
    workload = payload.workload
    mode = "serve" if workload.target == SERVE else "run"
    volumes: list[Any] = [
        {"name": CODE_VOLUME, "configMap": {"name": f"{payload.slug}-code"}},
        {"name": DEPS_VOLUME, "emptyDir": {}},
        *fn["user_volumes"],
    ]
    mounts: list[Any] = [
        {"name": CODE_VOLUME, "mountPath": runtime.CODE_DIR, "readOnly": True},
        {"name": DEPS_VOLUME, "mountPath": runtime.DEPS_DIR},
        *fn["user_mounts"],
    ]
    init: list[Any] = []
    if workload.source is not None:
        init, extra = fetchers(payload, workload.source)
        volumes += extra
        mounts.append({"name": SOURCE_VOLUME, "mountPath": workload.source.target_dir})
    if workload.requirements:
        init.append(_install_requirements(payload, mounts[:2]))
    container = with_fields(
        {
            "name": "function",
            "image": payload.image,
            "command": ["python", f"{runtime.CODE_DIR}/{runtime.LAUNCHER}", mode],
        },
        ports=container_ports(fn),
        env=_launcher_env(payload, mode),
        envFrom=env_from(workload),
        resources=dict(workload.resources),
        volumeMounts=mounts,
        **(_serve_probes() if mode == "serve" else {}),
    )
    return {
        "init_containers": init,
        "containers": [container],
        "volumes": volumes,
        "code_files": code_files(workload),
        "job_name": f"{payload.slug}-{payload.revision}",
    }


def _serve_probes() -> dict[str, Any]:
    """A serving launcher answers /healthz once the handler is imported."""
    return {
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10},
        "livenessProbe": {"tcpSocket": {"port": "http"}, "initialDelaySeconds": 10},
    }


def _install_requirements(payload: FunctionRelease, mounts: list[Any]) -> dict[str, Any]:
    """pip installs the requirements into the shared volume, never into the image."""
    workload = payload.workload
    return {
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
        "volumeMounts": mounts,
        **({"resources": dict(workload.resources)} if workload.resources else {}),
    }


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


def code_files(workload: Workload) -> dict[str, str]:
    """The code ConfigMap's files: the function's code, the launcher, requirements.txt."""
    files = dict(sorted(workload.code.items()))
    files[runtime.LAUNCHER] = runtime.LAUNCHER_TEXT
    if workload.requirements:
        files["requirements.txt"] = "\n".join(workload.requirements) + "\n"
    return files
