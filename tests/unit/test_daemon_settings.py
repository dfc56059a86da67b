"""daemon.* settings: defaults, validation, and the environment variables."""

from __future__ import annotations

import argparse

import pytest
from pydantic import ValidationError

from watcher.config.daemon_settings import DaemonSettings
from watcher.config.settings import Settings
from watcher.daemon.command import add_run_parser, resolve_settings
from watcher.errors import ConfigError


def test_defaults_and_every_field_documented() -> None:
    daemon = DaemonSettings()
    assert daemon.listen_address == ("127.0.0.1", 8080)
    assert daemon.probe_interval_seconds == 5 and daemon.status_writeback.enabled is False
    assert daemon.status_writeback.tag_prefix == "gitops."
    for model in (DaemonSettings, type(daemon.status_writeback)):
        assert all(field.description for field in model.model_fields.values()), model
    with pytest.raises(ValidationError):
        daemon.model_copy().__setattr__("listen", "x")  # frozen


@pytest.mark.parametrize(
    "bad",
    [
        {"listen": "8080"},
        {"listen": "host:99999"},
        {"unknown": 1},
        {"backoff_min_seconds": 10, "backoff_max_seconds": 1},
        {"lock_renew_seconds": 10, "lock_takeover_seconds": 15},
        {"status_writeback": {"tag_prefix": "deploy."}},
        {"status_writeback": {"tag_prefix": "gitops"}},
        {"resync_interval_seconds": 0},
    ],
)
def test_bad_values_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        DaemonSettings.model_validate(bad)


def test_ipv6_and_all_addresses() -> None:
    assert DaemonSettings(listen="[::1]:9000").listen_address == ("::1", 9000)
    assert DaemonSettings(listen=":9000").listen_address == ("0.0.0.0", 9000)  # noqa: S104


def test_environment_variables_set_daemon_keys_including_nested_ones() -> None:
    from watcher.config.loader import load_settings

    env = {
        "GITOPS_WATCHER_DAEMON__RESYNC_INTERVAL_SECONDS": "7",
        "GITOPS_WATCHER_DAEMON__STATUS_WRITEBACK__ENABLED": "true",
        "GITOPS_WATCHER_WEBHOOK_SECRET": "not-a-setting",
    }
    settings, _credentials = load_settings(None, env)
    daemon = _daemon_of(settings)
    assert daemon.resync_interval_seconds == 7 and daemon.status_writeback.enabled
    with pytest.raises(ConfigError, match=r"daemon\.listen.*GITOPS_WATCHER_DAEMON__LISTEN"):
        load_settings(None, {"GITOPS_WATCHER_DAEMON__LISTEN": "nope"})


def test_command_line_options_override_settings() -> None:
    parser = argparse.ArgumentParser()
    add_run_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["run", "--listen", "127.0.0.1:0", "--probe-interval", "2", "--no-watch"]
    )
    daemon = resolve_settings(args, Settings())
    assert daemon.listen == "127.0.0.1:0" and daemon.probe_interval_seconds == 2
    assert daemon.watch_database is False
    with pytest.raises(ConfigError):
        resolve_settings(parser.parse_args(["run", "--resync-interval", "-1"]), Settings())


def _daemon_of(settings: Settings) -> DaemonSettings:
    return settings.daemon
