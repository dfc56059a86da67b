"""The pod of an MLRun application: the spec's own image, command and ports."""

from __future__ import annotations

from typing import Any

from watcher.core.functions.fetchers import fetchers
from watcher.core.functions.pod_parts import (
    SOURCE_VOLUME,
    container_ports,
    env_from,
    with_fields,
)
from watcher.core.functions.releases import FunctionRelease


def application_pod(payload: FunctionRelease, fn: dict[str, Any]) -> dict[str, Any]:
    """Template variables of ``function-application``: containers, init containers, volumes."""
    workload = payload.workload
    init: list[Any] = []
    volumes: list[Any] = list(fn["user_volumes"])
    mounts: list[Any] = list(fn["user_mounts"])
    working_dir = ""
    if workload.source is not None:
        init, extra = fetchers(payload, workload.source)
        volumes += extra
        mounts.append({"name": SOURCE_VOLUME, "mountPath": workload.source.target_dir})
        working_dir = workload.source.target_dir
    container = with_fields(
        {"name": "app", "image": payload.image},
        command=list(workload.command),
        args=list(workload.args),
        workingDir=working_dir,
        ports=container_ports(fn),
        env=list(workload.env),
        envFrom=env_from(workload),
        resources=dict(workload.resources),
        volumeMounts=mounts,
        **{k: v for k, v in sorted(workload.probes.items())},
    )
    return {"init_containers": init, "containers": [container], "volumes": volumes}
