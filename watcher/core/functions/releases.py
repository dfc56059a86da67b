"""Deployable units times stages: the releases a function source wants.

Each (function, stage) gets the stage's overlay applied, the production image
rules checked, and a revision: a short hash of everything that reaches the
manifests, so a change in the spec, its code or its overlay re-renders that
folder and nothing else does.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from watcher.core.functions import checks, fields
from watcher.core.functions.catalog import Catalog, Unit
from watcher.core.functions.model import APPLICATION, BUILD, JOB, SERVE, Workload
from watcher.core.functions.overlay import StageOverlay, stage_overlay
from watcher.core.functions.problems import Problem, Problems, SpecError
from watcher.core.functions.spec_links import spec_url
from watcher.core.release import Release, ReleaseFailure, ReleaseId

KIND = "function"
REVISION_LENGTH = 8


@dataclass(frozen=True)
class FunctionStage:
    """A stage functions deploy to; ``production`` turns on the image rules."""

    name: str
    namespace: str
    production: bool = False


@dataclass(frozen=True)
class HelperImages:
    """Images of the pods' helpers, pinned; a site may point them at its own registry."""

    git: str = "alpine/git:v2.47.2"
    aws_cli: str = "amazon/aws-cli:2.22.35"
    kaniko: str = "gcr.io/kaniko-project/executor:v1.23.2"
    #: ``{version}`` becomes the function's python version (3.9 … 3.13).
    python: str = "python:{version}-slim-bookworm"
    #: Python for fetchers and copiers that need only the standard library.
    tools_python: str = "python:3.12-slim-bookworm"

    def python_for(self, version: str) -> str:
        return self.python.replace("{version}", version or "3.12")


@dataclass(frozen=True)
class FunctionOptions:
    production_registry_prefix: str = ""
    images: HelperImages = field(default_factory=HelperImages)
    #: Link to a spec with ``{path}`` open (``spec_links.link_template``); '' for none.
    spec_link: str = ""
    #: Folder of the specs inside their repository (the ``{path}`` of a link starts there).
    spec_folder: str = ""


@dataclass(frozen=True)
class FunctionRelease:
    """The payload of a function release: what its target renders."""

    workload: Workload
    overlay: StageOverlay
    stage: FunctionStage
    slug: str
    revision: str
    images: HelperImages

    @property
    def image(self) -> str:
        return self.workload.image or self.images.python_for(self.workload.python_version)


def build_releases(
    source: str,
    path: str,
    catalog: Catalog,
    stages: Sequence[FunctionStage],
    options: FunctionOptions | None = None,
) -> tuple[tuple[Release, ...], tuple[ReleaseFailure, ...]]:
    options = options or FunctionOptions()
    releases: list[Release] = []
    failures: list[ReleaseFailure] = []
    slugs: dict[str, str] = {}
    for unit in catalog.units:
        slugs[unit.file] = checks.function_slug(Problems(unit.file), unit.name, "metadata.name")
    duplicates = {s for s, n in Counter(s for s in slugs.values() if s).items() if n > 1}
    for unit in catalog.units:
        slug = slugs[unit.file]
        naming = Problems(unit.file)
        checks.function_slug(naming, unit.name, "metadata.name")
        if slug in duplicates:
            others = sorted(u.file for u in catalog.units if slugs[u.file] == slug)
            naming.add("metadata.name", f"{slug!r} is deployed by more than one spec: {others}")
        for stage in stages:
            release_id = ReleaseId(source, KIND, unit.name or unit.file, stage.name)
            folder = f"{path}/{slug}/{stage.name}" if slug else None
            problems = Problems(unit.file)
            problems.extend(unit.problems)
            problems.extend(naming.found)
            release = None
            if unit.workload is not None:
                release = _release(release_id, folder or "", unit, stage, slug, options, problems)
            if problems:
                failures.append(ReleaseFailure(release_id, SpecError(problems.found), folder))
            elif release is not None:
                releases.append(release)
    return tuple(releases), tuple(failures)


def _release(
    release_id: ReleaseId,
    folder: str,
    unit: Unit,
    stage: FunctionStage,
    slug: str,
    options: FunctionOptions,
    problems: Problems,
) -> Release | None:
    assert unit.workload is not None
    overlay_problems = Problems(unit.overlay.file or unit.file)
    overlay = stage_overlay(overlay_problems, unit.overlay.raw_for(stage.name), stage.name)
    if not overlay.enabled:
        problems.extend(overlay_problems.found)
        return None
    workload = apply_overlay(overlay_problems, unit.workload, overlay)
    _check_target_needs(overlay_problems, workload, overlay, stage.name)
    from_overlay = bool(overlay.image or overlay.image_tag)
    image_problems = Problems(unit.overlay.file if from_overlay else unit.file)
    image_field = f"stages.{stage.name}.image" if from_overlay else "spec.image"
    prefix = options.production_registry_prefix
    if workload.image:
        checks.check_image(image_problems, workload.image, image_field, stage.production, prefix)
    if workload.base_image:
        checks.check_image(
            image_problems, workload.base_image, "spec.base_image", stage.production, prefix
        )
    problems.extend(overlay_problems.found)
    problems.extend(image_problems.found)
    if problems:
        return None
    revision = revision_of(workload, overlay, stage, options)
    payload = FunctionRelease(workload, overlay, stage, slug, revision, options.images)
    return Release(
        id=release_id,
        folder=folder,
        url=spec_url(options.spec_link, options.spec_folder, unit.file),
        target=workload.target,
        revision=revision,
        namespace=stage.namespace,
        payload=payload,
        revision_label=f"rev {revision}",
        details={
            "function": workload.name,
            "sdk": workload.sdk,
            "kind": workload.kind,
            "project": workload.project,
            "spec": workload.file,
            "inputs": list(unit.inputs),
            "revision": revision,
        },
        settings=_settings(payload),
        summary=(
            f"Function: {workload.name} ({workload.sdk} {workload.kind})",
            f"Spec: {workload.file}",
            f"Image: {payload.image}",
        ),
        trailers=(("Function-Spec", workload.file), ("Function-Revision", revision)),
    )


def apply_overlay(problems: Problems, workload: Workload, overlay: StageOverlay) -> Workload:
    """The workload as this stage runs it: the overlay's values win."""
    image = overlay.image or workload.image
    if overlay.image_tag:
        base = image or (workload.base_image if workload.target == BUILD else "")
        if not base:
            problems.add("image_tag", "is set but the spec names no image to tag")
        else:
            image = checks.with_tag(base, overlay.image_tag)
    env = {e["name"]: e for e in workload.env}
    env.update({e["name"]: e for e in overlay.env})
    resources = dict(workload.resources)
    resources.update(overlay.resources)
    probes = dict(workload.probes)
    for kind, override in overlay.probes.items():
        merged = fields.merge_probe(probes.get(kind), override)
        internal = workload.ports[0] if workload.ports else None
        checked = fields.probe(problems, merged, f"probes.{kind}", internal)
        if checked is not None:
            probes[kind] = checked
    return replace(
        workload,
        image=image,
        env=tuple(env[name] for name in sorted(env)),
        secrets=tuple(sorted({*workload.secrets, *overlay.secrets})),
        resources=resources,
        node_selector={**workload.node_selector, **overlay.node_selector},
        tolerations=overlay.tolerations or workload.tolerations,
        affinity=overlay.affinity or workload.affinity,
        probes=probes,
        replicas=workload.replicas if overlay.replicas is None else overlay.replicas,
        service_type=overlay.service_type or workload.service_type,
    )


def _check_target_needs(
    problems: Problems, workload: Workload, overlay: StageOverlay, stage: str
) -> None:
    where = f"stages.{stage}"
    if overlay.gateway is not None and workload.target not in (APPLICATION, SERVE):
        problems.add(f"{where}.gateway", f"a {workload.kind} has no HTTP port to expose")
    gateway_port = overlay.gateway.port if overlay.gateway is not None else None
    if gateway_port is not None and gateway_port not in workload.ports:
        problems.add(f"{where}.gateway.port", f"{gateway_port} is not a port of the app")
    if overlay.schedule and workload.target != JOB:
        problems.add(f"{where}.schedule", "only jobs take a schedule")
    if workload.target == BUILD and not (overlay.build_destination or workload.image):
        problems.add(
            f"{where}.build.destination",
            "is missing; a build task pushes the image it builds to this reference",
        )


def revision_of(
    workload: Workload, overlay: StageOverlay, stage: FunctionStage, options: FunctionOptions
) -> str:
    """A short hash of everything that reaches this stage's manifests."""
    data = {
        "workload": workload.to_dict(),
        "overlay": asdict(overlay),
        "stage": asdict(stage),
        "images": asdict(options.images),
    }
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:REVISION_LENGTH]


def _settings(payload: FunctionRelease) -> Mapping[str, str]:
    workload = payload.workload
    out: dict[str, str] = {"image": payload.image}
    if workload.target in (APPLICATION, SERVE):
        out["replicas"] = str(workload.replicas)
    if payload.overlay.schedule:
        out["schedule"] = payload.overlay.schedule
    return out


def failures_problems(failures: Sequence[ReleaseFailure]) -> list[Problem]:
    """Every distinct problem of a list of failures (for ``validate``)."""
    seen: dict[Problem, None] = {}
    for failure in failures:
        error = failure.error
        for problem in getattr(error, "problems", ()) or (
            Problem(failure.id.name, "", str(error)),
        ):
            seen[problem] = None
    return sorted(seen)


def stages_with_overlays(
    catalog: Catalog, base: Sequence[FunctionStage]
) -> tuple[FunctionStage, ...]:
    """The base stages plus any stage an overlay names (for offline validation)."""
    names = {s.name for s in base}
    extra = sorted({n for u in catalog.units for n in u.overlay.stages} - names)
    production = ("production", "prod")
    return (*base, *(FunctionStage(n, n, n in production) for n in extra))


def payload_dict(payload: Any) -> dict[str, Any]:
    return asdict(payload) if isinstance(payload, FunctionRelease) else {}
