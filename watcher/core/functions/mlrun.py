"""MLRun exports (``function.export()``): ``application`` and ``job``.

Only the kinds that map to plain Kubernetes objects are accepted; the others
(serving graphs, Nuclio functions, Dask, MPI, Spark …) need MLRun's own
controllers and get a clear "not supported" naming the kind.
"""

from __future__ import annotations

import base64
import binascii
import posixpath
from collections.abc import Mapping
from typing import Any

from watcher.core.functions import checks, code_sources, fields
from watcher.core.functions.model import APPLICATION, JOB, RemoteSource, Volume, Workload
from watcher.core.functions.problems import Problems
from watcher.core.names import describe

DEFAULT_APP_PORT = 8050
DEFAULT_CODE_DIR = "/home/mlrun_code"
SUPPORTED = ("application", "job")
#: Kinds MLRun knows that need MLRun's or Nuclio's controllers to run.
UNSUPPORTED = {
    "serving": "a serving graph runs inside Nuclio",
    "nuclio": "it needs the Nuclio controller",
    "remote": "it is a Nuclio function",
    "dask": "it needs the Dask operator and MLRun's API",
    "mpijob": "it needs the MPI operator",
    "spark": "it needs the Spark operator",
    "remote-spark": "it needs a Spark cluster",
    "databricks": "it runs on Databricks, not in the cluster",
    "handler": "it runs in the client process",
    "local": "it runs in the client process",
}


def is_mlrun(document: Mapping[str, Any]) -> bool:
    kind = document.get("kind")
    return isinstance(kind, str) and (kind in SUPPORTED or kind in UNSUPPORTED)


def parse(problems: Problems, document: dict[str, Any]) -> Workload | None:
    kind = str(document.get("kind"))
    if kind in UNSUPPORTED:
        problems.add(
            "kind",
            f"MLRun kind {kind!r} is not supported ({UNSUPPORTED[kind]}); "
            f"supported: {', '.join(SUPPORTED)}",
        )
        return None
    metadata = problems.mapping(document, "metadata", "metadata")
    spec = problems.mapping(document, "spec", "spec")
    name = problems.string(metadata, "name", "metadata.name")
    if not name:
        problems.add("metadata.name", "is missing")
    build = problems.mapping(spec, "build", "spec.build")
    common = _common(problems, spec)
    if kind == "application":
        return _application(problems, name, metadata, spec, build, common)
    return _job(problems, name, metadata, spec, build, common)


def _common(problems: Problems, spec: dict[str, Any]) -> dict[str, Any]:
    volumes = _volumes(problems, spec)
    return {
        "env": fields.env_list(problems, spec.get("env"), "spec.env"),
        "resources": fields.resources(problems, spec.get("resources"), "spec.resources"),
        "node_selector": fields.string_map(
            problems, spec.get("node_selector"), "spec.node_selector"
        ),
        "tolerations": fields.mapping_list(problems, spec.get("tolerations"), "spec.tolerations"),
        "affinity": fields.plain_mapping(problems, spec.get("affinity"), "spec.affinity"),
        "priority_class": problems.string(spec, "priority_class_name", "spec.priority_class_name"),
        "volumes": volumes,
    }


def _volumes(problems: Problems, spec: dict[str, Any]) -> tuple[Volume, ...]:
    mounts = {
        str(m.get("name")): m
        for m in fields.mapping_list(problems, spec.get("volume_mounts"), "spec.volume_mounts")
    }
    out = []
    for index, volume in enumerate(
        fields.mapping_list(problems, spec.get("volumes"), "spec.volumes")
    ):
        name = str(volume.get("name", ""))
        mount = mounts.get(name)
        if mount is None:
            problems.add(f"spec.volumes[{index}]", f"volume {describe(name)} is never mounted")
            continue
        source = {k: v for k, v in volume.items() if k != "name"}
        path = str(mount.get("mountPath", ""))
        out.append(Volume(name, path, source, bool(mount.get("readOnly", False))))
    return tuple(out)


def _source(
    problems: Problems, spec: dict[str, Any], build: dict[str, Any]
) -> tuple[str, RemoteSource | None]:
    url = problems.string(build, "source", "spec.build.source") or problems.string(
        spec, "source", "spec.source"
    )
    field = "spec.build.source" if build.get("source") else "spec.source"
    target = (
        problems.string(build, "source_code_target_dir", "spec.build.source_code_target_dir")
        or problems.string(spec, "clone_target_dir", "spec.clone_target_dir")
        or DEFAULT_CODE_DIR
    )
    if not target.startswith("/"):
        problems.add("spec.build.source_code_target_dir", "must be an absolute path")
    if not url:
        return "", None
    if not problems.boolean(build, "load_source_on_run", "spec.build.load_source_on_run", False):
        # Baked in at build time: the image already holds it.
        return url, None
    return url, code_sources.remote_source(problems, url, field, target)


def _application(
    problems: Problems,
    name: str,
    metadata: dict[str, Any],
    spec: dict[str, Any],
    build: dict[str, Any],
    common: dict[str, Any],
) -> Workload | None:
    image = problems.string(spec, "image", "spec.image")
    command = problems.string(spec, "command", "spec.command")
    args = problems.strings(spec, "args", "spec.args")
    if args and not command:
        problems.add("spec.args", "are set without a command; set spec.command as well")
    internal = spec.get("internal_application_port", DEFAULT_APP_PORT)
    internal_port = fields.port(problems, internal, "spec.internal_application_port")
    ports: list[int] = [internal_port] if internal_port else []
    for index, raw in enumerate(
        problems.sequence(spec, "application_ports", "spec.application_ports")
    ):
        value = fields.port(problems, raw, f"spec.application_ports[{index}]")
        if value and value not in ports:
            ports.append(value)
    _url, source = _source(problems, spec, build)
    if not image:
        problems.add("spec.image", "is missing; an application runs a pre-built image")
    probes: dict[str, dict[str, Any]] = {}
    config = problems.mapping(spec, "config", "spec.config")
    sidecars = problems.sequence(config, "spec.sidecars", "spec.config.spec.sidecars")
    if sidecars and isinstance(sidecars[0], dict):
        for kind in fields.PROBE_KINDS:
            if sidecars[0].get(kind) is not None:
                probe = fields.probe(
                    problems,
                    sidecars[0][kind],
                    f"spec.config.spec.sidecars[0].{kind}",
                    internal_port,
                )
                if probe:
                    probes[kind] = probe
    replicas = problems.integer(spec, "min_replicas", "spec.min_replicas", 1, minimum=0) or 0
    return Workload(
        file=problems.file,
        sdk="mlrun",
        kind="application",
        target=APPLICATION,
        name=name,
        project=_project(problems, metadata),
        image=image,
        command=(command,) if command else (),
        args=args,
        ports=tuple(ports),
        probes=probes,
        source=source,
        replicas=replicas,
        **common,
    )


def _job(
    problems: Problems,
    name: str,
    metadata: dict[str, Any],
    spec: dict[str, Any],
    build: dict[str, Any],
    common: dict[str, Any],
) -> Workload | None:
    image = problems.string(spec, "image", "spec.image") or "mlrun/mlrun"
    encoded = problems.string(build, "functionSourceCode", "spec.build.functionSourceCode")
    handler = problems.string(spec, "default_handler", "spec.default_handler")
    code: dict[str, str] = {}
    url, source = _source(problems, spec, build)
    filename = posixpath.basename(problems.string(spec, "filename", "spec.filename") or "main.py")
    if not filename.endswith(".py") or not filename[:-3].isidentifier():
        filename = "main.py"
    if encoded:
        try:
            code[filename] = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            problems.add("spec.build.functionSourceCode", "is not base64 of UTF-8 text")
    elif not url:
        problems.add(
            "spec.build.functionSourceCode",
            "no source: the job has neither inline code nor spec.build.source",
        )
    if source and not handler:
        problems.add(
            "spec.default_handler", "is missing; a job from a source needs module.function"
        )
    module = filename[:-3]
    if handler and source:
        module, _, function = handler.rpartition(".")
        handler = f"{module}:{function}" if module else handler
    elif handler:
        handler = f"{module}:{handler}"
    return Workload(
        file=problems.file,
        sdk="mlrun",
        kind="job",
        target=JOB,
        name=name,
        project=_project(problems, metadata),
        image=image,
        code=code,
        handler=handler,
        source=source,
        replicas=1,
        **common,
    )


def _project(problems: Problems, metadata: dict[str, Any]) -> str:
    """MLRun's project name, checked as the label value it becomes."""
    project = problems.string(metadata, "project", "metadata.project")
    return checks.project_label(problems, project, "metadata.project")
