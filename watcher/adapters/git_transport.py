"""How git reaches the remote: the environment of network commands, and error wording.

Kept apart from ``git_repo.py`` so the rules that protect credentials can be read
(and tested) on their own: the token travels only in the environment of the git
process (``GIT_CONFIG_*``), never in argv, ``.git/config``, a URL or a log line, and
every message that leaves this package goes through :func:`redact` first. A user
name and password (or token) written into an http(s) ``GIT_REPO_URL`` are taken out
of it by the settings loader (kept in ``Credentials.urls``; :func:`remote_url` does
the same for a URL given here directly) and travel the same way as ``GIT_TOKEN``.
"""

from __future__ import annotations

import base64
import os
import re
import shlex
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from git.exc import CommandError, GitCommandError

from watcher.config.settings import Credentials, GitSettings
from watcher.errors import GitAuthError, GitError, GitUnavailableError

_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
# user:password@ in any URL, and any user info at all in http(s) URLs (a bare token
# is often passed as the user name: https://TOKEN@host/...).
_URL_PASSWORD = re.compile(r"(?P<pre>[a-zA-Z][a-zA-Z0-9+.-]*://[^/@\s:'\"]*):[^/@\s'\"]*@")
_HTTP_USERINFO = re.compile(r"(?P<pre>https?://)[^/@\s'\"]+@", re.IGNORECASE)
_AUTH_HEADER = re.compile(r"(?i)(authorization:\s*\w+\s+)\S+")

REDACTED = "***"
#: The key under which the loader keeps the user info of the remote's URL.
URL_KEY = "git.repo_url"

#: stderr fragments that mean "we are not allowed in": retrying will not help.
_AUTH_MARKERS = (
    "permission denied",
    "host key verification failed",
    "remote host identification has changed",
    "no ed25519 host key is known",
    "no rsa host key is known",
    "no ecdsa host key is known",
    "authentication failed",
    "could not read username",
    "could not read password",
    "terminal prompts disabled",
    "invalid username or password",
    "unprotected private key file",
    "bad permissions",
    "load key",
    "the requested url returned error: 401",
    "the requested url returned error: 403",
)

_SSH_AUTH_HINT = (
    "check GIT_SSH_KEY_FILE (its public key must be authorized on the server) and "
    "GIT_KNOWN_HOSTS_FILE (it must hold the server's host key: checking is strict)"
)
_HTTP_AUTH_HINT = "check GIT_TOKEN (and GIT_USERNAME) and the token's access to the repository"
#: Lines git and ssh print around the real reason, which say nothing on their own.
_NOISE = (
    "hint:",
    "done",
    "to ",
    "fatal: could not read from remote repository",
    "please make sure you have the correct access rights",
    "and the repository exists",
    "@@@",
    "@ ",
    "it is possible that someone",
    "someone could be eavesdropping",
    "it is also possible that a host key",
    "the fingerprint for",
    "sha256:",
    "please contact your system administrator",
    "add correct host key",
    "remove with:",
    "ssh-keygen -f",
)
NETWORK_HINT = (
    "check GIT_REPO_URL and that the git server is reachable; the next reconcile tries again"
)


def is_ssh_url(url: str) -> bool:
    """ssh:// URLs and scp-like ``[user@]host:path``, as git itself tells them apart."""
    lowered = url.lower()
    if lowered.startswith(("ssh://", "git+ssh://", "ssh+git://")):
        return True
    if _SCHEME.match(url) or url.startswith(("/", ".", "~")):
        return False
    head, sep, _ = url.partition(":")
    return bool(sep) and bool(head) and "/" not in head


def auth_hint(url: str) -> str:
    """What to check when the remote refuses us: depends on the transport."""
    if is_ssh_url(url):
        return _SSH_AUTH_HINT
    if is_http_url(url):
        return _HTTP_AUTH_HINT
    return "check that this user may read and write the repository at GIT_REPO_URL"


def is_http_url(url: str) -> bool:
    return url.lower().startswith(("http://", "https://"))


#: ``<helper>::<address>``: a remote helper, which only ``git fetch`` can run.
_HELPER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9+.-]*::")
_NATIVE_SCHEMES = ("file://", "ssh://", "git+ssh://", "ssh+git://", "git://")


def speaks_native_git(url: str) -> bool:
    """Whether ``git fetch-pack`` reaches the remote itself: a path, ``file://``, ssh
    (URL or scp-like) and ``git://``. http(s) and remote helpers need ``git fetch``; so
    does a URL that starts with '-', which fetch-pack would take for an option."""
    if not url or url.startswith("-") or _HELPER.match(url):
        return False
    if _SCHEME.match(url):
        return url.lower().startswith(_NATIVE_SCHEMES)
    return True


def ssh_command(settings: GitSettings) -> str:
    """The ``GIT_SSH_COMMAND``: our key only, strict host key checking, never a prompt.

    Paths are made absolute because git runs ssh from inside the checkout.
    """
    parts = ["ssh"]
    if settings.ssh_key_file:
        key = str(Path(settings.ssh_key_file).expanduser().absolute())
        parts += ["-i", shlex.quote(key), "-o", "IdentitiesOnly=yes"]
    if settings.known_hosts_file:
        known = str(Path(settings.known_hosts_file).expanduser().absolute())
        parts += ["-o", shlex.quote(f"UserKnownHostsFile={known}")]
    parts += ["-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes"]
    connect = max(1, int(settings.timeout_seconds))
    parts += ["-o", f"ConnectTimeout={connect}"]
    return " ".join(parts)


def _userinfo(url: str) -> tuple[str, str | None] | None:
    """The raw (user, password) of a URL's userinfo; None when it has none."""
    if not _SCHEME.match(url):
        return None
    netloc = urlsplit(url).netloc
    if "@" not in netloc:
        return None
    user, sep, password = netloc.rpartition("@")[0].partition(":")
    return user, (password if sep else None)


def remote_url(url: str) -> str:
    """The URL that git is given and that goes into ``.git/config``: no credential.

    http(s) URLs lose all user info (a bare token is often passed as the user name:
    ``https://TOKEN@host/...``); other URLs lose only a password (``ssh://git@host``
    keeps its user, which ssh needs). Everything else is kept exactly as written.
    """
    info = _userinfo(url)
    if info is None or (info[1] is None and not is_http_url(url)):
        return url
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    netloc = host if is_http_url(url) else f"{info[0]}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def _login(url: str, credentials: Credentials) -> tuple[str, str | None] | None:
    """The (user, password) given for the remote: the URL's own user info, else the user
    info the loader took out of ``git.repo_url`` (percent-decoded either way)."""
    info = _userinfo(url)
    if info is not None:
        return unquote(info[0]), unquote(info[1]) if info[1] is not None else None
    login = credentials.url_login(URL_KEY)
    if login is None:
        return None
    return login.username, login.password or None


def http_credentials(url: str, credentials: Credentials) -> tuple[str, str] | None:
    """The (user, password) sent to an http(s) remote, or None to send none.

    ``GIT_TOKEN`` and ``GIT_USERNAME`` win over what the URL holds; a URL with only
    a user name and no ``GIT_TOKEN`` sends that name as the token (``https://TOKEN@host``).
    """
    if not is_http_url(url):
        return None
    info = _login(url, credentials)
    url_user = info[0] if info else ""
    url_password = info[1] if info else None
    if credentials.git_token:
        return credentials.git_username or url_user or "x-access-token", credentials.git_token
    if url_password is not None:
        return credentials.git_username or url_user, url_password
    if url_user:
        return credentials.git_username or url_user, ""
    return None


def basic_auth_header(credentials: Credentials, url: str = "") -> str:
    """The ``Authorization`` header for ``GIT_TOKEN`` (and a URL's own credentials)."""
    found = http_credentials(url or "https://", credentials)
    user, password = found or (credentials.git_username or "x-access-token", "")
    raw = f"{user}:{password}".encode()
    return "Authorization: Basic " + base64.b64encode(raw).decode("ascii")


def network_env(
    settings: GitSettings, credentials: Credentials, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Extra environment for git commands that talk to the remote.

    ``base`` (default ``os.environ``) is only read to append to ``GIT_CONFIG_COUNT``
    entries the user may already have set, rather than clobbering them.
    """
    base = os.environ if base is None else base
    env = {"GIT_TERMINAL_PROMPT": "0"}
    url = settings.repo_url
    if is_ssh_url(url):
        env["GIT_SSH_COMMAND"] = ssh_command(settings)
        env["GIT_SSH_VARIANT"] = "ssh"
    elif http_credentials(url, credentials) is not None:
        try:
            index = int(base.get("GIT_CONFIG_COUNT", "0") or "0")
        except ValueError:
            index = 0
        env[f"GIT_CONFIG_KEY_{index}"] = "http.extraHeader"
        env[f"GIT_CONFIG_VALUE_{index}"] = basic_auth_header(credentials, url)
        env["GIT_CONFIG_COUNT"] = str(index + 1)
    return env


def check_transport_files(settings: GitSettings) -> None:
    """Fail early, and permanently, on configured ssh files that do not exist."""
    if not is_ssh_url(settings.repo_url):
        return
    for what, value in (
        ("ssh key file", settings.ssh_key_file),
        ("known_hosts file", settings.known_hosts_file),
    ):
        if value and not Path(value).expanduser().is_file():
            raise GitAuthError(f"{what} {value!r} does not exist", hint=_SSH_AUTH_HINT)


def secrets_of(settings: GitSettings, credentials: Credentials) -> list[str]:
    """Literal strings that must never appear in a message."""
    url = settings.repo_url
    found = [credentials.git_token] if credentials.git_token else []
    if credentials.git_token or http_credentials(url, credentials) is not None:
        header = basic_auth_header(credentials, url)
        found += [header, header.rsplit(" ", 1)[-1]]
    info = _login(url, credentials)
    if info is not None:
        user, password = info
        if password:
            found += [password, quote(password, safe="")]
        if is_http_url(url) and len(user) >= 8 and password is None:
            found += [user, quote(user, safe="")]  # a bare token as the user name
    return sorted({s for s in found if s}, key=len, reverse=True)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove passwords in URLs, auth headers and the given literal secrets from text."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    text = _URL_PASSWORD.sub(lambda m: f"{m.group('pre')}:{REDACTED}@", text)
    text = _HTTP_USERINFO.sub(lambda m: f"{m.group('pre')}{REDACTED}@", text)
    return _AUTH_HEADER.sub(lambda m: f"{m.group(1)}{REDACTED}", text)


def classify(operation: str, detail: str, url: str) -> GitError:
    """Turn a failed network command's (already redacted) output into our error family."""
    lines = [line.strip() for line in detail.splitlines()]
    lines = [line for line in lines if line and not line.lower().startswith(_NOISE)]
    message = f"git {operation} failed: {' '.join(lines[-4:]) or 'no output'}"
    if any(marker in detail.lower() for marker in _AUTH_MARKERS):
        return GitAuthError(message, hint=auth_hint(url))
    return GitUnavailableError(message, hint=NETWORK_HINT)


def wrap_command_error(
    exc: CommandError, operation: str, network: str | None, url: str, secrets: Iterable[str]
) -> GitError:
    """Our error for a failed git command. Redacts ``exc`` in place, as it travels on as
    the cause of ours (tracebacks print it)."""
    secrets = list(secrets)
    exc.stderr = redact(exc.stderr, secrets)
    exc.stdout = redact(exc.stdout, secrets)
    exc.command = [redact(str(part), secrets) for part in exc.command]
    exc._cmdline = redact(exc._cmdline, secrets)
    exc.args = tuple(redact(str(arg), secrets) for arg in exc.args)
    if not isinstance(exc, GitCommandError):
        return GitError(f"cannot run git: {exc}", hint="is git installed and on PATH?")
    stderr = exc.stderr.replace("\n  stderr: '", "", 1).removesuffix("'")
    stdout = exc.stdout.replace("\n  stdout: '", "", 1).removesuffix("'")
    detail = "\n".join(part for part in (stdout, stderr) if part.strip())
    if network:
        return classify(network, detail, url)
    return GitError(f"git {operation} failed: {detail.strip() or exc.status}")
