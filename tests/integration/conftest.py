"""Fixtures shared by the integration tests of the GitOps checkout and its publisher."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_git_repo import commit_and_push, make_repo, other_writer
from watcher.adapters.git_repo import GitOpsRepo


@pytest.fixture
def seeded(bare_remote: Path, tmp_path: Path) -> Iterator[tuple[GitOpsRepo, Path]]:
    """A remote with one commit of someone else's, our checkout of it, and the other
    writer's clone (to push from as a rival)."""
    clone = other_writer(bare_remote, tmp_path, "rival")
    commit_and_push(clone, {"README.md": "the GitOps repo\n"}, "start")
    with make_repo(str(bare_remote), tmp_path / "checkout") as repo:
        yield repo, clone
