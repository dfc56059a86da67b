"""Messages that must not mislead: quiet means quiet, and TLS errors name their cause.

(The git hint that must not promise a retry is checked in test_git_repo.py.)
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from watcher import logs
from watcher.config.settings import Credentials, RegistrySettings
from watcher.errors import RegistryError
from watcher.sources.mlflow.registry_rest import RestRegistry

ROOT = Path(__file__).resolve().parents[2]


class _Json(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = b'{"registered_models": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def plain_http_server() -> Iterator[int]:
    """A plain-http server on 127.0.0.1 that answers any GET with an empty model list."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Json)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_https_against_a_plain_http_server_says_so(plain_http_server: int) -> None:
    port = plain_http_server
    settings = RegistrySettings(tracking_uri=f"https://127.0.0.1:{port}", timeout_seconds=5)
    with pytest.raises(RegistryError) as caught:
        RestRegistry(settings, Credentials(), retries=0).snapshot()
    text = str(caught.value)
    assert "plain http" in text and "http://" in caught.value.hint
    assert "CA" not in text and "ca_bundle" not in text and "verification" not in text
    # The same server over http:// works: the message above was about the scheme only.
    plain = RegistrySettings(tracking_uri=f"http://127.0.0.1:{port}")
    assert RestRegistry(plain, Credentials(), retries=0).snapshot().models == ()


def test_urllib3_retry_warnings_show_from_v_only(tmp_path: Path) -> None:
    """By default and with ``-q`` the error is printed and no library warning: urllib3's
    "Retrying" lines are about attempts we retry and report ourselves. ``-v`` shows them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "MLFLOW_"))}
    env.update(
        MLFLOW_TRACKING_URI=f"http://127.0.0.1:{_closed_port()}",
        GIT_REPO_URL=str(tmp_path / "remote.git"),
        GITOPS_WATCHER_STATE_DIR=str(tmp_path / "state"),
        GITOPS_WATCHER_CONFIG="",
        PYTHONPATH=str(ROOT),  # the code of this checkout, whatever is installed
    )

    def run(*options: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "watcher", *options, "reconcile", "--once"],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
            check=False,
        )

    loud = run("-v")
    assert loud.returncode == 3, loud.stderr
    assert "Retrying" in loud.stderr  # urllib3 did retry, and says so from -v
    for options in ((), ("-q",)):
        quiet = run(*options)
        assert quiet.returncode == 3, quiet.stderr
        assert "Retrying" not in quiet.stderr and "WARNING" not in quiet.stderr, quiet.stderr
        assert "cannot reach the model registry" in quiet.stdout + quiet.stderr


@pytest.mark.parametrize(
    ("verbosity", "shown"),
    [
        (-1, {"error"}),
        (0, {"error"}),
        (1, {"warning", "error"}),
        (2, {"warning", "error"}),
        (3, {"debug", "info", "warning", "error"}),
    ],
)
def test_third_party_loggers_follow_the_chosen_level(
    verbosity: int, shown: set[str], capsys: pytest.CaptureFixture[str]
) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("watcher").level)
    try:
        logs.configure(verbosity, "text")
        for level in ("debug", "info", "warning", "error"):
            getattr(logging.getLogger("urllib3.connectionpool"), level)("third-party %s", level)
        err = capsys.readouterr().err
    finally:
        root.handlers[:], _, _ = saved
        root.setLevel(saved[1])
        logging.getLogger("watcher").setLevel(saved[2])
        logging.captureWarnings(False)
    levels = ("debug", "info", "warning", "error")
    assert {level for level in levels if f"third-party {level}" in err} == shown
    # -vvv says once that libraries' debug logs may hold credentials; nothing else does.
    assert err.count("may still hold credentials") == (1 if verbosity >= 3 else 0), err
