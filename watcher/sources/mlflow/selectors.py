"""Move a stage's selector in an MLflow registry: its alias, or a registry stage.

For ``gitops-watcher rollback``: the command only moves the registry; the next
reconcile deploys what it now selects. It needs an identity that may set aliases
(or transition stages): a refusal says so.
"""

from __future__ import annotations

import requests

from watcher.core.stages import VersionSelector
from watcher.errors import RegistryAuthError, RegistryError, RegistryUnavailableError
from watcher.sources.mlflow.mlflow_http import AUTH_HINT, MlflowHttp

ALIAS_PATH = "/api/2.0/mlflow/registered-models/alias"
TRANSITION_PATH = "/api/2.0/mlflow/model-versions/transition-stage"
VERSION_PATH = "/api/2.0/mlflow/model-versions/get"


class SelectorWriter(MlflowHttp):
    """Points a selector at a version, after checking that the version exists."""

    def version_exists(self, name: str, version: str) -> bool:
        answer = self._get(VERSION_PATH, {"name": name, "version": version}, missing_ok=True)
        return answer is not None

    def point(self, selector: VersionSelector, name: str, version: str) -> str:
        """Move ``selector`` to ``version``; returns what was moved, for the user."""
        if selector.alias is not None:
            self._post(ALIAS_PATH, {"name": name, "alias": selector.alias, "version": version})
            return f"alias {selector.alias!r}"
        stage = selector.registry_stage or ""
        self._post(
            TRANSITION_PATH,
            {"name": name, "version": version, "stage": stage, "archive_existing_versions": True},
        )
        return f"registry stage {stage!r}"

    def _post(self, path: str, body: dict[str, object]) -> None:
        try:
            response = self._session.post(
                self._base + path, json=body, timeout=self._settings.timeout_seconds
            )
        except requests.RequestException as exc:
            raise RegistryUnavailableError(
                f"cannot reach the model registry at {self._origin}: {type(exc).__name__}"
            ) from exc
        if response.status_code in (401, 403):
            raise RegistryAuthError(
                f"the model registry at {self._origin} refused to move the selector "
                f"(HTTP {response.status_code})",
                hint=f"rollback needs an identity that may set aliases: {AUTH_HINT}",
            )
        if response.status_code != 200:
            raise RegistryError(
                f"the model registry at {self._origin} refused {path} "
                f"(HTTP {response.status_code}): {self._error_text(response)}"
            )
