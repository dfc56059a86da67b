"""An MLflow tracking server's REST API: one session with retries, and errors we can act on.

Plain HTTP with ``requests`` rather than ``mlflow.MlflowClient``: the daemon stays
free of mlflow's heavy dependency tree, and keeps full control of paging, retries,
timeouts and how each failure is translated into our errors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from watcher.config.settings import Credentials, RegistrySettings
from watcher.core.urls import redact_url
from watcher.errors import RegistryAuthError, RegistryError, RegistryUnavailableError

SEARCH_PATH = "/api/2.0/mlflow/registered-models/search"
RETRY_STATUSES = (429, 500, 502, 503, 504)
AUTH_HINT = (
    "check MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, "
    "and that this identity may read the model registry"
)

#: OpenSSL's words for "the other side did not answer with TLS" (1.1, 3.0, 3.2+).
_PLAIN_HTTP_MARKERS = (
    "wrong version number",
    "record layer failure",
    "packet length too long",
    "unknown protocol",
)


class MlflowHttp:
    """A client of one MLflow server: sessions with retries, GETs that raise our errors."""

    def __init__(
        self,
        settings: RegistrySettings,
        credentials: Credentials,
        *,
        retries: int = 3,
        backoff_seconds: float = 0.5,
    ) -> None:
        uri = settings.tracking_uri.rstrip("/")
        if urlsplit(uri).scheme not in ("http", "https"):
            raise RegistryError(
                f"registry tracking URI {redact_url(uri)!r} is not an http(s) URL",
                hint="set registry.tracking_uri (or MLFLOW_TRACKING_URI) to the MLflow server",
            )
        self._settings = settings
        self._base = uri
        self._origin = redact_url(uri)
        self._retry = Retry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            backoff_factor=backoff_seconds,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=frozenset({"GET"}),
            raise_on_status=False,
            respect_retry_after_header=True,
        )
        self._session = self._new_session(credentials)

    def _new_session(self, credentials: Credentials) -> requests.Session:
        session = requests.Session()
        adapter = HTTPAdapter(max_retries=self._retry)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers["Accept"] = "application/json"
        if credentials.mlflow_token:
            session.headers["Authorization"] = f"Bearer {credentials.mlflow_token}"
        elif credentials.mlflow_username:
            session.auth = (credentials.mlflow_username, credentials.mlflow_password)
        if self._settings.insecure_tls:
            session.verify = False
        elif self._settings.ca_bundle:
            session.verify = self._settings.ca_bundle
        return session

    def close(self) -> None:
        self._session.close()

    def _get(
        self,
        path: str,
        params: Mapping[str, str | list[str]],
        *,
        missing_ok: bool = False,
        session: requests.Session | None = None,
    ) -> Mapping[str, Any] | None:
        url = self._base + path
        where = self._origin + path
        http = session or self._session
        try:
            response = http.get(url, params=params, timeout=self._settings.timeout_seconds)
        except requests.exceptions.SSLError as exc:
            if any(marker in str(exc).lower() for marker in _PLAIN_HTTP_MARKERS):
                raise RegistryError(
                    f"the model registry at {self._origin} does not speak TLS: "
                    "it answered an https:// request in plain http",
                    hint="use http:// in registry.tracking_uri (MLFLOW_TRACKING_URI), "
                    "or the server's TLS port",
                ) from exc
            raise RegistryError(
                f"TLS verification failed for the model registry at {self._origin}",
                hint="set registry.ca_bundle (MLFLOW_TRACKING_SERVER_CERT_PATH) to the server's CA",
            ) from exc
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise RegistryUnavailableError(
                f"cannot reach the model registry at {self._origin}: {type(exc).__name__}",
                hint="check that the MLflow server is up and registry.tracking_uri is right",
            ) from exc
        except requests.RequestException as exc:
            raise RegistryUnavailableError(
                f"request to {where} failed: {type(exc).__name__}"
            ) from exc
        status = response.status_code
        if status in (401, 403):
            raise RegistryAuthError(
                f"the model registry at {self._origin} refused our credentials (HTTP {status})",
                hint=AUTH_HINT,
            )
        if status in RETRY_STATUSES:
            raise RegistryUnavailableError(
                f"the model registry at {self._origin} answered HTTP {status} "
                f"on {path}: {self._error_text(response)}",
                hint="retried with backoff; the next reconcile tries again",
            )
        if status == 404 and missing_ok and self._error_code(response) == "RESOURCE_DOES_NOT_EXIST":
            return None
        if status != 200:
            raise self._bad_answer(path, f"HTTP {status}: {self._error_text(response)}")
        try:
            body = response.json()
        except ValueError as exc:
            raise self._bad_answer(path, "the answer is not JSON") from exc
        if not isinstance(body, Mapping):
            raise self._bad_answer(path, "the answer is not a JSON object")
        return body

    def _list(
        self, body: Mapping[str, Any] | None, key: str, path: str = SEARCH_PATH
    ) -> Sequence[Mapping[str, Any]]:
        value = (body or {}).get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            raise self._bad_answer(path, f"{key!r} is not a list of objects")
        return value

    def _field(self, body: Mapping[str, Any], key: str) -> str:
        value = body.get(key)
        if value is None or value == "":
            raise self._bad_answer(SEARCH_PATH, f"a record lacks {key!r}")
        return str(value)

    def _bad_answer(self, path: str, what: str) -> RegistryError:
        return RegistryError(
            f"unexpected answer from {self._origin}{path}: {what}",
            hint="check that registry.tracking_uri is the MLflow server's base URL "
            "(no /api suffix) and that nothing in between rewrites the MLflow API",
        )

    @staticmethod
    def _error_code(response: requests.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return ""
        return str(body.get("error_code") or "") if isinstance(body, Mapping) else ""

    @staticmethod
    def _error_text(response: requests.Response) -> str:
        text = " ".join(response.text.split())
        return text[:200] + ("…" if len(text) > 200 else "") if text else "(empty body)"
