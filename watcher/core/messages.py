"""Commit messages: a subject a person reads, a body, and trailers a machine parses.

One commit per (name, stage) change, so ``git revert`` of one commit undoes one
promotion. One vocabulary everywhere (subjects, the ``Gitops-Watcher-Action``
trailer, the ledger, ``/status``): ``deploy`` a new folder, ``update`` one, and
``remove`` one. Registry and spec text is untrusted: it is flattened to one line
and shortened before it reaches a subject or a trailer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

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
    """Message for a folder that is created or changed: the subject and the body name each cause."""
    name = one_line(release.id.name, _SUBJECT_NAME_LIMIT)
    stage = release.id.stage
    label = one_line(new.label, 40)
    causes = change_causes(previous, new) if previous is not None else []
    if previous is None:
        action: Action = "deploy"
        subject = f"deploy {name} {label} to {stage}"
    elif previous.revision != new.revision:
        action = "update"
        subject = f"update {name} in {stage}: {one_line(previous.label, 40)} → {label}"
    else:
        action = "update"
        # Details (the selector, the tags) explain settings already named: shown alone only.
        named = [cause for cause in causes if not cause.minor] or causes
        shown = ", ".join(cause.short for cause in named[:_CHANGES_IN_SUBJECT])
        extra = len(named) - _CHANGES_IN_SUBJECT
        more = f" (+{extra} more)" if extra > 0 else ""
        subject = f"update {name} {label} in {stage}: " + (
            f"{shown}{more}" if causes else "manifests rendered anew"
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
    if causes:
        body.append("Changed: " + "; ".join(cause.full for cause in causes) + ".")
    elif previous is not None:
        body.append(
            "Same revision, settings and copy as before: its manifests were rendered anew "
            "(templates, targets or gitops-watcher changed)."
        )
    trailers = [*_generic_trailers(new, action), *release.trailers]
    if artifact:
        trailers += [
            ("Artifact-Uri", str(artifact.get("uri", ""))),
            ("Artifact-Digest", str(artifact.get("digest", ""))),
        ]
    return _compose(subject, body, trailers)


@dataclass(frozen=True)
class Cause:
    """One reason a folder changes: ``short`` for the subject, ``full`` for the body."""

    short: str
    full: str
    #: A detail of promotion.json (how the version was selected, which tags applied).
    minor: bool = False


def change_causes(previous: Provenance, new: Provenance) -> list[Cause]:
    """Every difference between what a folder deploys and what it will: the revision, each
    pod setting, the artifact copy, the namespace, the target, the selection and the marker.

    Details that follow from a new revision (the model record, the spec's revision) are
    not repeated; an empty list means only the rendering itself changed.
    """
    causes: list[Cause] = []
    if previous.revision != new.revision:
        step = f"{one_line(previous.label, 40)} → {one_line(new.label, 40)}"
        causes.append(Cause(step, step))
    causes += [Cause(text, text) for text in setting_changes(previous.settings, new.settings)]
    causes += _copy_causes(previous.artifact, new.artifact)
    for key, old, now in (
        ("namespace", previous.namespace, new.namespace),
        ("target", previous.target, new.target),
    ):
        if old != now and key not in new.settings:
            text = f"{key} {one_line(old or '(none)', 60)} → {one_line(now or '(none)', 60)}"
            causes.append(Cause(text, text))
    if previous.revision == new.revision:
        causes += _detail_causes(previous.details, new.details)
    if previous.format < new.format:
        text = f"promotion.json format {previous.format} → {new.format}"
        causes.append(Cause(text, text))
    return causes


def _copy_causes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[Cause]:
    old_uri, new_uri = str(before.get("uri") or ""), str(after.get("uri") or "")
    if old_uri != new_uri:
        full = f"copy {one_line(old_uri or '(none)', 200)} → {one_line(new_uri or '(none)', 200)}"
        short = "copy moved" if old_uri and new_uri else ("copy added" if new_uri else "no copy")
        return [Cause(short, full)]
    old_digest, new_digest = str(before.get("digest") or ""), str(after.get("digest") or "")
    if old_digest != new_digest:
        return [
            Cause(
                "copy digest changed",
                f"copy digest {_short_digest(old_digest)} → {_short_digest(new_digest)}",
            )
        ]
    return []


def _short_digest(digest: str) -> str:
    return one_line(digest[:19] + "…" if len(digest) > 19 else digest or "(none)", 40)


def _detail_causes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[Cause]:
    """Differences in promotion.json's details (the copy aside): one level deep, by key."""
    causes = []
    for key in sorted((set(before) | set(after)) - {"artifact"}):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            for inner in sorted(set(old) | set(new)):
                if old.get(inner) != new.get(inner):
                    causes.append(_value_cause(f"{key}.{inner}", old.get(inner), new.get(inner)))
        else:
            causes.append(_value_cause(key, old, new))
    return causes


def _value_cause(key: str, old: Any, new: Any) -> Cause:
    def shown(value: Any) -> str:
        if value is None or value == "":
            return "(none)"
        return one_line(value if isinstance(value, str) else repr(value), 60)

    key = one_line(key, 60)
    return Cause(f"{key} changed", f"{key} {shown(old)} → {shown(new)}", minor=True)


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
