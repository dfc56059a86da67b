"""The S3 artifact store: any S3 endpoint (AWS, MinIO, SeaweedFS, Ceph) through boto3.

Uploads go through s3transfer's TransferManager: files at or above the
threshold are sent in parts, and parts and files travel in parallel. The part
size is fixed by configuration (adjusted by s3transfer only past 10,000 parts,
which we mirror), so the multipart ETag the store will report can be computed
from the bytes beforehand and compared afterwards: that is the verification.
Each object also carries its SHA-256 as metadata, which is what the daemon's
digests are made of.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import boto3
import boto3.session
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError
from s3transfer.manager import TransferManager
from s3transfer.utils import ChunksizeAdjuster

from watcher.adapters.s3_errors import error_code, translate_s3_error
from watcher.config.settings import S3Settings
from watcher.core.artifacts import ContentHash, ObjectInfo, Upload, normalise_etag
from watcher.errors import ArtifactStoreConfigError, ArtifactUnavailableError

log = logging.getLogger(__name__)

_T = TypeVar("_T")

MB = 1024 * 1024
SHA256_METADATA = "sha256"
# A missing bucket reads as empty: check() has already refused it unless this is a dry run.
_MISSING = {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}


def make_s3_client(
    settings: S3Settings, *, endpoint_url: str | None = None, profile: str | None = None
) -> Any:
    """A boto3 S3 client from settings; credentials come from the standard AWS chain."""
    session = boto3.session.Session(
        profile_name=(profile if profile is not None else settings.profile) or None
    )
    verify: bool | str | None = None
    if not settings.verify_tls:
        verify = False
    elif settings.ca_bundle:
        verify = settings.ca_bundle
    config = Config(
        s3={"addressing_style": settings.addressing_style},
        connect_timeout=settings.timeout_seconds,
        read_timeout=settings.timeout_seconds,
        retries={"max_attempts": 4, "mode": "standard"},
        max_pool_connections=max(10, settings.max_concurrency * 2),
    )
    endpoint = endpoint_url if endpoint_url is not None else settings.endpoint_url
    return session.client(
        "s3",
        endpoint_url=endpoint or None,
        region_name=settings.region or session.region_name or "us-east-1",
        verify=verify,
        config=config,
    )


class S3Store:
    """Objects under one bucket; the daemon writes only below its prefix."""

    def __init__(self, settings: S3Settings, client: Any | None = None) -> None:
        self._settings = settings
        self._bucket = settings.bucket
        self._client = client if client is not None else make_s3_client(settings)
        self._transfer_config = TransferConfig(
            multipart_threshold=settings.multipart_threshold_mb * MB,
            multipart_chunksize=settings.multipart_chunk_mb * MB,
            max_concurrency=settings.max_concurrency,
            use_threads=True,
        )
        self._adjuster = ChunksizeAdjuster()

    @property
    def client(self) -> Any:
        return self._client

    @property
    def checks_etag(self) -> bool:
        return self._settings.verify_etag

    def describe(self) -> str:
        where = f" at {self._settings.endpoint_url}" if self._settings.endpoint_url else ""
        return f"s3://{self._bucket}{where}"

    def check(self, *, create: bool = True) -> None:
        """The bucket exists (or is created, if allowed) and our credentials may use it."""
        try:
            self._client.head_bucket(Bucket=self._bucket)
            return
        except ClientError as exc:
            if error_code(exc) not in _MISSING | {"NoSuchBucket"}:
                raise translate_s3_error(exc, f"checking bucket {self.describe()}") from exc
        except Exception as exc:
            raise translate_s3_error(exc, f"checking bucket {self.describe()}") from exc
        if not self._settings.create_bucket:
            raise ArtifactStoreConfigError(
                f"bucket {self.describe()} does not exist",
                hint="create it, fix BUCKET_NAME, or set artifacts.s3.create_bucket: true",
            )
        if not create:
            log.info("bucket %s does not exist; a real run would create it", self.describe())
            return
        log.info("creating bucket %s", self.describe())
        try:
            region = self._client.meta.region_name
            extra = {}
            if region and region != "us-east-1" and not self._settings.endpoint_url:
                extra = {"CreateBucketConfiguration": {"LocationConstraint": region}}
            self._client.create_bucket(Bucket=self._bucket, **extra)
        except Exception as exc:
            raise translate_s3_error(exc, f"creating bucket {self.describe()}") from exc

    def uri(self, key: str) -> str:
        return f"s3://{self._bucket}/{key}"

    def part_size(self, size: int) -> int:
        return int(self._adjuster.adjust_chunksize(self._settings.multipart_chunk_mb * MB, size))

    def is_multipart(self, size: int) -> bool:
        return size >= self._settings.multipart_threshold_mb * MB

    def head(self, key: str) -> ObjectInfo | None:
        answer = self._unless_missing(
            f"checking {self.uri(key)}",
            lambda: self._client.head_object(Bucket=self._bucket, Key=key),
        )
        if answer is None:
            return None
        metadata = answer.get("Metadata") or {}
        return ObjectInfo(
            size=int(answer["ContentLength"]),
            etag=normalise_etag(str(answer.get("ETag", ""))),
            sha256=metadata.get(SHA256_METADATA),
        )

    def read_small(self, key: str) -> bytes | None:
        def read() -> bytes:
            body = self._client.get_object(Bucket=self._bucket, Key=key)["Body"]
            try:
                return bytes(body.read())
            finally:
                body.close()

        return self._unless_missing(f"reading {self.uri(key)}", read)

    @staticmethod
    def _unless_missing(doing: str, call: Callable[[], _T]) -> _T | None:
        """The call's answer; None for a missing object; our error for anything else."""
        try:
            return call()
        except ClientError as exc:
            if error_code(exc) in _MISSING:
                return None
            raise translate_s3_error(exc, doing) from exc
        except Exception as exc:
            raise translate_s3_error(exc, doing) from exc

    def write_small(self, key: str, data: bytes) -> None:
        try:
            self._client.put_object(
                Bucket=self._bucket, Key=key, Body=data, ContentType="application/json"
            )
        except Exception as exc:
            raise translate_s3_error(exc, f"writing {self.uri(key)}") from exc

    def upload(self, uploads: Sequence[Upload]) -> None:
        """All files in parallel (and each big one in parallel parts); fail if any fails."""
        if not uploads:
            return
        with TransferManager(self._client, self._transfer_config) as manager:
            futures = [
                (
                    upload,
                    manager.upload(
                        str(upload.path),
                        self._bucket,
                        upload.key,
                        extra_args={"Metadata": {SHA256_METADATA: upload.content.sha256}},
                    ),
                )
                for upload in uploads
            ]
            first_error: BaseException | None = None
            failed_key = ""
            for upload, future in futures:
                try:
                    future.result()
                except Exception as exc:
                    if first_error is None:
                        first_error, failed_key = exc, upload.key
        if first_error is not None:
            raise translate_s3_error(
                first_error, f"uploading {self.uri(failed_key)}"
            ) from first_error

    def remove_extra(self, prefix: str, keep: set[str]) -> int:
        """Objects under ``prefix`` that a copy does not list (left by an older copy there)."""
        doing = f"tidying {self.uri(prefix)}"
        extra: list[str] = []
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self._bucket, Prefix=f"{prefix}/"
            )
            for page in pages:
                extra += [str(i["Key"]) for i in page.get("Contents", []) if i["Key"] not in keep]
            for start in range(0, len(extra), 1000):
                batch = [{"Key": key} for key in extra[start : start + 1000]]
                answer = self._client.delete_objects(
                    Bucket=self._bucket, Delete={"Objects": batch, "Quiet": True}
                )
                if answer.get("Errors"):
                    first = answer["Errors"][0]
                    raise ArtifactUnavailableError(
                        f"{doing}: cannot delete {first.get('Key')}: {first.get('Code')}"
                    )
        except ArtifactUnavailableError:
            raise
        except Exception as exc:
            raise translate_s3_error(exc, doing) from exc
        return len(extra)

    def discard_partial(self, prefix: str) -> int:
        """Abort multipart uploads a killed copy left under ``prefix`` (their parts cost space).

        Only the daemon writes below its prefix, so an unfinished upload there is ours.
        """
        doing = f"listing unfinished uploads in {self.uri(prefix)}"
        aborted = 0
        try:
            pages = self._client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self._bucket, Prefix=f"{prefix}/"
            )
            for page in pages:
                for upload in page.get("Uploads", []) or []:
                    self._client.abort_multipart_upload(
                        Bucket=self._bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                    aborted += 1
        except ClientError as exc:
            if error_code(exc) in ("NotImplemented", "501"):
                return 0  # a store without this call; a lifecycle rule cleans up instead
            raise translate_s3_error(exc, doing) from exc
        except Exception as exc:
            raise translate_s3_error(exc, doing) from exc
        return aborted

    def copy(
        self, key: str, source: tuple[str, str], source_etag: str, content: ContentHash
    ) -> None:
        """Server-side copy of an object we hashed; If-Match makes sure it is the same bytes."""
        bucket, source_key = source
        try:
            self._client.copy_object(
                Bucket=self._bucket,
                Key=key,
                CopySource={"Bucket": bucket, "Key": source_key},
                CopySourceIfMatch=f'"{source_etag}"',
                MetadataDirective="REPLACE",
                Metadata={SHA256_METADATA: content.sha256},
            )
        except Exception as exc:
            raise translate_s3_error(
                exc, f"copying s3://{bucket}/{source_key} to {self.uri(key)}"
            ) from exc
