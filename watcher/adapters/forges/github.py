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
from typing import Any

from watcher.adapters.forges.api import ForgeTarget, JsonApi
from watcher.adapters.forges.shaped import GitHubShapedForge
from watcher.core.events import epoch_seconds
from watcher.core.pull_requests import ForgePullRequest

log = logging.getLogger(__name__)

SCOPES_HINT = (
    "set GITOPS_WATCHER_FORGE_TOKEN (or GITHUB_TOKEN) to a token of an account that may "
    "write to the repository: a classic token with the 'repo' scope, or a fine-grained one "
    "with 'Pull requests: read and write' and 'Issues: read and write' on it"
)


class GitHubForge(GitHubShapedForge):
    """Pull requests of one GitHub repository (``owner/name``)."""

    EXISTS = 422  # "A pull request already exists for owner:branch."
    UPDATED = (200,)
    WORD = "GitHub"

    @staticmethod
    def parse(data: Any) -> ForgePullRequest:
        return _pull_request(data)

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

    def find_open(self, branch: str, base: str) -> ForgePullRequest | None:
        params = {"state": "open", "head": f"{self._owner}:{branch}", "base": base}
        _, found = self._api.call("GET", f"{self._repo}/pulls", params=params)
        for item in found if isinstance(found, list) else ():
            return _pull_request(item)
        return None

    def merge(self, number: int, method: str, title: str) -> str:
        payload = {"merge_method": method, "commit_title": title}
        _, data = self._api.call("PUT", f"{self._repo}/pulls/{number}/merge", json=payload)
        return str(data.get("sha") or "") if isinstance(data, dict) else ""


def _pull_request(data: Any) -> ForgePullRequest:
    item = data if isinstance(data, dict) else {}
    merged_at = epoch_seconds(item.get("merged_at"))
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
