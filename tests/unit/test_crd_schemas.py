"""tests/crd_schemas.py: every CRD under the schemas folder, checked as strictly as kubectl."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from tests.crd_schemas import (
    SCHEMAS_ENV,
    known_custom_resources,
    require_schemas_dir,
    strict_json_schema,
    validate_custom_resource,
)

SERVICE_MONITOR: dict[str, Any] = {
    "apiVersion": "monitoring.coreos.com/v1",
    "kind": "ServiceMonitor",
    "metadata": {"name": "gw", "namespace": "team-a", "labels": {"release": "prometheus"}},
    "spec": {
        "selector": {"matchLabels": {"app.kubernetes.io/name": "gitops-watcher"}},
        "endpoints": [{"port": "http", "path": "/metrics", "interval": "30s"}],
    },
}


def test_every_shared_crd_is_indexed() -> None:
    require_schemas_dir()
    kinds = {(group, kind) for group, kind, _ in known_custom_resources()}
    assert {
        ("argoproj.io", "Application"),
        ("argoproj.io", "ApplicationSet"),
        ("argoproj.io", "AppProject"),
        ("serving.kserve.io", "InferenceService"),
        ("serving.knative.dev", "Service"),
        ("gateway.networking.k8s.io", "HTTPRoute"),
        ("monitoring.coreos.com", "ServiceMonitor"),
    } <= kinds


def test_a_valid_service_monitor_passes() -> None:
    validate_custom_resource(copy.deepcopy(SERVICE_MONITOR))


def _broken(change: str) -> dict[str, Any]:
    obj = copy.deepcopy(SERVICE_MONITOR)
    endpoint = obj["spec"]["endpoints"][0]
    if change == "unknown-field":
        endpoint["prot"] = "http"
    elif change == "wrong-type":
        endpoint["targetPort"] = ["http"]
    elif change == "bad-label":
        obj["metadata"]["labels"]["n"] = 1
    elif change == "bad-name":
        obj["metadata"]["name"] = "Not_A_Name"
    elif change == "top-level":
        obj["sepc"] = {}
    return obj


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("unknown-field", r"at spec\.endpoints\[0\]: .*'prot' was unexpected"),
        ("wrong-type", r"at spec\.endpoints\[0\]\.targetPort"),
        ("bad-label", r"at metadata\.labels\.n"),
        ("bad-name", r"metadata\.name 'Not_A_Name'"),
        ("top-level", r"at \(top level\): .*'sepc' was unexpected"),
    ],
)
def test_errors_name_the_path(change: str, message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        validate_custom_resource(_broken(change))


def test_an_unknown_kind_or_version_is_refused_with_what_is_known() -> None:
    obj = copy.deepcopy(SERVICE_MONITOR) | {"apiVersion": "monitoring.coreos.com/v9"}
    with pytest.raises(AssertionError, match=r"no CRD schema for .*known: .*ServiceMonitor"):
        validate_custom_resource(obj)


def test_int_or_string_and_open_fields() -> None:
    schema = strict_json_schema(
        {
            "type": "object",
            "properties": {
                "port": {"x-kubernetes-int-or-string": True},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                         "properties": {"a": {"type": "string"}}},
                "closed": {"type": "object", "properties": {"a": {"type": "string"}}},
            },
        }
    )  # fmt: skip
    assert schema["additionalProperties"] is False
    assert schema["properties"]["port"] == {"anyOf": [{"type": "integer"}, {"type": "string"}]}
    assert "additionalProperties" not in schema["properties"]["free"]
    assert schema["properties"]["closed"]["additionalProperties"] is False


def test_a_missing_folder_skips_with_the_variable_to_set(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(SCHEMAS_ENV, str(tmp_path / "absent"))
    with pytest.raises(pytest.skip.Exception, match=SCHEMAS_ENV):
        require_schemas_dir()
