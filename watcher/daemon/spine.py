"""The daemon's one seam to the reconciler spine and the settings tree.

Everything the daemon needs from the rest of the package goes through here:
opening a reconciler, its result as the JSON-ready dict that ``/status`` and
``/metrics`` read, the MLflow endpoints to trigger on, and the ``daemon``
settings.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from watcher.config.daemon_settings import DaemonSettings
from watcher.config.settings import Credentials, RegistrySettings, Settings
from watcher.errors import PermanentError, WatcherError

#: One reconcile: returns the contract's result dict, raises Temporary/PermanentError.
ReconcileFn = Callable[[bool], dict[str, Any]]


@dataclass(frozen=True)
class Endpoint:
    """One MLflow registry to trigger on (named as its source, for status write-back)."""

    name: str
    registry: RegistrySettings
    credentials: Credentials


def daemon_settings(settings: Settings) -> DaemonSettings:
    """The ``daemon`` group of the settings (every key also has its environment variable)."""
    return settings.daemon


def mlflow_endpoints(settings: Settings, credentials: Credentials) -> list[Endpoint]:
    """The registries to trigger on: every MLflow source of the configuration."""
    from watcher import wiring

    return [
        Endpoint(name=e.name, registry=e.registry, credentials=e.credentials)
        for e in wiring.mlflow_endpoints(settings, credentials)
        if e.registry.tracking_uri or e.registry.database_uri
    ]


@contextlib.contextmanager
def open_reconciler(settings: Settings, credentials: Credentials) -> Iterator[ReconcileFn]:
    """A reconcile function over one reconciler, whose adapters are closed on exit."""
    from watcher.wiring import build_reconciler

    with build_reconciler(settings, credentials) as reconciler:

        def run(dry_run: bool) -> dict[str, Any]:
            return reconciler.reconcile(dry_run=dry_run).to_dict()

        yield run


def error_kind(error: BaseException) -> str:
    if isinstance(error, PermanentError):
        return "permanent"
    if isinstance(error, WatcherError):
        return "temporary"
    return "unexpected"
