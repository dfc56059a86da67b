"""DigitalHub exports: ``kind: python`` functions and their ``python+<action>`` tasks.

A function holds the code and how to call it; a task says what to do with it
(``job``, ``serve``, ``build``) and with which pod settings. A task points at its
function as ``python://<project>/<name>:<id>``; it is matched by project and
name (the id changes on every save, so it is not compared).
"""

from __future__ import annotations

import base64
import binascii
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from watcher.core.functions import checks, code_sources, fields
from watcher.core.functions.model import BUILD, JOB, SERVE, RemoteSource, Volume, Workload
from watcher.core.functions.problems import Problems
from watcher.core.names import describe

FUNCTION_KIND = "python"
ACTIONS = {"job": JOB, "serve": SERVE, "build": BUILD}
TASK_KINDS = tuple(f"python+{a}" for a in ACTIONS)
#: Where remote code lands in python pods.
REMOTE_CODE_DIR = "/opt/function/src"
_FUNCTION_REF = re.compile(r"^python://(?P<project>[^/]+)/(?P<name>[^:]+)(:(?P<id>.+))?$")
_HANDLER = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*$")
_SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer")
_VOLUME_TYPES = ("persistent_volume_claim", "config_map", "secret", "empty_dir")


@dataclass(frozen=True)
class PythonFunction:
    file: str
    name: str
    project: str
    python_version: str
    handler: str
    init_function: str = ""
    code: dict[str, str] = field(default_factory=dict)
    source: RemoteSource | None = None
    image: str = ""
    base_image: str = ""
    requirements: tuple[str, ...] = ()


@dataclass(frozen=True)
class PythonTask:
    file: str
    action: str
    project: str
    function: str
    settings: dict[str, Any]


def is_digitalhub(document: Mapping[str, Any]) -> bool:
    kind = document.get("kind")
    return isinstance(kind, str) and (kind == FUNCTION_KIND or kind.startswith("python+"))


def parse_function(
    problems: Problems, document: dict[str, Any], siblings: Mapping[str, bytes]
) -> PythonFunction | None:
    metadata = problems.mapping(document, "metadata", "metadata")
    spec = problems.mapping(document, "spec", "spec")
    name = problems.string(metadata, "name", "metadata.name") or problems.string(
        document, "name", "name"
    )
    if not name:
        problems.add("metadata.name", "is missing")
    project_field = "metadata.project" if "project" in metadata else "project"
    project = checks.project_label(
        problems,
        problems.string(metadata, "project", "metadata.project")
        or problems.string(document, "project", "project"),
        project_field,
    )
    raw_version = problems.string(spec, "python_version", "spec.python_version")
    version = checks.python_version(problems, raw_version, "spec.python_version")
    source = problems.mapping(spec, "source", "spec.source")
    handler = problems.string(source, "handler", "spec.source.handler")
    if not handler:
        problems.add("spec.source.handler", "is missing; name the function to call")
    code, remote = _code(problems, source, siblings)
    module = "main"
    for filename in code:
        module = filename[:-3]
    if remote is not None and code_sources.single_file(remote):
        # One remote .py file: a bare handler names a function of that module.
        module = code_sources.single_file(remote)[:-3]
    if handler and ":" not in handler:
        handler = f"{module}:{handler}"
    if handler and not _HANDLER.match(handler):
        problems.add("spec.source.handler", f"{describe(handler)} is not [module:]function")
    return PythonFunction(
        file=problems.file,
        name=name,
        project=project,
        python_version=version,
        handler=handler,
        init_function=problems.string(source, "init_function", "spec.source.init_function"),
        code=code,
        source=remote,
        image=problems.string(spec, "image", "spec.image"),
        base_image=problems.string(spec, "base_image", "spec.base_image"),
        requirements=problems.strings(spec, "requirements", "spec.requirements"),
    )


def _code(
    problems: Problems, source: dict[str, Any], siblings: Mapping[str, bytes]
) -> tuple[dict[str, str], RemoteSource | None]:
    """Inline ``base64`` or ``code``, a file beside the spec, or a remote source."""
    encoded = problems.string(source, "base64", "spec.source.base64")
    inline = problems.string(source, "code", "spec.source.code")
    path_key = "source" if source.get("source") else "code_src"
    path = problems.string(source, path_key, f"spec.source.{path_key}")
    lang = problems.string(source, "lang", "spec.source.lang", "python")
    if lang != "python":
        problems.add("spec.source.lang", f"{describe(lang)} is not supported; only python")
    filename = "main.py"
    if path and "://" not in path:
        filename = posixpath.basename(path)
        if not filename.endswith(".py") or not filename[:-3].isidentifier():
            problems.add(f"spec.source.{path_key}", f"{describe(path)} is not a python module file")
            filename = "main.py"
    if encoded:
        try:
            return {filename: base64.b64decode(encoded, validate=True).decode("utf-8")}, None
        except (binascii.Error, UnicodeDecodeError):
            problems.add("spec.source.base64", "is not base64 of UTF-8 text")
            return {}, None
    if inline:
        return {filename: inline}, None
    if path and "://" in path:
        field = f"spec.source.{path_key}"
        return {}, code_sources.remote_source(problems, path, field, REMOTE_CODE_DIR)
    if path:
        relative = posixpath.normpath(path)
        if relative.startswith(("../", "/")) or relative == "..":
            problems.add(f"spec.source.{path_key}", f"{describe(path)} leaves the spec folder")
            return {}, None
        data = siblings.get(relative)
        if data is None:
            problems.add(f"spec.source.{path_key}", f"file {describe(path)} is not beside the spec")
            return {}, None
        try:
            return {filename: data.decode("utf-8")}, None
        except UnicodeDecodeError:
            problems.add(f"spec.source.{path_key}", f"file {describe(path)} is not UTF-8 text")
            return {}, None
    problems.add("spec.source", "no source: set one of source (a file or URL), code or base64")
    return {}, None


def parse_task(problems: Problems, document: dict[str, Any]) -> PythonTask | None:
    kind = str(document.get("kind"))
    action = kind.partition("+")[2]
    if action not in ACTIONS:
        problems.add(
            "kind", f"DigitalHub task {kind!r} is not supported; use {', '.join(TASK_KINDS)}"
        )
        return None
    spec = problems.mapping(document, "spec", "spec")
    ref = problems.string(spec, "function", "spec.function")
    match = _FUNCTION_REF.match(ref)
    if not match:
        problems.add("spec.function", f"{describe(ref)} is not python://<project>/<name>:<id>")
        return None
    return PythonTask(problems.file, action, match.group("project"), match.group("name"), spec)


def bare_task(function: PythonFunction, action: str) -> PythonTask:
    """A function deployed without a task file: the overlay's ``action``, default settings."""
    return PythonTask(function.file, action, function.project, function.name, {})


def combine(problems: Problems, function: PythonFunction, task: PythonTask) -> Workload:
    """The function's code with the task's pod settings."""
    spec = task.settings
    if task.action == "serve":
        service_type = problems.string(spec, "service_type", "spec.service_type", "ClusterIP")
        if service_type not in _SERVICE_TYPES:
            problems.add("spec.service_type", f"{describe(service_type)}: use {_SERVICE_TYPES}")
    else:
        service_type = "ClusterIP"
    port = 8080
    for key in ("service_port", "port"):
        if spec.get(key) is not None:
            port = fields.port(problems, spec[key], f"spec.{key}") or port
    instructions = problems.strings(spec, "instructions", "spec.instructions")
    for index, line in enumerate(instructions):
        if "\n" in line or "\r" in line:
            problems.add(f"spec.instructions[{index}]", "must be one line (one RUN each)")
    workload = Workload(
        file=task.file,
        sdk="digitalhub",
        kind=f"python+{task.action}",
        target=ACTIONS[task.action],
        name=f"{function.name}-{task.action}",
        project=function.project,
        image=function.image,
        ports=(port,) if task.action == "serve" else (),
        env=fields.env_list(problems, spec.get("envs"), "spec.envs"),
        secrets=fields.secret_names(problems, spec.get("secrets"), "spec.secrets"),
        resources=fields.resources(problems, spec.get("resources"), "spec.resources"),
        node_selector=_node_selector(problems, spec.get("node_selector")),
        tolerations=fields.mapping_list(problems, spec.get("tolerations"), "spec.tolerations"),
        affinity=fields.plain_mapping(problems, spec.get("affinity"), "spec.affinity"),
        volumes=_volumes(problems, spec.get("volumes")),
        code=function.code,
        source=function.source,
        handler=function.handler,
        init_function=function.init_function,
        python_version=function.python_version,
        requirements=function.requirements,
        instructions=instructions,
        base_image=function.base_image,
        replicas=problems.integer(spec, "replicas", "spec.replicas", 1, minimum=0) or 0,
        service_type=service_type,
    )
    return workload


def _node_selector(problems: Problems, raw: object) -> dict[str, str]:
    """DigitalHub writes ``[{key, value}]``; a plain mapping is accepted too."""
    if isinstance(raw, list):
        out: dict[str, str] = {}
        for index, item in enumerate(raw):
            if not isinstance(item, Mapping) or not isinstance(item.get("key"), str):
                problems.add(f"spec.node_selector[{index}]", "must be {key, value}")
                continue
            out[item["key"]] = str(item.get("value", ""))
        return out
    return fields.string_map(problems, raw, "spec.node_selector")


def _volumes(problems: Problems, raw: object) -> tuple[Volume, ...]:
    out: list[Volume] = []
    for index, item in enumerate(fields.mapping_list(problems, raw, "spec.volumes")):
        where = f"spec.volumes[{index}]"
        kind = str(item.get("volume_type", ""))
        name = str(item.get("name", ""))
        mount = str(item.get("mount_path", ""))
        spec = item.get("spec") if isinstance(item.get("spec"), Mapping) else {}
        assert isinstance(spec, Mapping)
        if kind not in _VOLUME_TYPES:
            problems.add(f"{where}.volume_type", f"{describe(kind)}: use one of {_VOLUME_TYPES}")
            continue
        if not fields.is_secret_name(name) or len(name) > 63:
            problems.add(f"{where}.name", f"{describe(name)} is not a valid volume name")
            continue
        if not mount.startswith("/"):
            problems.add(f"{where}.mount_path", "must be an absolute path")
            continue
        if kind == "persistent_volume_claim":
            size = str(spec.get("size", ""))
            claim = str(spec.get("claim_name", "")) or ("" if size else name)
            claim_source = {"persistentVolumeClaim": {"claimName": claim}}
            out.append(Volume(name, mount, claim_source, False, "" if claim else size))
        elif kind == "config_map":
            config_map = {"configMap": {"name": str(spec.get("name", name))}}
            out.append(Volume(name, mount, config_map, True))
        elif kind == "secret":
            secret = {"secret": {"secretName": str(spec.get("secret_name", name))}}
            out.append(Volume(name, mount, secret, True))
        else:
            out.append(Volume(name, mount, {"emptyDir": {}}))
    return tuple(out)
