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
from watcher.core.messages import one_line
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
    for line in pull_request_lines(result):
        print(line, file=out)
    for line in policy_lines(result):
        print(line, file=out)
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
    waiting = counts["pull_requests_open"]
    reviews = f"; {waiting} pull request(s) open" if waiting else ""
    policy = "".join(
        f", {counts[state]} {state}" for state in ("held", "gated", "waiting") if counts[state]
    )
    print(
        f"{summary}; {counts['unchanged']} deployment(s) unchanged, {counts['failed']} failed"
        f"{policy}{_failed_sources(result)}{reviews}{copied}",
        file=out,
    )


#: How a state the promotion policy gave is said, first on its line (docs/policy.md).
POLICY_WORDS = {"held": "HELD", "gated": "GATED", "waiting": "WAITING"}


def policy_lines(result: ReconcileResult) -> list[str]:
    """``HELD model fraud in production: changed by …``, one line per release the policy
    kept out (held and waiting: the system doing what it was told; gated: a refusal)."""
    lines = []
    for outcome in result.releases:
        word = POLICY_WORDS.get(outcome.state)
        if word is None or outcome.pull_request is not None:
            continue
        # The version a gate or soak judged; a hold is of the folder, whatever is selected.
        versioned = outcome.candidate and outcome.id.kind == "model" and word != "HELD"
        label = f" v{outcome.candidate}" if versioned else ""
        name = one_line(outcome.id.name, 80)
        lines.append(
            f"{word} {outcome.id.kind} {name}{label} in {outcome.id.stage}: {outcome.reason}"
        )
    return lines


def _failed_sources(result: ReconcileResult) -> str:
    """``; 1 source failed: 'team-b' (its folders are kept)``, or "" when every source was read."""
    names = [describe(source.name, 40) for source in result.sources if not source.ok]
    if not names:
        return ""
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    kept = "its folders are" if len(names) == 1 else "their folders are"
    return f"; {len(names)} source(s) failed: {shown} ({kept} kept)"


def pull_request_lines(result: ReconcileResult) -> list[str]:
    """What was done with each pull request; in a dry run, which changes would become one."""
    changes = {change.folder: change for change in result.proposed}
    lines: list[str] = []
    for event in result.pull_requests:
        number, url = event.number, event.pull_request.url if event.pull_request else ""
        release = f"{event.id.describe()} {event.label}"
        change = changes.get(event.folder)
        if event.kind in ("would-open", "would-update"):
            verb = "open a pull request" if event.kind == "would-open" else f"update {number}"
            lines.append(f"would {verb}: {event.subject}")
            lines += [f"    {line}" for line in (folder_diff(change) if change else [])]
        elif event.kind in ("opened", "updated"):
            lines.append(f"{event.kind} pull request {number} {event.subject}: {url}")
        elif event.kind == "current":
            lines.append(f"pull request {number} waits for review: {event.subject}: {url}")
        elif event.kind == "merged":
            lead = event.lead_seconds
            lead_text = f", lead time {_duration(lead)}" if lead is not None else ""
            commit = f" ({event.commit[:10]}{lead_text})" if event.commit else ""
            lines.append(f"merged pull request {number}: {release} deployed{commit}")
        elif event.kind == "closed":
            lines.append(f"closed pull request {number}: {event.reason}")
        elif event.kind == "held":
            lines.append(f"HELD {release}: {event.reason}")
        if event.reason and event.kind in ("opened", "updated", "current"):
            lines.append(f"    {event.reason}")
    return lines


def _duration(seconds: float | None) -> str:
    value = int(seconds or 0)
    if value < 120:
        return f"{value} s"
    if value < 7200:
        return f"{value // 60} min"
    return f"{value // 3600} h {value % 3600 // 60} min"


def history_table(entries: Sequence[LedgerEntry]) -> list[str]:
    """The ledger, newest first, with a header; times in UTC, said so."""
    header = ("TIME (UTC)", "OUTCOME", "ACTION", "KIND", "NAME", "STAGE", "REVISION", "DETAIL")
    rows = [header]
    for entry in entries:
        when = entry.recorded_at.strftime("%Y-%m-%d %H:%M:%SZ") if entry.recorded_at else ""
        detail = entry.commit[:10] if entry.commit else entry.error
        if entry.artifact_digest:
            detail += f" {entry.artifact_digest[:19]}"
        if entry.detail:
            detail = f"{detail} {entry.detail}".strip()
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
        "  ".join(
            [*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]]
        ).rstrip()
        for row in table
    ]
