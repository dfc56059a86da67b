"""Copying each deployed version's files to a store the cluster can read."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from watcher.config.base import Frozen

_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class S3Settings(Frozen):
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


class SourceSettings(Frozen):
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


class ArtifactSettings(Frozen):
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
