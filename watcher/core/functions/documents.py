"""Reading one YAML file into a mapping, with a clear problem instead of a traceback."""

from __future__ import annotations

from typing import Any

import yaml

from watcher.core.functions.problems import Problem, type_name

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: ConfigMaps hold at most 1 MiB; specs are far smaller. Bigger input is refused unread.
MAX_FILE_BYTES = 900_000


def load_mapping(file: str, data: bytes) -> tuple[dict[str, Any] | None, list[Problem]]:
    """The file's single YAML document as a mapping, or the problems that prevent it."""
    if len(data) > MAX_FILE_BYTES:
        return None, [Problem(file, "", f"is {len(data)} bytes; at most {MAX_FILE_BYTES}")]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [Problem(file, "", f"is not UTF-8 text (byte {exc.start})")]
    try:
        documents = [d for d in yaml.load_all(text, Loader=_Loader) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = getattr(exc, "problem", None) or "syntax error"
        return None, [Problem(file, "", f"is not valid YAML{where}: {reason}")]
    if not documents:
        return None, [Problem(file, "", "is empty")]
    if len(documents) > 1:
        return None, [Problem(file, "", f"holds {len(documents)} YAML documents; one expected")]
    document = documents[0]
    if not isinstance(document, dict):
        return None, [Problem(file, "", f"must be a YAML mapping, not {type_name(document)}")]
    return {str(k): v for k, v in document.items()}, []
