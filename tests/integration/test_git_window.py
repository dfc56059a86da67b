"""The time between a fetch and its push, on a real remote: what git runs in it.

Another writer (a shard) that pushes inside that time makes our push lose, so only
what must run there runs there: the plan is made before the fetch, the branch and the
head are known without asking git, the checkout is not reopened (its cat-file
processes keep running), and git's housekeeping waits until after the push.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest
from git.cmd import Git

from tests.integration.test_git_repo import commit_and_push, git
from tests.unit.test_plan import MODELS, desired
from watcher.adapters.git_commits import SMALL_BATCH
from watcher.adapters.git_repo import GitOpsRepo
from watcher.core.plan import Plan, make_plan
from watcher.spine.publisher import DirectPushPublisher

pytestmark = pytest.mark.slow


def spy_on_git(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The git subcommand of every process GitPython starts from now on (the persistent
    cat-file ones included), in order."""
    seen: list[str] = []
    original = Git.execute

    def spy(self: object, command: list[str], *args: object, **kwargs: object) -> object:
        seen.append(next(str(part) for part in command[1:] if not str(part).startswith("-")))
        return original(self, command, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(Git, "execute", spy)
    return seen


def planner_for(version: str, models: int = 1) -> object:
    wanted = {f"m{n}/staging": desired(f"m{n}", version, "staging") for n in range(models)}

    def planner(current: Mapping[str, bytes]) -> Plan:
        return make_plan(current, wanted, MODELS)

    return planner


@pytest.mark.parametrize(
    ("rival", "between"),
    [(False, []), (True, ["log"])],
    ids=["sole-writer", "another-writer-pushed"],
)
def test_between_fetch_and_push_git_runs_only_the_commit(
    seeded: tuple[GitOpsRepo, Path],
    monkeypatch: pytest.MonkeyPatch,
    rival: bool,
    between: list[str],
) -> None:
    """Between the fetch and the push of a promotion: no git process (the commit is written
    in process) but, when the branch moved, one ``git log`` of the commits since the
    plan's head."""
    repo, clone = seeded
    publisher = DirectPushPublisher(repo, "deployments", attempts=2, backoff_seconds=0)
    assert publisher.publish(planner_for("1")).pushed  # type: ignore[arg-type]
    if rival:
        git("pull", "-q", "--rebase", "origin", "main", cwd=clone)
        commit_and_push(clone, {"deployments/z/staging/x.yaml": "z\n"}, "a shard's commit")
    seen = spy_on_git(monkeypatch)

    publication = publisher.publish(planner_for("2"))  # type: ignore[arg-type]

    assert publication.pushed and publication.attempts == 1
    # A path remote is fetched by fetch-pack (no connectivity walk: see below).
    fetch, push = seen.index("fetch-pack"), seen.index("push")
    assert seen[fetch + 1 : push] == between
    assert "fetch-pack" not in seen[:fetch] and seen.count("fetch-pack") == 1
    assert "fetch" not in seen


def test_housekeeping_runs_after_the_push_not_in_the_fetch(
    seeded: tuple[GitOpsRepo, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large batch (more than SMALL_BATCH commits) is a pack of its own; git packs them
    together once there are many, after a push (a fetch is told not to), so the checkout
    does not grow without end."""
    repo, _clone = seeded
    publisher = DirectPushPublisher(repo, "deployments", attempts=2, backoff_seconds=0)
    many = SMALL_BATCH + 1
    assert publisher.publish(planner_for("0", many)).pushed  # type: ignore[arg-type]
    checkout = tmp_path / "checkout"
    git("config", "gc.autoPackLimit", "3", cwd=checkout)
    seen = spy_on_git(monkeypatch)
    for version in range(1, 7):
        assert publisher.publish(planner_for(str(version), many)).pushed  # type: ignore[arg-type]

    packs = list((checkout / ".git" / "objects" / "pack").glob("*.pack"))
    assert 1 <= len(packs) <= 4
    assert seen.count("fast-import") == 6 and seen.count("maintenance") == 6  # after each push
    fetches = [index for index, cmd in enumerate(seen) if cmd == "fetch-pack"]
    assert fetches and all(seen[index + 1] != "maintenance" for index in fetches)
