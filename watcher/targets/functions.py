"""The function targets: one template folder per kind of workload a spec describes.

``function-application``, ``function-serve``, ``function-job`` and
``function-build`` render ``templates/<name>/*.j2`` from the function context.
The function source picks them (never a stage), and they need no model copy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jinja2

from watcher.core.artifacts import ArtifactRef
from watcher.core.functions.contexts import function_context
from watcher.core.functions.model import TARGET_NAMES
from watcher.core.release import Release
from watcher.core.targets import Target, TargetSpec


def _context(
    release: Release, artifact: ArtifactRef | None, target: TargetSpec
) -> Mapping[str, Any]:
    return function_context(release, artifact)


TARGETS = tuple(
    TargetSpec(name=name, folder=name, context=_context, renders="function", copies=frozenset())
    for name in TARGET_NAMES
)


def function_targets(env: jinja2.Environment, kubernetes_version: str | None) -> dict[str, Target]:
    """The four function targets over ``env``'s templates, by name."""
    return {spec.name: spec.template_target(env, kubernetes_version) for spec in TARGETS}
