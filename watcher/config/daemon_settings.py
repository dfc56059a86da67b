"""Settings of the long-running service (``gitops-watcher run``).

Every key has an environment variable ``GITOPS_WATCHER_DAEMON__<KEY>`` (nested
keys joined with ``__``). The webhook secret is not a key: it is read from
``GITOPS_WATCHER_WEBHOOK_SECRET`` only, so it never sits in a config file.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_TAG_PREFIX = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*\.$")
_LISTEN = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]*):[0-9]{1,5}$")


class StatusWritebackSettings(BaseModel):
    """Model-version tags that tell MLflow UI users what is deployed (off by default)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(
        False,
        description="After a push, set <tag_prefix><stage>.commit/.state/.updated tags on the "
        "deployed model versions through the MLflow REST API.",
    )
    tag_prefix: str = Field(
        "gitops.",
        description="Prefix of the status tags; must end with '.', and may not be 'deploy.' "
        "(those tags change deployments).",
    )

    @field_validator("tag_prefix")
    @classmethod
    def _safe_prefix(cls, value: str) -> str:
        if not _TAG_PREFIX.match(value) or len(value) > 100:
            raise ValueError(
                f"tag_prefix {value!r} must be letters, digits, '_', '-' or '.' and end with '.'"
            )
        if value.lower().startswith("deploy."):
            raise ValueError("tag_prefix may not start with 'deploy.': those tags drive rendering")
        return value


class DaemonSettings(BaseModel):
    """Triggers, HTTP endpoints, the writer lock and status write-back of ``run``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    listen: str = Field(
        "127.0.0.1:8080",
        description="host:port of the HTTP endpoints (/healthz, /readyz, /metrics, /status, "
        "/webhooks/mlflow); '0.0.0.0:8080' in a cluster.",
    )
    resync_interval_seconds: float = Field(
        300.0,
        gt=0,
        description="Full reconcile on this interval, whatever the other triggers saw; heals "
        "missed events.",
    )
    watch_database: bool = Field(
        True,
        description="Watch the MLflow SQLite file (and its -wal/-journal) when the registry is "
        "read from its database.",
    )
    watch_debounce_seconds: float = Field(
        0.5, ge=0, le=60, description="Quiet time after the last file event before a reconcile."
    )
    probe_interval_seconds: float = Field(
        5.0,
        ge=0,
        description="REST change probe: one paged registered-models/search every N seconds, "
        "reconcile only on a difference; 0 turns it off. On by default for http(s) "
        "registries, so a promotion reaches git in seconds without webhooks.",
    )
    webhook_max_age_seconds: float = Field(
        300.0,
        gt=0,
        description="Webhook deliveries whose X-MLflow-Timestamp is further than this from now "
        "are refused as stale.",
    )
    webhook_replay_window: int = Field(
        10_000,
        ge=1,
        le=1_000_000,
        description="How many accepted delivery ids are remembered to refuse replays (within "
        "webhook_max_age_seconds).",
    )
    webhook_max_body_bytes: int = Field(
        1_048_576, ge=1024, le=64 * 1_048_576, description="Larger webhook bodies get HTTP 413."
    )
    ready_max_age_seconds: float = Field(
        900.0,
        gt=0,
        description="/readyz is OK while the last successful reconcile finished within this time.",
    )
    ready_first_run_seconds: float = Field(
        600.0,
        gt=0,
        description="/readyz is OK while the first reconcile runs within this time, counted from "
        "when this replica became the writer, as long as no attempt has failed.",
    )
    lock_renew_seconds: float = Field(
        5.0,
        gt=0,
        description="The writer renews its lease row (PostgreSQL state DB) this often and picks "
        "up the webhooks a standby handed over; a standby tries to take the lease this often.",
    )
    lock_takeover_seconds: float = Field(
        30.0,
        gt=0,
        description="A standby replica takes over once the writer has not renewed for this long.",
    )
    backoff_min_seconds: float = Field(
        1.0, gt=0, description="Delay before retrying a reconcile that could not complete."
    )
    backoff_max_seconds: float = Field(
        300.0, gt=0, description="Upper bound of the doubling retry delay; reset on success."
    )
    shutdown_grace_seconds: float = Field(
        60.0,
        gt=0,
        description="On SIGTERM/SIGINT, how long to wait for the running reconcile to finish "
        "before abandoning it (nothing is pushed half-way: the push is one atomic step).",
    )
    status_writeback: StatusWritebackSettings = Field(
        default_factory=StatusWritebackSettings,
        description="Status tags written back to the MLflow registry.",
    )

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        if not _LISTEN.match(value) or int(value.rsplit(":", 1)[1]) > 65535:
            raise ValueError(f"listen {value!r} must be host:port, e.g. 127.0.0.1:8080")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> DaemonSettings:
        if self.backoff_max_seconds < self.backoff_min_seconds:
            raise ValueError("backoff_max_seconds must be at least backoff_min_seconds")
        if self.lock_takeover_seconds < 2 * self.lock_renew_seconds:
            raise ValueError(
                "lock_takeover_seconds must be at least twice lock_renew_seconds, or a slow "
                "renewal would hand the lease to a second writer"
            )
        return self

    @property
    def listen_address(self) -> tuple[str, int]:
        host, port = self.listen.rsplit(":", 1)
        return host.strip("[]") or "0.0.0.0", int(port)  # noqa: S104 - ':8080' means every address
