"""Every ``code_src`` form the DigitalHub SDK writes is fetched by the rendered pod, for real.

The SDK (digitalhub ``uri_utils`` and digitalhub-runtime-python's
``save_function_source``) writes ``git+https://…#ref`` (and ``git+http``),
``zip+s3://…`` (a local folder or zip uploaded by the SDK), ``zip+https://…`` and
plain ``https://…/file.py``. For each, a function spec is read and rendered, the
rendered init containers run on this machine as in ``test_functions_runnable``
(a private repository over the smart-HTTP git server with Basic auth, a zip and a
file over a local HTTP server, a zip in SeaweedFS copied with the aws CLI), and
the rendered launcher then serves the fetched handler over HTTP. The keys come
from the environment a ``source_secret`` would give the pod, never from git.
"""

from __future__ import annotations

import io
import json
import shutil
import threading
import zipfile
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.test_functions_runnable import (
    commit_folder,
    free_port,
    get_json,
    git,
    pod_of,
    read_releases,
    render,
    run_container,
)
from tests.servers.git_http import GitHttpServer
from watcher.config.function_settings import FunctionSourceSettings

HANDLERS = """\
def answer(name="world"):
    return {"hello": name, "module": __name__}
"""
SECRET = "code-reader"


def zip_of(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


@pytest.fixture
def http_folder(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder served over HTTP on 127.0.0.1 (plain files, no auth)."""
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def write_function(folder: Path, code_src: str, handler: str) -> None:
    """A DigitalHub function as the SDK exports it, served by an overlay ``action``."""
    folder.mkdir(parents=True, exist_ok=True)
    spec = {
        "kind": "python",
        "metadata": {"project": "demo", "name": "remote-fn"},
        "spec": {
            "python_version": "PYTHON3_11",
            "source": {"source": code_src, "handler": handler, "lang": "python"},
        },
    }
    (folder / "remote-fn.yaml").write_text(yaml.safe_dump(spec))
    overlay = {"action": "serve", "defaults": {"source_secret": SECRET}}
    (folder / "remote-fn.overlay.yaml").write_text(yaml.safe_dump(overlay))


def rendered_pod(tmp_path: Path, code_src: str, handler: str) -> dict[str, Any]:
    specs = tmp_path / "specs"
    write_function(specs, code_src, handler)
    settings = FunctionSourceSettings(folder=str(specs))
    releases = read_releases(settings, tmp_path / "state")
    (release,) = [r for r in releases if r.id.stage == "staging"]
    docs = render(release)
    code = tmp_path / "function"
    code.mkdir()
    (config_map,) = docs["configmap.yaml"]
    for name, text in config_map["data"].items():
        (code / name).write_text(text)
    pod = pod_of(docs)
    pod["_text"] = json.dumps(docs)
    return pod


def run_and_call(
    tmp_path: Path, pod: dict[str, Any], secret_env: dict[str, str]
) -> tuple[Any, list[str]]:
    """Run the init containers (with the Secret's keys where envFrom names it), then
    the function; answer what a POST of {"name": "gitops"} returns, and the images used."""
    paths = {
        "/opt/function/src": str(tmp_path / "src"),
        "/opt/function": str(tmp_path / "function"),
        "/opt/deps": str(tmp_path / "deps"),
        "/fetch": str(tmp_path / "scratch"),
    }
    (tmp_path / "scratch").mkdir(exist_ok=True)
    images = []
    for init in pod["initContainers"]:
        images.append(init["image"])
        names = {e["secretRef"]["name"] for e in init.get("envFrom", [])}
        run_container(init, paths, secret_env if SECRET in names else {}, wait=True)
    (function,) = pod["containers"]
    port = free_port()
    server = run_container(function, paths, {"PORT": str(port)}, wait=False)
    try:
        answer = get_json(f"http://127.0.0.1:{port}/", data=json.dumps({"name": "gitops"}).encode())
    finally:
        server.kill()
        server.wait()
    return answer, images


@pytest.mark.slow
def test_git_https_code_src_of_a_private_repository(
    tmp_path: Path, git_http_server: GitHttpServer
) -> None:
    code_repo = git_http_server.create_repo("code.git")
    files = {"pkg/__init__.py": "", "pkg/handlers.py": HANDLERS}
    commit_folder(tmp_path / "work", code_repo, files)
    git("checkout", "-q", "-b", "release", cwd=tmp_path / "work")
    git("push", "-q", "origin", "release", cwd=tmp_path / "work")
    # The URL of the test server is http; git+https is the same form with TLS.
    code_src = f"git+{git_http_server.url_for('code.git')}#release"
    pod = rendered_pod(tmp_path, code_src, "pkg.handlers:answer")
    credentials = {
        "GIT_USERNAME": git_http_server.username,
        "GIT_PASSWORD": git_http_server.password,
    }
    answer, images = run_and_call(tmp_path, pod, credentials)
    assert answer == {"result": {"hello": "gitops", "module": "pkg.handlers"}}
    assert images == ["alpine/git:v2.47.2"]
    assert git_http_server.password not in pod["_text"]
    assert git_http_server.auth_headers[-1] == git_http_server.expected_auth


@pytest.mark.slow
def test_git_code_src_with_a_token_only(tmp_path: Path, git_http_server: GitHttpServer) -> None:
    """GIT_TOKEN alone (the SDK's variable) works when the server takes any user name."""
    code_repo = git_http_server.create_repo("code.git")
    commit_folder(tmp_path / "work", code_repo, {"main.py": HANDLERS})
    git_http_server.username = "oauth2"
    pod = rendered_pod(tmp_path, f"git+{git_http_server.url_for('code.git')}", "answer")
    answer, _images = run_and_call(tmp_path, pod, {"GIT_TOKEN": git_http_server.password})
    assert answer == {"result": {"hello": "gitops", "module": "main"}}


def test_zip_https_code_src_without_a_zip_suffix(
    tmp_path: Path, http_folder: tuple[Path, str]
) -> None:
    root, url = http_folder
    (root / "bundles").mkdir()
    files = {"pkg/__init__.py": "", "pkg/handlers.py": HANDLERS}
    (root / "bundles" / "latest").write_bytes(zip_of(files))
    pod = rendered_pod(tmp_path, f"zip+{url}/bundles/latest", "pkg.handlers:answer")
    answer, images = run_and_call(tmp_path, pod, {})
    assert answer == {"result": {"hello": "gitops", "module": "pkg.handlers"}}
    assert images == ["python:3.12-slim-bookworm"]


def test_https_code_src_of_one_python_file(tmp_path: Path, http_folder: tuple[Path, str]) -> None:
    root, url = http_folder
    (root / "handlers.py").write_text(HANDLERS)
    # A bare handler names a function of the fetched file's module.
    pod = rendered_pod(tmp_path, f"{url}/handlers.py", "answer")
    answer, _images = run_and_call(tmp_path, pod, {})
    assert answer == {"result": {"hello": "gitops", "module": "handlers"}}


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("aws") is None, reason="the aws command line is not installed")
def test_zip_s3_code_src_in_seaweedfs(tmp_path: Path, s3_server: Any, s3_bucket: str) -> None:
    # Where the SDK uploads a local folder: zip+s3://<store>/<project>/function/<name>/<id>/…
    key = "demo/function/remote-fn/0f3a/archive.zip"
    files = {"pkg/__init__.py": "", "pkg/handlers.py": HANDLERS}
    s3_server.client().put_object(Bucket=s3_bucket, Key=key, Body=zip_of(files))
    pod = rendered_pod(tmp_path, f"zip+s3://{s3_bucket}/{key}", "pkg.handlers:answer")
    secret_env = {
        "AWS_ACCESS_KEY_ID": s3_server.access_key,
        "AWS_SECRET_ACCESS_KEY": s3_server.secret_key,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": s3_server.endpoint_url,
    }
    answer, images = run_and_call(tmp_path, pod, secret_env)
    assert answer == {"result": {"hello": "gitops", "module": "pkg.handlers"}}
    assert images == ["amazon/aws-cli:2.22.35", "python:3.12-slim-bookworm"]
    assert s3_server.secret_key not in pod["_text"]
