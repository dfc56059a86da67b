"""docs/notifications.md: every key of a notification is documented, and the example
receiver really accepts a body gitops-watcher signs, and refuses a forged, old or
replayed one."""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path
from typing import Any

import pytest

from watcher.config.notification_settings import NotificationSettings
from watcher.core.events import EVENT_NAMES, Event
from watcher.core.notify_formats import SIGNATURE_HEADER, request

DOC = Path(__file__).resolve().parents[2] / "docs" / "notifications.md"


def test_every_key_and_event_is_documented() -> None:
    text = DOC.read_text()
    for key in NotificationSettings.model_fields:
        assert f"| `{key}` |" in text, key
    for event in EVENT_NAMES:
        assert f"`{event}`" in text, event


def receiver_example() -> str:
    text = DOC.read_text()
    section = text.split("## A generic receiver that checks the signature", 1)[1]
    (code,) = re.findall(r"```python\n(.*?)```", section.split("## CloudEvents", 1)[0], re.S)
    return code


def test_the_example_receiver_checks_signature_age_and_replays(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AUDIT_HMAC_SECRET", "audit-secret-123456")
    namespace: dict[str, Any] = {"__name__": "receiver_example"}
    exec(compile(receiver_example(), "docs/notifications.md", "exec"), namespace)  # noqa: S102
    check = namespace["check"]
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(now))
    event = Event("deployed", "model", "mlflow", "churn", "staging", None, "1", "ab" * 20,
                  "http://ui", "committed …", "", stamp, "id-1")  # fmt: skip
    signed = request(event, "json", "audit-secret-123456")
    signature = signed.headers[SIGNATURE_HEADER]
    assert check(signed.body, signature, now)["to_revision"] == "1"
    assert check(signed.body, signature, now) is None  # replayed
    forged = request(dataclasses.replace(event, id="id-2"), "json", "a guess")
    assert check(forged.body, forged.headers[SIGNATURE_HEADER], now) is None
    old = request(dataclasses.replace(event, id="id-3"), "json", "audit-secret-123456")
    assert check(old.body, old.headers[SIGNATURE_HEADER], now + 3600) is None
