"""Status write-back: what is deployed goes back to the registry as model-version tags.

``gitops.<stage>.commit``, ``.state`` and ``.updated`` on the version a push deployed
or removed (or a pull request proposes: ``.state`` is ``pr-open``, with
``.pull_request``; or the promotion policy holds, gates or keeps it waiting:
``.state`` and ``.reason`` on the version that waits), and ``.health`` and ``.synced``
when Argo CD's view of it changes (``argocd.api_url``), so a reviewer sees it in the
MLflow UI. Best effort: status must never hold back a promotion, so a failure is
logged and counted, never raised.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from watcher.config.daemon_settings import DaemonSettings
from watcher.sources.mlflow.registry_status import RegistryStatusWriter
from watcher.sources.mlflow.settings_view import MlflowEndpoint
from watcher.spine.source_kinds import StatusReporter

log = logging.getLogger(__name__)


class TagReporter:
    """Writes the status tags of one registry's model releases."""

    def __init__(self, writer: RegistryStatusWriter, tag_prefix: str) -> None:
        self._writer = writer
        self._prefix = tag_prefix

    def report(self, releases: Sequence[Mapping[str, Any]], finished_at: float) -> tuple[int, int]:
        updated = datetime.fromtimestamp(finished_at, UTC).isoformat(timespec="seconds")
        written = failed = 0
        for release in releases:
            found = self._tags(release, updated)
            if found is None:
                continue
            version, tags = found
            try:
                done = self._writer.set_tags(str(release["name"]), version, tags)
            except Exception:  # status must never stop anything
                log.exception("status write-back crashed")
                done = 0
            written += done
            failed += len(tags) - done
        return written, failed

    def _tags(self, release: Mapping[str, Any], updated: str) -> tuple[str, dict[str, str]] | None:
        """The version to tag and its tags; None when this release's state is not told."""
        state = release.get("state")
        if release.get("kind") != "model":
            return None
        stage = str(release["stage"])
        if "argocd_health" in release and release.get("revision"):
            synced = str(bool(release.get("argocd_synced"))).lower()
            health = {
                f"{self._prefix}{stage}.health": str(release["argocd_health"]),
                f"{self._prefix}{stage}.synced": synced,
            }
            return str(release["revision"]), health
        if state in POLICY_STATES:
            # On the version the registry selects: the reviewer sees why it does not run.
            version = str(release.get("candidate") or "")
            tags = {
                f"{self._prefix}{stage}.state": str(state),
                f"{self._prefix}{stage}.reason": str(release.get("reason") or ""),
                f"{self._prefix}{stage}.updated": updated,
            }
            return (version, tags) if version else None
        if state not in ("deployed", "removed", "pr-open") or not release.get("revision"):
            return None
        if state == "pr-open" and not release.get("commit"):
            return None  # an open pull request said so when it was opened or updated
        tags = {
            f"{self._prefix}{stage}.commit": str(release.get("commit") or ""),
            f"{self._prefix}{stage}.state": str(state),
            f"{self._prefix}{stage}.updated": updated,
        }
        pull_request = release.get("pull_request")
        if isinstance(pull_request, Mapping) and pull_request.get("url"):
            tags[f"{self._prefix}{stage}.pull_request"] = str(pull_request["url"])
        return str(release["revision"]), tags

    def close(self) -> None:
        self._writer.close()


#: States of the promotion policy told on the version that waits (docs/policy.md).
POLICY_STATES = frozenset({"held", "gated", "waiting"})


def status_reporters(
    endpoints: Sequence[MlflowEndpoint], daemon: DaemonSettings
) -> dict[str, StatusReporter]:
    """A reporter per registry with a REST API, when status write-back is on."""
    if not daemon.status_writeback.enabled:
        return {}
    reporters: dict[str, StatusReporter] = {}
    for endpoint in endpoints:
        if not endpoint.configured:
            continue
        if endpoint.registry.tracking_uri.startswith(("http://", "https://")):
            writer = RegistryStatusWriter(endpoint.registry, endpoint.credentials)
            reporters[endpoint.name] = TagReporter(writer, daemon.status_writeback.tag_prefix)
        else:
            log.warning(
                "status write-back needs the registry's REST API; registry %s has no "
                "http(s) tracking URI, so no status tags are written for it",
                endpoint.name,
            )
    return reporters
