"""Copy one model version's files to the artifact store, exactly once, verified.

The copy of a version lives under a deterministic prefix,
``<prefix>/<model-slug>/<version>/model/…``, with a manifest beside it that is
written only after every file was checked (size, and the ETag the store reports
against the MD5 we computed; or the SHA-256 for the local store). So:

* a manifest that names the same source, and files that still match it, mean
  "already copied": nothing is read or sent;
* a copy that broke off has no manifest; the next run re-reads the source and
  sends only the files whose stored checksum differs;
* a manifest file that references a copy exists only once the copy is verified,
  and the reconciler renders manifests only from refs this module returned.
"""

from __future__ import annotations

import logging
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from watcher.core.artifacts import (
    FILES_FOLDER,
    MANIFEST_NAME,
    MAX_SERVER_SIDE_COPY,
    ArtifactManifest,
    ArtifactRef,
    ContentHash,
    ContentHasher,
    CopyOwner,
    CopyStats,
    FileEntry,
    ObjectInfo,
    SourceFile,
    Upload,
    version_prefix,
)
from watcher.core.model import ModelVersion
from watcher.core.names import describe
from watcher.core.urls import redact_url
from watcher.errors import (
    ArtifactConflictError,
    ArtifactSourceError,
    ArtifactUnavailableError,
    ArtifactUncheckedError,
    ArtifactVerificationError,
    TemporaryError,
    WatcherError,
)
from watcher.spine.copy_ports import ArtifactSource, ObjectStore, VersionFiles

log = logging.getLogger(__name__)

_READ_CHUNK = 1024 * 1024
#: Parallel HEAD requests when checking a copy; boto3 clients are thread-safe.
HEAD_CONCURRENCY = 8
#: Local files hashed at once (CPU-bound: about one per core).
READ_CONCURRENCY = max(2, min(4, os.cpu_count() or 2))
#: A model folder without this file is not an MLflow model; serving it would fail.
MLMODEL = "MLmodel"


@dataclass(frozen=True)
class _Read:
    """A source file after one pass over its bytes."""

    file: SourceFile
    key: str
    content: ContentHash
    local_path: Path | None
    server_copy: tuple[str, str] | None
    source_etag: str


class ArtifactSync:
    """The artifact step of a reconcile: ``ensure`` returns a verified ref or raises."""

    def __init__(
        self,
        store: ObjectStore,
        sources: VersionFiles,
        *,
        prefix: str,
        staging_dir: Path,
        registry: str = "",
        source_name: str = "",
    ) -> None:
        """``registry`` (without credentials) and ``source_name`` say whose copies these are:
        recorded in each manifest, and compared with a copy found at the same place."""
        self._store = store
        self._sources = sources
        self._prefix = prefix
        self._staging_dir = staging_dir
        self._registry = registry
        self._source_name = source_name

    def copy_uri(self, version: ModelVersion, slug: str) -> str:
        """Where the copy of ``version`` is (or will be), without asking the store."""
        base = version_prefix(self._prefix, slug, version.version)
        return self._store.uri(f"{base}/{FILES_FOLDER}")

    def _manifest(
        self, version: ModelVersion, source: ArtifactSource, uri: str, entries: list[FileEntry]
    ) -> ArtifactManifest:
        # Credentials in a source URI stay out of the store, like out of git.
        return ArtifactManifest(
            redact_url(version.source),
            redact_url(source.location),
            uri,
            tuple(entries),
            self.owner(version),
        )

    def owner(self, version: ModelVersion) -> CopyOwner:
        return CopyOwner(self._registry, version.name, version.version, self._source_name)

    def describe(self) -> str:
        return self._store.describe()

    @property
    def files(self) -> VersionFiles:
        """Where a version's own files are read from (its registry's artifact location)."""
        return self._sources

    def check(self, *, dry_run: bool = False) -> None:
        """Once per reconcile: the store is reachable, before any copy starts.

        A dry run does not create a missing bucket; it plans as if it were empty.
        """
        self._store.check(create=not dry_run)

    def ensure(
        self, version: ModelVersion, slug: str, *, dry_run: bool = False
    ) -> tuple[ArtifactRef, CopyStats]:
        """The verified copy of ``version``; in a dry run, what it would be, copying nothing."""
        base = version_prefix(self._prefix, slug, version.version)
        files_key = f"{base}/{FILES_FOLDER}"
        manifest_key = f"{base}/{MANIFEST_NAME}"
        uri = self._store.uri(files_key)
        existing = self._checked_copy(manifest_key, version, uri)
        if existing is not None:
            stats = CopyStats(files_already_there=len(existing.files))
            return existing.ref, stats

        what = f"model {describe(version.name)} version {version.version}"
        source = self._sources.open(version)
        listing = source.list_files()
        if not any(f.path == MLMODEL for f in listing):
            raise ArtifactSourceError(
                f"{what}: {describe(redact_url(source.location))} holds no {MLMODEL} file"
                + (f" ({len(listing)} other files)" if listing else " (it is empty)"),
                hint="register the folder that contains MLmodel (e.g. …/artifacts/model)",
            )
        self._staging_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self._staging_dir, prefix="copy-") as tmp:
            reads = self._read_all(source, listing, files_key, Path(tmp))
            if dry_run:
                entries = [
                    r.content.entry(r.file.path, self._expected_etag(r.content)) for r in reads
                ]
                planned = self._manifest(version, source, uri, entries)
                return planned.ref, CopyStats()
            discarded = self._store.discard_partial(files_key)
            if discarded:
                log.info("discarded %d unfinished upload(s) under %s", discarded, uri)
            entries, stats = self._transfer(files_key, reads)
        manifest = self._manifest(version, source, uri, entries)
        data = manifest.to_bytes()
        self._store.write_small(manifest_key, data)
        if self._store.read_small(manifest_key) != data:
            raise ArtifactVerificationError(
                f"{what}: the manifest at {manifest_key} did not read back"
            )
        log.info(
            "copied %s to %s: %d file(s) sent (%d bytes), %d copied in the store, %d already there",
            what,
            uri,
            stats.files_sent,
            stats.bytes_sent,
            stats.files_copied_in_store,
            stats.files_already_there,
        )
        return manifest.ref, stats

    def _checked_copy(
        self, manifest_key: str, version: ModelVersion, uri: str
    ) -> ArtifactManifest | None:
        """The complete copy found there, or None; ArtifactUncheckedError when the store
        did not answer (the copy may well be complete)."""
        try:
            return self._complete_copy(manifest_key, version, uri)
        except TemporaryError as exc:
            raise ArtifactUncheckedError(
                f"cannot check the copy at {uri}: {exc}", hint=exc.hint
            ) from exc

    def _complete_copy(
        self, manifest_key: str, version: ModelVersion, uri: str
    ) -> ArtifactManifest | None:
        raw = self._store.read_small(manifest_key)
        manifest = ArtifactManifest.from_bytes(raw) if raw is not None else None
        if manifest is None:
            return None
        if manifest.source != redact_url(version.source) or manifest.uri != uri:
            self._check_owner(manifest, version, uri)
            log.warning(
                "the copy at %s was made from %s, not %s: copying again",
                uri,
                describe(manifest.source),
                describe(redact_url(version.source)),
            )
            return None
        files_key = f"{manifest_key.rsplit('/', 1)[0]}/{FILES_FOLDER}"
        heads = self._head_all([f"{files_key}/{entry.path}" for entry in manifest.files])
        for entry, info in zip(manifest.files, heads, strict=True):
            if not self._entry_intact(info, entry):
                log.warning(
                    "%s/%s changed or vanished in the store: copying again", uri, entry.path
                )
                return None
        return manifest

    def _check_owner(self, manifest: ArtifactManifest, version: ModelVersion, uri: str) -> None:
        """Other bytes at our copy's place that another release owns: never rewritten.

        The same release (its version registered again, the store moved) is copied
        again; a manifest that names no owner (an older gitops-watcher) too.
        """
        ours = self.owner(version)
        theirs = manifest.owner
        if theirs is None or theirs.same_release(ours):
            return
        raise ArtifactConflictError(
            f"the copy at {uri} belongs to {theirs.describe()}, made from "
            f"{describe(manifest.source)}; {ours.describe()} would copy "
            f"{describe(redact_url(version.source))} to the same place: it is left as it is",
            hint="give each source its own copy location (leave a source's artifacts unset to "
            "get a sub-folder named after it, or set distinct artifacts.s3.prefix or "
            "artifacts.local_dir values)",
        )

    def _head_all(self, keys: list[str]) -> list[ObjectInfo | None]:
        """HEAD many objects at once: a model has several files and each HEAD is a round trip."""
        if len(keys) <= 1:
            return [self._store.head(key) for key in keys]
        with ThreadPoolExecutor(max_workers=min(HEAD_CONCURRENCY, len(keys))) as pool:
            return list(pool.map(self._store.head, keys))

    def _entry_intact(self, info: ObjectInfo | None, entry: FileEntry) -> bool:
        return self._stored_matches(info, entry.size, entry.sha256, {entry.etag} - {""})

    def _stored_matches(
        self, info: ObjectInfo | None, size: int, sha256: str, etags: set[str]
    ) -> bool:
        """Does a stored object hold these bytes? Size, our SHA-256 metadata, then the ETag."""
        if info is None or info.size != size:
            return False
        if info.sha256 is not None and info.sha256 != sha256:
            return False
        if self._store.checks_etag and etags:
            return info.etag in etags
        return info.sha256 == sha256

    def _read(self, source: ArtifactSource, file: SourceFile, key: str, scratch: Path) -> _Read:
        """One pass over a file: hash it, and keep a local copy unless it is local already."""
        server_copy = source.s3_object(file.path)
        if server_copy is not None and file.size > MAX_SERVER_SIDE_COPY:
            server_copy = None
        whole = server_copy is not None or not self._store.is_multipart(file.size)
        hasher = ContentHasher(self._store.part_size(file.size), whole_md5=whole)
        local_path: Path | None = None
        try:
            in_place = source.local_path(file.path)
            if in_place is not None:
                local_path = in_place
                self._hash_stream(source, file.path, hasher, None)
            elif server_copy is not None:
                self._hash_stream(source, file.path, hasher, None)
            else:
                local_path = scratch
                self._hash_stream(source, file.path, hasher, local_path)
        except WatcherError:
            raise
        except Exception as exc:  # a dropped download: OSError, urllib3, botocore stream errors
            raise ArtifactUnavailableError(
                f"reading {describe(redact_url(source.location))}/{file.path} failed: "
                f"{type(exc).__name__}: {exc}",
                hint="the next reconcile tries again",
            ) from exc
        content = hasher.result()
        if content.size != file.size:
            raise ArtifactVerificationError(
                f"{describe(redact_url(source.location))}/{file.path} is {content.size} bytes, "
                f"but the source listed {file.size}: it changed while it was read",
                hint="the next reconcile tries again",
            )
        return _Read(file, key, content, local_path, server_copy, source.etag(file.path))

    def _read_all(
        self, source: ArtifactSource, listing: list[SourceFile], files_key: str, tmp: Path
    ) -> list[_Read]:
        """Every file read and hashed; local files side by side (hashlib and file reads
        let go of the GIL, so two cores hash two files), in listing order."""

        def read(item: tuple[int, SourceFile]) -> _Read:
            index, file = item
            return self._read(source, file, f"{files_key}/{file.path}", tmp / f"{index}.part")

        items = list(enumerate(listing))
        if len(items) < 2 or source.local_path(items[0][1].path) is None:
            return [read(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(READ_CONCURRENCY, len(items))) as pool:
            return list(pool.map(read, items))

    @staticmethod
    def _hash_stream(
        source: ArtifactSource, path: str, hasher: ContentHasher, keep: Path | None
    ) -> None:
        with source.open(path) as stream:
            if keep is None:
                for chunk in iter(lambda: stream.read(_READ_CHUNK), b""):
                    hasher.update(chunk)
                return
            with keep.open("wb") as out:
                for chunk in iter(lambda: stream.read(_READ_CHUNK), b""):
                    hasher.update(chunk)
                    out.write(chunk)

    def _expected_etag(self, content: ContentHash) -> str:
        if not self._store.checks_etag:
            return ""
        return content.expected_etag(self._store.is_multipart(content.size))

    def _matches(self, info: ObjectInfo | None, read: _Read) -> bool:
        """Whole or in our parts; a server-side copy may keep the source object's ETag."""
        accepted = {self._expected_etag(read.content), read.content.md5}
        if read.server_copy is not None and read.source_etag:
            accepted.add(read.source_etag.lower())
        etags = accepted - {""} if self._store.checks_etag else set()
        return self._stored_matches(info, read.content.size, read.content.sha256, etags)

    def _transfer(self, files_key: str, reads: list[_Read]) -> tuple[list[FileEntry], CopyStats]:
        stats = CopyStats()
        stored = dict(
            zip([r.key for r in reads], self._head_all([r.key for r in reads]), strict=True)
        )
        pending = [read for read in reads if not self._matches(stored[read.key], read)]
        stats.files_already_there = len(reads) - len(pending)
        uploads = [
            Upload(r.key, r.local_path, r.content)
            for r in pending
            if r.local_path is not None and r.server_copy is None
        ]
        self._store.upload(uploads)
        stats.files_sent = len(uploads)
        stats.bytes_sent = sum(u.content.size for u in uploads)
        for read in pending:
            if read.server_copy is not None:
                self._store.copy(read.key, read.server_copy, read.source_etag, read.content)
                stats.files_copied_in_store += 1
        # Only what was just sent needs a second look; the rest matched a moment ago.
        stored.update(
            zip([r.key for r in pending], self._head_all([r.key for r in pending]), strict=True)
        )
        entries = []
        for read in reads:
            info = stored[read.key]
            if not self._matches(info, read):
                raise ArtifactVerificationError(
                    f"{self._store.uri(read.key)} does not match its source after the copy "
                    f"(stored: {info}; expected {read.content.size} bytes, "
                    f"ETag {self._expected_etag(read.content) or 'n/a'})",
                    hint="the next reconcile copies it again; if this repeats, the store may not "
                    "report MD5 ETags (see artifacts.s3.verify_etag)",
                )
            entries.append(read.content.entry(read.file.path, (info.etag if info else None) or ""))
        removed = self._store.remove_extra(files_key, {r.key for r in reads})
        if removed:
            log.warning("removed %d file(s) of an older copy under %s", removed, files_key)
        return entries, stats
