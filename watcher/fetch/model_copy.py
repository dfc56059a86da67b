"""Fetch a verified model copy into a local folder, checking it against its manifest.

This is what the serving pods' init container runs (``python -m watcher.fetch``),
from the gitops-watcher image, which ships boto3. It exists so the serving image
needs no S3 client and no network access to the store, and so a pod never
serves bytes that differ from what the daemon verified and committed:

* the manifest beside the copy (``gitops-watcher-manifest.json``) must be
  readable and its digest must equal ``--digest``, the digest rendered into git;
* every file it lists is downloaded, and its size and SHA-256 must match;
* the digest recomputed from the downloaded files must equal ``--digest``.

Files are written into a temporary folder beside ``--dest`` and renamed into
place only when everything matched, so the destination is either absent or
complete. S3 is reached with boto3 and the standard AWS chain for credentials;
the endpoint comes from ``AWS_ENDPOINT_URL_S3``, ``MLFLOW_S3_ENDPOINT_URL`` or
``AWS_ENDPOINT_URL``, TLS from ``AWS_CA_BUNDLE`` or ``MLFLOW_S3_IGNORE_TLS``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from watcher.core.artifacts import (
    FILES_FOLDER,
    MANIFEST_NAME,
    ArtifactManifest,
    FileEntry,
    artifact_digest,
)
from watcher.errors import EXIT_OK, ArtifactError, WatcherError, error_label, exit_code

CHUNK = 1024 * 1024
#: Addressing style for S3 (auto, path, virtual); path suits MinIO and SeaweedFS behind one host.
ADDRESSING_ENV = "GITOPS_WATCHER_S3_ADDRESSING_STYLE"
_ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "MLFLOW_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL")


class FetchError(ArtifactError):
    """The copy could not be fetched: unreachable, refused, or not what git names."""


class FetchMismatchError(FetchError):
    """What the store holds differs from the digest rendered into the pod."""

    hint = (
        "the copy in the store was changed after it was verified; let the daemon copy the "
        "version again (delete its manifest), or fix the digest in git"
    )


class Reader(Protocol):
    """Where a copy's objects are read from: a bucket, or a local folder."""

    def read(self, relative: str) -> bytes: ...

    def stream(self, relative: str) -> Iterator[bytes]: ...


class LocalReader:
    """A copy in a local folder (the ``local`` store; its ``file://`` URIs)."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def _path(self, relative: str) -> Path:
        return self._root / relative

    def read(self, relative: str) -> bytes:
        try:
            return self._path(relative).read_bytes()
        except OSError as exc:
            raise FetchError(
                f"cannot read {self._path(relative)}: {exc.strerror or exc}",
                hint="a file:// copy must be mounted into the pod at the same path",
            ) from exc

    def stream(self, relative: str) -> Iterator[bytes]:
        try:
            with self._path(relative).open("rb") as handle:
                while chunk := handle.read(CHUNK):
                    yield chunk
        except OSError as exc:
            raise FetchError(f"cannot read {self._path(relative)}: {exc.strerror or exc}") from exc


class S3Reader:
    """A copy under a key prefix of a bucket, read with boto3."""

    def __init__(self, client: Any, bucket: str, prefix: str) -> None:
        self._client = client
        self._bucket = bucket
        self._prefix = prefix

    def _key(self, relative: str) -> str:
        return f"{self._prefix}/{relative}" if self._prefix else relative

    def _get(self, relative: str) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        key = self._key(relative)
        try:
            return self._client.get_object(Bucket=self._bucket, Key=key)["Body"]
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("NoSuchKey", "404", "NotFound"):
                raise FetchError(
                    f"s3://{self._bucket}/{key} does not exist",
                    hint="the copy is incomplete or was removed; the daemon copies it again",
                ) from exc
            if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                raise FetchError(
                    f"the store refused to read s3://{self._bucket}/{key} ({code})",
                    hint="give the pod a Secret with read access (stages[].env_from)",
                ) from exc
            raise FetchError(f"reading s3://{self._bucket}/{key} failed: {code}") from exc
        except BotoCoreError as exc:
            raise FetchError(
                f"cannot reach the store for s3://{self._bucket}/{key}: {exc}",
                hint="set AWS_ENDPOINT_URL_S3 or MLFLOW_S3_ENDPOINT_URL for a non-AWS store",
            ) from exc

    def read(self, relative: str) -> bytes:
        body = self._get(relative)
        try:
            data: bytes = body.read()
        finally:
            body.close()
        return data

    def stream(self, relative: str) -> Iterator[bytes]:
        body = self._get(relative)
        try:
            while chunk := body.read(CHUNK):
                yield chunk
        finally:
            body.close()


def s3_client(env: Mapping[str, str]) -> Any:
    """A boto3 client for any S3 endpoint, configured from the standard variables."""
    import boto3
    from botocore.config import Config

    endpoint = next((env[k] for k in _ENDPOINT_VARIABLES if env.get(k)), None)
    verify: bool | str | None = None
    if env.get("MLFLOW_S3_IGNORE_TLS", "").strip().lower() in ("1", "true", "yes"):
        verify = False
    elif env.get("AWS_CA_BUNDLE"):
        verify = env["AWS_CA_BUNDLE"]
    session = boto3.session.Session()
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or session.region_name
    style = env.get(ADDRESSING_ENV, "").strip() or "auto"
    if style not in ("auto", "path", "virtual"):
        raise FetchError(f"{ADDRESSING_ENV}={style!r} is not auto, path or virtual")
    return session.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region or "us-east-1",
        verify=verify,
        config=Config(s3={"addressing_style": style}, retries={"max_attempts": 5}),
    )


def open_copy(uri: str, env: Mapping[str, str]) -> Reader:
    """A reader rooted at the version's folder (the parent of the ``model`` files folder)."""
    parts = urlsplit(uri)
    path = PurePosixPath(unquote(parts.path))
    if path.name != FILES_FOLDER:
        raise FetchError(
            f"{uri} is not a gitops-watcher copy (its last part is not {FILES_FOLDER!r})",
            hint="pass the copy's URI as rendered in gitops-watcher.io/artifact-uri",
        )
    if parts.scheme == "s3" and parts.netloc:
        prefix = str(path.parent).strip("/")
        return S3Reader(s3_client(env), parts.netloc, "" if prefix == "." else prefix)
    if parts.scheme == "file" and parts.netloc in ("", "localhost"):
        return LocalReader(Path(str(path.parent)))
    raise FetchError(
        f"cannot fetch {uri}: only s3:// and file:// copies can be fetched",
        hint="with artifacts.store: none, the serving container reads models:/ URIs itself",
    )


def read_manifest(reader: Reader, digest: str) -> ArtifactManifest:
    """The copy's manifest, which must describe exactly the content git names."""
    manifest = ArtifactManifest.from_bytes(reader.read(MANIFEST_NAME))
    if manifest is None:
        raise FetchError(
            f"{MANIFEST_NAME} of the copy is unreadable, of another format, or inconsistent",
            hint="the daemon rewrites it on its next reconcile",
        )
    if manifest.digest != digest:
        raise FetchMismatchError(
            f"the copy's manifest has digest {manifest.digest}, but the pod expects {digest}"
        )
    return manifest


def download(reader: Reader, manifest: ArtifactManifest, folder: Path) -> list[FileEntry]:
    """Every listed file into ``folder``, each checked by size and SHA-256 as it is written."""
    entries = []
    for entry in sorted(manifest.files, key=lambda f: f.path):
        target = folder / entry.path
        target.parent.mkdir(parents=True, exist_ok=True)
        sha = hashlib.sha256()
        size = 0
        with target.open("wb") as handle:
            for chunk in reader.stream(f"{FILES_FOLDER}/{entry.path}"):
                sha.update(chunk)
                size += len(chunk)
                handle.write(chunk)
        if size != entry.size or sha.hexdigest() != entry.sha256:
            raise FetchMismatchError(
                f"{entry.path}: the store holds {size} bytes with SHA-256 {sha.hexdigest()}, "
                f"the manifest lists {entry.size} bytes with SHA-256 {entry.sha256}"
            )
        entries.append(FileEntry(entry.path, size, sha.hexdigest()))
    return entries


def local_digest(folder: Path) -> str:
    """The digest of a folder's files, as docs/artifacts.md defines it."""
    entries = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() or p.is_symlink()):
        if path.is_symlink():
            raise FetchMismatchError(f"{path} is a symbolic link; a fetched copy holds none")
        data = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                data.update(chunk)
        relative = path.relative_to(folder).as_posix()
        entries.append(FileEntry(relative, path.stat().st_size, data.hexdigest()))
    return artifact_digest(entries)


def fetch(uri: str, digest: str, dest: Path, env: Mapping[str, str] | None = None) -> str:
    """Put the verified copy at ``dest``; returns what happened, for the log."""
    env = os.environ if env is None else env
    if not digest.startswith("sha256:") or len(digest) != len("sha256:") + 64:
        raise FetchError(f"--digest {digest[:80]!r} is not sha256:<64 hex digits>")
    if dest.exists() or dest.is_symlink():
        if dest.is_dir() and not dest.is_symlink() and local_digest(dest) == digest:
            return f"{dest} already holds {digest}"
        raise FetchError(
            f"{dest} exists and does not hold {digest}",
            hint="fetch into an empty volume (the pod's emptyDir); nothing was changed",
        )
    reader = open_copy(uri, env)
    manifest = read_manifest(reader, digest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    try:
        entries = download(reader, manifest, staging)
        if artifact_digest(entries) != digest:  # pragma: no cover - implied by the checks above
            raise FetchMismatchError(f"the downloaded files do not hash to {digest}")
        staging.rename(dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    total = sum(e.size for e in entries)
    return f"fetched {len(entries)} file(s), {total} bytes, to {dest}; digest {digest} verified"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m watcher.fetch",
        description="Download a gitops-watcher model copy and verify it against its digest.",
    )
    parser.add_argument("--uri", required=True, help="the copy: s3://…/model or file:///…/model")
    parser.add_argument("--digest", required=True, help="the digest git names, sha256:…")
    parser.add_argument("--dest", required=True, help="folder to create with the model's files")
    args = parser.parse_args(argv)
    try:
        try:
            message = fetch(args.uri, args.digest, Path(args.dest))
        except OSError as exc:
            raise FetchError(f"cannot write {args.dest}: {exc}") from exc
    except WatcherError as exc:
        print(f"watcher.fetch: {error_label(exc)}: {exc}", file=sys.stderr)
        return exit_code(exc)
    print(f"watcher.fetch: {message}", file=sys.stderr)
    return EXIT_OK
