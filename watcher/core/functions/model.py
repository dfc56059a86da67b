"""Functions as data: what a spec and its overlay mean, whatever SDK wrote them.

The MLRun and DigitalHub parsers both produce a :class:`Workload`, the one shape
the targets render. Kubernetes-shaped parts (env entries, resources, probes,
tolerations, affinity) stay plain JSON-like data: they are copied into manifests
as they are, and the strict schema check catches what the parsers let through.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

#: Targets (and their template folders) that functions render through.
APPLICATION = "function-application"
SERVE = "function-serve"
JOB = "function-job"
BUILD = "function-build"
TARGET_NAMES = (APPLICATION, SERVE, JOB, BUILD)

SourceKind = Literal["git", "archive", "s3"]


@dataclass(frozen=True)
class RemoteSource:
    """Code that an init container fetches when the pod starts."""

    kind: SourceKind
    #: What the fetcher reads: an https clone URL, an archive URL, an s3:// URL.
    url: str
    #: Branch, tag or commit for git sources.
    ref: str = ""
    #: Where the code lands inside the pods.
    target_dir: str = "/home/mlrun_code"


@dataclass(frozen=True)
class Volume:
    """A volume and where it is mounted; ``source`` is a Kubernetes volume source."""

    name: str
    mount_path: str
    source: dict[str, Any]
    read_only: bool = False
    #: A size makes the target render the PersistentVolumeClaim itself.
    claim_size: str = ""


@dataclass(frozen=True)
class Workload:
    """One deployable function, as the targets see it (before stage overlays)."""

    file: str
    sdk: Literal["mlrun", "digitalhub"]
    kind: str
    target: str
    name: str
    project: str = ""
    image: str = ""
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    #: Ports the app listens on; the first is the internal port probes default to.
    ports: tuple[int, ...] = ()
    env: tuple[dict[str, Any], ...] = ()
    #: Secrets whose keys become environment variables (names only).
    secrets: tuple[str, ...] = ()
    resources: dict[str, Any] = field(default_factory=dict)
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[dict[str, Any], ...] = ()
    affinity: dict[str, Any] = field(default_factory=dict)
    volumes: tuple[Volume, ...] = ()
    #: readinessProbe / livenessProbe / startupProbe, Kubernetes-shaped.
    probes: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: RemoteSource | None = None
    #: Python code shipped in a ConfigMap: file name -> text.
    code: dict[str, str] = field(default_factory=dict)
    #: ``module:function`` to call; empty runs the code file as a script.
    handler: str = ""
    init_function: str = ""
    python_version: str = ""
    requirements: tuple[str, ...] = ()
    instructions: tuple[str, ...] = ()
    base_image: str = ""
    replicas: int = 1
    service_type: str = "ClusterIP"
    priority_class: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain data, for hashing (the revision) and for provenance."""
        from dataclasses import asdict

        return asdict(self)
