"""``deployment``: a Deployment and a Service that serve the verified copy (the default).

Templates in ``templates/model/``. A route goes to the Service we render, and a
NetworkPolicy selects the pods by the selector labels we give them.
"""

from __future__ import annotations

from watcher.core.model_context import model_context
from watcher.core.targets import RouteBackend, TargetSpec

TARGET = TargetSpec(
    name="deployment",
    folder="model",
    context=model_context,
    route_backend=RouteBackend("", 80),
)
