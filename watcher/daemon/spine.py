"""The daemon's one seam to the reconciler spine and the settings tree.

Everything the daemon needs from the rest of the package goes through here:
opening a reconciler, its result as the JSON-ready dict that ``/status`` and
``/metrics`` read, the MLflow endpoints to trigger on, and the ``daemon``
settings.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watcher.config.daemon_settings import DaemonSettings
from watcher.config.settings import Credentials, RegistrySettings, Settings

log = logging.getLogger(__name__)

#: In the state folder: the next reconcile of the daemon may remove above the limit.
MASS_DELETE_FLAG = "allow-mass-delete"

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

    flag = mass_delete_flag(settings)
    with build_reconciler(settings, credentials) as reconciler:

        def run(dry_run: bool) -> dict[str, Any]:
            allowed = not dry_run and flag.is_file()
            if allowed:
                log.warning("an operator allowed mass deletion (%s) for this reconcile", flag)
            result = reconciler.reconcile(dry_run=dry_run, allow_mass_delete=allowed)
            if allowed:
                # One reconcile only: the next mass deletion needs a new allowance.
                flag.unlink(missing_ok=True)
            return result.to_dict()

        yield run


def mass_delete_flag(settings: Settings) -> Path:
    """The file ``gitops-watcher allow-mass-delete`` writes for the running daemon to consume."""
    return settings.state_path / MASS_DELETE_FLAG
