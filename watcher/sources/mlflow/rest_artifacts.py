"""Runs and logged models of an MLflow server: where a version's files are, what it logged.

Run and logged-model lookups give the artifact roots of ``runs:/`` and
``models:/m-…`` sources and the metrics the promotion gates read;
``mlflow-artifacts:/`` files are listed and streamed through the server itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import requests

from watcher.errors import ArtifactAuthError, ArtifactSourceError, ArtifactUnavailableError
from watcher.sources.mlflow.mlflow_http import AUTH_HINT, RETRY_STATUSES, MlflowHttp

RUN_PATH = "/api/2.0/mlflow/runs/get"
LOGGED_MODEL_PATH = "/api/2.0/mlflow/logged-models/"
ARTIFACTS_PATH = "/api/2.0/mlflow-artifacts/artifacts"


class ArtifactEndpoints(MlflowHttp):
    """Artifact roots of runs and logged models, and the server's artifact proxy."""

    def run_artifact_uri(self, run_id: str) -> str:
        """The artifact root of a run, for ``runs:/<id>/…`` sources."""
        return self._artifact_uri(RUN_PATH, {"run_id": run_id}, "run", "run", run_id)

    def logged_model_artifact_uri(self, model_id: str) -> str:
        """Where an MLflow 3 logged model keeps its files, for ``models:/m-…`` sources."""
        path = LOGGED_MODEL_PATH + quote(model_id, safe="")
        return self._artifact_uri(path, {}, "model", "logged model", model_id)

    def _artifact_uri(
        self, path: str, params: Mapping[str, str], entity: str, label: str, ident: str
    ) -> str:
        """``<entity>.info.artifact_uri`` of a run or logged model, or a clear refusal."""
        answer = self._get(path, params, missing_ok=True)
        info = ((answer or {}).get(entity) or {}).get("info") or {}
        uri = info.get("artifact_uri") if isinstance(info, Mapping) else None
        if not uri:
            raise ArtifactSourceError(
                f"{label} {ident!r} is not known to the MLflow server at {self._origin}",
                hint=f"the version's source names a {label} that was deleted",
            )
        return str(uri)

    def run_metrics(self, run_id: str) -> dict[str, float]:
        """The latest value of each metric the run logged ({} for a run the server lacks)."""
        answer = self._get(RUN_PATH, {"run_id": run_id}, missing_ok=True) or {}
        data = (answer.get("run") or {}).get("data") or {}
        return _metric_values(self._list(data, "metrics", RUN_PATH), "key", "value")

    def logged_model_metrics(self, model_id: str) -> dict[str, float]:
        """An MLflow 3 logged model's own metrics, the last logged of each key."""
        path = LOGGED_MODEL_PATH + quote(model_id, safe="")
        answer = self._get(path, {}, missing_ok=True) or {}
        data = (answer.get("model") or {}).get("data") or {}
        return _metric_values(self._list(data, "metrics", path), "key", "value")

    def list_artifacts(self, path: str) -> list[tuple[str, bool, int]]:
        """One level of the server's artifact proxy: (path, is_dir, size) per entry."""
        answer = self._get(ARTIFACTS_PATH, {"path": path}, missing_ok=True) or {}
        entries = []
        for raw in self._list(answer, "files"):
            entries.append(
                (
                    str(raw.get("path") or ""),
                    bool(raw.get("is_dir")),
                    int(raw.get("file_size") or 0),
                )
            )
        return entries

    def open_artifact(self, path: str) -> requests.Response:
        """A streaming download of one file through the server's artifact proxy."""
        url = f"{self._base}{ARTIFACTS_PATH}/{quote(path)}"
        try:
            response = self._session.get(url, stream=True, timeout=self._settings.timeout_seconds)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise ArtifactUnavailableError(
                f"cannot download {path!r} from the MLflow server at {self._origin}: "
                f"{type(exc).__name__}",
                hint="the next reconcile tries again",
            ) from exc
        if response.status_code == 200:
            return response
        response.close()
        if response.status_code in (401, 403):
            raise ArtifactAuthError(
                f"the MLflow server at {self._origin} refused to serve artifact {path!r} "
                f"(HTTP {response.status_code})",
                hint=AUTH_HINT,
            )
        if response.status_code in RETRY_STATUSES:
            raise ArtifactUnavailableError(
                f"the MLflow server at {self._origin} answered HTTP {response.status_code} "
                f"for artifact {path!r}"
            )
        raise ArtifactSourceError(
            f"the MLflow server at {self._origin} has no artifact {path!r} "
            f"(HTTP {response.status_code})",
            hint="check that the server runs with artifact serving (--serve-artifacts)",
        )


def _metric_values(records: Sequence[Mapping[str, Any]], key: str, value: str) -> dict[str, float]:
    """Each metric's value, the latest (by step, then time) where several are listed."""
    latest: dict[str, tuple[tuple[int, int], float]] = {}
    for record in records:
        name, number = record.get(key), record.get(value)
        if not isinstance(name, str) or not isinstance(number, int | float):
            continue
        order = (int(record.get("step") or 0), int(record.get("timestamp") or 0))
        if name not in latest or order >= latest[name][0]:
            latest[name] = (order, float(number))
    return {name: number for name, (_order, number) in latest.items()}
