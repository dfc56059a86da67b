"""Settings of function-spec sources (MLRun and DigitalHub specs committed to git)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from watcher.core.names import is_dns_label


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _relative(value: str) -> str:
    parts = Path(value).parts if value else ()
    if Path(value).is_absolute() or any(p in ("..", ".git") for p in parts):
        raise ValueError(f"{value!r} must be a relative folder")
    return "/".join(p for p in parts if p != ".")


class FunctionGitSettings(_Frozen):
    """A git repository that holds the specs (read only; never written)."""

    repo_url: str = Field(description="Remote URL of the spec repository: ssh, https or a path.")
    branch: str = Field("main", description="Branch to read.")
    path: str = Field("", description="Folder inside the repository that holds the specs.")
    ssh_key_file: str = Field("", description="Private key for ssh remotes.")
    known_hosts_file: str = Field("", description="known_hosts for ssh remotes; strict checking.")
    timeout_seconds: float = Field(120.0, gt=0, description="Timeout of one git network command.")
    spec_link: str = Field(
        "",
        description="Web link to a spec, with {web} (the repository's web page), {branch} and "
        "{path}; 'none' for no link. Default: {web}/blob/{branch}/{path} for https and ssh "
        "remotes (GitHub, Gitea, Forgejo); no link for a local path.",
    )

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return _relative(value)


class FunctionStageSettings(_Frozen):
    """A stage functions are deployed to."""

    name: str = Field(description="Stage name; also the last folder of each deployment.")
    namespace: str = Field(description="Namespace the stage's objects go to.")
    production: bool = Field(
        False, description="Production stages pin image tags (no untagged or latest images)."
    )
    publish: Literal["direct", "pull-request"] = Field(
        "direct",
        description="'direct': commit each change on git.branch; 'pull-request': open one "
        "pull request per change on git.forge (docs/pull-requests.md).",
    )
    auto_merge: bool = Field(
        False, description="With publish: pull-request, merge its own pull requests."
    )

    @field_validator("name", "namespace")
    @classmethod
    def _label(cls, value: str) -> str:
        if not is_dns_label(value):
            raise ValueError(f"{value!r} is not a DNS label (lowercase letters, digits, '-')")
        return value


def _default_stages() -> tuple[FunctionStageSettings, ...]:
    return (
        FunctionStageSettings(name="staging", namespace="functions-staging"),
        FunctionStageSettings(name="production", namespace="functions-production", production=True),
    )


class FunctionImageSettings(_Frozen):
    """Pinned images of the helpers in function pods; point them at a mirror if needed."""

    git: str = Field("alpine/git:v2.47.2", description="Fetches git sources (init container).")
    aws_cli: str = Field("amazon/aws-cli:2.22.35", description="Copies s3:// sources.")
    kaniko: str = Field(
        "gcr.io/kaniko-project/executor:v1.23.2", description="Builds images for build tasks."
    )
    python: str = Field(
        "python:{version}-slim-bookworm",
        description="Runs python functions; {version} is the function's python version.",
    )
    tools_python: str = Field(
        "python:3.12-slim-bookworm", description="Unpacks archives and copies build contexts."
    )


class FunctionSourceSettings(_Frozen):
    """One folder or git repository of function specs."""

    name: str = Field("functions", description="Id of the source (in ledgers and releases).")
    path: str = Field(
        "functions",
        description="Folder under the GitOps deployments path that this source owns.",
    )
    folder: str = Field("", description="Local folder of specs (used when git is not set).")
    git: FunctionGitSettings | None = Field(None, description="A git repository of specs.")
    stages: tuple[FunctionStageSettings, ...] = Field(
        default_factory=_default_stages, description="Stages every function is deployed to."
    )
    image_registry_prefix: str = Field(
        "", description="In production stages, every image must start with this prefix."
    )
    images: FunctionImageSettings = Field(
        default_factory=FunctionImageSettings, description="Helper images of function pods."
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not is_dns_label(value):
            raise ValueError(f"{value!r} is not a DNS label")
        return value

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        cleaned = _relative(value)
        if not cleaned:
            raise ValueError("path must name a folder")
        return cleaned
