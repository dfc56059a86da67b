"""Write deployment status back to MLflow as model-version tags.

A reviewer looking at a version in the MLflow UI sees which commit deploys it
to which stage. Best effort by design: a failed write is logged and counted,
never raised, because status must never hold back a promotion.
"""

from __future__ import annotations

import logging

import requests

from watcher.config.settings import Credentials, RegistrySettings
from watcher.core.names import describe
from watcher.sources.mlflow.mlflow_http import MlflowHttp

log = logging.getLogger(__name__)

SET_TAG_PATH = "/api/2.0/mlflow/model-versions/set-tag"
_MAX_VALUE = 5000


class RegistryStatusWriter(MlflowHttp):
    """Sets ``model-versions/set-tag``; ``set_tags`` returns how many writes succeeded."""

    def __init__(self, settings: RegistrySettings, credentials: Credentials) -> None:
        super().__init__(settings, credentials)

    def set_tags(self, name: str, version: str, tags: dict[str, str]) -> int:
        written = 0
        for key, value in tags.items():
            body = {"name": name, "version": version, "key": key, "value": value[:_MAX_VALUE]}
            try:
                response = self._session.post(
                    self._base + SET_TAG_PATH, json=body, timeout=self._settings.timeout_seconds
                )
            except requests.RequestException as exc:
                log.warning(
                    "cannot set status tag %s on model %s version %s at %s: %s",
                    key, describe(name), version, self._origin, type(exc).__name__,
                )  # fmt: skip
                return written
            if response.status_code != 200:
                log.warning(
                    "the registry at %s refused status tag %s on model %s version %s (HTTP %d)",
                    self._origin, key, describe(name), version, response.status_code,
                )  # fmt: skip
                return written
            written += 1
        return written
