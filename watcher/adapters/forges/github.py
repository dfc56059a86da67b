"""GitHub (and GitHub Enterprise Server) pull requests through the REST API v3.

Exactly these documented endpoints (https://docs.github.com/en/rest/pulls/pulls,
https://docs.github.com/en/rest/issues/labels, https://docs.github.com/en/rest/issues/comments):

- find:    ``GET /repos/{owner}/{repo}/pulls?state=open&head={owner}:{branch}&base={base}``
- create:  ``POST /repos/{owner}/{repo}/pulls`` (201; 422 when one is open already)
- update, close: ``PATCH /repos/{owner}/{repo}/pulls/{number}`` (200)
- read:    ``GET /repos/{owner}/{repo}/pulls/{number}`` (200)
- labels:  ``POST /repos/{owner}/{repo}/issues/{number}/labels`` (200)
- comment: ``POST /repos/{owner}/{repo}/issues/{number}/comments`` (201)
- merge (only with ``auto_merge``): ``PUT /repos/{owner}/{repo}/pulls/{number}/merge`` (200;
  405 when it cannot be merged, 409 when the head moved)

Authentication: ``Authorization: Bearer <token>`` with ``Accept: application/vnd.github+json``
and ``X-GitHub-Api-Version: 2022-11-28``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from watcher.adapters.forges.api import ForgeTarget, JsonApi, said, timestamp
from watcher.core.pull_requests import ForgePullRequest
from watcher.errors import ForgeError, ForgeRefusedError

log = logging.getLogger(__name__)

SCOPES_HINT = (
    "set GITOPS_WATCHER_FORGE_TOKEN (or GITHUB_TOKEN) to a token of an account that may "
    "write to the repository: a classic token with the 'repo' scope, or a fine-grained one "
    "with 'Pull requests: read and write' and 'Issues: read and write' on it"
)


class GitHubForge:
    """Pull requests of one GitHub repository (``owner/name``)."""

    def __init__(self, api_url: str, repository: str, token: str, *, timeout: float) -> None:
        self._owner = repository.split("/", 1)[0]
        self._repo = f"/repos/{repository}"
        self._api = JsonApi(
            ForgeTarget("GitHub", api_url, repository, SCOPES_HINT),
            token,
            ("Authorization", f"Bearer {token}"),
            timeout=timeout,
            extra_headers={
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
            },
        )

    def describe(self) -> str:
        return self._api.target.describe()

    def find_open(self, branch: str, base: str) -> ForgePullRequest | None:
        params = {"state": "open", "head": f"{self._owner}:{branch}", "base": base}
        _, found = self._api.call("GET", f"{self._repo}/pulls", params=params)
        for item in found if isinstance(found, list) else ():
            return _pull_request(item)
        return None

    def create(
        self, branch: str, base: str, title: str, body: str, labels: Sequence[str]
    ) -> ForgePullRequest:
        payload = {"title": title, "head": branch, "base": base, "body": body}
        status, data = self._api.call(
            "POST", f"{self._repo}/pulls", json=payload, ok=(201,), tolerate=(422,)
        )
        if status == 422:  # "A pull request already exists for owner:branch."
            found = self.find_open(branch, base)
            if found is None:
                raise ForgeRefusedError(
                    f"{self.describe()} refused to open a pull request from '{branch}': "
                    f"{said(data)}",
                    hint="check that git.branch exists on GitHub and differs from the branch",
                )
            return found
        created = _pull_request(data)
        try:
            self._api.call(
                "POST", f"{self._repo}/issues/{created.number}/labels",
                json={"labels": list(labels)},
            )  # fmt: skip
        except ForgeError as exc:  # labels help filtering; they never block a promotion
            log.warning("could not label pull request #%d: %s", created.number, exc)
        return created

    def update(self, number: int, title: str, body: str) -> ForgePullRequest:
        payload = {"title": title, "body": body}
        _, data = self._api.call("PATCH", f"{self._repo}/pulls/{number}", json=payload)
        return _pull_request(data)

    def read(self, number: int) -> ForgePullRequest:
        _, data = self._api.call("GET", f"{self._repo}/pulls/{number}")
        return _pull_request(data)

    def comment_and_close(self, number: int, comment: str) -> None:
        self._api.call(
            "POST", f"{self._repo}/issues/{number}/comments", json={"body": comment}, ok=(201,)
        )
        self._api.call("PATCH", f"{self._repo}/pulls/{number}", json={"state": "closed"})

    def merge(self, number: int, method: str, title: str) -> str:
        payload = {"merge_method": method, "commit_title": title}
        _, data = self._api.call("PUT", f"{self._repo}/pulls/{number}/merge", json=payload)
        return str(data.get("sha") or "") if isinstance(data, dict) else ""

    def close(self) -> None:
        self._api.close()


def _pull_request(data: Any) -> ForgePullRequest:
    item = data if isinstance(data, dict) else {}
    merged_at = timestamp(item.get("merged_at"))
    state = "merged" if merged_at is not None or item.get("merged") else str(item.get("state"))
    head = item.get("head")
    head = head if isinstance(head, dict) else {}
    return ForgePullRequest(
        number=int(item.get("number") or 0),
        url=str(item.get("html_url") or ""),
        state="merged" if state == "merged" else ("open" if state == "open" else "closed"),
        branch=str(head.get("ref") or ""),
        merged_at=merged_at,
        merge_commit=str(item.get("merge_commit_sha") or "") if merged_at is not None else "",
    )
