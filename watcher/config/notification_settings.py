"""Where notifications go (``notifications:``, docs/notifications.md).

Each entry is one receiver: a URL (or the variable that holds it: a Slack webhook
URL is itself a secret), a body format, the events, sources and stages it wants,
and the variable whose value signs each body. Secrets are read from the
environment only; a ``secret_env`` or ``url_env`` naming an unset variable is a
configuration error (``wiring`` checks it when notifications are built).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from watcher.config.base import Frozen, check_dns_label
from watcher.core.events import EVENT_NAMES

_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class NotificationSettings(Frozen):
    """One receiver of notifications: a chat channel, a CloudEvents broker, your own service."""

    name: str = Field(
        description="Its name, in logs and metrics (a DNS label, unique among notifications)."
    )
    url: str = Field(
        "",
        description="http(s) URL the events are POSTed to. User info in it (user:password@) "
        "is sent as basic auth and never shown. Give url or url_env.",
    )
    url_env: str = Field(
        "",
        description="Name of the environment variable that holds the URL instead (a Slack "
        "incoming-webhook URL is a secret); unset is a configuration error.",
    )
    format: Literal["json", "slack", "cloudevents"] = Field(
        "json",
        description="Body: 'json' (the event's fields), 'slack' (an incoming-webhook message: "
        "text and blocks), 'cloudevents' (CloudEvents 1.0, structured mode).",
    )
    events: tuple[str, ...] = Field(
        (),
        description="Events it receives (empty: all): deployed, updated, removed, refused, "
        "failed, recovered, held, gated, waiting, pr-opened, pr-merged, healthy, degraded.",
    )
    sources: tuple[str, ...] = Field(
        (),
        description="Only events of these sources (empty: every source); events that are no "
        "source's (a run that cannot complete) always pass.",
    )
    stages: tuple[str, ...] = Field(
        (),
        description="Only events of these stages (empty: every stage); events that are no "
        "stage's (a source that cannot be read, a run that cannot complete) always pass.",
    )
    secret_env: str = Field(
        "",
        description="Name of the environment variable holding the HMAC secret: each request "
        "then carries X-Gitops-Watcher-Signature: sha256=<hex HMAC-SHA256 of the body>; unset "
        "is a configuration error. Empty: unsigned.",
    )
    timeout_seconds: float = Field(
        10.0, gt=0, le=120, description="Seconds one request may take before it counts as failed."
    )
    give_up_seconds: float = Field(
        300.0,
        gt=0,
        le=86_400,
        description="A delivery still failing this long after its event is dropped (counted "
        'in gitops_watcher_notifications_total{outcome="dropped"}, logged once). Retries '
        "back off from 1 s, doubling up to 60 s, on errors, 5xx and 429.",
    )
    queue_size: int = Field(
        1000,
        ge=1,
        le=100_000,
        description="Deliveries waiting for this receiver at most; more are dropped (counted, "
        "logged).",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_dns_label(value, "notification name")

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if value and not value.lower().startswith(("http://", "https://")):
            raise ValueError(f"url {value[:60]!r} must be an http:// or https:// URL")
        return value

    @field_validator("url_env", "secret_env")
    @classmethod
    def _variable(cls, value: str) -> str:
        if value and not _VARIABLE.match(value):
            raise ValueError(f"{value[:60]!r} is not an environment variable name")
        return value

    @field_validator("events")
    @classmethod
    def _known_events(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(EVENT_NAMES))
        if unknown:
            raise ValueError(
                f"unknown event(s) {', '.join(unknown)}; choose from {', '.join(EVENT_NAMES)}"
            )
        return value

    @model_validator(mode="after")
    def _one_url(self) -> NotificationSettings:
        if bool(self.url) == bool(self.url_env):
            raise ValueError(f"notification {self.name!r}: give either url or url_env")
        return self


def unique_notification_names(
    value: tuple[NotificationSettings, ...],
) -> tuple[NotificationSettings, ...]:
    names = [n.name for n in value]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"notification names must be unique; repeated: {', '.join(repeated)}")
    return value
