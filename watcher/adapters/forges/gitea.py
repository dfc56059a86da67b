"""Gitea and Forgejo pull requests through the REST API v1 (the swagger at
https://gitea.com/api/swagger, the same in Forgejo: https://codeberg.org/api/swagger).

- find:    ``GET /repos/{owner}/{repo}/pulls?state=open&limit=50&page=N``, matched by head
  and base branch (``GET /repos/{owner}/{repo}/pulls/{base}/{head}`` is not used: it may
  answer with an older, closed pull request of the same branch)
- create:  ``POST /repos/{owner}/{repo}/pulls`` (201; 409 when one is open already)
- update, close: ``PATCH /repos/{owner}/{repo}/pulls/{index}`` (201; ``state: closed``)
- read:    ``GET /repos/{owner}/{repo}/pulls/{index}`` (200)
- labels:  ``POST /repos/{owner}/{repo}/issues/{index}/labels`` with label *ids* (200).
  Gitea before 1.22 takes ids only (names since go-gitea/gitea#30943), and later
  ones drop names the repository does not have, so the names are looked up first:
  ``GET /repos/{owner}/{repo}/labels`` (paged), then ``GET /orgs/{owner}/labels``
  for the rest (404 when a user owns the repository, 403 when the token may not
  read the organisation: no labels from there), and what is still missing is
  created with ``POST /repos/{owner}/{repo}/labels`` (201). The ids are kept for
  the life of the client.
- comment: ``POST /repos/{owner}/{repo}/issues/{index}/comments`` (201)
- merge (only with ``auto_merge``): ``POST /repos/{owner}/{repo}/pulls/{index}/merge``
  with ``Do`` (200; 405 when it cannot be merged, 409 when the head moved)

Authentication: ``Authorization: token <token>``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from watcher.adapters.forges.api import ForgeTarget, JsonApi
from watcher.adapters.forges.shaped import GitHubShapedForge
from watcher.core.events import epoch_seconds
from watcher.core.pull_requests import ForgePullRequest
from watcher.errors import ForgeError, ForgeRefusedError

log = logging.getLogger(__name__)

SCOPES_HINT = (
    "set GITOPS_WATCHER_FORGE_TOKEN (or GITEA_TOKEN) to a token with the 'write:repository' "
    "and 'write:issue' scopes of an account that may write to the repository"
)
PAGE = 50
#: Pages of open pull requests looked through for one branch (50 each).
MAX_PAGES = 40
#: Pages of a repository's (or an organisation's) labels looked through (50 each).
MAX_LABEL_PAGES = 20
#: The colours of the labels gitops-watcher creates (Gitea requires one): its own
#: label green, each ``stage:<name>`` blue.
TOOL_LABEL_COLOUR, STAGE_LABEL_COLOUR = "#0e8a16", "#1d76db"


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
        self._org = f"/orgs/{repository.split('/', 1)[0]}"
        #: Label name -> id, as found or created; the same labels serve every pull request.
        self._label_ids: dict[str, int] = {}
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

    def _label(self, number: int, labels: Sequence[str]) -> None:
        """Attach the labels by id, creating in the repository those it does not have
        (an organisation's labels of the same name are used as they are)."""
        try:
            ids = self._ids_of(labels)
            self._api.call("POST", f"{self._repo}/issues/{number}/labels", json={"labels": ids})
        except ForgeError as exc:  # labels help filtering; they never block a promotion
            log.warning("could not label pull request #%d: %s", number, exc)

    def _ids_of(self, names: Sequence[str]) -> list[int]:
        missing = [name for name in names if name not in self._label_ids]
        if missing:
            self._label_ids.update(self._listed(f"{self._repo}/labels", missing, ()))
        missing = [name for name in missing if name not in self._label_ids]
        if missing:
            # 404: a user owns the repository; 403: the token may not read the organisation.
            self._label_ids.update(self._listed(f"{self._org}/labels", missing, (403, 404)))
        for name in [name for name in missing if name not in self._label_ids]:
            self._label_ids[name] = self._create_label(name)
        return [self._label_ids[name] for name in names]

    def _listed(
        self, path: str, wanted: Sequence[str], tolerate: tuple[int, ...]
    ) -> dict[str, int]:
        """The ids of the ``wanted`` labels found under ``path`` (none when it answers
        with a status in ``tolerate``)."""
        found: dict[str, int] = {}
        for page in range(1, MAX_LABEL_PAGES + 1):
            params: dict[str, str | int] = {"limit": PAGE, "page": page}
            status, data = self._api.call("GET", path, params=params, tolerate=tolerate)
            items = data if status == 200 and isinstance(data, list) else []
            for item in items:
                if not isinstance(item, dict):
                    continue
                name, label_id = str(item.get("name")), item.get("id")
                if name in wanted and name not in found and isinstance(label_id, int):
                    found[name] = label_id
            if len(items) < PAGE or len(found) == len(set(wanted)):
                break
        return found

    def _create_label(self, name: str) -> int:
        colour = TOOL_LABEL_COLOUR if name == "gitops-watcher" else STAGE_LABEL_COLOUR
        payload = {"name": name, "color": colour, "description": "set by gitops-watcher"}
        _, data = self._api.call("POST", f"{self._repo}/labels", json=payload, ok=(201,))
        label_id = data.get("id") if isinstance(data, dict) else None
        if not isinstance(label_id, int):
            raise ForgeRefusedError(f"{self.describe()} created label {name!r} but sent no id")
        log.info("created label %r in %s", name, self.describe())
        return label_id


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
        merged_at=epoch_seconds(item.get("merged_at")),
        merge_commit=str(item.get("merge_commit_sha") or "") if merged else "",
    )
