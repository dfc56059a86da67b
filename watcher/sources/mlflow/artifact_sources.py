"""Read a model version's files from wherever MLflow keeps them.

A version's ``source`` is resolved to a location (``runs:/`` through the run's
artifact root, ``models:/m-…`` through the logged model's), then opened by
scheme: a local folder, the tracking server's ``mlflow-artifacts:`` proxy, or
``s3://``. Reading is policy-checked: local paths only under configured roots
and s3 buckets only from an allow-list, so a registry entry cannot make the
daemon copy host files (a service-account token, say) into the bucket.
"""

from __future__ import annotations

import contextlib
import fnmatch
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import unquote, urlsplit

from watcher.config.settings import SourceSettings
from watcher.core.artifacts import (
    SourceFile,
    check_relative_path,
    parse_source,
)
from watcher.core.model import ModelVersion
from watcher.core.names import describe
from watcher.core.urls import redact_url
from watcher.errors import ArtifactSourceError
from watcher.spine.copy_ports import ArtifactSource

log = logging.getLogger(__name__)


class ArtifactLocator(Protocol):
    """What the registry adapters answer: artifact roots of runs and logged models."""

    def run_artifact_uri(self, run_id: str) -> str: ...

    def logged_model_artifact_uri(self, model_id: str) -> str: ...


class MlflowArtifactProxy(Protocol):
    def list_artifacts(self, path: str) -> list[tuple[str, bool, int]]: ...

    def open_artifact(self, path: str) -> Any: ...


class LocalSource:
    """A folder on this host (the seed's /mlflow/mlruns volume); symlinks may not leave it."""

    def __init__(self, root: Path, location: str) -> None:
        self.location = location
        self._root = root

    def list_files(self) -> list[SourceFile]:
        if not self._root.is_dir():
            raise ArtifactSourceError(
                f"source folder {self._root} does not exist or is not a folder",
                hint="check that the MLflow artifact volume is mounted at the same path here",
            )
        files = []
        for folder, dirs, names in os.walk(self._root):
            dirs.sort()
            for name in sorted(names):
                full = Path(folder) / name
                real = full.resolve()
                if not real.is_relative_to(self._root):
                    raise ArtifactSourceError(
                        f"{full} is a link that leaves the model folder {self._root}",
                        hint="model folders may not link to files outside themselves",
                    )
                if not real.is_file():
                    continue
                relative = full.relative_to(self._root).as_posix()
                files.append(SourceFile(check_relative_path(relative), real.stat().st_size))
        return files

    def open(self, path: str) -> contextlib.AbstractContextManager[IO[bytes]]:
        return (self._root / check_relative_path(path)).open("rb")

    def local_path(self, path: str) -> Path | None:
        return self._root / check_relative_path(path)

    def s3_object(self, path: str) -> tuple[str, str] | None:
        return None

    def etag(self, path: str) -> str:
        return ""


class MlflowArtifactsSource:
    """Files behind the tracking server's artifact proxy (``mlflow-artifacts:/…``)."""

    def __init__(self, proxy: MlflowArtifactProxy, path: str, location: str) -> None:
        self.location = location
        self._proxy = proxy
        self._path = path.strip("/")

    def list_files(self) -> list[SourceFile]:
        files: list[SourceFile] = []
        pending = [self._path]
        while pending:
            folder = pending.pop()
            for path, is_dir, size in self._proxy.list_artifacts(folder):
                full = f"{folder}/{path}" if folder and not path.startswith(f"{folder}/") else path
                if is_dir:
                    pending.append(full)
                    continue
                relative = full[len(self._path) + 1 :] if self._path else full
                files.append(SourceFile(check_relative_path(relative), size))
        return sorted(files, key=lambda f: f.path)

    @contextlib.contextmanager
    def open(self, path: str) -> Iterator[IO[bytes]]:
        response = self._proxy.open_artifact(f"{self._path}/{check_relative_path(path)}")
        try:
            response.raw.decode_content = True
            yield response.raw
        finally:
            response.close()

    def local_path(self, path: str) -> Path | None:
        return None

    def s3_object(self, path: str) -> tuple[str, str] | None:
        return None

    def etag(self, path: str) -> str:
        return ""


class S3Source:
    """Objects under an ``s3://bucket/prefix``; server-side copies when on our endpoint."""

    def __init__(
        self, client: Any, bucket: str, prefix: str, location: str, *, same_endpoint: bool
    ) -> None:
        self.location = location
        self._client = client
        self._bucket = bucket
        self._prefix = prefix.strip("/")
        self._same_endpoint = same_endpoint
        #: ETag of each object as it was read, so a server-side copy can insist on those bytes.
        self._etags: dict[str, str] = {}

    def list_files(self) -> list[SourceFile]:
        from watcher.adapters.s3_errors import translate_s3_error

        start = f"{self._prefix}/" if self._prefix else ""
        files = []
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self._bucket, Prefix=start
            )
            for page in pages:
                for item in page.get("Contents", []):
                    key = str(item["Key"])
                    if key.endswith("/"):
                        continue  # a folder marker some tools write
                    files.append(
                        SourceFile(check_relative_path(key[len(start) :]), int(item["Size"]))
                    )
        except Exception as exc:
            raise translate_s3_error(exc, f"listing s3://{self._bucket}/{start}") from exc
        return sorted(files, key=lambda f: f.path)

    @contextlib.contextmanager
    def open(self, path: str) -> Iterator[IO[bytes]]:
        from watcher.adapters.s3_errors import translate_s3_error

        key = self._key(path)
        try:
            answer = self._client.get_object(Bucket=self._bucket, Key=key)
        except Exception as exc:
            raise translate_s3_error(exc, f"reading s3://{self._bucket}/{key}") from exc
        self._etags[path] = str(answer.get("ETag", "")).strip('"')
        body = answer["Body"]
        try:
            yield body
        finally:
            body.close()

    def local_path(self, path: str) -> Path | None:
        return None

    def s3_object(self, path: str) -> tuple[str, str] | None:
        return (self._bucket, self._key(path)) if self._same_endpoint else None

    def etag(self, path: str) -> str:
        return self._etags.get(path, "")

    def _key(self, path: str) -> str:
        relative = check_relative_path(path)
        return f"{self._prefix}/{relative}" if self._prefix else relative


class SourceResolver:
    """Turns a model version into an opened :class:`ArtifactSource`, or a clear refusal."""

    def __init__(
        self,
        settings: SourceSettings,
        locator: ArtifactLocator,
        *,
        proxy: MlflowArtifactProxy | None,
        source_s3_client: Callable[[], tuple[Any, bool]] | None,
    ) -> None:
        self._settings = settings
        self._locator = locator
        self._proxy = proxy
        self._s3 = source_s3_client
        self._roots = tuple(Path(root).resolve() for root in settings.local_roots)

    def location(self, version: ModelVersion) -> str:
        """The URI or path that holds the version's files."""
        ref = parse_source(version.source)
        if ref.kind == "run":
            base = self._locator.run_artifact_uri(ref.value).rstrip("/")
            return f"{base}/{ref.path}" if ref.path else base
        if ref.kind == "logged_model":
            return self._locator.logged_model_artifact_uri(ref.value)
        return ref.value

    def open(self, version: ModelVersion) -> ArtifactSource:
        location = self.location(version)
        parts = urlsplit(location)
        scheme = parts.scheme.lower()
        if scheme in ("", "file"):
            return self._local(location, unquote(parts.path) if scheme else location)
        if scheme == "mlflow-artifacts":
            return self._mlflow_artifacts(location, parts.netloc, unquote(parts.path))
        if scheme in ("s3", "s3a"):
            return self._s3_source(location, parts.netloc, parts.path)
        raise ArtifactSourceError(
            f"model {describe(version.name)} version {version.version}: sources of scheme "
            f"{scheme!r} ({describe(redact_url(location))}) are not supported",
            hint="supported: local paths, file://, mlflow-artifacts:/, s3://, runs:/, models:/m-…",
        )

    def _local(self, location: str, path: str) -> LocalSource:
        if not path.startswith("/"):
            raise ArtifactSourceError(
                f"local source {describe(redact_url(location))} is not an absolute path",
                hint="register versions with absolute artifact paths or an artifact server",
            )
        folder = Path(path).resolve()
        if not any(folder.is_relative_to(root) for root in self._roots):
            allowed = ", ".join(str(r) for r in self._roots) or "none configured"
            raise ArtifactSourceError(
                f"local source {folder} is outside the folders the daemon may read "
                f"(artifacts.sources.local_roots: {allowed})",
                hint="add the MLflow artifact folder (e.g. /mlflow/mlruns) to "
                "artifacts.sources.local_roots",
            )
        return LocalSource(folder, location)

    def _mlflow_artifacts(self, location: str, netloc: str, path: str) -> MlflowArtifactsSource:
        if self._proxy is None:
            raise ArtifactSourceError(
                f"source {describe(redact_url(location))} is served by an MLflow tracking server, "
                "but no http(s) tracking URI is configured",
                hint="set registry.tracking_uri (MLFLOW_TRACKING_URI) to the MLflow server URL",
            )
        if netloc:
            log.debug("mlflow-artifacts source names host %s; using the configured server", netloc)
        return MlflowArtifactsSource(self._proxy, path, location)

    def _s3_source(self, location: str, bucket: str, prefix: str) -> S3Source:
        if not bucket:
            raise ArtifactSourceError(f"source {describe(redact_url(location))} names no bucket")
        if not any(fnmatch.fnmatchcase(bucket, p) for p in self._settings.s3_buckets):
            raise ArtifactSourceError(
                f"source bucket {bucket!r} is not in artifacts.sources.s3_buckets",
                hint="add the bucket MLflow stores artifacts in to artifacts.sources.s3_buckets",
            )
        if self._s3 is None:
            raise ArtifactSourceError(
                f"source {describe(redact_url(location))} is in S3, but S3 is not set up"
            )
        client, same_endpoint = self._s3()
        return S3Source(client, bucket, prefix, location, same_endpoint=same_endpoint)
