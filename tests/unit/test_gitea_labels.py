"""Gitea labels are found by name on any page of the repository's list, and given by id.

The forge is the API double of tests/servers/forge_api.py (no Gitea server runs here),
which keeps labels, ids and pages as Gitea's API v1 documents them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.forge_api import ForgeDouble, PullRequest
from watcher.adapters.forges.gitea import GiteaForge

TOKEN = "gitea-" + "t0ken" * 4


@pytest.fixture
def forge(tmp_path: Path) -> Iterator[ForgeDouble]:
    double = ForgeDouble("gitea", TOKEN, "team/gitops", tmp_path).start()
    double.pulls[1] = PullRequest(1, "gitops-watcher/a", "main", "deploy a", "")
    double.pulls[2] = PullRequest(2, "gitops-watcher/b", "main", "deploy b", "")
    yield double
    double.stop()


def _client(forge: ForgeDouble) -> GiteaForge:
    return GiteaForge(forge.api_url, forge.repository, TOKEN, timeout=5)


def test_labels_on_a_later_page_are_found_and_none_created(forge: ForgeDouble) -> None:
    forge.repo_labels = {i: f"team-label-{i}" for i in range(1, 121)}
    forge.repo_labels.update({130: "gitops-watcher", 131: "stage:production"})
    forge.gitea_ids_only = True
    client = _client(forge)
    try:
        client._label(1, ["gitops-watcher", "stage:production"])
        client._label(2, ["gitops-watcher", "stage:production"])
    finally:
        client.close()
    assert forge.pulls[1].labels == forge.pulls[2].labels == ["gitops-watcher", "stage:production"]
    listed = [path for method, path in forge.requests if method == "GET"]
    assert listed == ["/api/v1/repos/team/gitops/labels"] * 3  # pages 1-3, then remembered
    assert ("POST", "/api/v1/repos/team/gitops/labels") not in forge.requests


def test_a_label_missing_from_repository_and_organisation_is_created(forge: ForgeDouble) -> None:
    forge.org_labels = {5: "security"}
    client = _client(forge)
    try:
        client._label(1, ["gitops-watcher", "stage:staging"])
    finally:
        client.close()
    assert forge.pulls[1].labels == ["gitops-watcher", "stage:staging"]
    assert sorted(forge.repo_labels.values()) == ["gitops-watcher", "stage:staging"]
    assert ("GET", "/api/v1/orgs/team/labels") in forge.requests
