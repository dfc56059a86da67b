"""Events: each change of state said once, for notifications and promotion metrics.

The ledger records changes of state, not reconciles: a commit, a new failure, a
recovery, a health that Argo CD reports. Each such change reaches this module as
a :class:`StateChange`, and :data:`EVENT_OF_STATE` says which event it sends. The
table is the one place that maps states to events: the states of holds, gates,
soaks and pull requests join it with one line each.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

#: Every event a notification can ask for (``notifications[].events``).
EVENT_NAMES = (
    "deployed",
    "updated",
    "removed",
    "refused",
    "failed",
    "recovered",
    "held",
    "gated",
    "waiting",
    "pr-opened",
    "pr-merged",
    "healthy",
    "degraded",
)

#: The state a change leads to -> the event it sends. A failure sends ``refused`` (the
#: input is wrong) or ``failed`` (something was down), by its error's kind; a change
#: away from a state in :data:`TROUBLE_STATES` also sends ``recovered``.
EVENT_OF_STATE: dict[str, str] = {
    "deploy": "deployed",
    "update": "updated",
    "remove": "removed",
    "held": "held",
    "gated": "gated",
    "waiting": "waiting",
    # Pull requests: the ledger's rows say ``pr-opened``, and a merge is the action
    # ``merge`` of a change that reached the branch.
    "pr-opened": "pr-opened",
    "merge": "pr-merged",
    "healthy": "healthy",
    "degraded": "degraded",
}

#: States a release recovers from when it works again.
TROUBLE_STATES = frozenset({"failed", "gated"})

#: States that put a new revision in front of users, and what the lead time runs to.
LEAD_TIME_TO: dict[str, str] = {"deploy": "push", "update": "push", "pr-merged": "merge"}

#: States counted as holds in the promotion metrics.
HOLD_STATES = frozenset({"held"})


@dataclass(frozen=True)
class StateChange:
    """One change the ledger recorded: what a release (or a source's read, a folder's
    plan, the whole run, an application's health) is now, and what it was before."""

    #: ``release``, ``read`` (a source), ``plan`` (a folder), ``run`` or ``health``.
    scope: str
    #: ``deploy``/``update``/``remove`` (a commit that reached the remote), ``failed``,
    #: ``ok`` (works again, unchanged), ``healthy``/``degraded``, and any state of
    #: :data:`EVENT_OF_STATE`.
    state: str
    source: str = ""
    kind: str = ""
    name: str = ""
    stage: str = ""
    folder: str = ""
    revision: str = ""
    commit: str = ""
    error: str = ""
    error_kind: str = ""
    #: The state of the last row before this one ("" when there was none).
    previous_state: str = ""
    previous_revision: str = ""
    previous_error: str = ""
    previous_error_kind: str = ""
    #: A deployment of a revision this (name, stage) ran before.
    rollback: bool = False
    #: Unix time the revision was first seen failing before it deployed (None: not known).
    first_seen_at: float | None = None
    #: Unix time the change was recorded.
    at: float = 0.0
    reconcile_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def event_names(change: StateChange) -> list[str]:
    """The events one change sends, in order (none for a change nothing listens to)."""
    names: list[str] = []
    if change.state == "failed":
        name = "refused" if change.error_kind == "permanent" else "failed"
        same_trouble = (
            change.previous_state == "failed"
            and change.previous_revision == change.revision
            and _is_refusal(change.previous_error_kind) == (name == "refused")
        )
        # Still failing the same way with another error text: not news.
        return [] if same_trouble else [name]
    event = EVENT_OF_STATE.get(change.state)
    if event is not None:
        names.append(event)
    if change.previous_state in TROUBLE_STATES and change.state not in TROUBLE_STATES:
        names.append("recovered")
    return names


def _is_refusal(error_kind: str) -> bool:
    return error_kind == "permanent"


@dataclass(frozen=True)
class Event:
    """One notification's content; the json, slack and cloudevents copies share it."""

    event: str
    kind: str
    source: str
    name: str
    stage: str
    from_revision: str | None
    to_revision: str | None
    commit: str | None
    url: str
    message: str
    diff: str
    time: str
    id: str
    folder: str = ""

    def to_body(self) -> dict[str, Any]:
        """The ``json`` format's body (and the ``data`` of a CloudEvent)."""
        return {
            "event": self.event,
            "kind": self.kind,
            "source": self.source,
            "name": self.name,
            "stage": self.stage,
            "folder": self.folder,
            "from_revision": self.from_revision,
            "to_revision": self.to_revision,
            "commit": self.commit,
            "url": self.url,
            "message": self.message,
            "diff": self.diff,
            "time": self.time,
            "id": self.id,
        }


def event_id(change: StateChange, event: str) -> str:
    """Unique per event, the same for every copy and every retry of it."""
    text = "|".join(
        (change.reconcile_id, change.scope, change.source, change.kind, change.name,
         change.stage, change.folder, change.state, change.revision, event, repr(change.at))
    )  # fmt: skip
    return str(uuid.UUID(hashlib.sha256(text.encode()).hexdigest()[:32]))


def iso_time(at: float) -> str:
    """UTC, ISO 8601, to the millisecond: ``2025-01-31T12:00:00.000Z``."""
    moment = datetime.fromtimestamp(at, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch_seconds(value: object) -> float | None:
    """An ISO 8601 time as APIs write it (``…Z`` or an offset), in seconds since the
    epoch; None for anything else, so a reply's odd field never fails its reader."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
