"""Start and stop a throw-away PostgreSQL server for tests (plain code, no pytest).

initdb refuses to run as root, so as root the server runs as the ``postgres``
system user in a temp folder that user owns; otherwise as the current user.
Password authentication is on for TCP, so the URLs carry a real password and
tests can check that no adapter leaks it.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tests.servers.mlflow_server import free_port, log_tail, stop_process_group

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
USER = "postgres"
PASSWORD = "pg-test-secret-4711"
START_TIMEOUT_SECONDS = 30.0


@dataclass
class PostgresServer:
    port: int
    root: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql+psycopg2://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        """Create a database (once) and return its SQLAlchemy URL."""
        engine = sa.create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                exists = conn.execute(
                    sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
                ).first()
                if not exists:
                    conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        finally:
            engine.dispose()
        return self.url(name)


def _owner() -> tuple[int, int] | None:
    """The (uid, gid) to run PostgreSQL as when we are root, else None (run as ourselves)."""
    if os.geteuid() != 0:
        return None
    entry = pwd.getpwnam(USER)
    return entry.pw_uid, entry.pw_gid


def start_postgres() -> PostgresServer:
    """initdb in a temp folder, start ``postgres`` on a free port, wait until it accepts logins."""
    owner = _owner()
    uid, gid = owner if owner else (None, None)
    as_user: dict[str, Any] = {"user": uid, "group": gid, "extra_groups": [] if owner else None}
    root = Path(tempfile.mkdtemp(prefix="watcher-pg-"))
    data, sockets, log_path = root / "data", root / "sockets", root / "postgres.log"
    pwfile = root / "pwfile"
    pwfile.write_text(PASSWORD + "\n")
    sockets.mkdir()
    if owner:
        for path in (root, pwfile, sockets):
            os.chown(path, *owner)
    env = {"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8", "HOME": str(root)}
    try:
        subprocess.run(
            [str(PG_BIN / "initdb"), "-D", str(data), "-U", USER, "--pwfile", str(pwfile),
             "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--no-sync"],
            check=True, capture_output=True, env=env, cwd=root, **as_user,
        )  # fmt: skip
    except (subprocess.CalledProcessError, OSError) as exc:
        output = getattr(exc, "stderr", b"") or b""
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {exc}\n{output.decode(errors='replace')}") from exc
    port = free_port()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(PG_BIN / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port),
             "-k", str(sockets), "-c", "fsync=off", "-c", "full_page_writes=off"],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root,
            start_new_session=True, **as_user,
        )  # fmt: skip
    server = PostgresServer(port=port, root=root, process=process)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    engine = sa.create_engine(server.url(), connect_args={"connect_timeout": 2})
    try:
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with engine.connect():
                    return server
            except sa.exc.OperationalError:
                time.sleep(0.1)
    finally:
        engine.dispose()
    tail = log_tail(log_path)
    stop_postgres(server)
    raise RuntimeError(f"postgres on port {port} did not start; log tail:\n{tail}")


def stop_postgres(server: PostgresServer) -> None:
    # SIGTERM is PostgreSQL's "smart" shutdown, which waits for clients; SIGINT is "fast".
    if server.process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.process.pid, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.process.wait(timeout=10)
    stop_process_group(server.process, timeout=5)
    shutil.rmtree(server.root, ignore_errors=True)
