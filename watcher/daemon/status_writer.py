"""Status write-back from the daemon: what a push changed, and what the policy newly
holds, gates or keeps waiting, told to each source's reporter on a thread of its own
(a registry that is slow to take tags never slows a reconcile)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from watcher.daemon.metrics import DaemonMetrics
from watcher.spine.source_kinds import StatusReporter

log = logging.getLogger(__name__)

Key = tuple[str, str, str]


def policy_news(before: Mapping[Key, Any], result: dict[str, Any]) -> list[dict[str, Any]]:
    """Releases the policy newly holds, gates or keeps waiting (for status tags): said
    once when the state begins, not on every reconcile while it lasts."""
    news = []
    for release in result.get("releases") or ():
        state = release.get("state")
        key = (str(release["source"]), str(release["name"]), str(release["stage"]))
        if state in ("held", "gated", "waiting") and before.get(key) != state:
            news.append(release)
            log.info(
                "%s %s %r in %s: %s",
                str(state).upper(), release.get("kind"), str(release.get("name"))[:80],
                release.get("stage"), release.get("reason"),
            )  # fmt: skip
    return news


class StatusWriter:
    """One reporter per source that can take status tags, fed after each reconcile."""

    def __init__(self, reporters: Mapping[str, StatusReporter], metrics: DaemonMetrics) -> None:
        self._reporters = reporters
        self._metrics = metrics
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="status") if reporters else None

    def after(self, result: dict[str, Any], news: list[dict[str, Any]]) -> None:
        """A pushed result's releases, or else the policy's news, to the reporters."""
        if self._pool is None:
            return
        if result.get("pushed"):
            self._pool.submit(self._write, result)
        elif news:
            self._pool.submit(self._write, {**result, "releases": news})

    def shutdown(self, wait: bool) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=True)

    def _write(self, result: dict[str, Any]) -> None:
        """Each source's reporter gets its releases; failures only logged (a reporter never
        raises)."""
        by_source: dict[str, list[dict[str, Any]]] = {}
        for release in result.get("releases") or ():
            reporter = str(release.get("source"))
            if reporter not in self._reporters and len(self._reporters) == 1:
                reporter = next(iter(self._reporters))  # a format-1 folder names no source
            by_source.setdefault(reporter, []).append(release)
        for name, releases in by_source.items():
            reporter_of = self._reporters.get(name)
            if reporter_of is None:
                continue
            written, failed = reporter_of.report(releases, float(result["finished_at"]))
            self._metrics.status_tags.labels("ok").inc(written)
            self._metrics.status_tags.labels("failed").inc(failed)
