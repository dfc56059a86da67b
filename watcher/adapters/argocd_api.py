"""Reading Argo CD's Applications: sync status, health, synced revision. Read only.

One request per poll, ``GET /api/v1/applications?selector=…`` with the labels
the ApplicationSet of ``gitops-watcher argocd`` puts on every Application it
makes (``app.kubernetes.io/managed-by=gitops-watcher``,
``app.kubernetes.io/part-of=<argocd.name>``); the answer is a
``v1alpha1ApplicationList`` whose ``items`` carry ``metadata.name`` and
``status.sync`` (``status``, ``revision``), ``status.health`` (``status``) and
``status.reconciledAt`` (Argo CD's API, ``assets/swagger.json`` of argoproj/argo-cd:
ApplicationService ``List``). The token is ``ARGOCD_AUTH_TOKEN``, sent as a
bearer token, as the Argo CD CLI does.
"""

from __future__ import annotations

import logging
from typing import Any

import requests

from watcher.closing import Closing
from watcher.core.app_health import AppStatus
from watcher.core.events import epoch_seconds
from watcher.errors import PermanentError, TemporaryError

log = logging.getLogger(__name__)

APPLICATIONS = "/api/v1/applications"


class ArgoCDUnavailableError(TemporaryError):
    """Argo CD's API could not be read now."""


class ArgoCDAuthError(PermanentError):
    """Argo CD's API refused our token."""


class ApplicationReader(Closing):
    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        selector: str,
        timeout_seconds: float = 10.0,
        ca_bundle: str = "",
    ) -> None:
        self._url = api_url.rstrip("/") + APPLICATIONS
        self._selector = selector
        self._timeout = timeout_seconds
        self._session = requests.Session()
        self._session.headers["Accept"] = "application/json"
        if token:
            self._session.headers["Authorization"] = f"Bearer {token}"
        if ca_bundle:
            self._session.verify = ca_bundle

    def __repr__(self) -> str:  # never the token
        return f"ApplicationReader({self._url!r})"

    def applications(self) -> dict[str, AppStatus]:
        """Every Application of the ApplicationSet, by name."""
        try:
            answer = self._session.get(
                self._url, params={"selector": self._selector}, timeout=self._timeout
            )
        except requests.RequestException as exc:
            raise ArgoCDUnavailableError(
                f"cannot reach Argo CD at {self._url}: {type(exc).__name__}"
            ) from exc
        with answer:
            if answer.status_code in (401, 403):
                raise ArgoCDAuthError(
                    f"Argo CD refused the token (HTTP {answer.status_code})",
                    hint="set ARGOCD_AUTH_TOKEN to a token of an account that may get "
                    "applications (docs/observability.md)",
                )
            if answer.status_code != 200:
                raise ArgoCDUnavailableError(
                    f"Argo CD answered HTTP {answer.status_code} to {self._url}"
                )
            try:
                data = answer.json()
            except ValueError as exc:
                raise ArgoCDUnavailableError("Argo CD's answer is not JSON") from exc
        items = data.get("items") if isinstance(data, dict) else None
        return {app.name: app for app in map(_status, items or ()) if app is not None}

    def close(self) -> None:
        self._session.close()


def _status(item: Any) -> AppStatus | None:
    if not isinstance(item, dict):
        return None
    name = str((item.get("metadata") or {}).get("name") or "")
    status = item.get("status") or {}
    if not name or not isinstance(status, dict):
        return None
    sync = status.get("sync") or {}
    health = status.get("health") or {}
    return AppStatus(
        name=name,
        sync=str(sync.get("status") or "Unknown"),
        health=str(health.get("status") or "Unknown"),
        revision=str(sync.get("revision") or ""),
        reconciled_at=epoch_seconds(status.get("reconciledAt")),
    )


def selector(applicationset: str) -> str:
    return f"app.kubernetes.io/managed-by=gitops-watcher,app.kubernetes.io/part-of={applicationset}"
