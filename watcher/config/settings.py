"""The settings object: one frozen tree, every field documented.

Loaded from one YAML file plus environment variables by ``loader.py``;
validated here. Unknown keys are errors, so a typo never silently falls back
to a default. Secrets (tokens, passwords, keys) are read from the environment
or from files, never from this object's YAML, so the config file can live in git.
Each group lives in its own module; this one holds the top of the tree.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from watcher.config.argocd_settings import ArgoCDSettings
from watcher.config.artifact_settings import ArtifactSettings, S3Settings, SourceSettings
from watcher.config.base import Frozen
from watcher.config.daemon_settings import DaemonSettings
from watcher.config.function_settings import FunctionSourceSettings
from watcher.config.git_settings import GitSettings
from watcher.config.notification_settings import NotificationSettings, unique_notification_names
from watcher.config.registry_settings import ModelFilter, RegistrySettings
from watcher.config.source_settings import CredentialVariables, MlflowSourceSettings
from watcher.config.stage_settings import (
    DEFAULT_FETCH_IMAGE,
    ResourceAmounts,
    Resources,
    Selector,
    StageSettings,
    default_stages,
)

__all__ = [
    "ArgoCDSettings",
    "ArtifactSettings",
    "CredentialVariables",
    "Credentials",
    "DaemonSettings",
    "FunctionSourceSettings",
    "GitSettings",
    "MlflowSourceSettings",
    "ModelFilter",
    "NotificationSettings",
    "RegistrySettings",
    "RenderSettings",
    "ResourceAmounts",
    "Resources",
    "S3Settings",
    "SafetySettings",
    "Selector",
    "Settings",
    "SourceSettings",
    "StageSettings",
    "StateSettings",
    "UrlLogin",
    "default_state_dir",
]

#: Name of the implicit source built from the top-level ``registry`` section.
DEFAULT_SOURCE = "mlflow"


def default_state_dir() -> Path:
    """Where state lives when nothing says otherwise: per user, never the working directory.

    A cron job and a shell in another folder must find the same checkout, copies
    and ledger, or "running twice changes nothing" breaks.
    """
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base).expanduser().absolute() / "gitops-watcher"


class RenderSettings(Frozen):
    """How manifests are rendered and checked."""

    templates_dir: str = Field(
        "", description="Folder whose templates override or add to the built-in ones."
    )
    kubernetes_version: str = Field(
        "1.33", description="Kubernetes version whose schemas validate the output."
    )
    validate_manifests: bool = Field(True, description="Validate manifests (strict) before commit.")
    fetch_image: str = Field(
        DEFAULT_FETCH_IMAGE,
        description="Image of the serving pods' init container, which downloads and verifies "
        "the model copy (python -m watcher.fetch); stages[].fetch_image overrides it.",
    )


class StateSettings(Frozen):
    database_url: str = Field(
        "", description="SQLAlchemy URL of the daemon's ledger (default: sqlite in state_dir)."
    )


class SafetySettings(Frozen):
    max_delete_fraction: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Refuse a reconcile that removes more than this share of deployments "
        "(a single removal is always allowed).",
    )


class Settings(Frozen):
    """Everything gitops-watcher can be told."""

    state_dir: str = Field(
        "",
        description="Folder for the checkout, the local artifact copies and the SQLite ledger "
        "(default: $XDG_STATE_HOME/gitops-watcher, else ~/.local/state/gitops-watcher).",
    )
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    stages: tuple[StageSettings, ...] = Field(default_factory=default_stages)
    sources: tuple[MlflowSourceSettings, ...] = Field(
        (), description="More MLflow registries, each with its own folder (see below)."
    )
    functions: tuple[FunctionSourceSettings, ...] = Field(
        (), description="Folders or repositories of function specs (docs/functions.md)."
    )
    git: GitSettings = Field(default_factory=GitSettings)
    render: RenderSettings = Field(default_factory=RenderSettings)
    artifacts: ArtifactSettings = Field(default_factory=ArtifactSettings)
    state: StateSettings = Field(default_factory=StateSettings)
    safety: SafetySettings = Field(default_factory=SafetySettings)
    daemon: DaemonSettings = Field(default_factory=DaemonSettings)
    argocd: ArgoCDSettings = Field(default_factory=ArgoCDSettings)
    notifications: tuple[NotificationSettings, ...] = Field(
        (), description="Receivers of events: chat channels, webhooks (docs/notifications.md)."
    )

    @field_validator("notifications")
    @classmethod
    def _unique_notifications(
        cls, value: tuple[NotificationSettings, ...]
    ) -> tuple[NotificationSettings, ...]:
        return unique_notification_names(value)

    @field_validator("stages")
    @classmethod
    def _unique_stages(cls, value: tuple[StageSettings, ...]) -> tuple[StageSettings, ...]:
        names = [s.name for s in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"stage names must be unique; repeated: {', '.join(duplicates)}")
        _check_stage_order(value)
        return value

    @model_validator(mode="after")
    def _unique_source_stages(self) -> Settings:
        """Stage names are unique within each source (names and folders of sources are
        checked for every kind of source by one rule, in ``watcher.wiring``)."""
        for source in self.sources:
            if source.stages is not None:
                Settings._unique_stages(source.stages)
        return self

    @property
    def state_path(self) -> Path:
        return Path(self.state_dir).absolute() if self.state_dir else default_state_dir()

    @property
    def checkout_path(self) -> Path:
        return Path(self.git.checkout_dir or self.state_path / "checkout")

    @property
    def artifact_dir(self) -> Path:
        return Path(self.artifacts.local_dir or self.state_path / "artifacts")

    @property
    def staging_path(self) -> Path:
        return Path(self.artifacts.staging_dir or self.state_path / "staging")

    @property
    def state_database_url(self) -> str:
        if self.state.database_url:
            return self.state.database_url
        return f"sqlite:///{self.state_path / 'state.db'}"


def _check_stage_order(stages: tuple[StageSettings, ...]) -> None:
    """``after`` names another stage of the same list, and the order has no loop."""
    after = {stage.name: stage.after for stage in stages}
    for stage in stages:
        if stage.soak_seconds and not stage.after:
            raise ValueError(f"stage {stage.name!r} sets soak_seconds without after")
        if not stage.after:
            continue
        if stage.after not in after or stage.after == stage.name:
            raise ValueError(
                f"stage {stage.name!r}: after names {stage.after!r}, which is not another "
                f"stage of the same list ({', '.join(sorted(after))})"
            )
        seen = {stage.name}
        current = stage.after
        while current:
            if current in seen:
                raise ValueError(f"stages {', '.join(sorted(seen))} wait for each other (after)")
            seen.add(current)
            current = after.get(current, "")


class UrlLogin(BaseModel):
    """The user name and password taken out of one URL of the settings (percent-decoded)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    username: str = ""
    password: str = ""

    def __repr__(self) -> str:
        return "UrlLogin(***)"

    __str__ = __repr__


class Credentials(BaseModel):
    """Secrets, never printed, logged or written to git.

    From the environment (the fields below ``urls``), and from the user info of the
    URLs of the settings: the loader takes ``user:password@`` out of every URL (so
    nothing downstream can write it anywhere) and keeps it in ``urls``, by the key
    of the URL (``registry.tracking_uri``, ``sources.team-a.registry.database_uri``,
    ``functions.specs.git.repo_url``). Adapters get it here when they connect.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    mlflow_token: str = ""
    mlflow_username: str = ""
    mlflow_password: str = ""
    git_token: str = ""
    git_username: str = ""
    #: The forge's API token (GITOPS_WATCHER_FORGE_TOKEN, or the forge's usual variable).
    forge_token: str = ""
    #: ARGOCD_AUTH_TOKEN: the bearer token of the Argo CD API (health reads).
    argocd_token: str = ""
    #: Per notification name: the value of its ``secret_env`` and of its ``url_env``.
    notification_secrets: dict[str, str] = Field(default_factory=dict)
    notification_urls: dict[str, str] = Field(default_factory=dict)
    urls: dict[str, UrlLogin] = Field(default_factory=dict)

    def url_login(self, key: str) -> UrlLogin | None:
        """The user info the URL of ``key`` held, if any."""
        return self.urls.get(key)

    def scoped(self, prefix: str) -> Credentials:
        """These credentials with only the URLs under ``prefix`` (``sources.team-a.``), keyed
        without it: a source sees its own URLs' user info as ``registry.tracking_uri``, and
        never another's. ``""`` keeps the top-level URLs (none of ``sources`` or ``functions``).
        """
        if prefix:
            urls = {k[len(prefix) :]: v for k, v in self.urls.items() if k.startswith(prefix)}
        else:
            urls = {k: v for k, v in self.urls.items() if not k.startswith(_LIST_KEYS)}
        return self.model_copy(update={"urls": urls})

    def with_registry_login(self) -> Credentials:
        """Basic auth from the tracking URI's user info, unless a variable gives a token or a
        user (those win, as ``GIT_TOKEN`` wins over a git URL's user info)."""
        login = self.urls.get("registry.tracking_uri")
        if login is None or self.mlflow_token or self.mlflow_username:
            return self
        return self.model_copy(
            update={"mlflow_username": login.username, "mlflow_password": login.password}
        )

    def secret_values(self) -> list[str]:
        """Every secret held, for log masking; a URL's user name only when it came without a
        password (``https://TOKEN@host``: a token)."""
        values = [
            self.mlflow_token,
            self.mlflow_password,
            self.git_token,
            self.forge_token,
            self.argocd_token,
        ]
        values += [*self.notification_secrets.values(), *self.notification_urls.values()]
        for login in self.urls.values():
            values.append(login.password or login.username)
        return [value for value in values if value]

    def variable_names(self) -> list[str]:
        """The fields set from variables, by name, never by value."""
        names = [name for name, value in self.__dict__.items() if value and name != "urls"]
        return sorted(names)

    def __repr__(self) -> str:
        in_urls = [f"user info of {key}" for key in sorted(self.urls)]
        return f"Credentials(set={self.variable_names() + in_urls})"

    __str__ = __repr__


#: Keys of the settings' lists of sources: their URLs are not the top level's.
_LIST_KEYS = ("sources.", "functions.")
