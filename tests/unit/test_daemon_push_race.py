"""A source whose pushes all lost to another writer goes again at once, a few times.

Shards on one branch lose pushes to each other in a burst: that is contention, not an
outage, and backing off (seconds, doubling) left two of three shards 20 s behind in
``bench/shards.py``. A remote that rejects everything still gets the backoff after
``RACES_IN_A_ROW`` runs in a row. The daemon here is real, its reconcile a function.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from watcher.config.daemon_settings import DaemonSettings
from watcher.config.settings import Credentials, Settings
from watcher.daemon.runner import RunRequest
from watcher.daemon.service import RACES_IN_A_ROW, Daemon
from watcher.daemon.source_runners import SourceRunners
from watcher.errors import PushRejectedError


class Held:
    def valid(self) -> bool:
        return True


def test_a_lost_push_race_goes_again_at_once_then_backs_off(tmp_path: Path) -> None:
    (tmp_path / "specs").mkdir()
    settings = Settings.model_validate(
        {
            "state_dir": str(tmp_path / "state"),
            "git": {"repo_url": str(tmp_path / "remote.git")},
            "functions": [{"name": "team", "folder": str(tmp_path / "specs")}],
            "artifacts": {"store": "none"},
        }
    )
    daemon = Daemon(settings, Credentials(), DaemonSettings(), env={})
    asked: list[tuple[str, Any]] = []
    runners = SourceRunners(["team"], lambda source, request: True, (1.0, 2.0))
    daemon._runners = runners  # not started: a request only waits in it
    original = runners.ask
    runners.ask = lambda reason, observed_at=None, **kw: (  # type: ignore[method-assign]
        asked.append((reason, kw.get("hint"))), original(reason, observed_at, **kw)
    )

    def lost(dry_run: bool, **_: Any) -> dict[str, Any]:
        raise PushRejectedError("another writer pushed first (5 attempts)")

    request = RunRequest(("webhook",), time.time(), hint=frozenset({"churn"}))
    goes = [daemon._job(lost, Held(), "team", request) for _ in range(RACES_IN_A_ROW + 1)]  # type: ignore[arg-type]
    assert goes == [True] * RACES_IN_A_ROW + [False]  # then the runner's backoff
    assert asked == [("push-race", frozenset({"churn"}))] * RACES_IN_A_ROW
    assert daemon.board.running == 0 and daemon.board.failures_in_a_row == 1
    # A run that completes resets the count.
    done = {"releases": [], "finished_at": time.time(), "started_at": time.time()}
    assert daemon._job(lambda dry_run, **_: done, Held(), "team", request)  # type: ignore[arg-type]
    assert daemon._job(lost, Held(), "team", request)  # type: ignore[arg-type]
