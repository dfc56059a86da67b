"""Verify MLflow webhook deliveries: signature, age, replays, body shape.

A delivery is only a hint that the registry changed; the reconcile that
follows reads the registry itself. So this module decides one thing: may this
request make a reconcile happen sooner, and of which model? The body's model name
is taken as a hint only (the model is read again; a wrong name costs a re-read,
no name means the whole registry); nothing else of the body is trusted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping

from watcher.spine.triggers import Verdict

SECRET_ENV = "GITOPS_WATCHER_WEBHOOK_SECRET"  # noqa: S105 - a variable name
SIGNATURE_HEADER = "X-MLflow-Signature"
TIMESTAMP_HEADER = "X-MLflow-Timestamp"
DELIVERY_HEADER = "X-MLflow-Delivery-Id"
SIGNATURE_VERSION = "v1"
_MAX_DELIVERY_ID = 200


def sign(secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    """MLflow's signature: ``v1,`` + base64 HMAC-SHA256 of ``{id}.{timestamp}.{body}``."""
    content = f"{delivery_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), content, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


class ReplayGuard:
    """Remembers accepted delivery ids for ``max_age`` seconds, at most ``capacity`` of them."""

    def __init__(self, capacity: int, max_age: float, clock: Callable[[], float]) -> None:
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._capacity, self._max_age, self._clock = capacity, max_age, clock
        self._lock = threading.Lock()

    def first_time(self, delivery_id: str) -> bool:
        """True once per id; remembers it. Ids older than the age window are forgotten:
        their timestamps are stale by then, so the age check refuses a replay anyway."""
        now = self._clock()
        with self._lock:
            while self._seen:
                oldest, seen_at = next(iter(self._seen.items()))
                if now - seen_at <= 2 * self._max_age and len(self._seen) < self._capacity:
                    break
                del self._seen[oldest]
            if delivery_id in self._seen:
                return False
            self._seen[delivery_id] = now
            return True

    def __len__(self) -> int:
        return len(self._seen)


class WebhookVerifier:
    """Checks deliveries against the shared secret; None secret means webhooks are off."""

    def __init__(
        self,
        secret: str | None,
        *,
        max_age_seconds: float,
        replay_window: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = secret or None
        self._max_age = max_age_seconds
        self._clock = clock
        self.replays = ReplayGuard(replay_window, max_age_seconds, clock)

    @property
    def enabled(self) -> bool:
        return self._secret is not None

    def __repr__(self) -> str:  # never show the secret
        return f"WebhookVerifier(enabled={self.enabled})"

    def verify(self, headers: Mapping[str, str], body: bytes) -> Verdict:
        if self._secret is None:
            return Verdict(404, "disabled", f"webhooks are off: set {SECRET_ENV}")
        delivery_id = headers.get(DELIVERY_HEADER, "").strip()
        stamp = headers.get(TIMESTAMP_HEADER, "").strip()
        signature = headers.get(SIGNATURE_HEADER, "").strip()
        if not delivery_id or not stamp or not signature or len(delivery_id) > _MAX_DELIVERY_ID:
            return Verdict(401, "unsigned", "missing or malformed signature headers")
        if not _valid_signature(signature, sign(self._secret, delivery_id, stamp, body)):
            return Verdict(401, "bad_signature", "signature does not match")
        try:
            sent_at = float(int(stamp))
        except ValueError:
            return Verdict(401, "bad_timestamp", "timestamp is not unix seconds")
        if abs(self._clock() - sent_at) > self._max_age:
            return Verdict(401, "stale", "timestamp outside the accepted window")
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return Verdict(400, "malformed", "body is not JSON")
        if not isinstance(payload, dict):
            return Verdict(400, "malformed", "body is not a JSON object")
        event = f"{payload.get('entity', '')}.{payload.get('action', '')}"
        # Remembered only once everything else passed, so MLflow's retry of a delivery we
        # failed to take (same id) is still accepted.
        if not self.replays.first_time(delivery_id):
            return Verdict(409, "replayed", "delivery id already seen")
        return Verdict(
            202, "accepted", "reconcile requested", event=event[:100], timestamp=sent_at,
            hint=model_named(payload),
        )  # fmt: skip


#: The longest model name taken as a hint (MLflow's own limit is far below).
_MAX_NAME = 1000


def model_named(payload: dict[str, object]) -> frozenset[str] | None:
    """The model a registry event names (``data.name``), as a hint; None when it names
    none (read the whole registry)."""
    data = payload.get("data")
    name = data.get("name") if isinstance(data, dict) else None
    if not isinstance(name, str) or not name or len(name) > _MAX_NAME:
        return None
    return frozenset({name})


def _valid_signature(given: str, expected: str) -> bool:
    """Constant-time compare of the base64 digests; several ``v1,`` values may be sent."""
    want = expected.split(",", 1)[1]
    for part in given.split(" "):
        version, _, value = part.partition(",")
        if version != SIGNATURE_VERSION:
            continue
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(value.encode(), want.encode()):
            return True
    return False
