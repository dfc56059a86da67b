"""Logging set-up: readable lines for people, one JSON object per line for machines.

Every line, ours or a library's, is masked on its way out: ``Authorization``
headers, AWS access key ids (SigV4 ``Credential=``), session tokens, the user
info of URLs, and the literal secrets this process holds (the credential
variables, and what :func:`hide` is given). Libraries' own debug logs (botocore
prints each request's headers) stay off unless ``-vvv`` asks for them.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from urllib.parse import quote

log = logging.getLogger(__name__)

#: verbosity -> (our level, the level of every other logger: libraries, Python warnings).
#: Libraries' warnings (urllib3's "Retrying …", pool and deprecation warnings) are about
#: attempts we retry and report ourselves: they show from -v; their debug logs from -vvv.
_LEVELS = {
    -1: (logging.ERROR, logging.ERROR),
    0: (logging.WARNING, logging.ERROR),
    1: (logging.INFO, logging.WARNING),
    2: (logging.DEBUG, logging.WARNING),
}
_ALL = (logging.DEBUG, logging.DEBUG)
#: Variables whose values are secrets wherever they are used.
SECRET_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_PASSWORD",
    "GIT_TOKEN",
    "GITOPS_WATCHER_WEBHOOK_SECRET",
    "ARGOCD_AUTH_TOKEN",
)
#: Shorter values are not masked: they would garble every line and protect nothing.
_MIN_SECRET = 6
MASK = "***"
_PATTERNS = (
    # Authorization: Basic …, 'Authorization': b'AWS4-HMAC-SHA256 Credential=…, Signature=…',
    # token headers: the whole value, up to its quote or the end of the line
    re.compile(
        r"(?i)((?:proxy-)?authorization|x-amz-security-token|private-token)"
        r"(['\"]?\s*[:=]\s*b?['\"]?)[^'\"\r\n]+"
    ),
    # SigV4 key ids: Credential=AKIA…/date/…, X-Amz-Credential=AKIA…%2Fdate in presigned URLs
    re.compile(r"(?i)(credential)(=)[^/%&\s,'\"]+"),
    # user info of URLs: scheme://user:password@host
    re.compile(r"(?i)([a-z][a-z0-9+.-]*)(://)[^/@\s'\"]+@"),
)
_secrets: set[str] = set()


def hide(values: Iterable[str]) -> None:
    """Mask these literal values (and their percent-encoded forms, as in a URL) in every
    log line from now on: the credentials of the settings."""
    for value in values:
        if len(value) >= _MIN_SECRET:
            _secrets.update((value, quote(value, safe="")))


def redact(text: str) -> str:
    """``text`` with every known secret and every credential-shaped header or URL part masked."""
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    text = _PATTERNS[0].sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    text = _PATTERNS[1].sub(lambda m: f"{m.group(1)}={MASK}", text)
    return _PATTERNS[2].sub(lambda m: f"{m.group(1)}://{MASK}@", text)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def configure(verbosity: int, log_format: str) -> None:
    """verbosity: -1 quiet (errors), 0 warnings, 1 info, 2 debug, 3 libraries' debug too.

    Our loggers follow the level. Every other logger (urllib3, botocore, GitPython,
    SQLAlchemy, APScheduler, Python warnings) shows only errors by default, its
    warnings from ``-v``, and its debug lines only at ``-vvv``, which says once that
    they may hold credentials the masking does not know.
    """
    ours, theirs = _LEVELS.get(verbosity, _ALL)
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(theirs)
    logging.getLogger("watcher").setLevel(ours)
    logging.captureWarnings(True)  # warnings.warn (urllib3's InsecureRequestWarning) too
    hide(os.environ.get(name, "") for name in SECRET_VARIABLES)
    if verbosity >= 3:
        log.warning(
            "-vvv: the debug logs of libraries (botocore, urllib3, GitPython, SQLAlchemy) are "
            "on; known secrets and Authorization headers are masked, but these logs may still "
            "hold credentials: read them before you share them"
        )
