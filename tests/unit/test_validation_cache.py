"""Files that passed validation are remembered by digest, across runs; nothing else is."""

from __future__ import annotations

from pathlib import Path

import pytest

from watcher.adapters.validation_cache import ValidationCache
from watcher.core.manifests import manifest_digest, validate_folder
from watcher.errors import ManifestValidationError

SERVICE = b"""apiVersion: v1
kind: Service
metadata: {name: m, namespace: ns}
spec:
  selector: {app: m}
  ports: [{port: 80, targetPort: 8080}]
"""
KUSTOMIZATION = b"""apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [service.yaml]
"""


def test_a_file_that_passed_is_not_validated_again_and_a_bad_one_is_never_remembered(
    tmp_path: Path,
) -> None:
    with ValidationCache(tmp_path) as cache:
        validate_folder(
            {"service.yaml": SERVICE, "kustomization.yaml": KUSTOMIZATION}, "1.33", cache
        )
        assert manifest_digest(SERVICE, "1.33") in cache
        # Kustomizations depend on the other files: always checked, never remembered.
        assert manifest_digest(KUSTOMIZATION, "1.33") not in cache
        bad = SERVICE.replace(b"port: 80", b"port: eighty")
        with pytest.raises(ManifestValidationError):
            validate_folder({"service.yaml": bad}, "1.33", cache)
        assert manifest_digest(bad, "1.33") not in cache
        # Another Kubernetes version is another digest.
        assert manifest_digest(SERVICE, "1.30") not in cache

    again = ValidationCache(tmp_path)
    assert manifest_digest(SERVICE, "1.33") in again
    # A remembered digest is trusted: the proof that the file is not parsed again.
    again.add(manifest_digest(b"not: [yaml", "1.33"))
    validate_folder({"broken.yaml": b"not: [yaml"}, "1.33", again)
    with pytest.raises(ManifestValidationError):
        validate_folder({"broken.yaml": b"not: [yaml"}, "1.33", None)


def test_the_file_is_compacted_to_what_runs_use(tmp_path: Path) -> None:
    with ValidationCache(tmp_path) as cache:
        for number in range(5_000):
            cache.add(f"{number:064x}")
    with ValidationCache(tmp_path) as cache:
        assert len(cache) == 5_000
        assert f"{7:064x}" in cache
    assert ValidationCache(tmp_path).path.read_text().split() == [f"{7:064x}"]


def test_an_unreadable_cache_is_only_slower(tmp_path: Path) -> None:
    cache = ValidationCache(tmp_path)
    cache.path.write_bytes(b"\xff\xfe garbage")
    assert len(ValidationCache(tmp_path)) == 0
