"""Model sources: the MLflow registries the daemon reads, one per team if need be."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field, field_validator

from watcher.config.artifact_settings import ArtifactSettings
from watcher.config.base import Frozen, check_dns_label
from watcher.config.registry_settings import RegistrySettings
from watcher.config.stage_settings import StageSettings


class CredentialVariables(Frozen):
    """Names of the environment variables that hold a source's secrets (never the secrets)."""

    token_env: str = Field("", description="Variable with the registry's bearer token.")
    username_env: str = Field("", description="Variable with the registry's basic-auth user.")
    password_env: str = Field("", description="Variable with the registry's basic-auth password.")

    @field_validator("token_env", "username_env", "password_env")
    @classmethod
    def _variable_name(cls, value: str) -> str:
        if value and not (value.replace("_", "a").isalnum() and value.isascii()):
            raise ValueError(f"{value[:60]!r} is not an environment variable name")
        return value

    def read(self, env: Mapping[str, str]) -> dict[str, str]:
        """The secrets, by Credentials field name, from the variables that are set."""
        pairs = (
            ("mlflow_token", self.token_env),
            ("mlflow_username", self.username_env),
            ("mlflow_password", self.password_env),
        )
        return {field: env[name] for field, name in pairs if name and env.get(name)}


class MlflowSourceSettings(Frozen):
    """One more MLflow registry, with its own folder, stages, artifact store and credentials."""

    name: str = Field(description="Source name (a DNS label); recorded in promotion.json.")
    path: str = Field(
        "", description="Folder under git.path that this source owns (default: its name)."
    )
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    credentials: CredentialVariables = Field(default_factory=CredentialVariables)
    stages: tuple[StageSettings, ...] | None = Field(
        None, description="This source's stages (default: the top-level stages)."
    )
    artifacts: ArtifactSettings | None = Field(
        None, description="This source's artifact store (default: the top-level artifacts)."
    )

    @field_validator("name")
    @classmethod
    def _name_is_label(cls, value: str) -> str:
        return check_dns_label(value, "source name")

    @field_validator("path")
    @classmethod
    def _path_segments(cls, value: str) -> str:
        for segment in value.strip("/").split("/") if value.strip("/") else ():
            check_dns_label(segment, "source path segment")
        return value.strip("/")
