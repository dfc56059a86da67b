"""The ports of the artifact step: what a model folder and an object store must answer.

``ArtifactSync`` calls only these; the local folder and S3 stores (``watcher.adapters``)
and the readers of where a registry keeps files (``watcher.sources.mlflow``) implement them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Protocol

from watcher.core.artifacts import ContentHash, ObjectInfo, SourceFile, Upload
from watcher.core.model import ModelVersion


class ArtifactSource(Protocol):
    """An opened model folder: list it, read a file, or name the S3 object for a server copy."""

    location: str

    def list_files(self) -> list[SourceFile]: ...

    def open(self, path: str) -> contextlib.AbstractContextManager[IO[bytes]]: ...

    def s3_object(self, path: str) -> tuple[str, str] | None: ...

    def local_path(self, path: str) -> Path | None:
        """The file on this host, when the source is a local folder (read in place)."""
        ...

    def etag(self, path: str) -> str:
        """The ETag the source reported when ``path`` was read ('' where there is none)."""
        ...


class ObjectStore(Protocol):
    def describe(self) -> str: ...

    def check(self, *, create: bool = True) -> None: ...

    def uri(self, key: str) -> str: ...

    def part_size(self, size: int) -> int: ...

    def is_multipart(self, size: int) -> bool: ...

    @property
    def checks_etag(self) -> bool: ...

    def head(self, key: str) -> ObjectInfo | None: ...

    def read_small(self, key: str) -> bytes | None: ...

    def write_small(self, key: str, data: bytes) -> None: ...

    def upload(self, uploads: Sequence[Upload]) -> None: ...

    def discard_partial(self, prefix: str) -> int: ...

    def remove_extra(self, prefix: str, keep: set[str]) -> int: ...

    def copy(
        self, key: str, source: tuple[str, str], source_etag: str, content: ContentHash
    ) -> None: ...


class VersionFiles(Protocol):
    """Opens the folder that holds a model version's files, or refuses with a clear error."""

    def open(self, version: ModelVersion) -> ArtifactSource: ...
