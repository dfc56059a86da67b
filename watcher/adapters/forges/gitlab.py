"""GitLab merge requests through the REST API v4 (https://docs.gitlab.com/api/merge_requests/,
notes: https://docs.gitlab.com/api/notes/#create-new-merge-request-note).

The project is named by its URL-encoded path (``group%2Fsubgroup%2Fproject``). Endpoints:

- find:    ``GET /projects/:id/merge_requests?state=opened&source_branch=…&target_branch=…``
- create:  ``POST /projects/:id/merge_requests`` (201; 409 when one is open already),
  with ``labels`` (comma-separated; GitLab creates missing labels)
- update, close: ``PUT /projects/:id/merge_requests/:merge_request_iid`` (200;
  ``state_event: close``)
- read:    ``GET /projects/:id/merge_requests/:merge_request_iid`` (200)
- comment: ``POST /projects/:id/merge_requests/:merge_request_iid/notes`` (201)
- merge (only with ``auto_merge``): ``PUT /projects/:id/merge_requests/:merge_request_iid/merge``
  (200; 405 or 422 when it cannot be merged, 409 when the head moved)

Authentication: the ``PRIVATE-TOKEN`` header.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from watcher.adapters.forges.api import ForgeTarget, JsonApi, said
from watcher.core.events import epoch_seconds
from watcher.core.pull_requests import ForgePullRequest
from watcher.errors import ForgeRefusedError

SCOPES_HINT = (
    "set GITOPS_WATCHER_FORGE_TOKEN (or GITLAB_TOKEN) to a token with the 'api' scope of an "
    "account with at least the Developer role on the project"
)


class GitLabForge:
    """Merge requests of one GitLab project (``group/subgroup/project``)."""

    def __init__(self, api_url: str, repository: str, token: str, *, timeout: float) -> None:
        self._project = f"/projects/{quote(repository, safe='')}"
        self._api = JsonApi(
            ForgeTarget("GitLab", api_url, repository, SCOPES_HINT),
            token,
            ("PRIVATE-TOKEN", token),
            timeout=timeout,
        )

    def describe(self) -> str:
        return self._api.target.describe()

    def find_open(self, branch: str, base: str) -> ForgePullRequest | None:
        params = {"state": "opened", "source_branch": branch, "target_branch": base}
        _, found = self._api.call("GET", f"{self._project}/merge_requests", params=params)
        for item in found if isinstance(found, list) else ():
            return _merge_request(item)
        return None

    def create(
        self, branch: str, base: str, title: str, body: str, labels: Sequence[str]
    ) -> ForgePullRequest:
        payload = {
            "source_branch": branch,
            "target_branch": base,
            "title": title,
            "description": body,
            "labels": ",".join(labels),
        }
        status, data = self._api.call(
            "POST", f"{self._project}/merge_requests", json=payload, ok=(201,), tolerate=(409,)
        )
        if status == 409:  # "Another open merge request already exists for this source branch"
            found = self.find_open(branch, base)
            if found is None:
                raise ForgeRefusedError(
                    f"{self.describe()} refused to open a merge request from '{branch}': "
                    f"{said(data)}",
                    hint="check that git.branch exists on GitLab and differs from the branch",
                )
            return found
        return _merge_request(data)

    def update(self, number: int, title: str, body: str) -> ForgePullRequest:
        payload = {"title": title, "description": body}
        _, data = self._api.call("PUT", f"{self._project}/merge_requests/{number}", json=payload)
        return _merge_request(data)

    def read(self, number: int) -> ForgePullRequest:
        _, data = self._api.call("GET", f"{self._project}/merge_requests/{number}")
        return _merge_request(data)

    def comment_and_close(self, number: int, comment: str) -> None:
        path = f"{self._project}/merge_requests/{number}"
        self._api.call("POST", f"{path}/notes", json={"body": comment}, ok=(201,))
        self._api.call("PUT", path, json={"state_event": "close"})

    def merge(self, number: int, method: str, title: str) -> str:
        payload: dict[str, Any] = {"squash": method == "squash"}
        if method != "squash":
            payload["merge_commit_message"] = title
        _, data = self._api.call(
            "PUT", f"{self._project}/merge_requests/{number}/merge", json=payload
        )
        merged = _merge_request(data)
        return merged.merge_commit

    def close(self) -> None:
        self._api.close()


def _merge_request(data: Any) -> ForgePullRequest:
    item = data if isinstance(data, dict) else {}
    state = str(item.get("state") or "")
    commit = item.get("merge_commit_sha") or item.get("squash_commit_sha") or ""
    if state == "merged" and not commit:
        commit = item.get("sha") or ""  # a fast-forward merge makes no merge commit
    return ForgePullRequest(
        number=int(item.get("iid") or 0),
        url=str(item.get("web_url") or ""),
        state="merged" if state == "merged" else ("open" if state == "opened" else "closed"),
        branch=str(item.get("source_branch") or ""),
        merged_at=epoch_seconds(item.get("merged_at")),
        merge_commit=str(commit) if state == "merged" else "",
    )
