"""The one place that turns settings into what tells the outside world, beside reconciles:
notifications, Argo CD health reads, and the ledger's history for the promotion metrics.

A sibling of ``wiring`` in the same layer (the daemon reaches both); ``wiring``
builds the reconciler, this module what watches and reports around it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from watcher.adapters.argocd_api import ApplicationReader
from watcher.adapters.argocd_api import selector as argocd_selector
from watcher.adapters.ledger import Ledger
from watcher.adapters.ledger_changes import with_rollbacks
from watcher.adapters.notifier import Notifier, build_notifier, check_notification_variables
from watcher.config.settings import Credentials, Settings

log = logging.getLogger(__name__)


def open_notifier(
    settings: Settings,
    credentials: Credentials,
    on_outcome: Callable[[str, str], None] | None = None,
) -> Notifier | None:
    """The notifier of ``notifications:`` (None when none is configured); close it to
    deliver what is queued for a few seconds and stop."""
    return build_notifier(settings.notifications, credentials, on_outcome)


def check_notifications(settings: Settings, credentials: Credentials) -> None:
    """A ``secret_env`` or ``url_env`` naming an unset variable is a configuration error."""
    check_notification_variables(settings.notifications, credentials)


def open_ledger(settings: Settings, credentials: Credentials) -> Ledger:
    return Ledger(settings.state_database_url, credentials.url_login("state.database_url"))


def deployment_history(ledger: Ledger) -> list[tuple[dict[str, Any], bool]]:
    """The ledger's deployments and holds, oldest first, each with whether it was a
    rollback (what the promotion metrics start from after a restart)."""
    return [
        ({**asdict(entry), "at": entry.recorded_at.timestamp() if entry.recorded_at else 0.0},
         rollback)
        for entry, rollback in with_rollbacks(ledger.deployments())
    ]  # fmt: skip


def argocd_reader(settings: Settings, credentials: Credentials) -> ApplicationReader | None:
    """A reader of the Applications the ApplicationSet made (None without argocd.api_url)."""
    config = settings.argocd
    if not config.api_url:
        return None
    if not credentials.argocd_token:
        log.warning("argocd.api_url is set but ARGOCD_AUTH_TOKEN is not: reading without a token")
    return ApplicationReader(
        config.api_url,
        credentials.argocd_token,
        selector=argocd_selector(config.name),
        timeout_seconds=config.timeout_seconds,
        ca_bundle=config.ca_bundle,
    )
