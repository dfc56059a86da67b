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
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


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
    env_from: tuple[str, ...] = Field(
        (),
        description="Names of Kubernetes Secrets whose keys the serving container gets as "
        "environment variables (e.g. the S3 credentials); only the names go to git.",
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

    @field_validator("env_from")
    @classmethod
    def _secret_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
                raise ValueError(f"env_from entry {name!r} is not a valid Kubernetes object name")
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


class S3Settings(_Frozen):
    """The bucket that receives model artifacts; any S3 endpoint (AWS, MinIO, SeaweedFS, Ceph).

    Credentials come from the standard AWS chain (environment, profile, web identity,
    instance role), never from this file.
    """

    bucket: str = Field("", description="Destination bucket (env BUCKET_NAME).")
    prefix: str = Field("models", description="Key prefix under which model versions are copied.")
    endpoint_url: str = Field(
        "",
        description="S3 endpoint for MinIO and other stores (env MLFLOW_S3_ENDPOINT_URL or "
        "AWS_ENDPOINT_URL_S3); empty means AWS.",
    )
    region: str = Field(
        "", description="Region (default: the AWS chain, e.g. AWS_DEFAULT_REGION; else us-east-1)."
    )
    profile: str = Field("", description="AWS profile for the destination (default: the chain).")
    addressing_style: Literal["auto", "path", "virtual"] = Field(
        "auto", description="'path' for most MinIO and SeaweedFS set-ups; 'auto' picks for AWS."
    )
    verify_tls: bool = Field(
        True,
        description="Verify the endpoint's TLS certificate (env MLFLOW_S3_IGNORE_TLS=true "
        "turns it off).",
    )
    ca_bundle: str = Field("", description="CA bundle file for the endpoint (env AWS_CA_BUNDLE).")
    create_bucket: bool = Field(False, description="Create the bucket when it does not exist.")
    multipart_threshold_mb: int = Field(
        64, ge=5, le=5120, description="Files at least this large are uploaded in parts."
    )
    multipart_chunk_mb: int = Field(
        16, ge=5, le=5120, description="Part size of multipart uploads (ETags depend on it)."
    )
    max_concurrency: int = Field(8, ge=1, le=64, description="Parallel part/file transfers.")
    verify_etag: bool = Field(
        True,
        description="Check each object's ETag against the MD5 computed locally; turn off only "
        "for stores whose ETag is not an MD5 (e.g. SSE-KMS); size and SHA-256 stay checked.",
    )
    timeout_seconds: float = Field(60.0, gt=0, description="Connect/read timeout of one request.")

    @field_validator("bucket")
    @classmethod
    def _bucket_name(cls, value: str) -> str:
        if value and (not _BUCKET_NAME.match(value) or ".." in value):
            raise ValueError(
                f"bucket {value!r} is not a valid S3 bucket name: 3-63 lowercase letters, "
                "digits, '.' and '-'"
            )
        return value

    @field_validator("prefix")
    @classmethod
    def _clean_prefix(cls, value: str) -> str:
        parts = [p for p in value.split("/") if p]
        if any(p in (".", "..") for p in parts) or "\\" in value:
            raise ValueError(f"prefix {value!r} must be a plain key prefix without '.' or '..'")
        return "/".join(parts)


class SourceSettings(_Frozen):
    """Where the daemon may read a version's files from, besides the MLflow server."""

    local_roots: tuple[str, ...] = Field(
        (),
        description="Folders that local-path sources may lie in (e.g. /mlflow/mlruns); a local "
        "source anywhere else is refused, so a registry entry cannot exfiltrate host files.",
    )
    s3_buckets: tuple[str, ...] = Field(
        ("*",), description="Glob patterns of buckets that s3:// sources may be read from."
    )
    s3_endpoint_url: str = Field(
        "", description="Endpoint of s3:// sources (default: the destination's endpoint)."
    )
    s3_profile: str = Field(
        "", description="AWS profile for s3:// sources (default: the destination's)."
    )


class ArtifactSettings(_Frozen):
    """Copying each deployed version's files to a store the cluster can read."""

    store: Literal["auto", "s3", "local", "none"] = Field(
        "auto",
        description="'s3', 'local' (a folder; for the demo and single hosts), 'none' (serve "
        "models:/ URIs straight from the registry) or 'auto': 's3' when a bucket is set, "
        "else 'local'.",
    )
    local_dir: str = Field(
        "", description="Folder of the 'local' store (default <state_dir>/artifacts)."
    )
    staging_dir: str = Field(
        "",
        description="Scratch folder for files downloaded before upload (default "
        "<state_dir>/staging); needs room for the largest model.",
    )
    s3: S3Settings = Field(default_factory=S3Settings)
    sources: SourceSettings = Field(default_factory=SourceSettings)

    @model_validator(mode="after")
    def _s3_needs_bucket(self) -> ArtifactSettings:
        if self.store == "s3" and not self.s3.bucket:
            raise ValueError("store 's3' needs a bucket: set BUCKET_NAME or artifacts.s3.bucket")
        return self

    @property
    def resolved_store(self) -> Literal["s3", "local", "none"]:
        if self.store != "auto":
            return self.store
        return "s3" if self.s3.bucket else "local"


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
    artifacts: ArtifactSettings = Field(default_factory=ArtifactSettings)
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
    def artifact_dir(self) -> Path:
        return Path(self.artifacts.local_dir or Path(self.state_dir) / "artifacts")

    @property
    def staging_path(self) -> Path:
        return Path(self.artifacts.staging_dir or Path(self.state_dir) / "staging")

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
