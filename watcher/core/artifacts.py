"""Model artifacts as data: where a version's files come from, where they go, what they hash to.

Pure: the adapters move bytes; this module names things and checks them. A copy
is described by an ``ArtifactManifest`` (every file with its size and SHA-256)
whose own hash is the artifact *digest* that manifests and ``promotion.json``
carry. The digest depends only on the content and the relative paths, so the
same files give the same digest on any store.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from watcher.core.names import describe
from watcher.errors import InvalidNameError

#: Format version of the manifest object written beside each copy.
MANIFEST_FORMAT = 1
#: Name of the folder (under the version's key prefix) that holds the model's files.
FILES_FOLDER = "model"
#: Name of the manifest object beside the files; written last, so it marks a complete copy.
MANIFEST_NAME = "gitops-watcher-manifest.json"

_RUN_SOURCE = re.compile(r"^runs:/(?P<run_id>[0-9A-Za-z_-]+)(?:/(?P<path>.*))?$")
_LOGGED_MODEL_SOURCE = re.compile(r"^models:/(?P<model_id>m-[0-9A-Za-z_-]+)/?$")
_VERSION = re.compile(r"^[0-9]{1,9}$")


@dataclass(frozen=True)
class SourceRef:
    """What a version's ``source`` names, before any lookup.

    ``run``: files under a run's artifact root; ``logged_model``: an MLflow 3
    logged model; ``location``: a URI or path that holds the files directly.
    """

    kind: Literal["run", "logged_model", "location"]
    value: str
    path: str = ""


def parse_source(source: str) -> SourceRef:
    """Classify a version source; the adapters resolve it to a location."""
    if not source:
        raise InvalidNameError(
            "the model version has no source", hint="register the version with a source"
        )
    run = _RUN_SOURCE.fullmatch(source)
    if run:
        return SourceRef("run", run["run_id"], (run["path"] or "").strip("/"))
    if source.startswith("runs:"):
        raise InvalidNameError(f"source {describe(source)} is not a valid runs:/<run_id>/… URI")
    model = _LOGGED_MODEL_SOURCE.fullmatch(source)
    if model:
        return SourceRef("logged_model", model["model_id"])
    if source.startswith("models:"):
        raise InvalidNameError(
            f"source {describe(source)} points at another registry entry, not at files",
            hint="register versions from a run (runs:/…), a logged model (models:/m-…) or a URI",
        )
    return SourceRef("location", source)


def check_relative_path(path: str) -> str:
    """A file path inside a model folder: relative, no '..', no empty parts, no backslash."""
    parts = path.split("/")
    if (
        not path
        or path.startswith("/")
        or "\\" in path
        or any(part in ("", ".", "..") for part in parts)
        or any(ord(ch) < 32 for ch in path)
    ):
        raise InvalidNameError(
            f"artifact file {describe(path)} has an unsafe path",
            hint="model files must have plain relative paths without '..'",
        )
    return path


def check_version(version: str) -> str:
    if not _VERSION.fullmatch(version):  # match() let '1\n' through ('$' before '\n')
        raise InvalidNameError(f"model version {describe(version)} is not a positive integer")
    return version


def version_prefix(prefix: str, slug: str, version: str) -> str:
    """Deterministic key prefix of one version's copy: ``<prefix>/<slug>/<version>``."""
    parts = [p for p in prefix.split("/") if p]
    return "/".join([*parts, slug, check_version(version)])


@dataclass(frozen=True)
class FileEntry:
    """One file of a model: relative path, size, SHA-256 (hex), and the ETag the store verified.

    The ETag is kept so later runs can re-check the copy with one HEAD per file;
    it is not part of the digest, which must not depend on the store.
    """

    path: str
    size: int
    sha256: str
    etag: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256, "etag": self.etag}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FileEntry:
        return cls(
            path=check_relative_path(str(data["path"])),
            size=int(data["size"]),
            sha256=str(data["sha256"]),
            etag=str(data.get("etag") or ""),
        )


def artifact_digest(files: Iterable[FileEntry]) -> str:
    """``sha256:<hex>`` over the sorted (path, size, sha256) list; the identity of a model copy."""
    lines = "".join(
        f"{f.sha256}  {f.size}  {f.path}\n" for f in sorted(files, key=lambda f: f.path)
    )
    return f"sha256:{hashlib.sha256(lines.encode()).hexdigest()}"


@dataclass
class CopyStats:
    """What one copy moved; ``bytes_sent`` is 0 when everything was already there."""

    files_sent: int = 0
    bytes_sent: int = 0
    files_copied_in_store: int = 0
    files_already_there: int = 0

    def add(self, other: CopyStats) -> None:
        self.files_sent += other.files_sent
        self.bytes_sent += other.bytes_sent
        self.files_copied_in_store += other.files_copied_in_store
        self.files_already_there += other.files_already_there


#: Largest object a single server-side CopyObject may copy.
MAX_SERVER_SIDE_COPY = 5 * 1024**3


@dataclass(frozen=True)
class SourceFile:
    """One file of a model folder as the source lists it."""

    path: str
    size: int


@dataclass(frozen=True)
class ObjectInfo:
    """What a store says about a stored object; ``None`` fields are unknown to it."""

    size: int
    etag: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class Upload:
    """A file to put at ``key``; ``content`` is what it hashed to when it was read."""

    key: str
    path: Path
    content: ContentHash


@dataclass(frozen=True)
class ArtifactRef:
    """A verified copy that manifests may point at."""

    uri: str
    digest: str
    file_count: int
    total_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "digest": self.digest,
            "files": self.file_count,
            "bytes": self.total_bytes,
        }


@dataclass(frozen=True)
class CopyOwner:
    """Whose copy it is: a model version of one registry (named without credentials).

    Recorded in the manifest, so a copy location that two sources (or two teams'
    daemons) share is noticed instead of each rewriting the other's copy. ``source``
    (the gitops-watcher source's name) is said in messages, not compared: two
    sources reading one registry copy the same bytes.
    """

    registry: str
    model: str
    version: str
    source: str = ""

    def same_release(self, other: CopyOwner) -> bool:
        return (self.registry, self.model, self.version) == (
            other.registry,
            other.model,
            other.version,
        )

    def describe(self) -> str:
        by = f", source {describe(self.source, 63)}" if self.source else ""
        return (
            f"model {describe(self.model)} version {describe(self.version, 40)} "
            f"(registry {describe(self.registry, 200)}{by})"
        )

    def to_dict(self) -> dict[str, str]:
        return {
            "registry": self.registry,
            "model": self.model,
            "version": self.version,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CopyOwner:
        return cls(
            registry=str(data["registry"]),
            model=str(data["model"]),
            version=str(data["version"]),
            source=str(data.get("source") or ""),
        )


@dataclass(frozen=True)
class ArtifactManifest:
    """Written beside a copy after every file was verified; its presence means "complete".

    ``owner`` is absent from manifests written before gitops-watcher recorded it.
    """

    source: str
    location: str
    uri: str
    files: tuple[FileEntry, ...]
    owner: CopyOwner | None = None

    @property
    def digest(self) -> str:
        return artifact_digest(self.files)

    @property
    def ref(self) -> ArtifactRef:
        return ArtifactRef(
            uri=self.uri,
            digest=self.digest,
            file_count=len(self.files),
            total_bytes=sum(f.size for f in self.files),
        )

    def to_bytes(self) -> bytes:
        data = {
            "format": MANIFEST_FORMAT,
            "source": self.source,
            "location": self.location,
            "uri": self.uri,
            "digest": self.digest,
            "files": [f.to_dict() for f in sorted(self.files, key=lambda f: f.path)],
        }
        if self.owner is not None:
            data["owner"] = self.owner.to_dict()
        return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> ArtifactManifest | None:
        """The manifest, or None when it is unreadable or of another format (then copy again)."""
        try:
            data = json.loads(raw)
            if data.get("format") != MANIFEST_FORMAT:
                return None
            manifest = cls(
                source=str(data["source"]),
                location=str(data["location"]),
                uri=str(data["uri"]),
                files=tuple(FileEntry.from_dict(f) for f in data["files"]),
                owner=CopyOwner.from_dict(data["owner"]) if "owner" in data else None,
            )
        except (ValueError, KeyError, TypeError, AttributeError, InvalidNameError):
            return None
        return manifest if manifest.digest == data.get("digest") else None


def multipart_etag(part_md5s: Iterable[bytes]) -> str:
    """The ETag S3 gives an object uploaded in these parts: md5 of the part md5s, then '-N'."""
    parts = list(part_md5s)
    return f"{hashlib.md5(b''.join(parts)).hexdigest()}-{len(parts)}"  # noqa: S324 - S3's format


def normalise_etag(etag: str) -> str:
    return etag.strip().strip('"').lower()


@dataclass(frozen=True)
class ContentHash:
    """Everything one pass over a file's bytes tells: size, SHA-256, MD5 ("" when it was
    not computed), and MD5 per part."""

    size: int
    sha256: str
    md5: str
    part_md5s: tuple[bytes, ...]

    def entry(self, path: str, etag: str = "") -> FileEntry:
        return FileEntry(path=path, size=self.size, sha256=self.sha256, etag=etag)

    def expected_etag(self, multipart: bool) -> str:
        """The ETag an S3 store reports for these bytes, uploaded whole or in our parts."""
        return multipart_etag(self.part_md5s) if multipart else self.md5


class ContentHasher:
    """Feeds on chunks; computes whole-file and per-part hashes in one pass (no I/O here)."""

    def __init__(self, part_size: int, *, whole_md5: bool = True) -> None:
        """``whole_md5``: also the MD5 of the whole file, which only an object stored in
        one piece (a single-part upload, a server-side copy) reports as its ETag. MD5 is
        the slowest hash here (about half SHA-256's speed), so a file that will be sent
        in parts skips it; one that fits in one part gets it free from that part."""
        if part_size <= 0:
            raise ValueError("part_size must be positive")
        self._part_size = part_size
        self._size = 0
        self._sha256 = hashlib.sha256()
        # S3 ETags are MD5s; not used for security.
        self._md5 = hashlib.md5() if whole_md5 else None  # noqa: S324
        self._part = hashlib.md5()  # noqa: S324
        self._part_filled = 0
        self._parts: list[bytes] = []

    def update(self, chunk: bytes) -> None:
        self._size += len(chunk)
        self._sha256.update(chunk)
        if self._md5 is not None:
            self._md5.update(chunk)
        view = memoryview(chunk)
        while view:
            room = self._part_size - self._part_filled
            piece, view = view[:room], view[room:]
            self._part.update(piece)
            self._part_filled += len(piece)
            if self._part_filled == self._part_size:
                self._parts.append(self._part.digest())
                self._part = hashlib.md5()  # noqa: S324
                self._part_filled = 0

    def result(self) -> ContentHash:
        parts = list(self._parts)
        if self._part_filled or not parts:
            parts.append(self._part.digest())
        if self._md5 is not None:
            md5 = self._md5.hexdigest()
        else:  # one part is the whole file; of several, the whole MD5 is unknown
            md5 = parts[0].hex() if len(parts) == 1 else ""
        return ContentHash(
            size=self._size, sha256=self._sha256.hexdigest(), md5=md5, part_md5s=tuple(parts)
        )
