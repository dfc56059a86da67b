"""Commit messages: a subject a person reads, a body, and trailers a machine parses.

One commit per (name, stage) change, so ``git revert`` of one commit undoes one
promotion. One vocabulary everywhere (subjects, the ``Gitops-Watcher-Action``
trailer, the ledger, ``/status``): ``deploy`` a new folder, ``update`` one, and
``remove`` one. Registry and spec text is untrusted: it is flattened to one line
and shortened before it reaches a subject or a trailer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from watcher.core.provenance import Provenance
from watcher.core.release import Release

Action = Literal["deploy", "update", "remove"]

_SUBJECT_NAME_LIMIT = 80
_TRAILER_LIMIT = 500
_CHANGES_IN_SUBJECT = 3


def one_line(value: str, limit: int = _TRAILER_LIMIT) -> str:
    """Control characters escaped, length capped: safe inside a subject or trailer."""
    flat = "".join(c if c.isprintable() else repr(c)[1:-1] for c in value)
    return flat if len(flat) <= limit else f"{flat[: limit - 1]}…"


def setting_changes(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    """``replicas 2 → 3`` for every pod setting that differs (unknown before: not listed)."""
    if not before:
        return []
    changes = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old != new:
            changes.append(
                f"{key} {one_line(old or '(none)', 60)} → {one_line(new or '(none)', 60)}"
            )
    return changes


def deploy_message(release: Release, new: Provenance, previous: Provenance | None) -> str:
    """Message for a folder that is created or changed."""
    name = one_line(release.id.name, _SUBJECT_NAME_LIMIT)
    stage = release.id.stage
    label = one_line(new.label, 40)
    changes: list[str] = []
    if previous is None:
        action: Action = "deploy"
        subject = f"deploy {name} {label} to {stage}"
    elif previous.revision != new.revision:
        action = "update"
        subject = f"update {name} in {stage}: {one_line(previous.label, 40)} → {label}"
    else:
        action = "update"
        changes = setting_changes(previous.settings, new.settings)
        shown = ", ".join(changes[:_CHANGES_IN_SUBJECT])
        more = f" (+{len(changes) - _CHANGES_IN_SUBJECT} more)" if len(changes) > 3 else ""
        subject = f"update {name} {label} in {stage}: " + (
            f"{shown}{more}" if changes else "manifests rendered anew"
        )
    body = [
        f"{release.id.kind.capitalize()} {one_line(release.id.name)} {label} now runs in stage "
        f"{stage} (namespace {release.namespace}).",
        *release.summary,
    ]
    artifact = new.artifact
    if artifact:
        body.append(
            f"Serves the verified copy {one_line(str(artifact.get('uri', '')))} "
            f"({artifact.get('files', 0)} files, {artifact.get('bytes', 0)} bytes)."
        )
    if changes:
        body.append("Changed: " + "; ".join(changes) + ".")
    elif previous is not None and previous.revision == new.revision:
        body.append(
            "Same revision and settings as before: its manifests were rendered anew "
            "(templates, targets or gitops-watcher changed)."
        )
    trailers = [*_generic_trailers(new, action), *release.trailers]
    if artifact:
        trailers += [
            ("Artifact-Uri", str(artifact.get("uri", ""))),
            ("Artifact-Digest", str(artifact.get("digest", ""))),
        ]
    return _compose(subject, body, trailers)


def removal_message(previous: Provenance) -> str:
    """Message for a folder removed because nothing selects it for its stage any more."""
    name = one_line(previous.name, _SUBJECT_NAME_LIMIT)
    subject = f"remove {name} {one_line(previous.label, 40)} from {previous.stage}"
    body = [
        f"No revision of {previous.kind} {one_line(previous.name)} is selected for stage "
        f"{previous.stage} any more; its manifests are removed and Argo CD prunes them.",
    ]
    return _compose(subject, body, _generic_trailers(previous, "remove"))


def _generic_trailers(info: Provenance, action: Action) -> list[tuple[str, str]]:
    return [
        ("Gitops-Watcher-Action", action),
        ("Gitops-Watcher-Source", info.source),
        ("Gitops-Watcher-Kind", info.kind),
        ("Release-Name", info.name),
        ("Release-Revision", info.revision),
        ("Stage", info.stage),
    ]


def _compose(subject: str, body: list[str], trailers: list[tuple[str, str]]) -> str:
    parts = [one_line(subject, 200), "\n".join(body)]
    shown = [(key, value) for key, value in trailers if value]
    if shown:
        parts.append("\n".join(f"{key}: {one_line(str(value))}" for key, value in shown))
    return "\n\n".join(parts) + "\n"
