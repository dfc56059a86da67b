"""What people read after a command: the reconcile report, dry-run diffs, the ledger table.

Each failure is printed once, here, on standard output; logs (standard error)
carry the detail only at ``-v``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import TextIO

from watcher.adapters.ledger import LedgerEntry
from watcher.core.diffs import DIFF_LINES_PER_FILE, folder_diff
from watcher.core.names import describe
from watcher.core.result import ReconcileResult

__all__ = ["DIFF_LINES_PER_FILE", "folder_diff", "history_table", "print_result"]


def print_result(result: ReconcileResult, stream: TextIO | None = None) -> None:
    """A short report people read after a reconcile."""
    out = stream or sys.stdout
    if result.dry_run:
        for change in result.planned:
            print(f"would commit: {change.subject}", file=out)
            for line in folder_diff(change):
                print(f"    {line}", file=out)
        for what, uri, files, size in result.planned_copies:
            print(f"would copy: {what} to {uri} ({files} files, {size} bytes)", file=out)
    for applied in result.applied:
        print(f"committed {applied.commit[:10]} {applied.change.subject}", file=out)
    for failure in result.failures:
        print(f"FAILED {failure.id.describe()}: {failure.error}", file=out)
    for _folder, problem in result.problems:
        print(f"FAILED {problem}", file=out)  # each message names its folder
    for source in result.sources:
        if not source.ok:
            print(
                f"FAILED source {source.name!r}: {source.error} (its folders are kept)",
                file=out,
            )
    warned = [outcome for outcome in result.releases if outcome.warning]
    if warned:
        print(
            f"WARNING {len(warned)} deployment(s) kept as deployed, e.g. "
            f"{warned[0].id.describe()}: {warned[0].warning}",
            file=out,
        )
    counts = result.counts()
    if result.pushed:
        summary = f"pushed {counts['applied']} commit(s)"
    elif result.dry_run:
        summary = f"dry run: {counts['planned']} change(s) planned, nothing committed"
    else:
        summary = "no changes"
    copied = ""
    if counts["artifact_files_sent"]:
        copied = (
            f"; artifacts: {counts['artifact_files_sent']} file(s), "
            f"{counts['artifact_bytes_sent']} bytes sent"
        )
    elif counts["applied"] > counts["removed"] and result.artifacts.files_already_there:
        copied = "; artifacts: already copied, 0 bytes sent"
    print(
        f"{summary}; {counts['unchanged']} deployment(s) unchanged, {counts['failed']} failed"
        f"{_failed_sources(result)}{copied}",
        file=out,
    )


def _failed_sources(result: ReconcileResult) -> str:
    """``; 1 source failed: 'team-b' (its folders are kept)``, or "" when every source was read."""
    names = [describe(source.name, 40) for source in result.sources if not source.ok]
    if not names:
        return ""
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    kept = "its folders are" if len(names) == 1 else "their folders are"
    return f"; {len(names)} source(s) failed: {shown} ({kept} kept)"


def history_table(entries: Sequence[LedgerEntry]) -> list[str]:
    """The ledger, newest first, with a header; times in UTC, said so."""
    header = ("TIME (UTC)", "OUTCOME", "ACTION", "KIND", "NAME", "STAGE", "REVISION", "DETAIL")
    rows = [header]
    for entry in entries:
        when = entry.recorded_at.strftime("%Y-%m-%d %H:%M:%SZ") if entry.recorded_at else ""
        detail = entry.commit[:10] if entry.commit else entry.error
        if entry.artifact_digest:
            detail += f" {entry.artifact_digest[:19]}"
        name = describe(entry.name, 40)[1:-1] if entry.name else (entry.source or "-")
        rows.append(
            (
                when,
                entry.outcome,
                entry.action,
                entry.kind or "-",
                name,
                entry.stage or "-",
                entry.revision or "-",
                _cut(detail, 200),
            )
        )
    return _columns(rows)


def _cut(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else f"{flat[: limit - 1]}…"


def _columns(rows: Iterable[Sequence[str]]) -> list[str]:
    table = [list(row) for row in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    return [
        "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]])
        .rstrip()
        for row in table
    ]
