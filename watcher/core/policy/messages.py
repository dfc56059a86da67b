"""What the policy adds to a commit message: a rollback's subject, notes and trailers."""

from __future__ import annotations

from collections.abc import Sequence

from watcher.core.messages import one_line
from watcher.core.policy.history import ROLLBACK_TRAILER
from watcher.core.provenance import Provenance

_NAME_LIMIT = 80


def rollback_subject(previous: Provenance, new: Provenance) -> str:
    """``roll back churn in production: v7 → v6``: the folder ran v6 before v7."""
    name = one_line(new.name, _NAME_LIMIT)
    before, after = one_line(previous.label, 40), one_line(new.label, 40)
    return f"roll back {name} in {new.stage}: {before} → {after}"


def amend(
    message: str,
    *,
    subject: str = "",
    lines: Sequence[str] = (),
    trailers: Sequence[tuple[str, str]] = (),
) -> str:
    """A message of ours with another subject, more body lines and more trailers.

    Our messages are a subject, a body and a block of ``Key: value`` trailers,
    separated by blank lines (core/messages.py); the trailers stay last.
    """
    parts = message.rstrip("\n").split("\n\n")
    head, body, tail = parts[0], parts[1:-1], parts[-1] if len(parts) > 1 else ""
    if subject:
        head = one_line(subject, 200)
    body_text = "\n".join([*("\n\n".join(body).splitlines()), *lines])
    shown = "\n".join(f"{key}: {one_line(value)}" for key, value in trailers if value)
    tail = "\n".join(part for part in (tail, shown) if part)
    return "\n\n".join(part for part in (head, body_text, tail) if part) + "\n"


def rollback_trailer(previous: Provenance) -> tuple[str, str]:
    """Marks a rollback commit, naming what it rolled back from (read by ``revisions_run``)."""
    return (ROLLBACK_TRAILER, previous.revision)


def record_message(action: str, info: Provenance, text: str) -> str:
    """A hold record's commit: ``hold churn in production: incident`` with our trailers."""
    subject = f"{action} {one_line(info.name, _NAME_LIMIT)} in {info.stage}: {one_line(text, 120)}"
    trailers = [
        ("Gitops-Watcher-Action", action),
        ("Gitops-Watcher-Source", info.source),
        ("Gitops-Watcher-Kind", info.kind),
        ("Release-Name", info.name),
        ("Stage", info.stage),
    ]
    block = "\n".join(f"{key}: {one_line(value)}" for key, value in trailers if value)
    return f"{one_line(subject, 200)}\n\n{block}\n"
