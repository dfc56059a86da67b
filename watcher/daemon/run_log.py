"""What the daemon says in its log about each reconcile and its triggers: no one reads a
daemon's stdout, so what failed, and what only the resync would see, goes here."""

from __future__ import annotations

import logging
from typing import Any

from watcher.config.daemon_settings import DaemonSettings
from watcher.spine.triggers import PollTrigger, Trigger, WebhookTrigger

log = logging.getLogger("watcher.daemon.service")


def log_failures(result: dict[str, Any]) -> None:
    """No one reads a daemon's stdout: what failed goes to the log, once per reconcile."""
    for release in result.get("releases") or ():
        if release.get("state") == "failed":
            log.warning(
                "cannot deploy %s %r in %s (%s): %s",
                release.get("kind"),
                str(release.get("name"))[:80],
                release.get("stage"),
                release.get("error_kind"),
                release.get("error"),
            )
    warned = [release for release in result.get("releases") or () if release.get("warning")]
    if warned:
        log.warning(
            "%d deployment(s) kept as deployed; the first, %s %r in %s: %s",
            len(warned),
            warned[0].get("kind"),
            str(warned[0].get("name"))[:80],
            warned[0].get("stage"),
            warned[0].get("warning"),
        )
    for problem in result.get("problems") or ():
        log.warning("%s", problem.get("error"))
    for source in result.get("sources") or ():
        if not source.get("ok"):
            log.warning("cannot read source %r: %s", source.get("name"), source.get("error"))


def log_triggers(sources: list[str], triggers: list[Trigger], config: DaemonSettings) -> None:
    """Name each active trigger at start-up, and each source only the resync will see."""
    for trigger in triggers:
        if isinstance(trigger, PollTrigger):
            log.info("trigger: %s every %.1f s", trigger.describe, trigger.interval_seconds)
        elif isinstance(trigger, WebhookTrigger):
            log.info("trigger: %s", trigger.describe)
        else:
            log.info("trigger: %s", trigger.describe)
    seen = {t.source for t in triggers if not isinstance(t, WebhookTrigger)}
    for hook in triggers:
        if isinstance(hook, WebhookTrigger) and hook.enabled:
            seen.update(hook.sources or sources)
    for name in sources:
        if name not in seen:
            log.warning(
                "source %r: nothing but the resync (every %.0f s) sees its changes; see "
                "docs/daemon.md for the triggers each kind of source offers",
                name,
                config.resync_interval_seconds,
            )
