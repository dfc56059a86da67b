"""The forge whose API opens pull requests for stages that publish them (docs/pull-requests.md)."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from watcher.config.base import Frozen

ForgeKind = Literal["", "github", "gitlab", "gitea"]

#: The API token's variable; each forge's usual one is read when it is not set.
FORGE_TOKEN_ENV = "GITOPS_WATCHER_FORGE_TOKEN"  # noqa: S105 (a variable name)
FORGE_TOKEN_FALLBACKS: dict[str, tuple[str, ...]] = {
    "github": ("GITHUB_TOKEN",),
    "gitlab": ("GITLAB_TOKEN",),
    "gitea": ("GITEA_TOKEN", "FORGEJO_TOKEN"),
}
#: How each forge names itself in messages.
FORGE_NAMES = {"github": "GitHub", "gitlab": "GitLab", "gitea": "Gitea"}

_SCP_LIKE = re.compile(r"^(?:[^@/]+@)?(?P<host>[^:/]+):(?P<path>[^/].*)$")
_REF_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class ForgeSettings(Frozen):
    """The forge that hosts the GitOps repository: its REST API opens the pull requests of
    stages with ``publish: pull-request``. Branches are pushed with the git credentials;
    the API token comes from GITOPS_WATCHER_FORGE_TOKEN (or GITHUB_TOKEN, GITLAB_TOKEN,
    GITEA_TOKEN)."""

    kind: ForgeKind = Field(
        "", description="'github' (also GitHub Enterprise), 'gitlab' or 'gitea' (also Forgejo)."
    )
    api_url: str = Field(
        "",
        description="The API root as the forge documents it: https://api.github.com, "
        "https://HOST/api/v3 (GitHub Enterprise), https://HOST/api/v4 (GitLab), "
        "https://HOST/api/v1 (Gitea, Forgejo). Default: from the host of GIT_REPO_URL.",
    )
    repository: str = Field(
        "",
        description="The repository as the forge names it, 'owner/name' (GitLab: "
        "'group/subgroup/project'). Default: the path of GIT_REPO_URL.",
    )
    branch_prefix: str = Field(
        "gitops-watcher",
        description="Pull request branches are <branch_prefix>/<source>/<folder>; "
        "gitops-watcher force-pushes them (never git.branch).",
    )
    merge_method: Literal["merge", "squash", "rebase"] = Field(
        "merge", description="How stages with auto_merge merge their pull requests."
    )
    timeout_seconds: float = Field(30.0, gt=0, description="Timeout of one API request.")

    @field_validator("branch_prefix")
    @classmethod
    def _safe_prefix(cls, value: str) -> str:
        parts = value.strip("/").split("/")
        if not all(_REF_SEGMENT.match(part) and not part.endswith(".lock") for part in parts):
            raise ValueError(
                f"branch_prefix {value[:80]!r} must be branch name segments: letters, "
                "digits, '.', '_' and '-', joined by '/'"
            )
        return value.strip("/")

    @field_validator("api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.lower().startswith(("http://", "https://")):
            raise ValueError(f"api_url {value[:80]!r} must be an http(s) URL")
        return value.rstrip("/")

    @property
    def name(self) -> str:
        return FORGE_NAMES.get(self.kind, self.kind or "no forge")

    def resolved_api_url(self, repo_url: str) -> str:
        """``api_url``, or the forge's documented API root on the host of ``repo_url``."""
        if self.api_url:
            return self.api_url
        host = repo_host_and_path(repo_url)[0]
        if not host:
            return ""
        if self.kind == "github":
            return "https://api.github.com" if host == "github.com" else f"https://{host}/api/v3"
        suffix = {"gitlab": "/api/v4", "gitea": "/api/v1"}.get(self.kind)
        return f"https://{host}{suffix}" if suffix else ""

    def resolved_repository(self, repo_url: str) -> str:
        """``repository``, or the path of ``repo_url`` without ``.git``."""
        if self.repository:
            return self.repository.strip("/")
        return repo_host_and_path(repo_url)[1]


def repo_host_and_path(url: str) -> tuple[str, str]:
    """(host, 'owner/name') of an https, ssh or scp-like git URL; ('', '') for a path."""
    if "://" in url:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https", "ssh", "git+ssh", "ssh+git", "git"):
            return "", ""
        host, path = parts.hostname or "", parts.path
    else:
        match = _SCP_LIKE.match(url)
        if match is None or url.startswith(("/", ".", "~")):
            return "", ""
        host, path = match["host"], match["path"]
    path = path.strip("/").removesuffix(".git")
    return (host, path) if host and "/" in path else ("", "")
