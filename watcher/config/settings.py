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

    @field_validator("stages")
    @classmethod
    def _unique_stages(cls, value: tuple[StageSettings, ...]) -> tuple[StageSettings, ...]:
        names = [s.name for s in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"stage names must be unique; repeated: {', '.join(duplicates)}")
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


class Credentials(BaseModel):
    """Secrets, read from the environment only; never printed, logged or written to git."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mlflow_token: str = ""
    mlflow_username: str = ""
    mlflow_password: str = ""
    git_token: str = ""
    git_username: str = ""
    #: The forge's API token (GITOPS_WATCHER_FORGE_TOKEN, or the forge's usual variable).
    forge_token: str = ""

    def __repr__(self) -> str:
        present = [name for name, value in self.__dict__.items() if value]
        return f"Credentials(set={present})"

    __str__ = __repr__
