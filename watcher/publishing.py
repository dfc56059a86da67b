"""Settings to the publisher: direct pushes, or pull requests on a forge for the stages
that ask for them (``stages[].publish``); and the publisher alone, for the commands that
commit one record or read a folder's history (``hold``, ``unhold``, ``rollback``)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from watcher.adapters.forges import open_forge
from watcher.adapters.git_repo import GitOpsRepo
from watcher.adapters.pull_request_store import PullRequestStore
from watcher.config.settings import Credentials, Settings
from watcher.errors import ConfigError
from watcher.spine.publisher import DirectPushPublisher
from watcher.spine.pull_requests import PullRequestOptions, PullRequestPublisher

log = logging.getLogger(__name__)


@contextlib.contextmanager
def open_publisher(
    settings: Settings, credentials: Credentials
) -> Iterator[tuple[DirectPushPublisher, GitOpsRepo]]:
    """The publisher alone (no sources), and the repository whose history it reads: for
    commands that commit one record (``hold``, ``unhold``) or read a folder's history."""
    if not settings.git.repo_url:
        raise ConfigError(
            "no GitOps repository is configured", hint="set GIT_REPO_URL or git.repo_url"
        )
    git = settings.git
    settings.state_path.mkdir(parents=True, exist_ok=True)
    repo = GitOpsRepo(git, settings.checkout_path, credentials.scoped(""))
    publisher = DirectPushPublisher(
        repo, git.path, attempts=git.push_attempts, backoff_seconds=git.push_backoff_seconds
    )
    try:
        yield publisher, repo
    finally:
        publisher.close()


def pull_request_stages(settings: Settings) -> list[str]:
    """``source/stage`` of every stage that publishes pull requests."""
    found = [f"mlflow/{s.name}" for s in settings.stages if s.publish == "pull-request"]
    for source in settings.sources:
        stages = source.stages or settings.stages
        found += [f"{source.name}/{s.name}" for s in stages if s.publish == "pull-request"]
    for functions in settings.functions:
        found += [
            f"{functions.name}/{s.name}" for s in functions.stages if s.publish == "pull-request"
        ]
    return found


def build_publisher(
    settings: Settings, credentials: Credentials, repo: GitOpsRepo
) -> DirectPushPublisher | PullRequestPublisher:
    """Direct pushes; and when some stage publishes pull requests, the forge's client and
    the pull request records too (a forge that cannot be named is a configuration error)."""
    git = settings.git
    direct = DirectPushPublisher(
        repo, git.path, attempts=git.push_attempts, backoff_seconds=git.push_backoff_seconds
    )
    stages = pull_request_stages(settings)
    if not stages:
        return direct
    try:
        forge = open_forge(git.forge, git.repo_url, credentials.forge_token)
    except ConfigError as exc:
        raise ConfigError(f"{exc} (stages {', '.join(stages)} publish: pull-request)") from exc
    log.info("stages %s publish pull requests on %s", ", ".join(stages), forge.describe())
    options = PullRequestOptions(
        git.branch, git.path, git.forge.branch_prefix, git.forge.merge_method
    )
    records = PullRequestStore(
        settings.state_database_url, credentials.url_login("state.database_url")
    )
    return PullRequestPublisher(direct, repo, forge, records, options)
