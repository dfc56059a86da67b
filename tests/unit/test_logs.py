"""Every log line is masked on its way out: headers, key ids, URL user info, known secrets.

The levels themselves (libraries quiet by default, their debug logs only at -vvv)
are checked in tests/integration/test_messages.py; a real S3 reconcile at -vv and
-vvv in tests/reliability/test_secrets.py.
"""

from __future__ import annotations

import json
import logging

import pytest

from watcher import logs

KEY_ID = "AKIAZZTESTKEYID0042"


@pytest.mark.parametrize(
    "line",
    [
        # botocore's "Sending http request" at DEBUG: headers as a dict of bytes
        "headers={'x-amz-date': b'20250101T000000Z', 'Authorization': b'AWS4-HMAC-SHA256 "
        f"Credential={KEY_ID}/20250101/us-east-1/s3/aws4_request, SignedHeaders=host, "
        "Signature=abc'}",
        f"GET /b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={KEY_ID}%2F20250101%2F",
        f"Authorization: Basic {KEY_ID}",
        f"{{'X-Amz-Security-Token': b'{KEY_ID}'}}",
        f"fetching https://deploy-bot:{KEY_ID}@git.example/org/repo.git",
        f"https://{KEY_ID}@git.example/org/repo.git",
    ],
)
def test_credential_shaped_text_is_masked(line: str) -> None:
    masked = logs.redact(line)
    assert KEY_ID not in masked and logs.MASK in masked, masked
    assert "Signature=abc" not in masked  # a header is masked whole: a signature replays


def test_known_secrets_are_masked_in_text_and_json_lines() -> None:
    logs.hide(["Tr0ub4dor&3-unique", "ab"])  # too short to mask: would garble every line
    record = logging.LogRecord(
        "botocore.endpoint", logging.DEBUG, __file__, 1, "password=%s ab", ("Tr0ub4dor&3-unique",),
        None,
    )  # fmt: skip
    text = logs.TextFormatter("%(message)s").format(record)
    entry = json.loads(logs.JsonFormatter().format(record))
    assert text == "password=*** ab"
    assert entry["message"] == "password=*** ab"
    assert logs.redact("db at Tr0ub4dor%263-unique") == "db at ***"  # as written in a URL


def test_ordinary_lines_are_left_as_they_are() -> None:
    line = "deployed 'fraud' v7 to production (commit 1a2b3c) from http://mlflow:5000/#/models"
    assert logs.redact(line) == line
