"""Logging set-up: readable lines for people, one JSON object per line for machines."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(verbosity: int, log_format: str) -> None:
    """verbosity: -1 quiet (errors), 0 warnings, 1 info, 2 debug.

    Our loggers follow the level; so do third-party ones (urllib3's retry warnings,
    GitPython, boto3, Python warnings), except that ``-v`` does not bring their info
    lines: they come with ``-vv``, and ``-q`` silences their warnings too.
    """
    level = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level if level != logging.INFO else logging.WARNING)
    logging.getLogger("watcher").setLevel(level)
    logging.captureWarnings(True)  # warnings.warn (urllib3's InsecureRequestWarning) too
