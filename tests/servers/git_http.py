"""A real smart-HTTP git server with Basic auth, on 127.0.0.1.

``git http-backend`` (git's own server side) runs as a CGI behind a small threaded
HTTP server that asks for one user name and password. It decodes chunked request
bodies (git sends large pushes that way) and keeps every request line and
``Authorization`` header it saw, so tests can check what git sent.
"""

from __future__ import annotations

import base64
import os
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class GitHttpServer:
    """A running server: bare repositories under ``root`` are at ``{url}/<name>``."""

    root: Path
    username: str
    password: str
    url: str = ""
    #: (method, path) of every request, and every Authorization header received.
    requests: list[tuple[str, str]] = field(default_factory=list)
    auth_headers: list[str] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def expected_auth(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")

    def create_repo(self, name: str = "repo.git") -> Path:
        """An empty bare repository (default branch main) served at ``{url}/{name}``."""
        path = self.root / name
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(path)], check=True)
        return path

    def url_for(self, name: str = "repo.git", userinfo: str = "") -> str:
        """The repository's URL, with ``user:password@`` when given."""
        scheme, _, rest = self.url.partition("://")
        return f"{scheme}://{userinfo + '@' if userinfo else ''}{rest}/{name}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


def start_git_http(root: Path, username: str, password: str) -> GitHttpServer:
    """Start serving ``root`` on a free port of 127.0.0.1; call ``stop()`` when done."""
    root.mkdir(parents=True, exist_ok=True)
    server = GitHttpServer(root=root, username=username, password=password)
    handler = type("Handler", (_GitHttpHandler,), {"server_state": server})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    server.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    server._server = httpd
    server._thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    server._thread.start()
    return server


class _GitHttpHandler(BaseHTTPRequestHandler):
    """``git http-backend`` as CGI: just enough of a web server for git's smart HTTP."""

    server_state: GitHttpServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _reply(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _serve(self) -> None:
        state = self.server_state
        state.requests.append((self.command, self.path))
        body = self._body() if self.command == "POST" else b""
        auth = self.headers.get("Authorization")
        if auth is not None:
            state.auth_headers.append(auth)
        if auth != state.expected_auth:
            self._reply(401, [("WWW-Authenticate", 'Basic realm="git"')], b"")
            return
        path, _, query = self.path.partition("?")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(state.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REMOTE_USER": state.username,
            "REMOTE_ADDR": "127.0.0.1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "GIT_HTTP_MAX_REQUEST_BUFFER": "100M",
        }
        result = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
        )
        head, _, payload = result.stdout.partition(b"\r\n\r\n")
        status, headers = 200, []
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name, value.strip()))
        self._reply(status, headers, payload)
