"""Gitea and Forgejo pull requests through the REST API v1 (the swagger at
https://gitea.com/api/swagger, the same in Forgejo: https://codeberg.org/api/swagger).

- find:    ``GET /repos/{owner}/{repo}/pulls?state=open&limit=50&page=N``, matched by head
  and base branch (``GET /repos/{owner}/{repo}/pulls/{base}/{head}`` is not used: it may
  answer with an older, closed pull request of the same branch)
- create:  ``POST /repos/{owner}/{repo}/pulls`` (201; 409 when one is open already)
- update, close: ``PATCH /repos/{owner}/{repo}/pulls/{index}`` (201; ``state: closed``)
- read:    ``GET /repos/{owner}/{repo}/pulls/{index}`` (200)
- labels:  ``POST /repos/{owner}/{repo}/issues/{index}/labels`` with label names (200;
  names the repository does not have are left out by Gitea: create the labels once)
- comment: ``POST /repos/{owner}/{repo}/issues/{index}/comments`` (201)
- merge (only with ``auto_merge``): ``POST /repos/{owner}/{repo}/pulls/{index}/merge``
  with ``Do`` (200; 405 when it cannot be merged, 409 when the head moved)

Authentication: ``Authorization: token <token>``.
"""

from __future__ import annotations

import logging
from typing import Any

from watcher.adapters.forges.api import ForgeTarget, JsonApi, timestamp
from watcher.adapters.forges.shaped import GitHubShapedForge
from watcher.core.pull_requests import ForgePullRequest

log = logging.getLogger(__name__)

SCOPES_HINT = (
    "set GITOPS_WATCHER_FORGE_TOKEN (or GITEA_TOKEN) to a token with the 'write:repository' "
    "and 'write:issue' scopes of an account that may write to the repository"
)
PAGE = 50
#: Pages of open pull requests looked through for one branch (50 each).
MAX_PAGES = 40


class GiteaForge(GitHubShapedForge):
    """Pull requests of one Gitea or Forgejo repository (``owner/name``)."""

    EXISTS = 409  # "pull request already exists for these targets"
    UPDATED = (200, 201)
    WORD = "the forge"

    @staticmethod
    def parse(data: Any) -> ForgePullRequest:
        return _pull_request(data)

    def __init__(self, api_url: str, repository: str, token: str, *, timeout: float) -> None:
        self._repo = f"/repos/{repository}"
        self._api = JsonApi(
            ForgeTarget("Gitea", api_url, repository, SCOPES_HINT),
            token,
            ("Authorization", f"token {token}"),
            timeout=timeout,
        )

    def find_open(self, branch: str, base: str) -> ForgePullRequest | None:
        for page in range(1, MAX_PAGES + 1):
            params: dict[str, str | int] = {"state": "open", "limit": PAGE, "page": page}
            _, found = self._api.call("GET", f"{self._repo}/pulls", params=params)
            items = found if isinstance(found, list) else []
            for item in items:
                if _ref(item, "head") == branch and _ref(item, "base") == base:
                    return _pull_request(item)
            if len(items) < PAGE:
                return None
        return None

    def merge(self, number: int, method: str, title: str) -> str:
        payload = {"Do": method, "MergeTitleField": title}
        self._api.call("POST", f"{self._repo}/pulls/{number}/merge", json=payload)
        return self.read(number).merge_commit


def _ref(item: Any, side: str) -> str:
    part = item.get(side) if isinstance(item, dict) else None
    return str(part.get("ref") or "") if isinstance(part, dict) else ""


def _pull_request(data: Any) -> ForgePullRequest:
    item = data if isinstance(data, dict) else {}
    merged = bool(item.get("merged"))
    state = str(item.get("state") or "")
    return ForgePullRequest(
        number=int(item.get("number") or 0),
        url=str(item.get("html_url") or ""),
        state="merged" if merged else ("open" if state == "open" else "closed"),
        branch=_ref(item, "head"),
        merged_at=timestamp(item.get("merged_at")),
        merge_commit=str(item.get("merge_commit_sha") or "") if merged else "",
    )
