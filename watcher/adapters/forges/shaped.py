"""What GitHub's and Gitea's pull request APIs share: Gitea (and Forgejo) follow GitHub's
shape, so creating, labelling, updating, reading and closing are the same calls here,
with the status codes each documents; finding and merging differ, in the subclasses."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, ClassVar

from watcher.adapters.forges.api import JsonApi, said
from watcher.core.pull_requests import ForgePullRequest
from watcher.errors import ForgeError, ForgeRefusedError

log = logging.getLogger(__name__)


class GitHubShapedForge:
    """Pull requests under ``/repos/{owner}/{repo}``; subclasses set the codes and parse."""

    #: The status a create answers with when a pull request of the branch is open already.
    EXISTS: ClassVar[int]
    #: The statuses an update (PATCH) answers with.
    UPDATED: ClassVar[tuple[int, ...]]
    #: How the forge is named in a hint.
    WORD: ClassVar[str]

    _api: JsonApi
    _repo: str

    @staticmethod
    def parse(data: Any) -> ForgePullRequest:
        raise NotImplementedError

    def describe(self) -> str:
        return self._api.target.describe()

    def find_open(self, branch: str, base: str) -> ForgePullRequest | None:
        raise NotImplementedError

    def create(
        self, branch: str, base: str, title: str, body: str, labels: Sequence[str]
    ) -> ForgePullRequest:
        payload = {"title": title, "head": branch, "base": base, "body": body}
        status, data = self._api.call(
            "POST", f"{self._repo}/pulls", json=payload, ok=(201,), tolerate=(self.EXISTS,)
        )
        if status == self.EXISTS:  # a create whose reply was lost: adopt the open one
            found = self.find_open(branch, base)
            if found is None:
                raise ForgeRefusedError(
                    f"{self.describe()} refused to open a pull request from '{branch}': "
                    f"{said(data)}",
                    hint=f"check that git.branch exists on {self.WORD} and differs from the branch",
                )
            return found
        created = self.parse(data)
        self._label(created.number, labels)
        return created

    def _label(self, number: int, labels: Sequence[str]) -> None:
        try:
            self._api.call(
                "POST", f"{self._repo}/issues/{number}/labels", json={"labels": list(labels)}
            )
        except ForgeError as exc:  # labels help filtering; they never block a promotion
            log.warning("could not label pull request #%d: %s", number, exc)

    def update(self, number: int, title: str, body: str) -> ForgePullRequest:
        payload = {"title": title, "body": body}
        _, data = self._api.call(
            "PATCH", f"{self._repo}/pulls/{number}", json=payload, ok=self.UPDATED
        )
        return self.parse(data)

    def read(self, number: int) -> ForgePullRequest:
        _, data = self._api.call("GET", f"{self._repo}/pulls/{number}")
        return self.parse(data)

    def comment_and_close(self, number: int, comment: str) -> None:
        self._api.call(
            "POST", f"{self._repo}/issues/{number}/comments", json={"body": comment}, ok=(201,)
        )
        self._api.call(
            "PATCH", f"{self._repo}/pulls/{number}", json={"state": "closed"}, ok=self.UPDATED
        )

    def close(self) -> None:
        self._api.close()
