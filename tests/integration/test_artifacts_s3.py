"""Artifacts through a real S3 store: SeaweedFS on 127.0.0.1 with credentials enforced.

A real MLflow server (local artifact root, like the seed's /mlflow/mlruns volume)
holds the versions; real bare git remotes receive the commits. The reconciler
must copy and verify a version's files before the commit that references them.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.artifact_checks import expected_digest, write_files
from tests.integration.test_reconcile_e2e import remote_files, subjects
from tests.servers.mlflow_server import MlflowServer
from tests.servers.seaweedfs import S3Server, start_seaweedfs, stop_seaweedfs
from watcher.commands.report import print_result
from watcher.config.settings import Credentials, Settings
from watcher.core.names import model_slug
from watcher.errors import ArtifactAuthError, ArtifactUnavailableError
from watcher.wiring import build_reconciler

pytestmark = pytest.mark.slow

MB = 1024 * 1024


def write_model(folder: Path, sizes: dict[str, int]) -> dict[str, bytes]:
    """An MLflow model folder: MLmodel plus files of the given sizes (random bytes)."""
    folder.mkdir(parents=True)
    files = {"MLmodel": b"artifact_path: model\nflavors:\n  python_function: {}\n"}
    for name, size in sizes.items():
        files[name] = os.urandom(size)
    write_files(folder, files)
    return files


def register(server: MlflowServer, name: str, files_folder: Path) -> str:
    """Log the folder as a run's 'model' artifacts and register it; returns the version."""
    from mlflow.exceptions import MlflowException

    client = server.client()
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name)
    run = client.create_run(experiment_id="0")
    client.log_artifacts(run.info.run_id, str(files_folder), artifact_path="model")
    client.set_terminated(run.info.run_id)
    version = client.create_model_version(
        name, source=f"{run.info.artifact_uri}/model", run_id=run.info.run_id
    )
    return str(version.version)


def s3_settings(
    server: MlflowServer,
    s3: S3Server,
    bucket: str,
    remote: Path,
    state: Path,
    prefix: str,
    **s3_extra: Any,
) -> dict[str, Any]:
    return {
        "state_dir": str(state),
        "registry": {"tracking_uri": server.url, "models": {"include": [f"{prefix}*"]}},
        "git": {"repo_url": str(remote), "push_backoff_seconds": 0},
        "artifacts": {
            "s3": {
                "bucket": bucket,
                "endpoint_url": s3.endpoint_url,
                "addressing_style": "path",
                **s3_extra,
            },
            "sources": {"local_roots": [str(server.artifact_root)]},
        },
    }


@dataclass(frozen=True)
class Stack:
    """The real parts a test drives: MLflow, SeaweedFS with a fresh bucket, a bare git remote."""

    mlflow: MlflowServer
    s3: S3Server
    bucket: str
    remote: Path
    tmp: Path
    names: Any

    def settings(self, bucket: str | None = None, **s3_extra: Any) -> dict[str, Any]:
        return s3_settings(
            self.mlflow,
            self.s3,
            bucket or self.bucket,
            self.remote,
            self.tmp / "state",
            self.names.prefix,
            **s3_extra,
        )


@pytest.fixture
def stack(
    mlflow_server: MlflowServer,
    s3_server: S3Server,
    s3_bucket: str,
    s3_env: dict[str, str],
    bare_remote: Path,
    tmp_path: Path,
    unique_model_name: Any,
) -> Stack:
    """``s3_env`` puts the server's keys in the AWS variables the daemon reads."""
    return Stack(mlflow_server, s3_server, s3_bucket, bare_remote, tmp_path, unique_model_name)


def objects(s3: S3Server, bucket: str, prefix: str = "") -> dict[str, dict[str, Any]]:
    """Key -> {size, etag, modified} of every object under ``prefix``."""
    found = {}
    pages = s3.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    for page in pages:
        for item in page.get("Contents", []):
            found[item["Key"]] = {
                "size": item["Size"],
                "etag": item["ETag"].strip('"'),
                "modified": item["LastModified"],
            }
    return found


def test_a_large_model_is_copied_verified_before_its_commit_and_never_twice(
    stack: Stack,
) -> None:
    name = stack.names("big")
    files = write_model(
        stack.tmp / "model",
        {"model.bin": 150 * MB, "weights/extra.bin": 40 * MB, "tokenizer.json": 10 * MB},
    )
    version = register(stack.mlflow, name, stack.tmp / "model")
    client = stack.mlflow.client()
    client.set_registered_model_alias(name, "champion", version)
    data = stack.settings()
    reconciler = build_reconciler(Settings.model_validate(data), Credentials())

    first = reconciler.reconcile()

    assert first.ok and first.pushed, first.failures
    total = sum(len(b) for b in files.values())
    assert first.artifacts.bytes_sent == total
    base = f"models/{model_slug(name)}/{version}"
    stored = objects(stack.s3, stack.bucket, base)
    assert set(stored) == {f"{base}/model/{p}" for p in files} | {
        f"{base}/gitops-watcher-manifest.json"
    }
    s3 = stack.s3.client()
    for path, content in files.items():
        body = s3.get_object(Bucket=stack.bucket, Key=f"{base}/model/{path}")["Body"].read()
        assert hashlib.sha256(body).digest() == hashlib.sha256(content).digest(), path
    # The 150 MB file went up in 16 MB parts: its ETag is the multipart form.
    assert stored[f"{base}/model/model.bin"]["etag"].endswith("-10")
    # What git references is exactly the verified copy.
    tree = remote_files(stack.remote)
    promotion = json.loads(tree[f"deployments/{model_slug(name)}/production/promotion.json"])
    uri = f"s3://{stack.bucket}/{base}/model"
    assert promotion["details"]["artifact"] == {
        "uri": uri,
        "digest": expected_digest(files),
        "files": len(files),
        "bytes": total,
    }
    deployment = yaml.safe_load(tree[f"deployments/{model_slug(name)}/production/deployment.yaml"])
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "MODEL_URI", "value": uri} in env
    manifest = json.loads(
        s3.get_object(Bucket=stack.bucket, Key=f"{base}/gitops-watcher-manifest.json")[
            "Body"
        ].read()
    )
    assert manifest["digest"] == expected_digest(files)

    # Re-promotion of the same version to another stage copies nothing.
    client.set_registered_model_alias(name, "staging", version)
    again = reconciler.reconcile()
    assert again.ok and [a.change.subject for a in again.applied] == [
        f"deploy {name} v{version} to staging"
    ]
    assert again.artifacts.bytes_sent == 0 and again.artifacts.files_sent == 0
    assert again.artifacts.files_already_there == len(files)
    assert objects(stack.s3, stack.bucket, base) == stored  # nothing rewritten (same LastModified)


def test_an_upload_killed_half_way_is_completed_later_and_never_committed_before(
    stack: Stack,
) -> None:
    name = stack.names("killed")
    # Small files go up whole; the 80 MB ones in parts (threshold 64 MB), one at a time.
    sizes = {f"part-{n}.bin": 30 * MB for n in range(3)} | {
        "big-0.bin": 80 * MB,
        "big-1.bin": 80 * MB,
    }
    files = write_model(stack.tmp / "model", sizes)
    version = register(stack.mlflow, name, stack.tmp / "model")
    stack.mlflow.client().set_registered_model_alias(name, "champion", version)
    data = stack.settings(max_concurrency=1)
    config = stack.tmp / "watcher.yaml"
    config.write_text(yaml.safe_dump(data))
    base = f"models/{model_slug(name)}/{version}"

    # A real daemon process, killed with SIGKILL once some files are in the bucket.
    env = {**os.environ, "GITOPS_WATCHER_CONFIG": str(config)}
    process = subprocess.Popen(
        [sys.executable, "-m", "watcher", "reconcile", "--once"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    s3 = stack.s3.client()
    deadline = time.monotonic() + 120
    try:
        # Kill it in the middle of a multipart upload: some parts sent, the object not made.
        while time.monotonic() < deadline and process.poll() is None:
            if s3.list_multipart_uploads(Bucket=stack.bucket, Prefix=base).get("Uploads"):
                break
            time.sleep(0.01)
        assert process.poll() is None, "the reconcile finished before it could be killed"
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()

    # A request already on the wire when the client died may still complete on the
    # server: read the bucket once it has stopped changing.
    left = objects(stack.s3, stack.bucket, base)
    for _ in range(20):
        time.sleep(0.25)
        settled = objects(stack.s3, stack.bucket, base)
        if settled == left:
            break
        left = settled
    assert f"{base}/gitops-watcher-manifest.json" not in left
    assert len(left) < len(files)
    assert s3.list_multipart_uploads(Bucket=stack.bucket, Prefix=base).get("Uploads")
    assert not any(name in s for s in subjects(stack.remote))

    result = build_reconciler(Settings.model_validate(data), Credentials()).reconcile()

    assert result.ok and result.pushed
    done = {key.rsplit("/model/", 1)[1] for key in left}
    assert result.artifacts.bytes_sent == sum(len(b) for p, b in files.items() if p not in done)
    assert result.artifacts.files_already_there == len(done)
    assert f"{base}/gitops-watcher-manifest.json" in objects(stack.s3, stack.bucket, base)
    # Parts of an upload the kill interrupted were discarded, not left to cost space.
    assert not s3.list_multipart_uploads(Bucket=stack.bucket, Prefix=base).get("Uploads")
    promotion = json.loads(
        remote_files(stack.remote)[f"deployments/{model_slug(name)}/production/promotion.json"]
    )
    assert promotion["details"]["artifact"]["digest"] == expected_digest(files)


def _one_deployed_and_one_new(stack: Stack, data: dict[str, Any]) -> tuple[str, str, list[str]]:
    """Deploy model 'a' with working settings, then register and promote model 'b'."""
    client = stack.mlflow.client()
    deployed, new = stack.names("a"), stack.names("b")
    write_model(stack.tmp / "a", {"model.pkl": 1000})
    write_model(stack.tmp / "b", {"model.pkl": 2000})
    client.set_registered_model_alias(
        deployed, "champion", register(stack.mlflow, deployed, stack.tmp / "a")
    )
    first = build_reconciler(Settings.model_validate(data), Credentials()).reconcile()
    assert first.ok and first.pushed, first.failures
    client.set_registered_model_alias(new, "champion", register(stack.mlflow, new, stack.tmp / "b"))
    return deployed, new, subjects(stack.remote)


@pytest.mark.parametrize("identity", ["wrong-secret", "read-only"])
def test_refused_credentials_fail_clearly_and_leave_git_untouched(
    identity: str,
    stack: Stack,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = stack.settings()
    deployed, new, before = _one_deployed_and_one_new(stack, data)
    tree_before = remote_files(stack.remote)
    if identity == "wrong-secret":
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    else:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", stack.s3.readonly_access_key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", stack.s3.readonly_secret_key)

    result = build_reconciler(Settings.model_validate(data), Credentials()).reconcile()

    assert not result.ok
    failed = {(f.id.name, f.id.stage): f.error for f in result.failures}
    error = failed[(new, "production")]
    assert isinstance(error, ArtifactAuthError)
    assert "refused our credentials" in str(error) and "AWS_ACCESS_KEY_ID" in str(error)
    assert "not-the-secret" not in str(error) and stack.s3.readonly_secret_key not in str(error)
    # The deployed model is neither removed nor rewritten; nothing was committed.
    assert subjects(stack.remote) == before
    assert remote_files(stack.remote) == tree_before
    assert deployed in json.dumps(tree_before)


def test_a_missing_bucket_is_reported_and_can_be_created_when_allowed(
    stack: Stack,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from watcher.commands.cli import main

    name = stack.names("nobucket")
    write_model(stack.tmp / "m", {"model.pkl": 100})
    stack.mlflow.client().set_registered_model_alias(
        name, "champion", register(stack.mlflow, name, stack.tmp / "m")
    )
    bucket = f"missing-{os.urandom(6).hex()}"
    data = stack.settings(bucket)
    config = stack.tmp / "watcher.yaml"
    config.write_text(yaml.safe_dump(data))

    assert main(["--config", str(config), "reconcile", "--once"]) == 1
    out = capsys.readouterr().out
    assert f"bucket s3://{bucket}" in out and "does not exist" in out
    assert "artifacts.s3.create_bucket" in out
    assert subjects(stack.remote) == []
    assert bucket not in [b["Name"] for b in stack.s3.client().list_buckets()["Buckets"]]

    data["artifacts"]["s3"]["create_bucket"] = True
    config.write_text(yaml.safe_dump(data))
    # A dry run plans the promotion but creates nothing, not even the bucket.
    assert main(["--config", str(config), "reconcile", "--once", "--dry-run"]) == 0
    assert f"would commit: deploy {name} v1 to production" in capsys.readouterr().out
    assert bucket not in [b["Name"] for b in stack.s3.client().list_buckets()["Buckets"]]
    assert main(["--config", str(config), "reconcile", "--once"]) == 0
    assert subjects(stack.remote) == [f"deploy {name} v1 to production"]
    assert objects(stack.s3, bucket)


def test_an_unreachable_store_fails_every_copy_once_and_deletes_nothing(
    stack: Stack,
) -> None:
    data = stack.settings()
    deployed, new, before = _one_deployed_and_one_new(stack, data)
    tree_before = remote_files(stack.remote)
    data["artifacts"]["s3"].update(endpoint_url="http://127.0.0.1:9", timeout_seconds=2)

    result = build_reconciler(Settings.model_validate(data), Credentials()).reconcile()

    # The new version cannot be copied: it fails. The deployed one, whose folder already
    # serves its copy, cannot be re-checked: it stays deployed, with a warning.
    errors = {(f.id.name, f.id.stage): f.error for f in result.failures}
    assert set(errors) == {(new, "production")}
    assert all(isinstance(e, ArtifactUnavailableError) for e in errors.values())
    assert "cannot reach the S3 endpoint" in str(errors[(new, "production")])
    states = {o.id.name: (o.state, o.warning or "") for o in result.releases}
    assert states[new][0] == "failed"
    assert states[deployed][0] == "unchanged", states
    assert states[deployed][1].startswith("its copy could not be re-checked: ")
    assert "cannot reach the S3 endpoint" in states[deployed][1]
    report = io.StringIO()
    print_result(result, report)
    lines = report.getvalue().splitlines()
    assert lines[-2].startswith(
        f"WARNING 1 deployment(s) kept as deployed, e.g. model '{deployed}' in production: "
        "its copy could not be re-checked: "
    ), lines
    assert lines[-1] == "no changes; 1 deployment(s) unchanged, 1 failed", lines
    assert subjects(stack.remote) == before and remote_files(stack.remote) == tree_before


def test_a_broken_version_fails_alone_while_the_others_are_copied(
    stack: Stack,
) -> None:
    client = stack.mlflow.client()
    good, broken = stack.names("good"), stack.names("broken")
    write_model(stack.tmp / "good", {"model.pkl": 100})
    (stack.tmp / "broken").mkdir()
    (stack.tmp / "broken" / "weights.bin").write_bytes(b"no MLmodel beside me")
    client.set_registered_model_alias(
        good, "champion", register(stack.mlflow, good, stack.tmp / "good")
    )
    client.set_registered_model_alias(
        broken, "champion", register(stack.mlflow, broken, stack.tmp / "broken")
    )
    data = stack.settings()

    result = build_reconciler(Settings.model_validate(data), Credentials()).reconcile()

    assert [(f.id.name, f.id.stage) for f in result.failures] == [(broken, "production")]
    assert "holds no MLmodel file" in str(result.failures[0].error)
    assert subjects(stack.remote) == [f"deploy {good} v1 to production"]
    assert not objects(stack.s3, stack.bucket, f"models/{model_slug(broken)}/")


def test_credentials_come_from_the_aws_chain_such_as_a_named_profile(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No keys in the environment: a profile in the shared credentials file is used, or none."""
    name = stack.names("profile")
    write_model(stack.tmp / "m", {"model.pkl": 100})
    stack.mlflow.client().set_registered_model_alias(
        name, "champion", register(stack.mlflow, name, stack.tmp / "m")
    )
    credentials = stack.tmp / "aws-credentials"
    credentials.write_text(
        f"[models]\naws_access_key_id = {stack.s3.access_key}\n"
        f"aws_secret_access_key = {stack.s3.secret_key}\n"
    )
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(stack.tmp / "no-aws-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    without = build_reconciler(Settings.model_validate(stack.settings()), Credentials())
    result = without.reconcile()
    assert [(f.id.name, f.id.stage) for f in result.failures] == [(name, "production")]
    assert isinstance(result.failures[0].error, ArtifactAuthError)
    assert "no usable AWS credentials" in str(result.failures[0].error)
    assert subjects(stack.remote) == []

    data = stack.settings(profile="models")
    result = build_reconciler(Settings.model_validate(data), Credentials()).reconcile()
    assert result.ok and subjects(stack.remote) == [f"deploy {name} v1 to production"]


def test_a_bad_bucket_setting_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="not a valid S3 bucket name"):
        Settings.model_validate({"artifacts": {"s3": {"bucket": "Bad_Bucket"}}})
    with pytest.raises(ValueError, match="needs a bucket"):
        Settings.model_validate({"artifacts": {"store": "s3"}})


@pytest.fixture(scope="module")
def s3_tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A second SeaweedFS that also speaks HTTPS, with a self-signed certificate."""
    server = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs-tls"), tls=True)
    try:
        yield server
    finally:
        stop_seaweedfs(server)


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_tls_is_verified_against_the_configured_ca_or_skipped_only_when_asked(
    mlflow_server: MlflowServer,
    s3_tls_server: S3Server,
    bare_remote: Path,
    tmp_path: Path,
    unique_model_name: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from watcher.commands.cli import main

    server = s3_tls_server
    name = unique_model_name("tls")
    write_model(tmp_path / "m", {"model.pkl": 100})
    mlflow_server.client().set_registered_model_alias(
        name, "champion", register(mlflow_server, name, tmp_path / "m")
    )
    server.client().create_bucket(Bucket="tls-models")
    for key, value in {
        **server.env(),
        "MLFLOW_S3_ENDPOINT_URL": server.https_endpoint_url,
        "BUCKET_NAME": "tls-models",
        "MLFLOW_TRACKING_URI": mlflow_server.url,
        "GIT_REPO_URL": str(bare_remote),
        "GITOPS_WATCHER_STATE_DIR": str(tmp_path / "state"),
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    config = tmp_path / "watcher.yaml"
    settings: dict[str, Any] = {
        "registry": {"models": {"include": [f"{unique_model_name.prefix}*"]}},
        "artifacts": {
            "s3": {"addressing_style": "path"},
            "sources": {"local_roots": [str(mlflow_server.artifact_root)]},
        },
    }
    config.write_text(yaml.safe_dump(settings))
    reconcile = ["--config", str(config), "reconcile", "--once"]

    # The certificate is not signed by a CA this machine trusts: refused, nothing committed.
    assert main(reconcile) == 1
    out = capsys.readouterr().out
    assert "TLS verification failed" in out and "artifacts.s3.ca_bundle" in out
    assert subjects(bare_remote) == []

    # The CA named in the config file: copied and committed.
    settings["artifacts"]["s3"]["ca_bundle"] = str(server.ca_file)
    config.write_text(yaml.safe_dump(settings))
    assert main(reconcile) == 0
    assert subjects(bare_remote) == [f"deploy {name} v1 to production"]
    assert objects(server, "tls-models")

    # The AWS chain's own variable works too, and so does MLflow's switch to skip checking.
    del settings["artifacts"]["s3"]["ca_bundle"]
    config.write_text(yaml.safe_dump(settings))
    monkeypatch.setenv("AWS_CA_BUNDLE", str(server.ca_file))
    assert main(reconcile) == 0
    monkeypatch.delenv("AWS_CA_BUNDLE")
    assert main(reconcile) == 1
    monkeypatch.setenv("MLFLOW_S3_IGNORE_TLS", "true")
    assert main(reconcile) == 0
    assert subjects(bare_remote) == [f"deploy {name} v1 to production"]
