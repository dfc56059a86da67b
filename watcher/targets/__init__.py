"""Target plug-ins: each module declares one or more ``TargetSpec``s and is listed here once.

The core renders any spec; it never names a target. A new target is its template
folder, one module here that declares its spec, and one line in ``BUILT_IN``.
"""

from __future__ import annotations

from watcher.core.targets import TargetSpec
from watcher.targets import deployment, functions, knative, kserve

#: Every built-in target, in the order they are listed to users.
BUILT_IN: tuple[TargetSpec, ...] = (
    deployment.TARGET,
    kserve.TARGET,
    knative.TARGET,
    *functions.TARGETS,
)

_registered: dict[str, TargetSpec] = {spec.name: spec for spec in BUILT_IN}


def register(spec: TargetSpec) -> None:
    """Add a target (a plug-in outside this package, or a test's); its name must be new."""
    if spec.name in _registered and _registered[spec.name] is not spec:
        raise ValueError(f"a target named {spec.name!r} is registered already")
    _registered[spec.name] = spec


def unregister(name: str) -> None:
    """Remove a target added with ``register`` (built-in ones stay)."""
    if name not in {spec.name for spec in BUILT_IN}:
        _registered.pop(name, None)


def registered() -> tuple[TargetSpec, ...]:
    """Every target a release may name, built in and registered."""
    return tuple(_registered.values())
