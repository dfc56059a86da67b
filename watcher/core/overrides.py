"""Per-version deployment overrides read from model-version tags.

Reviewers tune a deployment from the registry UI with tags such as
``deploy.replicas=3`` (every stage) or ``deploy.production.replicas=6`` (one
stage; wins over the general tag). Values are validated here: a typo or a
hostile value fails that one deployment with a message, instead of reaching a
manifest.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Set
from dataclasses import dataclass, field

from watcher.core.names import describe
from watcher.errors import InvalidOverrideError

TAG_PREFIX = "deploy."
#: Kubernetes resource.Quantity, without a sign.
_QUANTITY = re.compile(
    r"^(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
KNOWN_KEYS = ("replicas", "cpu", "memory", "cpu_limit", "memory_limit")
_MAX_REPLICA_DIGITS = 6


@dataclass(frozen=True)
class Overrides:
    """What the tags change; ``None`` keeps the stage's setting."""

    replicas: int | None = None
    resources: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    #: The tags that were applied, for provenance.
    applied: tuple[tuple[str, str], ...] = ()
    #: What the tags set beyond their own name, said in the commit (the memory limit).
    notes: tuple[str, ...] = ()


def read_overrides(
    tags: Mapping[str, str],
    stage: str,
    all_stages: Set[str],
    max_replicas: int,
    min_replicas: int = 0,
) -> Overrides:
    """Collect, check and normalise the ``deploy.*`` tags that apply to ``stage``.

    Values are normalised (surrounding blanks dropped) before they are used or
    recorded, so ``' 3'`` and ``'3'`` render and record the same thing. Every
    bad tag is reported at once, so a reviewer fixes them in one go.
    """
    problems: list[InvalidOverrideError] = []
    general: dict[str, tuple[str, str]] = {}
    specific: dict[str, tuple[str, str]] = {}
    for tag, value in sorted(tags.items()):
        if not tag.startswith(TAG_PREFIX):
            continue
        try:
            scope = _scope(tag, stage, all_stages)
        except InvalidOverrideError as exc:
            problems.append(exc)
            continue
        if scope is not None:
            (specific if scope else general)[tag.rsplit(".", 1)[-1]] = (tag, value.strip())
    chosen = {**general, **specific}

    replicas = None
    resources: dict[str, dict[str, str]] = {}
    for key, (tag, value) in sorted(chosen.items()):
        try:
            if key == "replicas":
                replicas = _replicas(tag, value, min_replicas, max_replicas)
                continue
            _check_quantity(tag, value)
        except InvalidOverrideError as exc:
            problems.append(exc)
            continue
        resource, _, limit = key.partition("_")
        section = "limits" if limit else "requests"
        resources.setdefault(section, {})[resource] = value
    if problems:
        raise _all_of(problems)
    notes: tuple[str, ...] = ()
    memory = resources.get("requests", {}).get("memory")
    if memory is not None and "memory" not in resources.get("limits", {}):
        # Request = limit, the usual safe setting for a model server: a pod that outgrows
        # its request meets its own limit instead of the node's OOM killer among its
        # neighbours, and a request above the stage's limit would make an invalid pod.
        resources.setdefault("limits", {})["memory"] = memory
        notes = (
            f"deploy.memory sets the memory limit to {memory} too "
            "(tag deploy.memory_limit for another limit)",
        )
    applied = tuple(sorted((tag, value) for tag, value in chosen.values()))
    return Overrides(replicas=replicas, resources=resources, applied=applied, notes=notes)


def _scope(tag: str, stage: str, all_stages: Set[str]) -> bool | None:
    """True for ``deploy.<stage>.<key>`` of this stage, False for ``deploy.<key>``, None for
    another stage's tag; an unknown shape or key raises."""
    parts = tag[len(TAG_PREFIX) :].split(".")
    if len(parts) == 2 and parts[0] in all_stages:
        if parts[0] != stage:
            return None  # checked when that stage is decided
        specific = True
    elif len(parts) == 1:
        specific = False
    else:
        raise InvalidOverrideError(
            f"tag {describe(tag)} is not a known deployment tag",
            hint="use deploy.<key> or deploy.<stage>.<key> with key one of "
            f"{', '.join(KNOWN_KEYS)}",
        )
    if parts[-1] not in KNOWN_KEYS:
        raise InvalidOverrideError(
            f"tag {describe(tag)} names an unknown setting {describe(parts[-1])}",
            hint=f"known settings: {', '.join(KNOWN_KEYS)}",
        )
    return specific


def _all_of(problems: list[InvalidOverrideError]) -> InvalidOverrideError:
    """One error that names every bad tag (the first one alone reads as before)."""
    if len(problems) == 1:
        return problems[0]
    messages = "; ".join(exc.args[0] for exc in problems)
    hints = "; ".join(dict.fromkeys(exc.hint for exc in problems if exc.hint))
    return InvalidOverrideError(f"{len(problems)} deploy tags are wrong: {messages}", hint=hints)


def _replicas(tag: str, value: str, min_replicas: int, max_replicas: int) -> int:
    allowed = f"a whole number from {min_replicas} to {max_replicas}"
    # Checked as text first: int() of a 10,000-digit string raises (and is slow).
    if not value.isascii() or not value.isdigit() or len(value) > _MAX_REPLICA_DIGITS:
        raise InvalidOverrideError(
            f"tag {describe(tag)} must be {allowed}, not {describe(value, 40)}"
        )
    number = int(value)
    if number < min_replicas:
        raise InvalidOverrideError(
            f"tag {describe(tag)} asks for {number} replicas; "
            f"this stage needs at least {min_replicas}",
            hint="raise the tag, or lower min_replicas for the stage in the config",
        )
    if number > max_replicas:
        raise InvalidOverrideError(
            f"tag {describe(tag)} asks for {number} replicas; "
            f"this stage allows at most {max_replicas}",
            hint="lower the tag, or raise max_replicas for the stage in the config",
        )
    return number


def _check_quantity(tag: str, value: str) -> None:
    if not is_quantity(value):
        raise InvalidOverrideError(
            f"tag {describe(tag)} must be a Kubernetes quantity such as 500m, 2 or 4Gi, "
            f"not {describe(value, 40)}"
        )


def is_quantity(value: str) -> bool:
    """A Kubernetes resource quantity without a sign (``500m``, ``2``, ``4Gi``)."""
    return len(value) <= 32 and bool(_QUANTITY.match(value))
