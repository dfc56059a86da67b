"""What makes an MLflow source reconcile sooner than the resync.

- a registry read from a SQLite file: the file (and its ``-wal``/``-journal``) is
  watched; a commit there shows as a file event within milliseconds;
- a registry read over REST: the change probe, one paged search every
  ``daemon.probe_interval_seconds`` (on by default), asks only when the answer differs,
  naming the models whose records differ (a hint);
- MLflow's webhooks (3.3+): signed deliveries to ``POST /webhooks/mlflow``, naming
  the model of the event (a hint).

A database file event says nothing about which row changed: it asks for the whole
registry.

A registry in another database (PostgreSQL, MySQL) has no file to watch: only its
webhooks, or a REST probe beside it, see a change before the resync.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from sqlalchemy.engine import make_url

from watcher.config.daemon_settings import DaemonSettings
from watcher.core.stages import NameFilter
from watcher.core.urls import redact_url
from watcher.sources.mlflow.settings_view import MlflowEndpoint
from watcher.sources.mlflow.webhook import SECRET_ENV, WebhookVerifier
from watcher.spine.source_kinds import BuildContext
from watcher.spine.triggers import FileTrigger, PollTrigger, Trigger, WebhookTrigger


def sqlite_path(database_uri: str) -> Path | None:
    """The file behind a ``sqlite:///…`` URI; None for other databases or in-memory ones."""
    if not database_uri.startswith("sqlite"):
        return None
    try:
        database = make_url(database_uri).database
    except Exception:  # sqlalchemy raises ArgumentError and friends; any means "not a file"
        return None
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).absolute()


def registry_triggers(endpoint: MlflowEndpoint, daemon: DaemonSettings) -> list[Trigger]:
    """The database watch or the change probe of one registry, as its settings allow."""
    registry = endpoint.registry
    found: list[Trigger] = []
    if registry.resolved_kind == "database" and daemon.watch_database:
        path = sqlite_path(registry.resolved_database_uri)
        if path is not None:
            names = frozenset({path.name, f"{path.name}-wal", f"{path.name}-journal"})
            found.append(
                FileTrigger(
                    endpoint.name,
                    path.parent,
                    names,
                    describe=f"watch of the registry database {path} (and its -wal/-journal)",
                )
            )
    if registry.resolved_kind == "rest" and daemon.probe_interval_seconds > 0:
        from watcher.sources.mlflow.registry_probe import RegistryProbe

        probe = RegistryProbe(
            registry, endpoint.credentials, ignore_tag_prefix=daemon.status_writeback.tag_prefix
        )
        found.append(
            PollTrigger(
                endpoint.name,
                daemon.probe_interval_seconds,
                probe.changed,
                probe.prime,
                probe.close,
                describe=f"change probe of {redact_url(registry.tracking_uri)}",
            )
        )
    return found


def webhook_trigger(
    path: str, context: BuildContext, selections: Mapping[str, NameFilter]
) -> WebhookTrigger:
    """One route for every MLflow source (``selections``: each one's name patterns): a
    delivery asks each source whose patterns select the model it names to read that model
    again; the others are not asked."""
    daemon = context.daemon_settings
    verifier = WebhookVerifier(
        context.env.get(SECRET_ENV) or None,
        max_age_seconds=daemon.webhook_max_age_seconds,
        replay_window=daemon.webhook_replay_window,
    )
    state = "on" if verifier.enabled else f"off: {SECRET_ENV} is not set"
    return WebhookTrigger(
        "mlflow",
        path,
        verifier.verify,
        enabled=verifier.enabled,
        describe=f"MLflow webhooks at POST {path} ({state})",
        sources=tuple(selections),
        narrow=lambda source, hint: frozenset(
            name for name in hint if selections[source].matches(name)
        ),
    )
