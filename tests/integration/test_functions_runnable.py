"""What the pods run really runs: the rendered commands are executed on this machine.

The init containers and containers of a rendered folder are run as local
processes (no container engine here), with their paths remapped to temporary
folders and ``python`` to this interpreter; then the app is called over HTTP.
Specs are also read through the source adapter from real git remotes (a bare
repository, and the same over SSH).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from watcher.adapters.templates import template_loader
from watcher.config.function_settings import FunctionSourceSettings
from watcher.core.release import Release
from watcher.core.targets import make_environment
from watcher.sources.functions.source import FunctionSource
from watcher.targets.functions import function_targets

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "functions"
APP_CODE = """\
import json, os
from http.server import BaseHTTPRequestHandler, HTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"app": "tiny", "path": self.path}).encode()
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body)

HTTPServer(("127.0.0.1", int(os.environ["APP_PORT"])), Handler).serve_forever()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def commit_folder(work: Path, remote: Path, files: dict[str, str]) -> None:
    """Push ``files`` as the only content of ``remote``'s main branch."""
    if not (work / ".git").exists():
        git("init", "-q", "-b", "main", str(work))
        git("remote", "add", "origin", str(remote), cwd=work)
    for name, text in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(text)
    git("add", "-A", cwd=work)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "specs", cwd=work)
    git("push", "-q", "origin", "main", cwd=work)


def read_releases(settings: FunctionSourceSettings, state: Path) -> list[Release]:
    source = FunctionSource(settings, state)
    with source:
        read = source.read()
    assert not read.failures, [str(f.error) for f in read.failures]
    return list(read.releases)


def render(release: Release) -> dict[str, Any]:
    targets = function_targets(make_environment(template_loader()), "1.33")
    files = targets[release.target].render(release, None)
    return {n: list(yaml.safe_load_all(d)) for n, d in files.items() if n.endswith(".yaml")}


def pod_of(docs: dict[str, Any]) -> dict[str, Any]:
    (deployment,) = docs["deployment.yaml"]
    return dict(deployment["spec"]["template"]["spec"])


def remap(value: str, paths: dict[str, str]) -> str:
    for old, new in sorted(paths.items(), key=lambda kv: -len(kv[0])):
        value = value.replace(old, new)
    return value


def run_container(
    container: dict[str, Any], paths: dict[str, str], env_over: dict[str, str], wait: bool
) -> subprocess.Popen[bytes]:
    """Start a container's command as a local process, paths remapped, ``python`` = us."""
    argv = [*container.get("command", []), *container.get("args", [])]
    argv = [remap(a, paths) for a in argv]
    if argv and argv[0] == "python":
        argv[0] = sys.executable
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    for entry in container.get("env", []):
        env[entry["name"]] = remap(entry.get("value", ""), paths)
    env.update(env_over)
    # Kubernetes expands $(NAME) in command and args from the container's environment.
    argv = [re.sub(r"\$\((\w+)\)", lambda m: env.get(m[1], m[0]), a) for a in argv]
    cwd = remap(container.get("workingDir", "/"), paths) if container.get("workingDir") else None
    process = subprocess.Popen(
        argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    if wait:
        out, _ = process.communicate(timeout=600)
        assert process.returncode == 0, out.decode(errors="replace")
    return process


def get_json(url: str, data: bytes | None = None) -> Any:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url, data=data, timeout=5) as answer:  # noqa: S310
                return json.loads(answer.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_git_sourced_mlrun_application_runs_and_answers(tmp_path: Path, bare_remote: Path) -> None:
    code_remote = tmp_path / "code.git"
    git("init", "-q", "--bare", "-b", "main", str(code_remote))
    commit_folder(tmp_path / "code-work", code_remote, {"app.py": APP_CODE})
    port = free_port()
    spec = {
        "kind": "application",
        "metadata": {"name": "tiny-app"},
        "spec": {
            "image": "python:3.11.11-slim-bookworm",
            "command": "python",
            "args": ["app.py"],
            "internal_application_port": port,
            "build": {
                "source": "git://github.com/example/tiny.git#main",
                "load_source_on_run": True,
            },
            "env": [{"name": "APP_PORT", "value": str(port)}],
        },
    }
    commit_folder(tmp_path / "spec-work", bare_remote, {"apps/tiny-app.yaml": yaml.safe_dump(spec)})
    settings = FunctionSourceSettings(git={"repo_url": str(bare_remote), "path": "apps"})
    (release,) = [r for r in read_releases(settings, tmp_path / "state") if r.id.stage == "staging"]
    pod = pod_of(render(release))
    code_dir = tmp_path / "mlrun_code"
    paths = {"/home/mlrun_code": str(code_dir)}
    (fetch,) = pod["initContainers"]
    assert fetch["image"].startswith("alpine/git:")
    # The remote named in the spec is GitHub; here it is the local bare repository.
    run_container(fetch, paths, {"SOURCE_URL": f"file://{code_remote}"}, wait=True)
    assert (code_dir / "app.py").read_text() == APP_CODE
    (app,) = pod["containers"]
    server = run_container(app, paths, {}, wait=False)
    try:
        assert get_json(f"http://127.0.0.1:{port}/hello") == {"app": "tiny", "path": "/hello"}
    finally:
        server.kill()
        server.wait()


def test_digitalhub_serve_function_runs_and_answers(tmp_path: Path) -> None:
    folder = tmp_path / "specs"
    folder.mkdir()
    for name in ("python-function.yaml", "main.py", "task-python-serve.yaml"):
        (folder / name).write_bytes((FIXTURES / "digitalhub" / name).read_bytes())
    settings = FunctionSourceSettings(folder=str(folder))
    (release,) = [r for r in read_releases(settings, tmp_path / "state") if r.id.stage == "staging"]
    docs = render(release)
    (config_map,) = docs["configmap.yaml"]
    code = tmp_path / "function"
    code.mkdir()
    for name, text in config_map["data"].items():
        (code / name).write_text(text)
    pod = pod_of(docs)
    paths = {"/opt/function": str(code), "/opt/deps": str(tmp_path / "deps")}
    (install,) = pod["initContainers"]
    assert install["image"] == "python:3.10-slim-bookworm"
    run_container(install, paths, {}, wait=True)  # pip, from this machine's package index
    (function,) = pod["containers"]
    port = free_port()
    server = run_container(function, paths, {"PORT": str(port)}, wait=False)
    try:
        assert get_json(f"http://127.0.0.1:{port}/healthz") == {"status": "ok"}
        answer = get_json(f"http://127.0.0.1:{port}/", data=json.dumps({"di": 1}).encode())
        assert answer == {"result": [1, 2, 3]}
    finally:
        server.kill()
        server.wait()


@pytest.mark.slow
@pytest.mark.skipif(
    not Path("/usr/sbin/sshd").exists(), reason="openssh-server is not installed (make test does)"
)
def test_specs_read_over_ssh_and_deleted_spec_disappears(
    tmp_path: Path, bare_remote: Path, ssh_git_server: Any
) -> None:
    app = (FIXTURES / "mlrun" / "my-vizro-app.yaml").read_text()
    job = (FIXTURES / "mlrun" / "my-app.yaml").read_text()
    work = tmp_path / "work"
    commit_folder(work, bare_remote, {"fn/my-vizro-app.yaml": app, "fn/my-app.yaml": job})
    settings = FunctionSourceSettings(
        git={
            "repo_url": ssh_git_server.url_for(bare_remote),
            "path": "fn",
            "ssh_key_file": str(ssh_git_server.key_file),
            "known_hosts_file": str(ssh_git_server.known_hosts_file),
        }
    )
    folders = {r.folder for r in read_releases(settings, tmp_path / "state")}
    assert folders == {
        "functions/my-vizro-app/staging",
        "functions/my-vizro-app/production",
        "functions/my-app/staging",
        "functions/my-app/production",
    }
    git("rm", "-q", "fn/my-app.yaml", cwd=work)
    commit_folder(work, bare_remote, {})
    folders = {r.folder for r in read_releases(settings, tmp_path / "state")}
    assert folders == {"functions/my-vizro-app/staging", "functions/my-vizro-app/production"}


def test_unreadable_remote_is_temporary(tmp_path: Path) -> None:
    from watcher.errors import TemporaryError

    settings = FunctionSourceSettings(git={"repo_url": str(tmp_path / "nothing.git")})
    source = FunctionSource(settings, tmp_path / "state")
    with source, pytest.raises(TemporaryError):
        source.read()
