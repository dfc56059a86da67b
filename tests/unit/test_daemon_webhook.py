"""Webhook checks: MLflow's exact signature; forged, stale, replayed and odd bodies refused."""

from __future__ import annotations

import json

import pytest

from watcher.sources.mlflow.webhook import ReplayGuard, WebhookVerifier, sign

SECRET = "s3cr3t-for-tests"
NOW = 1_700_000_000.0


def headers(body: bytes, delivery: str = "d-1", stamp: int = int(NOW), secret: str = SECRET):  # type: ignore[no-untyped-def]
    return {
        "X-MLflow-Delivery-Id": delivery,
        "X-MLflow-Timestamp": str(stamp),
        "X-MLflow-Signature": sign(secret, delivery, str(stamp), body),
    }


BODY = json.dumps(
    {"entity": "model_version_alias", "action": "created", "timestamp": "x", "data": {}}
).encode()


@pytest.fixture
def verifier() -> WebhookVerifier:
    return WebhookVerifier(SECRET, max_age_seconds=300, replay_window=100, clock=lambda: NOW)


def test_our_signature_is_the_one_mlflow_sends() -> None:
    from mlflow.webhooks.delivery import _generate_hmac_signature

    payload = BODY.decode()
    assert sign(SECRET, "abc", "1700000000", BODY) == _generate_hmac_signature(
        SECRET, "abc", "1700000000", payload
    )


def test_a_good_delivery_is_accepted_once_and_its_replay_refused(verifier: WebhookVerifier) -> None:
    verdict = verifier.verify(headers(BODY), BODY)
    assert (verdict.status, verdict.event, verdict.timestamp) == (
        202,
        "model_version_alias.created",
        NOW,
    )
    assert verifier.verify(headers(BODY), BODY).outcome == "replayed"


@pytest.mark.parametrize(
    ("make", "outcome"),
    [
        (lambda: headers(BODY, secret="wrong"), "bad_signature"),
        (lambda: {**headers(BODY), "X-MLflow-Signature": "v1,AAAA"}, "bad_signature"),
        (lambda: {**headers(BODY), "X-MLflow-Signature": "v2,whatever"}, "bad_signature"),
        (lambda: {**headers(BODY), "X-MLflow-Signature": "v1,%%%not-base64"}, "bad_signature"),
        (lambda: {k: v for k, v in headers(BODY).items() if k != "X-MLflow-Signature"}, "unsigned"),
        (lambda: {**headers(BODY), "X-MLflow-Delivery-Id": "other"}, "bad_signature"),
        (lambda: headers(BODY, stamp=int(NOW) - 301), "stale"),
        (lambda: headers(BODY, stamp=int(NOW) + 301), "stale"),
        (lambda: headers(BODY, delivery="x" * 500), "unsigned"),
    ],
)
def test_forged_unsigned_and_stale_deliveries_get_401(
    verifier: WebhookVerifier,
    make,
    outcome: str,  # type: ignore[no-untyped-def]
) -> None:
    verdict = verifier.verify(make(), BODY)
    assert (verdict.status, verdict.outcome) == (401, outcome)


def test_a_tampered_body_fails_the_signature(verifier: WebhookVerifier) -> None:
    assert verifier.verify(headers(BODY), BODY + b" ").status == 401


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b"\xff\xfe", b""])
def test_signed_but_malformed_bodies_get_400_and_do_not_burn_the_delivery_id(
    verifier: WebhookVerifier, body: bytes
) -> None:
    assert verifier.verify(headers(body), body).status == 400
    assert verifier.verify(headers(BODY), BODY).status == 202


def test_without_a_secret_webhooks_are_off() -> None:
    off = WebhookVerifier(None, max_age_seconds=300, replay_window=10)
    assert off.verify(headers(BODY), BODY).status == 404
    assert "s3cr3t" not in repr(WebhookVerifier(SECRET, max_age_seconds=1, replay_window=1))


def test_the_replay_memory_is_bounded() -> None:
    now = [0.0]
    guard = ReplayGuard(capacity=50, max_age=10, clock=lambda: now[0])
    for i in range(1000):
        assert guard.first_time(f"id-{i}")
    assert len(guard) <= 50
    assert not guard.first_time("id-999")
    now[0] = 100.0  # older than twice the age window: forgotten
    assert guard.first_time("new") and len(guard) == 1
