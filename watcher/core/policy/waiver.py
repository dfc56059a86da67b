"""A reviewer's waiver of a stage's gates for one version: ``deploy.<stage>.gates=skip``.

A model-version tag, so the waiver is visible in the registry beside the
version it applies to, and recorded in the commit that deploys it.
"""

from __future__ import annotations

from collections.abc import Mapping, Set

from watcher.core.names import describe
from watcher.errors import InvalidOverrideError

WAIVER_KEY = "gates"
WAIVER_VALUE = "skip"


def gate_tags(tags: Mapping[str, str], stages: Set[str]) -> set[str]:
    """The ``deploy.<stage>.gates`` tags among ``tags`` (not deployment overrides)."""
    found = set()
    for tag in tags:
        parts = tag.split(".")
        if (
            len(parts) == 3
            and parts[0] == "deploy"
            and parts[2] == WAIVER_KEY
            and (parts[1] in stages)
        ):
            found.add(tag)
    return found


def gates_waived(tags: Mapping[str, str], stage: str) -> str:
    """The waiver tag for ``stage`` when the version carries one ("" when it does not)."""
    tag = f"deploy.{stage}.{WAIVER_KEY}"
    value = tags.get(tag)
    if value is None:
        return ""
    if value.strip().lower() != WAIVER_VALUE:
        raise InvalidOverrideError(
            f"tag {describe(tag)} must be {WAIVER_VALUE!r}, not {describe(value, 40)}",
            hint=f"set {tag}={WAIVER_VALUE} to waive this stage's gates for this version, "
            "or delete the tag",
        )
    return tag
