"""Where an MLflow model registry is and how to read it."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from watcher.config.base import Frozen
from watcher.core.urls import redact_url

#: Schemes a tracking or database URI may have: MLflow's REST API, or a SQLAlchemy URL.
_URI_SCHEME = re.compile(
    r"^(https?://|sqlite:|(postgresql|postgres|mysql|mssql|oracle)(\+\w+)?://)"
)


def _check_uri(value: str, what: str) -> str:
    if value and not _URI_SCHEME.match(value):
        shown = redact_url(value)
        shown = shown if len(shown) <= 60 else shown[:60] + "…"
        raise ValueError(
            f"{what} {shown!r} has no known scheme: use http(s)://host[:port] for an MLflow "
            "server, or a database URL such as sqlite:////path/mlflow.db or "
            "postgresql://user@host/db"
        )
    return value


class ModelFilter(Frozen):
    """Which registered models the daemon manages."""

    include: tuple[str, ...] = Field(("*",), description="Glob patterns of model names to manage.")
    exclude: tuple[str, ...] = Field((), description="Glob patterns of model names to leave alone.")


class RegistrySettings(Frozen):
    """Where the MLflow model registry is and how to read it."""

    kind: Literal["auto", "rest", "database"] = Field(
        "auto",
        description="'rest' (MLflow server API), 'database' (MLflow's backend DB, read-only) or "
        "'auto': 'rest' for http(s) tracking URIs, 'database' for database URIs.",
    )
    tracking_uri: str = Field(
        "", description="MLflow tracking URI (env MLFLOW_TRACKING_URI): http(s)://… or a DB URI."
    )
    database_uri: str = Field(
        "",
        description="SQLAlchemy URI of MLflow's backend DB for kind 'database' "
        "(default: tracking_uri when that is a DB URI).",
    )
    workspace: str = Field(
        "default",
        description="MLflow workspace to read when the backend DB has a 'workspace' column.",
    )
    ui_url: str = Field(
        "", description="Base URL of the MLflow UI for links (default: tracking_uri if http(s))."
    )
    timeout_seconds: float = Field(30.0, gt=0, description="Timeout of one registry request.")
    page_size: int = Field(1000, ge=1, le=1000, description="Models per REST search page.")
    insecure_tls: bool = Field(
        False, description="Skip TLS verification (env MLFLOW_TRACKING_INSECURE_TLS)."
    )
    ca_bundle: str = Field(
        "", description="CA bundle for the registry's TLS (env MLFLOW_TRACKING_SERVER_CERT_PATH)."
    )
    models: ModelFilter = Field(default_factory=ModelFilter)

    @property
    def resolved_kind(self) -> Literal["rest", "database"]:
        if self.kind != "auto":
            return self.kind
        uri = self.database_uri or self.tracking_uri
        if self.tracking_uri.startswith(("http://", "https://")) and not self.database_uri:
            return "rest"
        if "://" in uri or uri.startswith("sqlite:"):
            return "database"
        return "rest"

    @property
    def resolved_database_uri(self) -> str:
        return self.database_uri or self.tracking_uri

    @property
    def resolved_ui_url(self) -> str:
        if self.ui_url:
            return self.ui_url.rstrip("/")
        if self.tracking_uri.startswith(("http://", "https://")):
            return self.tracking_uri.rstrip("/")
        return ""

    @field_validator("tracking_uri")
    @classmethod
    def _tracking_scheme(cls, value: str) -> str:
        return _check_uri(value, "tracking URI")

    @field_validator("database_uri")
    @classmethod
    def _database_scheme(cls, value: str) -> str:
        if value.startswith(("http://", "https://")):
            raise ValueError("database_uri must be a database URL, not an http(s) URL")
        return _check_uri(value, "database URI")
