"""Notifications: what the ledger recorded as changed becomes events, and each receiver
that wants an event gets it in its format, signed, through its own delivery queue.

The events and their bodies are the core's (``core.event_builder``,
``core.notify_formats``); this module only routes them and owns the queues.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from watcher.adapters.notify_delivery import DeliveryQueue, OnOutcome, Target
from watcher.closing import Closing
from watcher.config.notification_settings import NotificationSettings
from watcher.config.settings import Credentials
from watcher.core.event_builder import ReleaseFacts, build_events
from watcher.core.events import Event, StateChange
from watcher.core.notify_formats import Wants, request, wants
from watcher.core.release import ReleaseId
from watcher.core.result import ReconcileResult
from watcher.errors import ConfigError

log = logging.getLogger(__name__)

#: How long ``reconcile --once`` (and the daemon at shutdown) waits for deliveries.
FLUSH_SECONDS = 5.0


@dataclass(frozen=True)
class Receiver:
    """One configured receiver: what it wants, its format and secret, and its queue."""

    name: str
    wants: Wants
    format: str
    secret: str
    queue: DeliveryQueue


class Notifier(Closing):
    """Turns changes into events and hands each to the receivers that want it; never
    blocks on a receiver and never raises for one."""

    def __init__(self, receivers: Sequence[Receiver], flush_seconds: float = FLUSH_SECONDS):
        self._receivers = tuple(receivers)
        self._flush_seconds = flush_seconds

    def changed(self, changes: Sequence[StateChange], result: ReconcileResult | None) -> None:
        self.send(build_events(changes, result))

    def changed_with(
        self, changes: Sequence[StateChange], facts: Mapping[ReleaseId, ReleaseFacts]
    ) -> None:
        """Changes no reconcile result describes (Argo CD health), with their facts."""
        self.send(build_events(changes, None, extra=facts))

    def send(self, events: Sequence[Event]) -> None:
        for event in events:
            log.info("event %s: %s", event.event, event.message[:300])
            for receiver in self._receivers:
                if receiver.wants(event):
                    receiver.queue.put(request(event, receiver.format, receiver.secret))

    def flush(self, timeout: float | None = None) -> bool:
        """Wait (at most ``timeout`` seconds in all) for every queue to empty."""
        deadline = time.monotonic() + (self._flush_seconds if timeout is None else timeout)
        return all(
            receiver.queue.flush(max(0.0, deadline - time.monotonic()))
            for receiver in self._receivers
        )

    def close(self) -> None:
        """Deliver what is queued for at most the flush time, then stop every queue."""
        self.flush()
        for receiver in self._receivers:
            receiver.queue.close(0.0)


def build_notifier(
    notifications: Sequence[NotificationSettings],
    credentials: Credentials,
    on_outcome: OnOutcome | None = None,
) -> Notifier | None:
    """A notifier for the configured receivers (None when there are none); a
    ``secret_env`` or ``url_env`` naming an unset variable is a configuration error."""
    check_notification_variables(notifications, credentials)
    receivers = []
    try:
        for settings in notifications:
            receivers.append(_receiver(settings, credentials, on_outcome))
    except BaseException:
        for receiver in receivers:
            receiver.queue.close(0.0)
        raise
    return Notifier(receivers) if receivers else None


def check_notification_variables(
    notifications: Sequence[NotificationSettings], credentials: Credentials
) -> None:
    """Every variable a notification names is set, and a ``url_env`` holds an http(s) URL."""
    for settings in notifications:
        for key, found in (
            ("secret_env", credentials.notification_secrets),
            ("url_env", credentials.notification_urls),
        ):
            variable = getattr(settings, key)
            if variable and not found.get(settings.name):
                raise ConfigError(
                    f"notification {settings.name!r}: {key} names {variable}, which is not set",
                    hint=f"set {variable} in the environment, or remove {key}",
                )
        url = settings.url or credentials.notification_urls.get(settings.name, "")
        if not url.lower().startswith(("http://", "https://")):
            raise ConfigError(
                f"notification {settings.name!r}: {settings.url_env} must hold an http(s) URL"
            )


def _receiver(
    settings: NotificationSettings, credentials: Credentials, on_outcome: OnOutcome | None
) -> Receiver:
    url = settings.url or credentials.notification_urls[settings.name]
    login = credentials.url_login(f"notifications.{settings.name}.url")
    target = Target(
        name=settings.name,
        url=url,
        timeout_seconds=settings.timeout_seconds,
        give_up_seconds=settings.give_up_seconds,
        queue_size=settings.queue_size,
        auth=(login.username, login.password) if login is not None else None,
    )
    return Receiver(
        name=settings.name,
        wants=wants(settings.events, settings.sources, settings.stages),
        format=settings.format,
        secret=credentials.notification_secrets.get(settings.name, ""),
        queue=DeliveryQueue(target, on_outcome),
    )
