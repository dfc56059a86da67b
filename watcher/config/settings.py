"""The settings object: one frozen tree, every field documented.

Loaded from one YAML file plus environment variables by ``loader.py``;
validated here. Unknown keys are errors, so a typo never silently falls back
to a default. Secrets (tokens, passwords, keys) are read from the environment
or from files, never from this object's YAML, so the config file can live in git.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def _check_dns_label(value: str, what: str) -> str:
    if len(value) > 63 or not _DNS_LABEL.match(value):
        raise ValueError(
            f"{what} {value!r} must be a Kubernetes DNS label: lowercase letters, digits and '-', "
            "starting with a letter, at most 63 characters"
        )
    return value


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ModelFilter(_Frozen):
    """Which registered models the daemon manages."""

    include: tuple[str, ...] = Field(("*",), description="Glob patterns of model names to manage.")
    exclude: tuple[str, ...] = Field((), description="Glob patterns of model names to leave alone.")


class RegistrySettings(_Frozen):
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


class Selector(_Frozen):
    """One way a stage picks a version: a registry alias, or a registry stage."""

    alias: str | None = Field(None, description="Registry alias, e.g. 'champion'.")
    stage: Literal["Staging", "Production", "Archived", "None"] | None = Field(
        None, description="Registry stage; the newest version in it is chosen."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Selector:
        if (self.alias is None) == (self.stage is None):
            raise ValueError("a selector needs exactly one of 'alias' or 'stage'")
        return self


class ResourceAmounts(_Frozen):
    cpu: str | None = None
    memory: str | None = None


class Resources(_Frozen):
    requests: ResourceAmounts = Field(default_factory=ResourceAmounts)
    limits: ResourceAmounts = Field(default_factory=ResourceAmounts)


class StageSettings(_Frozen):
    """One deployment stage: what selects its version and how it runs."""

    name: str = Field(description="Stage name; folder deployments/<model>/<name>/.")
    select: tuple[Selector, ...] = Field(
        description="Selectors tried in order; the first that matches a version wins."
    )
    namespace: str = Field("", description="Kubernetes namespace (default: models-<name>).")
    replicas: int = Field(1, ge=0, le=1000, description="Default replica count.")
    max_replicas: int = Field(
        20, ge=0, le=1000, description="Upper bound for the 'deploy.replicas' version tag."
    )
    resources: Resources = Field(default_factory=Resources)
    image: str = Field(
        "ghcr.io/mlflow/mlflow:v2.22.1",
        description="Container image that serves the model (pin a tag).",
    )
    env: tuple[tuple[str, str], ...] = Field(
        (), description="Extra, non-secret environment variables for the serving container."
    )

    @field_validator("name")
    @classmethod
    def _name_is_label(cls, value: str) -> str:
        return _check_dns_label(value, "stage name")

    @field_validator("env", mode="before")
    @classmethod
    def _env_from_mapping(cls, value: object) -> object:
        if isinstance(value, dict):
            return tuple(sorted((str(k), str(v)) for k, v in value.items()))
        return value

    @field_validator("select")
    @classmethod
    def _some_selector(cls, value: tuple[Selector, ...]) -> tuple[Selector, ...]:
        if not value:
            raise ValueError("a stage needs at least one selector")
        return value

    @model_validator(mode="after")
    def _default_namespace(self) -> StageSettings:
        if not self.namespace:
            object.__setattr__(self, "namespace", f"models-{self.name}")
        _check_dns_label(self.namespace, "namespace")
        return self


def default_stages() -> tuple[StageSettings, ...]:
    return (
        StageSettings(
            name="staging",
            select=(Selector(alias="staging"), Selector(stage="Staging")),
        ),
        StageSettings(
            name="production",
            select=(Selector(alias="champion"), Selector(stage="Production")),
            replicas=2,
        ),
    )


class GitSettings(_Frozen):
    """The GitOps repository the daemon writes to."""

    repo_url: str = Field("", description="Remote URL (env GIT_REPO_URL): ssh, https or a path.")
    branch: str = Field("main", description="Branch to commit to and push.")
    path: str = Field("deployments", description="Folder in the repo that holds deployments.")
    checkout_dir: str = Field(
        "", description="Local working copy (default: <state_dir>/checkout). The daemon owns it."
    )
    author_name: str = Field("gitops-watcher", description="Commit author and committer name.")
    author_email: str = Field("gitops-watcher@localhost", description="Commit author e-mail.")
    ssh_key_file: str = Field("", description="Private key for ssh remotes (env GIT_SSH_KEY_FILE).")
    known_hosts_file: str = Field(
        "", description="known_hosts for ssh remotes (env GIT_KNOWN_HOSTS_FILE); strict checking."
    )
    push_attempts: int = Field(5, ge=1, le=50, description="Pushes tried before giving up.")
    push_backoff_seconds: float = Field(1.0, ge=0, description="First retry delay; doubles.")
    timeout_seconds: float = Field(120.0, gt=0, description="Timeout of one git network command.")

    @field_validator("path")
    @classmethod
    def _relative_path(cls, value: str) -> str:
        parts = Path(value).parts
        if not parts or Path(value).is_absolute() or any(p in ("..", ".", ".git") for p in parts):
            raise ValueError(f"path {value!r} must be a relative folder inside the repo")
        return "/".join(parts)


class RenderSettings(_Frozen):
    """How manifests are rendered and checked."""

    templates_dir: str = Field(
        "", description="Folder whose templates override or add to the built-in ones."
    )
    kubernetes_version: str = Field(
        "1.33", description="Kubernetes version whose schemas validate the output."
    )
    validate_manifests: bool = Field(True, description="Validate manifests (strict) before commit.")


class StateSettings(_Frozen):
    database_url: str = Field(
        "", description="SQLAlchemy URL of the daemon's ledger (default: sqlite in state_dir)."
    )


class SafetySettings(_Frozen):
    max_delete_fraction: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Refuse a reconcile that removes more than this share of deployments "
        "(a single removal is always allowed).",
    )


class Settings(_Frozen):
    """Everything gitops-watcher can be told."""

    state_dir: str = Field(
        ".gitops-watcher", description="Folder for the checkout and the SQLite ledger."
    )
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    stages: tuple[StageSettings, ...] = Field(default_factory=default_stages)
    git: GitSettings = Field(default_factory=GitSettings)
    render: RenderSettings = Field(default_factory=RenderSettings)
    state: StateSettings = Field(default_factory=StateSettings)
    safety: SafetySettings = Field(default_factory=SafetySettings)

    @field_validator("stages")
    @classmethod
    def _unique_stages(cls, value: tuple[StageSettings, ...]) -> tuple[StageSettings, ...]:
        names = [s.name for s in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"stage names must be unique; repeated: {', '.join(duplicates)}")
        return value

    @property
    def checkout_path(self) -> Path:
        return Path(self.git.checkout_dir or Path(self.state_dir) / "checkout")

    @property
    def state_database_url(self) -> str:
        if self.state.database_url:
            return self.state.database_url
        return f"sqlite:///{(Path(self.state_dir) / 'state.db').resolve()}"


class Credentials(BaseModel):
    """Secrets, read from the environment only; never printed, logged or written to git."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mlflow_token: str = ""
    mlflow_username: str = ""
    mlflow_password: str = ""
    git_token: str = ""
    git_username: str = ""

    def __repr__(self) -> str:
        present = [name for name, value in self.__dict__.items() if value]
        return f"Credentials(set={present})"

    __str__ = __repr__
