"""The function targets: one template folder per kind of workload, one context builder."""

from __future__ import annotations

import jinja2

from watcher.core.functions.contexts import function_context
from watcher.core.functions.model import TARGET_NAMES
from watcher.core.targets import Target, TemplateTarget


def function_targets(env: jinja2.Environment, kubernetes_version: str | None) -> dict[str, Target]:
    """``function-application``, ``function-serve``, ``function-job``, ``function-build``.

    Each renders ``templates/<name>/*.j2`` with :func:`function_context`.
    """
    return {
        name: TemplateTarget(name, env, name, function_context, kubernetes_version)
        for name in TARGET_NAMES
    }
