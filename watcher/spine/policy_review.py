"""The review notes of an update: the metrics and signature of the new version against
the one that runs, read through the source's evidence port.

A note never stops a release: a registry that cannot say is mentioned, and the
change goes ahead as the gates and the contract decided.
"""

from __future__ import annotations

from watcher.core.messages import one_line
from watcher.core.plan import Change
from watcher.core.policy.deltas import metric_deltas, signature_changes
from watcher.core.release import Release
from watcher.errors import WatcherError
from watcher.spine.policy_ports import PromotionEvidence


def review_notes(
    change: Change, release: Release, evidence: PromotionEvidence | None
) -> tuple[str, ...]:
    """``Metrics, v6 → v7:`` and ``Signature, v6 → v7:`` with a line per difference."""
    previous = change.previous
    new = change.provenance
    if evidence is None or previous is None or previous.revision == new.revision:
        return ()
    versions = f"{one_line(previous.label, 40)} → {one_line(new.label, 40)}"
    notes: list[str] = []
    try:
        deltas = metric_deltas(evidence.metrics(previous.details), evidence.metrics(new.details))
    except WatcherError as exc:
        notes.append(f"Metrics not compared: {one_line(str(exc), 300)}")
    else:
        if deltas:
            notes += [f"Metrics, {versions}:", *_items(deltas)]
    if release.rules.contract == "off":
        return tuple(notes)
    try:
        changes = signature_changes(
            evidence.signature(previous.details), evidence.signature(new.details)
        )
    except WatcherError:
        return tuple(notes)  # the contract step has said why already
    if changes:
        notes += [f"Signature, {versions}:", *_items(changes)]
    return tuple(notes)


def _items(lines: list[str]) -> list[str]:
    """List items, one line each: a metric or column name cannot add lines (or trailers)
    to a commit message."""
    return [f"- {one_line(line, 300)}" for line in lines]
