"""A real OpenSSH server on a loopback port, for git over ssh in tests.

Its own host key, client key, authorized_keys and known_hosts live in one temporary
folder; nothing of the machine's ssh set-up is touched (except ``/run/sshd``, the
privilege-separation folder sshd insists on when started as root).
"""

from __future__ import annotations

import os
import pwd
import shlex
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SSHD = "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _keygen(path: Path, comment: str) -> str:
    """An ed25519 key pair without passphrase; returns the public key line."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
    )
    return path.with_suffix(".pub").read_text().strip()


@dataclass
class SshGitServer:
    """A running sshd; git reaches any absolute path on this machine through it."""

    root: Path
    port: int
    user: str
    key_file: Path
    known_hosts_file: Path
    wrong_known_hosts_file: Path
    log_file: Path
    process: subprocess.Popen[bytes]

    def url_for(self, repo_path: Path) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{Path(repo_path).absolute()}"

    @property
    def git_ssh_command(self) -> str:
        """For plain git commands in tests (GIT_SSH_COMMAND)."""
        return (
            f"ssh -i {shlex.quote(str(self.key_file))} -o IdentitiesOnly=yes "
            f"-o UserKnownHostsFile={shlex.quote(str(self.known_hosts_file))} "
            "-o StrictHostKeyChecking=yes -o BatchMode=yes"
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def _wait_for_banner(port: int, process: subprocess.Popen[bytes], log_file: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sshd exited with {process.returncode}: {log_file.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                if sock.recv(64).startswith(b"SSH-"):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"sshd did not accept connections on {port}: {log_file.read_text()}")


def start_sshd(root: Path) -> SshGitServer:
    """Create keys and config under ``root`` and start sshd on a free port."""
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o700)
    host_key = root / "host_key"
    host_pub = _keygen(host_key, "test-host")
    key_file = root / "client_key"
    (root / "authorized_keys").write_text(_keygen(key_file, "test-client") + "\n")
    other_pub = _keygen(root / "other_host_key", "other-host")
    user = pwd.getpwuid(os.geteuid()).pw_name
    is_root = os.geteuid() == 0
    if is_root:
        Path("/run/sshd").mkdir(mode=0o755, parents=True, exist_ok=True)
    last_error: Exception | None = None
    for _attempt in range(3):  # a free port can be taken between probe and bind
        port = free_port()
        config = root / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"Port {port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {host_key}",
                    f"PidFile {root / 'sshd.pid'}",
                    f"AuthorizedKeysFile {root / 'authorized_keys'}",
                    f"AllowUsers {user}",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "StrictModes no",
                    "PermitRootLogin prohibit-password" if is_root else "PermitRootLogin no",
                    "X11Forwarding no",
                    "AllowTcpForwarding no",
                    "PrintMotd no",
                    "LogLevel VERBOSE",
                    "",
                ]
            )
        )
        log_file = root / "sshd.log"
        with log_file.open("ab") as log:
            process = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        try:
            _wait_for_banner(port, process, log_file)
        except RuntimeError as exc:
            last_error = exc
            if process.poll() is None:
                process.kill()
                process.wait()
            continue
        known = root / "known_hosts"
        known.write_text(f"[127.0.0.1]:{port} {host_pub}\n")
        wrong = root / "wrong_known_hosts"
        wrong.write_text(f"[127.0.0.1]:{port} {other_pub}\n")
        return SshGitServer(
            root=root,
            port=port,
            user=user,
            key_file=key_file,
            known_hosts_file=known,
            wrong_known_hosts_file=wrong,
            log_file=log_file,
            process=process,
        )
    raise RuntimeError(f"could not start sshd: {last_error}")
