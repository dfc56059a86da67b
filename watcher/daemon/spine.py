"""The daemon's one seam to the reconciler spine and the settings tree.

Everything the daemon needs from code other engineers own goes through here:
opening a reconciler, turning its result into the contract's dict, the MLflow
endpoints to trigger on, and the ``daemon`` settings. Each function prefers the
spine's own API and falls back to today's objects, so the daemon works before
and after the spine lands and the fallbacks can be deleted in one place.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import ValidationError

from watcher.config.daemon_settings import DaemonSettings
from watcher.config.settings import Credentials, RegistrySettings, Settings
from watcher.errors import ConfigError, PermanentError, TemporaryError

ENV_PREFIX = "GITOPS_WATCHER_DAEMON__"
#: The name the single registry of today's settings goes by in results and /status.
DEFAULT_SOURCE = "mlflow"


class RunsReconcile(Protocol):
    def reconcile(self, *, dry_run: bool = False, allow_mass_delete: bool = False) -> Any: ...


#: One reconcile: returns the contract's result dict, raises Temporary/PermanentError.
ReconcileFn = Callable[[bool], dict[str, Any]]


@dataclass(frozen=True)
class Endpoint:
    """One MLflow registry to trigger on (the spine's ``MlflowEndpoint`` has the same fields)."""

    name: str
    registry: RegistrySettings
    credentials: Credentials


def daemon_settings(settings: Settings, env: Mapping[str, str] | None = None) -> DaemonSettings:
    """``settings.daemon``; before the lead adds it, built from ``GITOPS_WATCHER_DAEMON__*``."""
    existing = getattr(settings, "daemon", None)
    if isinstance(existing, DaemonSettings):
        return existing
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or not value:
            continue
        keys = name[len(ENV_PREFIX) :].lower().split("__")
        node = raw
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    try:
        return DaemonSettings.model_validate(raw)
    except ValidationError as exc:
        details = "; ".join(
            f"daemon.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"invalid daemon settings: {details}") from exc


def mlflow_endpoints(settings: Settings, credentials: Credentials) -> list[Endpoint]:
    """The registries to trigger on: the spine's list, or today's single registry."""
    from watcher import wiring

    spine = getattr(wiring, "mlflow_endpoints", None)
    if spine is not None:
        return [
            Endpoint(name=str(e.name), registry=e.registry, credentials=e.credentials)
            for e in spine(settings, credentials)
        ]
    registry = settings.registry
    if not registry.tracking_uri and not registry.database_uri:
        return []
    return [Endpoint(name=DEFAULT_SOURCE, registry=registry, credentials=credentials)]


@contextlib.contextmanager
def open_reconciler(settings: Settings, credentials: Credentials) -> Iterator[ReconcileFn]:
    """A reconcile function over one reconciler, whose adapters are closed on exit."""
    from watcher.wiring import build_reconciler

    reconciler = build_reconciler(settings, credentials)
    with contextlib.ExitStack() as stack:
        if hasattr(reconciler, "__enter__"):
            stack.enter_context(reconciler)
        else:  # before the spine: close what today's reconciler holds
            for part in ("_registry", "_target", "_ledger"):
                closer = getattr(getattr(reconciler, part, None), "close", None)
                if callable(closer):
                    stack.callback(closer)

        def run(dry_run: bool) -> dict[str, Any]:
            started = time.time()
            result = reconciler.reconcile(dry_run=dry_run)
            if hasattr(result, "to_dict"):
                return dict(result.to_dict())
            return legacy_result_dict(result, started, time.time())

        yield run


def error_kind(error: BaseException) -> str:
    if isinstance(error, TemporaryError):
        return "temporary"
    if isinstance(error, PermanentError):
        return "permanent"
    return "unexpected"


def legacy_result_dict(result: Any, started_at: float, finished_at: float) -> dict[str, Any]:
    """Today's ``ReconcileResult`` in the contract's shape (until ``to_dict`` exists)."""
    releases: list[dict[str, Any]] = []
    for applied in result.applied:
        change = applied.change
        info = change.info or {}
        model = info.get("model") or {}
        folder = str(change.folder)
        removed = change.kind == "remove"
        releases.append(
            {
                "source": DEFAULT_SOURCE,
                "kind": "model",
                "name": str(model.get("name") or folder.split("/")[0]),
                "stage": str(info.get("stage") or folder.rsplit("/", 1)[-1]),
                "folder": folder,
                "revision": str(model.get("version")) if model.get("version") else None,
                "state": "removed" if removed else "deployed",
                "action": {"create": "deploy", "update": "update"}.get(change.kind, "remove"),
                "commit": applied.commit,
                "error": None,
                "error_kind": None,
            }
        )
    for folder in result.unchanged:
        releases.append(
            {
                "source": DEFAULT_SOURCE,
                "kind": "model",
                "name": folder.split("/")[0],
                "stage": folder.rsplit("/", 1)[-1],
                "folder": folder,
                "revision": None,
                "state": "unchanged",
                "action": None,
                "commit": None,
                "error": None,
                "error_kind": None,
            }
        )
    for model_name, stage, error in result.failures:
        releases.append(
            {
                "source": DEFAULT_SOURCE,
                "kind": "model",
                "name": model_name,
                "stage": stage,
                "folder": None,
                "revision": None,
                "state": "failed",
                "action": None,
                "commit": None,
                "error": str(error),
                "error_kind": "temporary" if isinstance(error, TemporaryError) else "permanent",
            }
        )
    counts = {k: int(v) for k, v in result.counts().items()}
    return {
        "reconcile_id": str(result.reconcile_id),
        "dry_run": bool(result.dry_run),
        "ok": bool(result.ok),
        "pushed": bool(result.pushed),
        "push_attempts": int(result.push_attempts),
        "started_at": started_at,
        "finished_at": finished_at,
        "counts": counts,
        "releases": releases,
        "problems": [{"error": str(p), "folder": None} for p in result.plan_problems],
        "sources": [{"name": DEFAULT_SOURCE, "ok": True, "error": None}],
    }
