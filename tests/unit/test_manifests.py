"""Rendered files are checked against the Kubernetes schema before any commit."""

from __future__ import annotations

import pytest

from watcher.core.manifests import validate_folder
from watcher.errors import ManifestValidationError

SERVICE = b"apiVersion: v1\nkind: Service\nmetadata: {name: svc}\nspec: {ports: [{port: 80}]}\n"


def test_a_valid_service_passes() -> None:
    validate_folder({"service.yaml": SERVICE}, "1.33")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (SERVICE.replace(b"{port: 80}", b"{port: 80, colour: red}"), "colour"),
        (SERVICE.replace(b"port: 80", b"port: eighty"), "spec.ports.0.port"),
        (SERVICE.replace(b"name: svc", b"name: Bad_Name"), "not a valid Kubernetes name"),
        (b"kind: Service\nmetadata: {name: x}\n", "no apiVersion"),
        (b"- just a list\n", "not a mapping"),
        (b"a: [unclosed\n", "not valid YAML"),
    ],
)
def test_invalid_manifests_are_refused_with_the_place(data: bytes, message: str) -> None:
    with pytest.raises(ManifestValidationError, match=message):
        validate_folder({"x.yaml": data}, "1.33")


def test_custom_resources_are_shape_checked_only() -> None:
    crd = (
        b"apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\n"
        b"metadata: {name: m}\nspec: {any: thing}\n"
    )
    validate_folder({"isvc.yaml": crd}, "1.33")


def test_kustomization_must_list_rendered_files() -> None:
    kustomization = (
        b"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [a.yaml]\n"
    )
    with pytest.raises(ManifestValidationError, match=r"a\.yaml"):
        validate_folder({"kustomization.yaml": kustomization}, "1.33")


def test_unknown_kubernetes_version_is_a_clear_error() -> None:
    with pytest.raises(ManifestValidationError, match="no Kubernetes schemas"):
        validate_folder({"service.yaml": SERVICE}, "1.10")
