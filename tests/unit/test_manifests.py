"""Rendered files are checked against the Kubernetes schema before any commit."""

from __future__ import annotations

import pytest

from watcher.core.manifests import validate_folder
from watcher.errors import ManifestValidationError

SERVICE = b"apiVersion: v1\nkind: Service\nmetadata: {name: svc}\nspec: {ports: [{port: 80}]}\n"


def test_a_valid_service_passes_and_the_schema_was_applied_to_it() -> None:
    assert validate_folder({"service.yaml": SERVICE}, "1.33") is None
    # The same document with one field of the wrong type is refused: the Service schema
    # was really looked up and applied (a validator that checks nothing fails here).
    with pytest.raises(ManifestValidationError, match=r"spec\.ports\.0\.port"):
        validate_folder({"service.yaml": SERVICE.replace(b"port: 80", b"port: eighty")}, "1.33")


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
    """A kind without a bundled schema: any spec passes, but the shape is still checked."""
    custom = b"apiVersion: widgets.example.com/v1\nkind: Widget\nmetadata: {name: m}\n"
    assert validate_folder({"w.yaml": custom + b"spec: {any: thing}\n"}, "1.33") is None
    # The same unknown field in a core kind is refused: the pass above is shape-only.
    with pytest.raises(ManifestValidationError, match="any"):
        validate_folder({"s.yaml": SERVICE.replace(b"spec: {", b"spec: {any: thing, ")}, "1.33")
    # ...and shape-only still checks the shape.
    for broken, message in [
        (custom.replace(b"name: m", b"name: Bad_Name"), "not a valid Kubernetes name"),
        (custom.replace(b"kind: Widget\n", b""), "no kind"),
        (custom.replace(b"metadata: {name: m}\n", b""), "no metadata"),
    ]:
        with pytest.raises(ManifestValidationError, match=message):
            validate_folder({"w.yaml": broken}, "1.33")


def test_kustomization_must_list_rendered_files() -> None:
    kustomization = (
        b"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [a.yaml]\n"
    )
    with pytest.raises(ManifestValidationError, match=r"a\.yaml"):
        validate_folder({"kustomization.yaml": kustomization}, "1.33")


def test_unknown_kubernetes_version_is_a_clear_error() -> None:
    with pytest.raises(ManifestValidationError, match="no Kubernetes schemas"):
        validate_folder({"service.yaml": SERVICE}, "1.10")
