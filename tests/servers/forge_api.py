"""A test double of a forge's pull request API (GitHub, GitLab, Gitea), on 127.0.0.1.

No forge server can be installed here, so this is the one place the suite uses a
double. It implements exactly the endpoints gitops-watcher calls, with the field
names, status codes and authentication headers the forges document, and checks the
token on every request:

- GitHub REST API v3 (https://docs.github.com/en/rest/pulls/pulls,
  https://docs.github.com/en/rest/issues/labels#add-labels-to-an-issue,
  https://docs.github.com/en/rest/issues/comments#create-an-issue-comment):
  ``Authorization: Bearer``; 401 ``{"message": "Bad credentials"}``; create 201 or 422
  ``A pull request already exists``; update 200; merge 200 ``{"sha", "merged"}``.
- GitLab API v4 (https://docs.gitlab.com/api/merge_requests/, https://docs.gitlab.com/api/notes/):
  ``PRIVATE-TOKEN``; 401 ``{"message": "401 Unauthorized"}``; fields ``iid``, ``web_url``,
  ``state`` (opened, closed, merged), ``merged_at``, ``merge_commit_sha``,
  ``squash_commit_sha``; create 201 or 409; notes 201.
- Gitea/Forgejo API v1 (https://gitea.com/api/swagger): ``Authorization: token``;
  fields ``number``, ``html_url``, ``state``, ``merged``, ``merged_at``,
  ``merge_commit_sha``, ``head.ref``, ``base.ref``; create 201 or 409; edit 201.
  Labels as Gitea keeps them, each with an id: ``GET /repos/{owner}/{repo}/labels``
  and ``GET /orgs/{org}/labels`` (paged by ``page`` and ``limit``; 404 for a user's
  repository), ``POST /repos/{owner}/{repo}/labels`` (``name`` and ``color``
  required, 201 with the label); ``POST …/issues/{index}/labels`` takes ids, or
  names of labels that exist (others are dropped, as since Gitea 1.22,
  go-gitea/gitea#30943), or ids only with ``gitea_ids_only`` (before 1.22: a name
  is a 422), and answers with the issue's labels.

The repository behind it is real: a pull request can only be opened from a branch
that exists on the bare remote, and merges (by the API, or by a test acting as a
reviewer) are real git merges, squashes or rebases pushed to the remote's branch.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

ROOTS = {"github": "", "gitlab": "/api/v4", "gitea": "/api/v1"}


@dataclass
class PullRequest:
    number: int
    head: str
    base: str
    title: str
    body: str
    state: str = "open"  # open | closed
    merged: bool = False
    merged_at: str | None = None
    merge_commit: str = ""
    labels: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)


@dataclass
class ForgeDouble:
    kind: str
    token: str
    repository: str
    remote: Path
    port: int = 0
    pulls: dict[int, PullRequest] = field(default_factory=dict)
    #: (method, path) of every request, and each Authorization-like header received.
    requests: list[tuple[str, str]] = field(default_factory=list)
    tokens_seen: list[str] = field(default_factory=list)
    #: Create the next pull request, then drop the connection without a reply.
    lose_next_create_reply: bool = False
    #: Gitea's labels, id -> name: the repository's, and its organisation's (None: a
    #: user owns the repository, so there is no organisation to ask).
    repo_labels: dict[int, str] = field(default_factory=dict)
    org_labels: dict[int, str] | None = None
    #: Gitea before 1.22: an issue's labels are given by id only.
    gitea_ids_only: bool = False
    #: The token may not create labels (403).
    refuse_label_creation: bool = False
    _server: ThreadingHTTPServer | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{ROOTS[self.kind]}"

    def start(self) -> ForgeDouble:
        handler = type("Handler", (_Handler,), {"forge": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def open_pulls(self) -> list[PullRequest]:
        return [pr for pr in self.pulls.values() if pr.state == "open"]

    def close_as_reviewer(self, number: int) -> None:
        """A person closes the pull request without merging."""
        self.pulls[number].state = "closed"

    def merge_as_reviewer(self, number: int, method: str) -> str:
        """A person merges it in the forge's UI: a real merge, squash or rebase."""
        pr = self.pulls[number]
        sha = git_merge(self.remote, pr.head, pr.base, method, f"{pr.title} (#{number})")
        pr.state, pr.merged, pr.merge_commit = "closed", True, sha
        pr.merged_at = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        return sha

    # -- the API, in each forge's shape --------------------------------------------------

    def as_json(self, pr: PullRequest) -> dict[str, Any]:
        url = f"http://forge.example/{self.repository}/pull/{pr.number}"
        if self.kind == "gitlab":
            return {
                "iid": pr.number, "web_url": url, "title": pr.title, "description": pr.body,
                "state": "merged" if pr.merged else ("opened" if pr.state == "open" else "closed"),
                "source_branch": pr.head, "target_branch": pr.base, "labels": pr.labels,
                "merged_at": pr.merged_at, "sha": pr.merge_commit or None,
                "merge_commit_sha": pr.merge_commit or None, "squash_commit_sha": None,
            }  # fmt: skip
        return {
            "number": pr.number, "html_url": url, "title": pr.title, "body": pr.body,
            "state": pr.state, "merged": pr.merged, "merged_at": pr.merged_at,
            "merge_commit_sha": pr.merge_commit or None,
            "head": {"ref": pr.head}, "base": {"ref": pr.base},
            "labels": [{"name": name} for name in pr.labels],
        }  # fmt: skip


def git_merge(remote: Path, head: str, base: str, method: str, title: str) -> str:
    """Merge ``head`` into ``base`` of a bare remote as a forge does, and push; the new tip."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "work"

        def git(*args: str) -> str:
            return subprocess.run(
                ["git", "-C", str(work), "-c", "user.name=Reviewer", "-c",
                 "user.email=reviewer@example.com", *args],
                capture_output=True, text=True, check=True,
            ).stdout.strip()  # fmt: skip

        subprocess.run(["git", "clone", "-q", "-b", base, str(remote), str(work)], check=True)
        git("fetch", "-q", "origin", f"+refs/heads/{head}:refs/remotes/origin/{head}")
        if method == "merge":
            git("merge", "--no-ff", "-m", title, f"origin/{head}")
        elif method == "squash":
            git("merge", "--squash", f"origin/{head}")
            git("commit", "-q", "-m", title)
        else:  # rebase: the branch's commits replayed on the base, fast-forwarded
            git("checkout", "-q", "-b", "replay", f"origin/{head}")
            git("rebase", "-q", base)
            git("checkout", "-q", base)
            git("merge", "--ff-only", "replay")
        git("push", "-q", "origin", base)
        return git("rev-parse", "HEAD")


def branch_exists(remote: Path, branch: str) -> bool:
    done = subprocess.run(
        ["git", "--git-dir", str(remote), "rev-parse", "-q", "--verify", f"refs/heads/{branch}"],
        capture_output=True, check=False,
    )  # fmt: skip
    return done.returncode == 0


class _Handler(BaseHTTPRequestHandler):
    forge: ForgeDouble
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def _reply(self, status: int, data: Any) -> None:
        payload = b"" if data is None else json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _serve(self) -> None:
        forge = self.forge
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"null") if length else None
        parts = urlsplit(self.path)
        forge.requests.append((self.command, parts.path))
        given = self._token()
        forge.tokens_seen.append(given)
        if given != forge.token:
            self._reply(401, {"message": _UNAUTHORIZED[forge.kind]})
            return
        path = unquote(parts.path).removeprefix(ROOTS[forge.kind])
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        owner = forge.repository.split("/", 1)[0]
        for method, pattern, action in _ROUTES[forge.kind]:
            pattern = pattern.replace("{repo}", re.escape(forge.repository))
            match = re.fullmatch(pattern.replace("{owner}", re.escape(owner)), path)
            if method == self.command and match:
                result = action(forge, self, body or {}, query, *match.groups())
                if result is not None:
                    self._reply(*result)
                return
        self._reply(404, {"message": "Not Found"})

    def _token(self) -> str:
        if self.forge.kind == "gitlab":
            return self.headers.get("PRIVATE-TOKEN", "")
        scheme = "Bearer " if self.forge.kind == "github" else "token "
        value = self.headers.get("Authorization", "")
        return value.removeprefix(scheme) if value.startswith(scheme) else ""


_UNAUTHORIZED = {"github": "Bad credentials", "gitlab": "401 Unauthorized",
                 "gitea": "user does not exist"}  # fmt: skip
Result = tuple[int, Any] | None


def _find(forge: ForgeDouble, h: _Handler, body: Any, query: dict[str, str]) -> Result:
    if forge.kind == "github":
        head = query.get("head", "").split(":", 1)[-1]
        found = [p for p in forge.open_pulls() if p.head == head
                 and p.base == query.get("base", p.base)]  # fmt: skip
    elif forge.kind == "gitlab":
        found = [p for p in forge.open_pulls() if p.head == query.get("source_branch")
                 and p.base == query.get("target_branch", p.base)]  # fmt: skip
    else:
        limit, page = int(query.get("limit", 30)), int(query.get("page", 1))
        found = forge.open_pulls()[(page - 1) * limit : page * limit]
    return 200, [forge.as_json(pr) for pr in found]


def _create(forge: ForgeDouble, h: _Handler, body: Any, query: dict[str, str]) -> Result:
    head = body.get("source_branch") if forge.kind == "gitlab" else body.get("head")
    base = body.get("target_branch") if forge.kind == "gitlab" else body.get("base")
    if not head or not branch_exists(forge.remote, head) or not branch_exists(forge.remote, base):
        invalid = [{"field": "head", "code": "invalid"}]
        return 422, {"message": "Validation Failed", "errors": invalid}
    if any(p.head == head and p.base == base for p in forge.open_pulls()):
        conflict = 422 if forge.kind == "github" else 409
        return conflict, {"message": f"A pull request already exists for {head}."}
    number = max(forge.pulls, default=0) + 1
    labels = str(body.get("labels") or "").split(",") if forge.kind == "gitlab" else []
    text = body.get("description") if forge.kind == "gitlab" else body.get("body")
    pr = PullRequest(number, head, base, body["title"], text or "", labels=[x for x in labels if x])
    forge.pulls[number] = pr
    if forge.lose_next_create_reply:
        forge.lose_next_create_reply = False
        h.close_connection = True
        h.connection.shutdown(2)  # created, but the client never hears of it
        return None
    return 201, forge.as_json(pr)


def _update(forge: ForgeDouble, h: _Handler, body: Any, query: dict[str, str],
            number: str) -> Result:  # fmt: skip
    pr = forge.pulls.get(int(number))
    if pr is None:
        return 404, {"message": "Not Found"}
    pr.title = body.get("title", pr.title)
    pr.body = body.get("description" if forge.kind == "gitlab" else "body", pr.body)
    if body.get("state") == "closed" or body.get("state_event") == "close":
        pr.state = "closed"
    return (201 if forge.kind == "gitea" else 200), forge.as_json(pr)


def _read(forge: ForgeDouble, h: _Handler, body: Any, query: dict[str, str],
          number: str) -> Result:  # fmt: skip
    pr = forge.pulls.get(int(number))
    return (200, forge.as_json(pr)) if pr else (404, {"message": "Not Found"})


def _labels(forge: ForgeDouble, h: _Handler, body: Any, query: dict[str, str],
            number: str) -> Result:  # fmt: skip
    pr = forge.pulls[int(number)]
    pr.labels += [str(label) for label in body.get("labels", [])]
    return 200, [{"name": name} for name in pr.labels]


def _label_json(label_id: int, name: str) -> dict[str, Any]:
    return {"id": label_id, "name": name, "color": "00aabb", "description": ""}


def _listed(labels: dict[int, str], query: dict[str, str]) -> list[dict[str, Any]]:
    limit, page = int(query.get("limit", 30)), int(query.get("page", 1))
    every = [_label_json(i, name) for i, name in sorted(labels.items())]
    return every[(page - 1) * limit : page * limit]


def _repo_labels(forge: ForgeDouble, h: _Handler, body: Any, query: dict[str, str]) -> Result:
    return 200, _listed(forge.repo_labels, query)


def _org_labels(forge: ForgeDouble, h: _Handler, body: Any, query: dict[str, str]) -> Result:
    if forge.org_labels is None:
        return 404, {"message": "GetOrgByName"}
    return 200, _listed(forge.org_labels, query)


def _create_label(forge: ForgeDouble, h: _Handler, body: Any, query: dict[str, str]) -> Result:
    if forge.refuse_label_creation:
        return 403, {"message": "token does not have at least one of required scope(s)"}
    name, colour = str(body.get("name") or ""), str(body.get("color") or "")
    if not name or not re.fullmatch(r"#?[0-9a-fA-F]{6}", colour):
        return 422, {"message": "[Name Color]: Required"}
    label_id = max([*forge.repo_labels, *(forge.org_labels or {})], default=0) + 1
    forge.repo_labels[label_id] = name
    return 201, _label_json(label_id, name)


def _gitea_labels(forge: ForgeDouble, h: _Handler, body: Any, query: dict[str, str],
                  number: str) -> Result:  # fmt: skip
    known = {**(forge.org_labels or {}), **forge.repo_labels}
    pr = forge.pulls[int(number)]
    for given in body.get("labels", []):
        if isinstance(given, str) and forge.gitea_ids_only:
            return 422, {"message": "[]: json: cannot unmarshal string into Go value of type int64"}
        name = known.get(given) if isinstance(given, int) else (
            given if given in known.values() else None)  # fmt: skip
        if name is not None and name not in pr.labels:
            pr.labels.append(name)
    ids = {name: i for i, name in known.items()}
    return 200, [_label_json(ids[name], name) for name in pr.labels]


def _comment(forge: ForgeDouble, h: _Handler, body: Any, query: dict[str, str],
             number: str) -> Result:  # fmt: skip
    forge.pulls[int(number)].comments.append(str(body.get("body")))
    return 201, {"id": len(forge.pulls[int(number)].comments), "body": body.get("body")}


def _merge(forge: ForgeDouble, h: _Handler, body: Any, query: dict[str, str],
           number: str) -> Result:  # fmt: skip
    pr = forge.pulls.get(int(number))
    if pr is None or pr.state != "open":
        return 405, {"message": "Pull Request is not mergeable"}
    method = {"github": body.get("merge_method"), "gitea": body.get("Do"),
              "gitlab": "squash" if body.get("squash") else "merge"}[forge.kind]  # fmt: skip
    sha = forge.merge_as_reviewer(pr.number, str(method or "merge"))
    if forge.kind == "github":
        return 200, {"sha": sha, "merged": True, "message": "Pull Request successfully merged"}
    if forge.kind == "gitlab":
        return 200, forge.as_json(pr)
    return 200, None


_PULL = r"/repos/{repo}/pulls"
_MR = r"/projects/{repo}/merge_requests"
_ROUTES: dict[str, list[tuple[str, str, Any]]] = {
    "github": [
        ("GET", _PULL, _find), ("POST", _PULL, _create),
        ("PATCH", _PULL + r"/(\d+)", _update), ("GET", _PULL + r"/(\d+)", _read),
        ("PUT", _PULL + r"/(\d+)/merge", _merge),
        ("POST", r"/repos/{repo}/issues/(\d+)/labels", _labels),
        ("POST", r"/repos/{repo}/issues/(\d+)/comments", _comment),
    ],
    "gitlab": [
        ("GET", _MR, _find), ("POST", _MR, _create),
        ("PUT", _MR + r"/(\d+)", _update), ("GET", _MR + r"/(\d+)", _read),
        ("PUT", _MR + r"/(\d+)/merge", _merge), ("POST", _MR + r"/(\d+)/notes", _comment),
    ],
    "gitea": [
        ("GET", _PULL, _find), ("POST", _PULL, _create),
        ("PATCH", _PULL + r"/(\d+)", _update), ("GET", _PULL + r"/(\d+)", _read),
        ("POST", _PULL + r"/(\d+)/merge", _merge),
        ("POST", r"/repos/{repo}/issues/(\d+)/labels", _gitea_labels),
        ("POST", r"/repos/{repo}/issues/(\d+)/comments", _comment),
        ("GET", r"/repos/{repo}/labels", _repo_labels),
        ("POST", r"/repos/{repo}/labels", _create_label),
        ("GET", r"/orgs/{owner}/labels", _org_labels),
    ],
}  # fmt: skip
