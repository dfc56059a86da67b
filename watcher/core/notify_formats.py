"""The bodies a notification sends: ``json``, ``slack`` and ``cloudevents``, and its signature.

Pure: an event in, bytes and headers out. The three formats carry one event's
``id``, so a receiver that gets several copies can tell they are one event, and
its ``time``, so it can refuse replays. The signature is HMAC-SHA256 of the raw
body, hex, in ``X-Gitops-Watcher-Signature: sha256=<hex>``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from watcher.core.events import Event

FORMATS = ("json", "slack", "cloudevents")
SIGNATURE_HEADER = "X-Gitops-Watcher-Signature"
EVENT_HEADER = "X-Gitops-Watcher-Event"
DELIVERY_HEADER = "X-Gitops-Watcher-Delivery"
CLOUDEVENTS_TYPE_PREFIX = "io.gitops-watcher."
#: Slack: a section's text may hold 3,000 characters, a header's 150.
_SLACK_SECTION = 2900
_SLACK_HEADER = 150
_SLACK_ICONS = {
    "deployed": ":rocket:",
    "updated": ":arrows_counterclockwise:",
    "removed": ":wastebasket:",
    "refused": ":no_entry:",
    "failed": ":x:",
    "recovered": ":white_check_mark:",
    "healthy": ":large_green_circle:",
    "degraded": ":red_circle:",
}


@dataclass(frozen=True)
class Request:
    """One delivery as it goes on the wire."""

    body: bytes
    headers: dict[str, str]
    event: str
    id: str


@dataclass(frozen=True)
class Wants:
    """What one receiver asked for: event names, sources and stages (empty: all)."""

    events: frozenset[str] = frozenset()
    sources: frozenset[str] = frozenset()
    stages: frozenset[str] = frozenset()

    def __call__(self, event: Event) -> bool:
        if self.events and event.event not in self.events:
            return False
        # Events that are no source's or stage's (a run that cannot complete, a source
        # that cannot be read) pass those filters: whoever watches production wants to
        # know that nothing can reach it.
        if self.sources and event.source and event.source not in self.sources:
            return False
        return not (self.stages and event.stage and event.stage not in self.stages)


def request(event: Event, body_format: str, secret: str = "") -> Request:
    """The body of ``event`` in ``body_format``, with its headers (signed with ``secret``)."""
    render, content_type = _RENDERERS[body_format]
    body = json.dumps(render(event), ensure_ascii=False, sort_keys=True).encode()
    headers = {
        "Content-Type": content_type,
        "User-Agent": "gitops-watcher",
        EVENT_HEADER: event.event,
        DELIVERY_HEADER: event.id,
    }
    if secret:
        headers[SIGNATURE_HEADER] = signature(secret, body)
    return Request(body, headers, event.event, event.id)


def signature(secret: str, body: bytes) -> str:
    """``sha256=`` and the hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def json_body(event: Event) -> dict[str, Any]:
    return event.to_body()


def cloudevent(event: Event) -> dict[str, Any]:
    """A CloudEvents 1.0 event in structured mode; ``data`` is the json body."""
    return {
        "specversion": "1.0",
        "type": CLOUDEVENTS_TYPE_PREFIX + event.event,
        "source": "/gitops-watcher/" + quote(event.source or "gitops-watcher", safe=""),
        "id": event.id,
        "time": event.time,
        "subject": "/".join(part for part in (event.kind, event.name, event.stage) if part),
        "datacontenttype": "application/json",
        "data": event.to_body(),
    }


def slack_message(event: Event) -> dict[str, Any]:
    """An incoming-webhook message a person reads at a glance: what, where, which
    versions, the commit and the diff."""
    icon = _SLACK_ICONS.get(event.event, ":information_source:")
    text = f"{icon} {_escape(event.message)}"
    facts = [f"*{_escape(event.event)}*"]
    if event.stage:
        facts.append(f"stage *{_escape(event.stage)}*")
    if event.from_revision or event.to_revision:
        facts.append(
            f"{_escape(event.from_revision or '(none)')} → {_escape(event.to_revision or '(none)')}"
        )
    if event.commit:
        facts.append(f"commit `{_escape(event.commit[:12])}`")
    if event.url:
        facts.append(f"<{_link(event.url)}|registry page>")
    blocks: list[dict[str, Any]] = [
        {"type": "header",
         "text": {"type": "plain_text", "text": _cut(f"{icon} {event.message}", _SLACK_HEADER)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(" · ".join(facts), 2900)}},
        {"type": "section", "text": {"type": "mrkdwn",
                                     "text": _cut(_escape(event.message), _SLACK_SECTION)}},
    ]  # fmt: skip
    if event.diff:
        diff = _cut(_escape(event.diff), _SLACK_SECTION - 8)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"```{diff}```"}})
    context = f"gitops-watcher · source {_escape(event.source)} · {event.time} · id {event.id}"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    return {"text": text, "blocks": blocks}


def _escape(text: str) -> str:
    """Slack's three control characters, as its docs ask."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _link(url: str) -> str:
    return url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


_RENDERERS: dict[str, tuple[Callable[[Event], dict[str, Any]], str]] = {
    "json": (json_body, "application/json"),
    "slack": (slack_message, "application/json"),
    "cloudevents": (cloudevent, "application/cloudevents+json"),
}


def wants(events: Sequence[str], sources: Sequence[str], stages: Sequence[str]) -> Wants:
    return Wants(frozenset(events), frozenset(sources), frozenset(stages))
