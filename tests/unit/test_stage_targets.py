"""What a stage's target can serve from is checked before any work (issue 17: refuse what
cannot work, warn where it works on one machine only)."""

from __future__ import annotations

import logging

import pytest

from watcher import wiring
from watcher.config.settings import Settings
from watcher.errors import ConfigError


def settings(target: str, **artifacts: object) -> Settings:
    return Settings.model_validate(
        {
            "stages": [{"name": "production", "select": [{"alias": "champion"}], "target": target}],
            "artifacts": artifacts,
        }
    )


def test_kserve_needs_an_s3_copy() -> None:
    with pytest.raises(ConfigError, match="'kserve' cannot serve from a 'local' copy") as info:
        wiring.check_stage_targets(settings("kserve"))
    assert "it needs s3" in str(info.value)
    wiring.check_stage_targets(settings("kserve", s3={"bucket": "models"}))
    wiring.check_stage_targets(settings("kserve"), copies=False)  # render --snapshot


def test_a_local_copy_is_a_warning_for_the_daemon_and_a_note_elsewhere(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="watcher"):
        wiring.check_stage_targets(settings("deployment"), notes=logging.WARNING)
        wiring.check_stage_targets(settings("deployment"))
    levels = [r.levelno for r in caplog.records if "local folder copy" in r.getMessage()]
    assert levels == [logging.WARNING, logging.INFO]


def test_no_copy_without_a_registry_address_for_the_pods_is_warned_about(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="watcher"):
        wiring.check_stage_targets(settings("deployment", store="none"), notes=logging.WARNING)
    assert any("MLFLOW_TRACKING_URI" in r.getMessage() for r in caplog.records)
