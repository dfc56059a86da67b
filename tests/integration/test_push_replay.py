"""A lost push race on a real remote: the same commits again on the new head when the
winner's commits touched none of the plan's folders, a new plan when they did."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.integration.test_git_repo import commit_and_push, git
from tests.unit.test_plan import MODELS, desired
from watcher.adapters.git_repo import GitOpsRepo
from watcher.core.plan import Plan, make_plan
from watcher.spine.publisher import DirectPushPublisher, Publication

pytestmark = pytest.mark.slow

WANTED = {"a/staging": desired("a", "1", "staging"), "b/staging": desired("b", "1", "staging")}


class RivalBeforeFirstPush:
    """The real repository; before our first push another writer pushes ``files``."""

    def __init__(self, repo: GitOpsRepo, clone: Path, files: dict[str, str]) -> None:
        self.repo, self.clone, self.files = repo, clone, files
        self.pushes = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.repo, name)

    def push(self) -> None:
        self.pushes += 1
        if self.pushes == 1:
            git("pull", "-q", "--rebase", "origin", "main", cwd=self.clone)
            commit_and_push(self.clone, self.files, "the rival's commit")
        self.repo.push()


def publish_with_rival(
    repo: GitOpsRepo, clone: Path, files: dict[str, str]
) -> tuple[list[int], Publication]:
    """Publish WANTED while the rival pushes ``files`` first: the sizes of the trees the
    planner was handed (one per plan made), and what was published."""
    planned: list[int] = []

    def planner(current: Mapping[str, bytes]) -> Plan:
        planned.append(len(current))
        return make_plan(current, WANTED, MODELS)

    racing = RivalBeforeFirstPush(repo, clone, files)
    publisher = DirectPushPublisher(racing, "deployments", attempts=3, backoff_seconds=0)  # type: ignore[arg-type]
    publication = publisher.publish(planner)
    assert publication.pushed and publication.attempts == 2
    return planned, publication


def test_commits_in_other_folders_are_not_planned_again(
    seeded: tuple[GitOpsRepo, Path], bare_remote: Path
) -> None:
    repo, clone = seeded
    planned, publication = publish_with_rival(
        repo, clone, {"deployments/z/staging/deployment.yaml": "z\n"}
    )

    assert planned == [0]  # one plan: made again on the new head as it was
    assert sorted(a.change.folder for a in publication.applied) == ["a/staging", "b/staging"]
    subjects = git("log", "--format=%s", "main", cwd=bare_remote).splitlines()
    assert subjects == [
        "deploy b v1 to staging", "deploy a v1 to staging", "the rival's commit", "start",
    ]  # fmt: skip
    files = git("ls-tree", "-r", "--name-only", "main", cwd=bare_remote).splitlines()
    assert "deployments/z/staging/deployment.yaml" in files


def test_a_commit_in_a_planned_folder_is_planned_again(
    seeded: tuple[GitOpsRepo, Path], bare_remote: Path
) -> None:
    repo, clone = seeded
    planned, publication = publish_with_rival(
        repo, clone, {"deployments/a/staging/notes.txt": "mine\n"}
    )

    assert planned == [0, 1]  # planned again, on a tree holding the rival's file
    # The new plan sees a folder it does not own in the way and leaves it as it is.
    assert [a.change.folder for a in publication.applied] == ["b/staging"]
    assert [folder for folder, _ in publication.plan.problems] == ["a/staging"]
    files = git("ls-tree", "-r", "--name-only", "main", cwd=bare_remote).splitlines()
    assert "deployments/a/staging/notes.txt" in files
    assert "deployments/a/staging/promotion.json" not in files


def test_touched_since_names_paths_under_the_prefix_and_refuses_a_rewritten_base(
    seeded: tuple[GitOpsRepo, Path], bare_remote: Path
) -> None:
    repo, clone = seeded
    base = repo.sync()
    assert base is not None
    commit_and_push(clone, {"deployments/m/staging/x.yaml": "1\n", "top.txt": "t\n"}, "two")
    git("mv", "deployments/m/staging/x.yaml", "deployments/m/staging/y.yaml", cwd=clone)
    git("commit", "-q", "-m", "rename", cwd=clone)
    git("push", "-q", "origin", "HEAD:main", cwd=clone)
    head = repo.sync()
    assert head is not None

    assert repo.touched_since(base, head, "deployments") == [
        "m/staging/x.yaml", "m/staging/y.yaml",
    ]  # fmt: skip
    assert repo.touched_since(base, head, "") == ["deployments/m/staging/x.yaml",
                                            "deployments/m/staging/y.yaml", "top.txt"]  # fmt: skip

    # Someone rewrites the branch: the old base is no longer in its history.
    git("reset", "-q", "--hard", "HEAD~2", cwd=clone)
    git("commit", "-q", "--amend", "-m", "start, rewritten", cwd=clone)
    git("push", "-q", "--force", "origin", "HEAD:main", cwd=clone)
    rewritten = repo.sync()
    assert rewritten is not None
    assert repo.touched_since(base, rewritten, "deployments") is None


class RivalWhilePlanning:
    """A planner slower than a fetch (as when the policy asks the registry about both
    versions): while it plans, another writer pushes ``files`` (if any)."""

    def __init__(self, clone: Path, files: dict[str, str]) -> None:
        self.clone, self.files = clone, files
        self.trees: list[int] = []

    def __call__(self, current: Mapping[str, bytes]) -> Plan:
        self.trees.append(len(current))
        if len(self.trees) == 1:
            if self.files:
                git("pull", "-q", "--rebase", "origin", "main", cwd=self.clone)
                commit_and_push(self.clone, self.files, "pushed while we planned")
            time.sleep(1.0)  # far longer than a local fetch
        return make_plan(current, WANTED, MODELS)


class CountingSyncs:
    """The real repository, counting its fetches."""

    def __init__(self, repo: GitOpsRepo) -> None:
        self.repo = repo
        self.syncs = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.repo, name)

    def sync(self) -> str | None:
        self.syncs += 1
        return self.repo.sync()


def publisher_that_pushed_before(
    repo: GitOpsRepo, clone: Path, *, then_someone_else: bool
) -> tuple[DirectPushPublisher, CountingSyncs]:
    """A publisher that has pushed once already; then, maybe, another writer pushes."""
    counting = CountingSyncs(repo)
    publisher = DirectPushPublisher(counting, "deployments", attempts=3)  # type: ignore[arg-type]
    first = {"p/staging": desired("p", "1", "staging")}
    assert publisher.publish(lambda current: make_plan(current, first, MODELS)).pushed
    if then_someone_else:
        git("pull", "-q", "--rebase", "origin", "main", cwd=clone)
        commit_and_push(clone, {"NOTES.md": "a person was here\n"}, "a person's commit")
    counting.syncs = 0
    return publisher, counting


@pytest.mark.parametrize(
    ("files", "plans"),
    [
        ({"deployments/z/staging/deployment.yaml": "z\n"}, [0]),
        ({"deployments/a/staging/notes.txt": "mine\n"}, [0, 1]),
    ],
    ids=["elsewhere", "in-a-planned-folder"],
)
def test_the_fetch_comes_after_the_plan(
    seeded: tuple[GitOpsRepo, Path], bare_remote: Path, files: dict[str, str], plans: list[int]
) -> None:
    """Another writer pushes while we plan (slowly, as when the policy asks the registry):
    the fetch after the plan sees it, so no push is refused."""
    repo, clone = seeded
    publisher, counting = publisher_that_pushed_before(repo, clone, then_someone_else=True)
    planner = RivalWhilePlanning(clone, files)

    publication = publisher.publish(planner)

    # The plan made on the head of our last push held when the commits since were in
    # other folders; made again (then fetched again) when one was in its folder.
    assert publication.pushed and publication.attempts == 1
    assert [n - 2 for n in planner.trees] == plans  # beside p/staging's two files
    assert counting.syncs == len(plans)
    subjects = git("log", "--format=%s", "main", cwd=bare_remote).splitlines()
    assert "pushed while we planned" in subjects


def test_a_sole_writer_fetches_once_after_planning(
    seeded: tuple[GitOpsRepo, Path], bare_remote: Path
) -> None:
    repo, clone = seeded
    publisher, counting = publisher_that_pushed_before(repo, clone, then_someone_else=False)

    publication = publisher.publish(RivalWhilePlanning(clone, {}))

    assert publication.pushed and publication.attempts == 1
    assert counting.syncs == 1


def test_commits_that_were_not_pushed_are_dropped_before_planning(
    seeded: tuple[GitOpsRepo, Path], bare_remote: Path
) -> None:
    """A publish that gave up after its attempts leaves commits in the checkout that never
    reached the remote; the next plan is made on the remote's head, not on them."""
    repo, clone = seeded
    publisher, _counting = publisher_that_pushed_before(repo, clone, then_someone_else=False)
    pushed = repo.head()
    assert repo.apply_folder("deployments/q/staging", {"x.yaml": b"x\n"}, "never pushed")
    seen: list[Mapping[str, bytes]] = []

    def planner(current: Mapping[str, bytes]) -> Plan:
        seen.append(current)
        return make_plan(current, {"p/staging": desired("p", "1", "staging")}, MODELS)

    assert not publisher.publish(planner).plan.changes  # p/staging is as wanted
    assert repo.head() == pushed == git("rev-parse", "main", cwd=bare_remote)
    assert seen and all("q/staging/x.yaml" not in tree for tree in seen)


def test_a_checkout_that_cannot_go_back_is_synced_and_repaired(
    seeded: tuple[GitOpsRepo, Path], bare_remote: Path, tmp_path: Path
) -> None:
    """Going back to the last fetched head fails on a stale lock (a daemon killed while
    it moved the branch): the publisher syncs instead, which clones again."""
    repo, clone = seeded
    publisher, _counting = publisher_that_pushed_before(repo, clone, then_someone_else=False)
    assert repo.apply_folder("deployments/q/staging", {"x.yaml": b"x\n"}, "never pushed")
    (tmp_path / "checkout" / ".git" / "refs" / "heads" / "main.lock").write_text("")
    wanted = {"p/staging": desired("p", "2", "staging")}

    publication = publisher.publish(lambda current: make_plan(current, wanted, MODELS))

    assert publication.pushed
    assert git("rev-parse", "main", cwd=bare_remote) == repo.head()
    files = git("ls-tree", "-r", "--name-only", "main", cwd=bare_remote).splitlines()
    assert "deployments/q/staging/x.yaml" not in files


class RivalBeforeEachPush(RivalBeforeFirstPush):
    """Another writer pushes before each of our first ``times`` pushes."""

    def __init__(self, repo: GitOpsRepo, clone: Path, times: int) -> None:
        super().__init__(repo, clone, {})
        self.times = times

    def push(self) -> None:
        self.pushes += 1
        if self.pushes <= self.times:
            git("pull", "-q", "--rebase", "origin", "main", cwd=self.clone)
            commit_and_push(self.clone, {f"rival/{self.pushes}.txt": "r\n"}, "a rival")
        self.repo.push()


def test_a_writer_that_keeps_losing_waits_no_longer_each_time(
    seeded: tuple[GitOpsRepo, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first retry comes at once and each later one after at most the backoff, not a
    doubling one: each rejection means another writer got through, and a growing wait
    left the shard that kept losing further and further behind."""
    repo, clone = seeded
    slept: list[float] = []
    monkeypatch.setattr("watcher.spine.publisher.random.uniform", lambda low, high: high)
    racing = RivalBeforeEachPush(repo, clone, times=4)
    publisher = DirectPushPublisher(
        racing,  # type: ignore[arg-type]
        "deployments",
        attempts=5,
        backoff_seconds=0.01,
        sleep=slept.append,
    )

    publication = publisher.publish(lambda current: make_plan(current, WANTED, MODELS))

    assert publication.pushed and publication.attempts == 5
    assert slept == [0.01, 0.01, 0.01]  # after the 2nd, 3rd and 4th rejections
