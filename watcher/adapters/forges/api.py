"""JSON over HTTP for the forge clients: one session, the token in a header, and one
place that turns an HTTP failure into our error family with what to fix.

The token travels only in the request header the forge documents; every message
that leaves this module is cleaned of it, and no URL ever carries it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests

from watcher.errors import (
    ForgeAuthError,
    ForgeError,
    ForgeRefusedError,
    ForgeUnavailableError,
)

log = logging.getLogger(__name__)

_RETRY_LATER = "the next reconcile tries again"


@dataclass(frozen=True)
class ForgeTarget:
    """Which forge, where, which repository, and what to tell the user about its token."""

    #: ``GitHub``, ``GitLab``, ``Gitea``.
    name: str
    api_url: str
    repository: str
    #: What the token must be and where it is read from, for messages.
    token_hint: str

    def describe(self) -> str:
        return f"{self.name} at {self.api_url} (repository {self.repository})"


class JsonApi:
    """Requests to one forge's API root with one header carrying the token."""

    def __init__(
        self,
        target: ForgeTarget,
        token: str,
        auth_header: tuple[str, str],
        *,
        timeout: float,
        extra_headers: Mapping[str, str] | None = None,
    ) -> None:
        self.target = target
        self._token = token
        self._timeout = timeout
        self._session = requests.Session()
        self._session.trust_env = False  # no .netrc: the only credential is the token
        self._session.headers.update({"Accept": "application/json", **(extra_headers or {})})
        if token:
            self._session.headers[auth_header[0]] = auth_header[1]

    def close(self) -> None:
        self._session.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str | int] | None = None,
        ok: tuple[int, ...] = (200,),
        tolerate: tuple[int, ...] = (),
    ) -> tuple[int, Any]:
        """(status, decoded JSON) of one request; a status outside ``ok`` and ``tolerate``
        raises a ForgeError that names the forge, the request and what to fix."""
        if not self._token:
            raise ForgeAuthError(
                f"no API token for {self.target.describe()}", hint=self.target.token_hint
            )
        what = f"{method} {path}"
        try:
            response = self._session.request(
                method, self.target.api_url + path, json=json, params=params,
                timeout=self._timeout,
            )  # fmt: skip
        except requests.RequestException as exc:
            raise ForgeUnavailableError(
                f"cannot reach {self.target.describe()}: {type(exc).__name__} on {what}",
                hint=f"check git.forge.api_url and that the forge is up; {_RETRY_LATER}",
            ) from None
        status = response.status_code
        data = _decode(response)
        if status in ok or status in tolerate:
            return status, data
        raise self._error(status, what, data, response.headers)

    def _error(self, status: int, what: str, data: Any, headers: Mapping[str, str]) -> ForgeError:
        said = self._clean(_message(data))
        where = f"{self.target.describe()} answered HTTP {status} to {what}"
        detail = f"{where}: {said}" if said else where
        rate_limited = status == 429 or (
            status == 403 and str(headers.get("x-ratelimit-remaining", "")) == "0"
        )
        if rate_limited or status >= 500:
            return ForgeUnavailableError(detail, hint=f"the forge is busy or down; {_RETRY_LATER}")
        if status == 401:
            return ForgeAuthError(f"{where}: the token was refused", hint=self.target.token_hint)
        if status == 403:
            return ForgeAuthError(
                f"{detail} (the token lacks a permission)", hint=self.target.token_hint
            )
        if status == 404:
            return ForgeRefusedError(
                detail,
                hint="check git.forge.repository and git.forge.api_url, and that the token "
                "can see the repository",
            )
        return ForgeRefusedError(detail, hint="see the forge's message above")

    def _clean(self, text: str) -> str:
        text = " ".join(text.split())[:300]
        return text.replace(self._token, "***") if self._token else text


def _decode(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _message(data: Any) -> str:
    """The forge's own words: GitHub and Gitea say ``message``, GitLab ``message`` or
    ``error``; GitHub adds ``errors``."""
    if not isinstance(data, Mapping):
        return ""
    parts = [str(data.get(key)) for key in ("message", "error") if data.get(key)]
    for item in data.get("errors") or ():
        if isinstance(item, Mapping) and item.get("message"):
            parts.append(str(item["message"]))
        elif isinstance(item, str):
            parts.append(item)
    return "; ".join(parts)


def said(data: Any) -> str:
    """The forge's message in a reply, for the log."""
    return _message(data)
