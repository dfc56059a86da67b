"""``kserve``: an InferenceService (and its ServiceAccount) whose storageUri is the copy.

Templates in ``templates/kserve/``. KServe's storage initializer downloads from a
bucket, so it needs an S3 copy; a route goes to the ``-predictor`` Service that
KServe creates, and a NetworkPolicy selects the pods by KServe's own label.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from watcher.core.model_context import model_context
from watcher.core.targets import RouteBackend, TargetSpec


def _pods(context: Mapping[str, Any]) -> dict[str, str]:
    return {"serving.kserve.io/inferenceservice": context["deployment"]["name"]}


TARGET = TargetSpec(
    name="kserve",
    folder="kserve",
    context=model_context,
    route_backend=RouteBackend("-predictor", 80),
    pod_selector=_pods,
    copies=frozenset({"s3"}),
)
