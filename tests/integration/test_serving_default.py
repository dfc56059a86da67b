"""The default target really serves: the rendered init and serving commands, run locally.

A real scikit-learn model is logged with ``mlflow.sklearn.log_model`` to a real
MLflow server; the real reconcile copies it to a real SeaweedFS and commits the
manifests to a bare remote. The Deployment is parsed from that remote, and its
init container's and serving container's ``command`` + ``args`` are executed as
rendered, outside a container. Only what a container would change is rewritten:
``/models`` becomes a temporary folder, ``python`` and ``mlflow`` the executables
of this environment, the port a free one, and the listen address 127.0.0.1
(tests bind loopback only). The environment is the container's rendered ``env``
plus the keys the ``envFrom`` Secret would hold.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.test_artifacts_s3 import Stack
from tests.integration.test_reconcile_e2e import remote_files
from tests.servers.mlflow_server import MlflowServer, free_port, log_tail
from tests.servers.seaweedfs import S3Server
from watcher.config.settings import Credentials, Settings
from watcher.core.names import model_slug
from watcher.errors import EXIT_UNAVAILABLE
from watcher.wiring import build_reconciler

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
SECRET = "model-store-reader"


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
    """MLflow, SeaweedFS with a fresh bucket (its keys in the daemon's AWS variables), a remote."""
    return Stack(mlflow_server, s3_server, s3_bucket, bare_remote, tmp_path, unique_model_name)


def log_sklearn_model(stack: Stack, name: str) -> tuple[Any, list[list[float]]]:
    """Fit a small classifier, log and register it as version 1; alias it champion."""
    import mlflow
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    features = [[0.0, 0.1], [0.2, 0.0], [0.9, 1.0], [1.0, 0.8], [0.1, 0.3], [0.8, 0.9]]
    labels = [0, 0, 1, 1, 0, 1]
    model = LogisticRegression().fit(features, labels)
    mlflow.set_tracking_uri(stack.mlflow.url)
    mlflow.set_registry_uri(stack.mlflow.url)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(model, name="model", registered_model_name=name)
    version = str(info.registered_model_version)
    stack.mlflow.client().set_registered_model_alias(name, "champion", version)
    return model, features


def reconcile_and_read_deployment(stack: Stack, name: str) -> dict[str, Any]:
    data = stack.settings()
    data["stages"] = [
        {
            "name": "production",
            "select": [{"alias": "champion"}],
            "env": {"MLFLOW_S3_ENDPOINT_URL": stack.s3.endpoint_url},
            "env_from": [SECRET],
        }
    ]
    with build_reconciler(Settings.model_validate(data), Credentials()) as reconciler:
        result = reconciler.reconcile()
    assert result.ok and result.pushed, result.failures
    tree = remote_files(stack.remote)
    document = yaml.safe_load(tree[f"deployments/{model_slug(name)}/production/deployment.yaml"])
    assert isinstance(document, dict)
    return document


def secret_values(stack: Stack) -> dict[str, str]:
    """What the Secret named by envFrom holds in a cluster: read-only S3 keys."""
    return {
        "AWS_ACCESS_KEY_ID": stack.s3.readonly_access_key,
        "AWS_SECRET_ACCESS_KEY": stack.s3.readonly_secret_key,
    }


def container_env(container: dict[str, Any], secrets: dict[str, str]) -> dict[str, str]:
    """A clean environment: PATH and HOME, the rendered env, and envFrom Secrets' keys."""
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    env["PYTHONPATH"] = str(REPO_ROOT)
    for ref in container.get("envFrom", []):
        assert ref["secretRef"]["name"] == SECRET
        env.update(secrets)
    for item in container.get("env", []):
        env[item["name"]] = item["value"]
    return env


def localise(argv: list[str], mount: str, models: Path, port: int | None = None) -> list[str]:
    """The rendered argv, with the volume path, executables, port and address made local."""
    programs = {
        "python": sys.executable,
        "mlflow": shutil.which("mlflow") or str(Path(sys.executable).with_name("mlflow")),
    }
    out = [programs.get(argv[0], argv[0])]
    for arg in argv[1:]:
        if arg == mount or arg.startswith(f"{mount}/"):
            arg = str(models) + arg[len(mount) :]
        out.append(arg)
    if port is not None:
        out[out.index("--port") + 1] = str(port)
        out[out.index("--host") + 1] = "127.0.0.1"
    return out


def init_container(deployment: dict[str, Any]) -> dict[str, Any]:
    (init,) = deployment["spec"]["template"]["spec"]["initContainers"]
    return dict(init)


def mount_path(container: dict[str, Any]) -> str:
    (mount,) = container["volumeMounts"]
    return str(mount["mountPath"])


def run_init(deployment: dict[str, Any], models: Path, secrets: dict[str, str]) -> Any:
    init = init_container(deployment)
    argv = localise([*init["command"], *init["args"]], mount_path(init), models)
    return subprocess.run(
        argv,
        env=container_env(init, secrets),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def post_json(url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(  # noqa: S310 - loopback test server
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
        return json.loads(answer.read())


def wait_for_ping(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the model server exited ({process.returncode}):\n{log_tail(log)}")
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=2) as answer:  # noqa: S310
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    pytest.fail(f"the model server did not answer /ping:\n{log_tail(log)}")


def test_rendered_init_and_serving_commands_serve_predictions(stack: Stack) -> None:
    name = stack.names("sk")
    model, features = log_sklearn_model(stack, name)
    deployment = reconcile_and_read_deployment(stack, name)
    pod = deployment["spec"]["template"]["spec"]
    assert pod["volumes"] == [{"name": "model", "emptyDir": {}}]
    models = stack.tmp / "pod-volume"
    models.mkdir()

    fetched = run_init(deployment, models, secret_values(stack))

    assert fetched.returncode == 0, fetched.stderr
    assert "verified" in fetched.stderr
    assert (models / "model" / "MLmodel").is_file()
    assert [p.name for p in models.iterdir()] == ["model"]  # no temporary folder left

    (server,) = pod["containers"]
    assert "envFrom" not in server  # only the init container reads the store
    port = free_port()
    argv = localise([*server["command"], *server["args"]], mount_path(server), models, port)
    log = stack.tmp / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv,
            env=container_env(server, {}),
            cwd=stack.tmp,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_ping(url, process, log)
        answer = post_json(f"{url}/invocations", {"inputs": features})
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    assert answer["predictions"] == [int(p) for p in model.predict(features)]
    assert answer["predictions"] == [0, 0, 1, 1, 0, 1]


def test_a_tampered_object_fails_the_fetch_and_leaves_no_folder(stack: Stack) -> None:
    name = stack.names("tamper")
    log_sklearn_model(stack, name)
    deployment = reconcile_and_read_deployment(stack, name)
    uri = init_container(deployment)["args"][1]
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    s3 = stack.s3.client()
    key = f"{prefix}/MLmodel"
    original = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    s3.put_object(Bucket=bucket, Key=key, Body=original + b"\n# changed after verification\n")
    models = stack.tmp / "pod-volume"
    models.mkdir()

    fetched = run_init(deployment, models, secret_values(stack))

    assert fetched.returncode == EXIT_UNAVAILABLE
    assert "MLmodel" in fetched.stderr and "the manifest lists" in fetched.stderr
    assert "Traceback" not in fetched.stderr
    assert list(models.iterdir()) == []  # neither the folder nor a partial one

    # The wrong digest (e.g. a hand-edited manifest in git) is refused before any download.
    init = init_container(deployment)
    wrong = [*init["args"]]
    wrong[wrong.index("--digest") + 1] = "sha256:" + "0" * 64
    argv = localise([*init["command"], *wrong], mount_path(init), models)
    refused = subprocess.run(
        argv,
        env=container_env(init, secret_values(stack)),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert refused.returncode == EXIT_UNAVAILABLE and "but the pod expects" in refused.stderr
    assert list(models.iterdir()) == []
