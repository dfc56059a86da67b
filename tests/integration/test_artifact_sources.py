"""Every source form MLflow gives a version, copied to a real S3 bucket and checked byte for byte.

Real parts only: versions are registered through MlflowClient on real MLflow
servers (the session one with a local artifact root, and one that proxies
artifacts), read back through the daemon's REST or database registry, and
copied to SeaweedFS with credentials enforced. The expected digest is computed
here with hashlib, not with the code under test.
"""

from __future__ import annotations

import io
import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest
from boto3.s3.transfer import TransferConfig

from tests.artifact_checks import expected_digest, write_files
from tests.servers.mlflow_fixtures import ModelNames
from tests.servers.mlflow_server import MlflowServer
from tests.servers.seaweedfs import S3Server
from watcher.config.settings import Credentials, Settings
from watcher.core.artifacts import ArtifactRef, CopyStats
from watcher.core.model import ModelVersion
from watcher.core.names import model_slug
from watcher.errors import ArtifactSourceError
from watcher.sources.mlflow.copies import build_artifacts
from watcher.sources.mlflow.readers import build_registry
from watcher.sources.mlflow.settings_view import mlflow_endpoints
from watcher.spine.artifact_copy import ArtifactSync

if TYPE_CHECKING:
    from mlflow.entities import Run
    from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.slow

MB = 1024 * 1024
PREFIX = "models"
MANIFEST = "gitops-watcher-manifest.json"
RegistryKind = Literal["rest", "database"]


# -- building and registering model folders --


def write_model_folder(folder: Path) -> dict[str, bytes]:
    """MLmodel plus a few files, nested, one of them 6 MB of random bytes (two 5 MB parts)."""
    files = {
        "MLmodel": b"artifact_path: model\nflavors:\n  python_function:\n    loader_module: tiny\n",
        "requirements.txt": b"scikit-learn==1.5.2\n",
        "data/weights.bin": os.urandom(6 * MB),
        "data/nested/config.json": b'{"layers": 3}\n',
    }
    write_files(folder, files)
    return files


def ensure_model(client: MlflowClient, name: str) -> None:
    if not client.search_registered_models(filter_string=f"name = '{name}'"):
        client.create_registered_model(name)


def log_run(client: MlflowClient, folder: Path) -> Run:
    """A finished run whose artifacts hold the folder under ``model/``."""
    run = client.create_run(experiment_id="0")
    client.log_artifacts(run.info.run_id, str(folder), artifact_path="model")
    client.set_terminated(run.info.run_id)
    return run


def register(
    client: MlflowClient,
    name: str,
    source: str,
    *,
    run_id: str | None = None,
    model_id: str | None = None,
) -> str:
    ensure_model(client, name)
    version = client.create_model_version(name, source, run_id=run_id, model_id=model_id)
    return str(version.version)


def registry_settings(server: MlflowServer, name: str, kind: RegistryKind) -> dict[str, Any]:
    """REST reads the server; 'database' reads its SQLite file and downloads via its URL."""
    settings: dict[str, Any] = {"tracking_uri": server.url, "models": {"include": [name]}}
    if kind == "database":
        settings.update(kind="database", database_uri=server.db_uri)
    return settings


@dataclass(frozen=True)
class Target:
    """Where a test copies to: a fresh bucket on the shared S3 server, and a scratch folder."""

    s3: S3Server
    bucket: str
    tmp: Path


@pytest.fixture
def target(s3_server: S3Server, s3_bucket: str, s3_env: dict[str, str], tmp_path: Path) -> Target:
    """``s3_env`` puts the server's keys in the AWS variables the daemon reads."""
    return Target(s3_server, s3_bucket, tmp_path)


def make_settings(
    target: Target, registry: dict[str, Any], sources: dict[str, Any] | None = None
) -> Settings:
    """Small multipart sizes, so the 6 MB file is sent in parts and its ETag checked as such."""
    return Settings.model_validate(
        {
            "state_dir": str(target.tmp / "state"),
            "registry": registry,
            "artifacts": {
                "store": "s3",
                "s3": {
                    "bucket": target.bucket,
                    "prefix": PREFIX,
                    "endpoint_url": target.s3.endpoint_url,
                    "addressing_style": "path",
                    "multipart_threshold_mb": 5,
                    "multipart_chunk_mb": 5,
                },
                "sources": sources or {},
            },
        }
    )


# -- running the artifact step the way the reconciler does --


def deployed_version(
    settings: Settings, client: MlflowClient, name: str, version: str
) -> ModelVersion:
    """The version as the daemon's registry adapter reads it, after an alias points at it."""
    client.set_registered_model_alias(name, "staging", version)
    registry = build_registry(settings.registry, Credentials())
    models = {m.name: m for m in registry.snapshot().models}
    found = models[name].version(version)
    assert found is not None
    return found


def artifact_step(settings: Settings) -> ArtifactSync:
    endpoint = mlflow_endpoints(settings, Credentials(), {})[0]
    step = build_artifacts(settings, endpoint, build_registry(settings.registry, Credentials()))
    assert step is not None
    step.check()
    return step.sync


def copy_version(
    settings: Settings, client: MlflowClient, name: str, version: str
) -> tuple[ArtifactRef, CopyStats]:
    mv = deployed_version(settings, client, name, version)
    return artifact_step(settings).ensure(mv, model_slug(name))


# -- independent checks --


def stored_keys(s3: Any, bucket: str, prefix: str) -> set[str]:
    keys: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.update(str(item["Key"]) for item in page.get("Contents", []))
    return keys


def assert_copied(
    target: Target,
    name: str,
    version: str,
    files: dict[str, bytes],
    ref: ArtifactRef,
) -> None:
    """Exactly the model's files, byte-identical, plus a manifest; the ref names them."""
    s3, bucket = target.s3.client(), target.bucket
    base = f"{PREFIX}/{model_slug(name)}/{version}"
    assert stored_keys(s3, bucket, f"{base}/") == {f"{base}/model/{p}" for p in files} | {
        f"{base}/{MANIFEST}"
    }
    for path, data in files.items():
        assert s3.get_object(Bucket=bucket, Key=f"{base}/model/{path}")["Body"].read() == data
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=f"{base}/{MANIFEST}")["Body"].read())
    assert manifest["digest"] == expected_digest(files)
    assert ref.uri == f"s3://{bucket}/{base}/model"
    assert ref.digest == expected_digest(files)
    assert (ref.file_count, ref.total_bytes) == (len(files), sum(map(len, files.values())))


@pytest.fixture(scope="module")
def source_bucket(s3_server: S3Server) -> str:
    """One bucket playing MLflow's artifact bucket for this module.

    Shared, because every written bucket costs SeaweedFS several volumes.
    """
    bucket = f"src-{uuid.uuid4().hex[:20]}"
    s3_server.client().create_bucket(Bucket=bucket)
    return bucket


def upload_model(s3_server: S3Server, bucket: str, files: dict[str, bytes]) -> str:
    """The files under a fresh prefix, big ones in parts as MLflow's boto3 upload does."""
    s3 = s3_server.client()
    prefix = f"exports/{uuid.uuid4().hex}/artifacts/model"
    config = TransferConfig(multipart_threshold=5 * MB, multipart_chunksize=5 * MB)
    for path, data in files.items():
        s3.upload_fileobj(io.BytesIO(data), bucket, f"{prefix}/{path}", Config=config)
    return f"s3://{bucket}/{prefix}"


# -- the source forms --


def test_local_path_source_is_copied_from_an_allowed_root(
    mlflow_server: MlflowServer,
    target: Target,
    unique_model_name: ModelNames,
) -> None:
    """A server with a local artifact root registers plain paths (the seed's /mlflow/mlruns)."""
    client, name = mlflow_server.client(), unique_model_name("local")
    files = write_model_folder(target.tmp / "model")
    run = log_run(client, target.tmp / "model")
    source = f"{run.info.artifact_uri}/model"
    assert source.startswith("/")
    version = register(client, name, source, run_id=run.info.run_id)
    settings = make_settings(
        target,
        registry_settings(mlflow_server, name, "rest"),
        {"local_roots": [str(mlflow_server.artifact_root)]},
    )

    ref, stats = copy_version(settings, client, name, version)

    assert_copied(target, name, version, files, ref)
    assert (stats.files_sent, stats.bytes_sent) == (len(files), ref.total_bytes)


def test_mlflow_artifacts_source_is_downloaded_through_the_server(
    mlflow_proxy_server: MlflowServer,
    target: Target,
    unique_model_name: ModelNames,
) -> None:
    """A proxying server's runs live at mlflow-artifacts:/…, readable only over its HTTP API."""
    client, name = mlflow_proxy_server.client(), unique_model_name("proxied")
    files = write_model_folder(target.tmp / "model")
    run = log_run(client, target.tmp / "model")
    source = f"{run.info.artifact_uri}/model"
    assert source.startswith("mlflow-artifacts:/")
    version = register(client, name, source, run_id=run.info.run_id)
    settings = make_settings(target, registry_settings(mlflow_proxy_server, name, "rest"))

    ref, stats = copy_version(settings, client, name, version)

    assert_copied(target, name, version, files, ref)
    assert stats.bytes_sent == ref.total_bytes


@pytest.mark.parametrize("kind", ["rest", "database"])
def test_runs_source_is_resolved_through_the_run(
    kind: RegistryKind,
    mlflow_proxy_server: MlflowServer,
    target: Target,
    unique_model_name: ModelNames,
) -> None:
    """runs:/<id>/model names no files itself; each registry adapter must look up the run."""
    client, name = mlflow_proxy_server.client(), unique_model_name(f"runs-{kind}")
    files = write_model_folder(target.tmp / "model")
    run = log_run(client, target.tmp / "model")
    version = register(client, name, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    settings = make_settings(target, registry_settings(mlflow_proxy_server, name, kind))
    assert deployed_version(settings, client, name, version).source.startswith("runs:/")

    ref, _ = copy_version(settings, client, name, version)

    assert_copied(target, name, version, files, ref)


@pytest.mark.parametrize("kind", ["rest", "database"])
def test_logged_model_source_is_resolved_through_the_logged_model(
    kind: RegistryKind,
    mlflow_proxy_server: MlflowServer,
    target: Target,
    unique_model_name: ModelNames,
) -> None:
    """MLflow 3 registers models:/m-<id>; its files sit under the logged model, not a run."""
    client, name = mlflow_proxy_server.client(), unique_model_name(f"logged-{kind}")
    files = write_model_folder(target.tmp / "model")
    logged = client.create_logged_model(experiment_id="0", name="lm")
    client.log_model_artifacts(logged.model_id, str(target.tmp / "model"))
    version = register(client, name, f"models:/{logged.model_id}", model_id=logged.model_id)
    settings = make_settings(target, registry_settings(mlflow_proxy_server, name, kind))
    assert deployed_version(settings, client, name, version).source == f"models:/{logged.model_id}"

    ref, _ = copy_version(settings, client, name, version)

    assert_copied(target, name, version, files, ref)


def test_s3_source_on_the_same_endpoint_is_copied_inside_the_store(
    mlflow_server: MlflowServer,
    target: Target,
    source_bucket: str,
    unique_model_name: ModelNames,
) -> None:
    """When MLflow's bucket is on our endpoint, no byte should pass through the daemon."""
    client, name = mlflow_server.client(), unique_model_name("s3-same")
    files = write_model_folder(target.tmp / "model")
    version = register(client, name, upload_model(target.s3, source_bucket, files))
    settings = make_settings(
        target,
        registry_settings(mlflow_server, name, "rest"),
        {"s3_buckets": ["src-*"]},
    )

    ref, stats = copy_version(settings, client, name, version)

    assert_copied(target, name, version, files, ref)
    assert stats == CopyStats(files_copied_in_store=len(files))


def test_s3_source_on_another_endpoint_is_streamed_and_verified(
    mlflow_server: MlflowServer,
    target: Target,
    source_bucket: str,
    unique_model_name: ModelNames,
) -> None:
    """A source endpoint that is not the destination's cannot copy server-side: bytes flow."""
    client, name = mlflow_server.client(), unique_model_name("s3-other")
    files = write_model_folder(target.tmp / "model")
    version = register(client, name, upload_model(target.s3, source_bucket, files))
    other_endpoint = target.s3.endpoint_url.replace("127.0.0.1", "localhost")
    assert other_endpoint != target.s3.endpoint_url
    settings = make_settings(
        target,
        registry_settings(mlflow_server, name, "rest"),
        {"s3_buckets": [source_bucket], "s3_endpoint_url": other_endpoint},
    )

    ref, stats = copy_version(settings, client, name, version)

    assert_copied(target, name, version, files, ref)
    assert stats == CopyStats(files_sent=len(files), bytes_sent=ref.total_bytes)


def test_s3_source_bucket_outside_the_allow_list_is_refused(
    mlflow_server: MlflowServer,
    target: Target,
    source_bucket: str,
    unique_model_name: ModelNames,
) -> None:
    """A registry entry must not make the daemon read any bucket its credentials can reach."""
    client, name = mlflow_server.client(), unique_model_name("s3-refused")
    files = write_model_folder(target.tmp / "model")
    version = register(client, name, upload_model(target.s3, source_bucket, files))
    settings = make_settings(
        target,
        registry_settings(mlflow_server, name, "rest"),
        {"s3_buckets": ["mlflow-*"]},
    )

    with pytest.raises(ArtifactSourceError, match=rf"{source_bucket}.*s3_buckets"):
        copy_version(settings, client, name, version)
    assert stored_keys(target.s3.client(), target.bucket, "") == set()


def test_unsupported_scheme_is_a_clear_error(
    mlflow_server: MlflowServer,
    target: Target,
    unique_model_name: ModelNames,
) -> None:
    """MLflow accepts gs:// sources; the daemon cannot read them and must say so, not crash."""
    client, name = mlflow_server.client(), unique_model_name("gs")
    version = register(client, name, "gs://models-bucket/fraud/model")
    settings = make_settings(target, registry_settings(mlflow_server, name, "rest"))

    with pytest.raises(ArtifactSourceError, match=r"scheme 'gs'.*not supported") as caught:
        copy_version(settings, client, name, version)
    assert "s3://" in caught.value.hint
    assert stored_keys(target.s3.client(), target.bucket, "") == set()


@pytest.mark.parametrize(
    ("kind", "message"),
    [("rest", "not known to the MLflow server"), ("database", "not in the registry database")],
)
def test_runs_source_naming_an_unknown_run_is_a_clear_error(
    kind: RegistryKind,
    message: str,
    mlflow_proxy_server: MlflowServer,
    target: Target,
    unique_model_name: ModelNames,
) -> None:
    """MLflow registers runs:/ of a run it does not have (e.g. purged by mlflow gc)."""
    client, name = mlflow_proxy_server.client(), unique_model_name(f"gone-{kind}")
    run_id = uuid.uuid4().hex
    version = register(client, name, f"runs:/{run_id}/model", run_id=run_id)
    settings = make_settings(target, registry_settings(mlflow_proxy_server, name, kind))

    with pytest.raises(ArtifactSourceError, match=rf"run '{run_id}' is {message}"):
        copy_version(settings, client, name, version)
    assert stored_keys(target.s3.client(), target.bucket, "") == set()


def test_mlflow_artifacts_source_without_a_server_url_is_a_clear_error(
    mlflow_proxy_server: MlflowServer,
    target: Target,
    unique_model_name: ModelNames,
) -> None:
    """Reading the database alone finds mlflow-artifacts:/ roots but no way to download them."""
    client, name = mlflow_proxy_server.client(), unique_model_name("no-url")
    write_model_folder(target.tmp / "model")
    run = log_run(client, target.tmp / "model")
    version = register(client, name, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    registry = {"database_uri": mlflow_proxy_server.db_uri, "models": {"include": [name]}}
    settings = make_settings(target, registry)

    with pytest.raises(ArtifactSourceError, match="no http\\(s\\) tracking URI") as caught:
        copy_version(settings, client, name, version)
    assert "tracking_uri" in caught.value.hint


def test_second_ensure_of_a_copied_version_sends_nothing(
    mlflow_proxy_server: MlflowServer,
    target: Target,
    unique_model_name: ModelNames,
) -> None:
    """Each reconcile calls ensure for every deployed version; a done copy must cost no bytes."""
    client, name = mlflow_proxy_server.client(), unique_model_name("again")
    files = write_model_folder(target.tmp / "model")
    run = log_run(client, target.tmp / "model")
    version = register(client, name, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    settings = make_settings(target, registry_settings(mlflow_proxy_server, name, "rest"))
    first, first_stats = copy_version(settings, client, name, version)
    assert first_stats.bytes_sent == first.total_bytes

    # A fresh artifact step, as after a restart: only the bucket remembers the copy.
    again, stats = copy_version(settings, client, name, version)

    assert again == first
    assert stats == CopyStats(files_already_there=len(files))
    assert_copied(target, name, version, files, again)
