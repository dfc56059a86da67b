"""Commit messages: a subject a person reads, a body, and trailers a machine parses.

One commit per (model, stage) change, so ``git revert`` of one commit undoes
one promotion. Registry text is untrusted: it is flattened to one line and
shortened before it reaches a subject or a trailer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_SUBJECT_NAME_LIMIT = 80
_TRAILER_LIMIT = 500


def one_line(value: str, limit: int = _TRAILER_LIMIT) -> str:
    """Control characters escaped, length capped: safe inside a subject or trailer."""
    flat = "".join(c if c.isprintable() else repr(c)[1:-1] for c in value)
    return flat if len(flat) <= limit else f"{flat[: limit - 1]}…"


def promotion_message(info: Mapping[str, Any], previous_version: str | None) -> str:
    """Message for a folder that is created or changed; ``info`` is promotion.json's content."""
    model = info["model"]
    name = one_line(model["name"], _SUBJECT_NAME_LIMIT)
    stage = info["stage"]
    version = model["version"]
    if previous_version is None:
        subject = f"promote {name} v{version} to {stage}"
    elif previous_version != version:
        subject = f"promote {name} v{version} to {stage} (was v{previous_version})"
    else:
        subject = f"update {name} v{version} in {stage}"
    body = [
        f"Version {version} of registered model {one_line(model['name'])!s} "
        f"now runs in stage {stage} (namespace {info['namespace']}), "
        f"selected by {info['selected_by']}.",
    ]
    artifact = info.get("artifact")
    if artifact:
        body.append(
            f"Serves the verified copy {one_line(artifact['uri'])} "
            f"({artifact['files']} files, {artifact['bytes']} bytes)."
        )
    if previous_version == version:
        body.append("Same version as before: its manifests were rendered anew.")
    return _compose(subject, body, _trailers(info, "promote"))


def removal_message(info: Mapping[str, Any] | None, folder: str) -> str:
    """Message for a folder removed because its version left the stage."""
    if info is None:
        return _compose(f"remove {folder}", [f"No version is selected for {folder} any more."], [])
    model = info["model"]
    name = one_line(model["name"], _SUBJECT_NAME_LIMIT)
    subject = f"demote {name} v{model['version']} from {info['stage']}"
    body = [
        f"No version of registered model {one_line(model['name'])} is selected for stage "
        f"{info['stage']} any more; its manifests are removed and Argo CD prunes them.",
    ]
    return _compose(subject, body, _trailers(info, "demote"))


def _trailers(info: Mapping[str, Any], action: str) -> list[tuple[str, str]]:
    model = info["model"]
    pairs = [
        ("Gitops-Watcher-Action", action),
        ("Model-Name", model["name"]),
        ("Model-Version", model["version"]),
        ("Stage", info["stage"]),
        ("Selected-By", info.get("selected_by", "")),
        ("Run-Id", model.get("run_id", "")),
        ("Source", model.get("source", "")),
        ("Registry-Url", model.get("url", "")),
        ("Artifact-Uri", (info.get("artifact") or {}).get("uri", "")),
        ("Artifact-Digest", (info.get("artifact") or {}).get("digest", "")),
    ]
    return [(key, value) for key, value in pairs if value]


def _compose(subject: str, body: list[str], trailers: list[tuple[str, str]]) -> str:
    parts = [one_line(subject, 200), "\n".join(body)]
    if trailers:
        parts.append("\n".join(f"{key}: {one_line(str(value))}" for key, value in trailers))
    return "\n\n".join(parts) + "\n"
