"""What the artifact copy needs from a store, and the local-folder store of the embedded defaults.

Both stores (S3 and a local folder) answer the same small set of calls, so the
copy logic in ``watcher.spine.artifact_copy`` is written once. The local store writes
through a temporary file and a rename and checks the SHA-256 of what it wrote,
so it is as exact as the S3 store, only simpler.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from watcher.core.artifacts import ContentHash, ObjectInfo, Upload, check_relative_path
from watcher.errors import (
    ArtifactStoreConfigError,
    ArtifactUnavailableError,
    ArtifactVerificationError,
)

_READ_CHUNK = 1024 * 1024
#: A rewrite this soon after the last one may keep its mtime (coarse file clocks, FAT: 2 s).
_RACY_NS = 2 * 10**9


class LocalFolderStore:
    """Artifacts in a folder: the embedded default, and fine for a single host."""

    def __init__(self, root: Path) -> None:
        self._root = root.resolve()
        self._hash_cache: dict[tuple[str, int, int], str] = {}

    @property
    def checks_etag(self) -> bool:
        return False

    def describe(self) -> str:
        return str(self._root)

    def check(self, *, create: bool = True) -> None:
        if not create:
            return
        try:
            self._root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ArtifactStoreConfigError(
                f"cannot create the artifact folder {self._root}: {exc.strerror}",
                hint="set artifacts.local_dir to a writable folder",
            ) from exc

    def uri(self, key: str) -> str:
        return self._path(key).as_uri()

    def part_size(self, size: int) -> int:
        return max(size, 1)

    def is_multipart(self, size: int) -> bool:
        return False

    def head(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        cache_key = (str(path), stat.st_size, stat.st_mtime_ns)
        digest = self._hash_cache.get(cache_key)
        if digest is None:
            hashed_at = time.time_ns()
            digest = _sha256_of(path)
            # Reuse a hash only if the file was older than one clock tick when it was read:
            # a later rewrite in that tick would keep size and mtime, and the stale hash.
            if hashed_at - stat.st_mtime_ns > _RACY_NS:
                self._hash_cache[cache_key] = digest
        return ObjectInfo(size=stat.st_size, sha256=digest)

    def read_small(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def write_small(self, key: str, data: bytes) -> None:
        self._write(self._path(key), [data], hashlib.sha256(data).hexdigest())

    def upload(self, uploads: Sequence[Upload]) -> None:
        for upload in uploads:
            try:
                with upload.path.open("rb") as source:
                    chunks = iter(lambda: source.read(_READ_CHUNK), b"")
                    self._write(self._path(upload.key), chunks, upload.content.sha256)
            except OSError as exc:
                raise ArtifactUnavailableError(
                    f"cannot read {upload.path} to copy it: {exc.strerror}",
                    hint="the next reconcile tries again",
                ) from exc

    def remove_extra(self, prefix: str, keep: set[str]) -> int:
        """Files under ``prefix`` that a copy does not list (left by an older copy there)."""
        folder = self._path(prefix)
        removed = 0
        for path in sorted(folder.rglob("*")) if folder.is_dir() else ():
            key = path.relative_to(self._root).as_posix()
            if path.is_file() and key not in keep:
                try:
                    path.unlink()
                except OSError as exc:
                    raise ArtifactUnavailableError(f"cannot remove {path}: {exc.strerror}") from exc
                removed += 1
        return removed

    def discard_partial(self, prefix: str) -> int:
        """Temporary files a killed copy left under ``prefix``; returns how many were removed."""
        removed = 0
        folder = self._path(prefix)
        for leftover in folder.rglob(".partial-*") if folder.is_dir() else ():
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
                removed += 1
        return removed

    def copy(
        self, key: str, source: tuple[str, str], source_etag: str, content: ContentHash
    ) -> None:
        raise ArtifactStoreConfigError("the local artifact store cannot copy from S3 server-side")

    def _path(self, key: str) -> Path:
        return self._root / check_relative_path(key)

    def _write(self, target: Path, chunks: object, sha256: str) -> None:
        """Write to a temporary file beside the target, check its hash, then rename."""
        try:  # a read-only or full store fails here; an OSError would abort the whole reconcile
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=".partial-")
        except OSError as exc:
            raise ArtifactUnavailableError(f"cannot write {target}: {exc.strerror}") from exc
        digest = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:  # type: ignore[attr-defined]
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if digest.hexdigest() != sha256:
                raise ArtifactVerificationError(
                    f"{target} changed while it was copied (SHA-256 differs)",
                    hint="the next reconcile copies it again",
                )
            Path(temp_name).replace(target)
        except OSError as exc:
            raise ArtifactUnavailableError(f"cannot write {target}: {exc.strerror}") from exc
        finally:
            with contextlib.suppress(FileNotFoundError):
                Path(temp_name).unlink()


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for chunk in iter(lambda: source.read(_READ_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()
