"""The forge clients, one module each, registered here and only here.

A client opens, finds, updates, reads, comments on, closes and (for ``auto_merge``)
merges pull requests of one repository through the forge's documented REST API;
the publisher (``watcher.spine.pull_requests``) calls it through its ``Forge`` port.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from watcher.adapters.forges.gitea import GiteaForge
from watcher.adapters.forges.github import GitHubForge
from watcher.adapters.forges.gitlab import GitLabForge
from watcher.config.forge_settings import ForgeSettings
from watcher.errors import ConfigError

#: kind (``git.forge.kind``) -> client class: ``(api_url, repository, token, timeout=…)``.
FORGES: dict[str, Callable[..., Any]] = {
    "github": GitHubForge,
    "gitlab": GitLabForge,
    "gitea": GiteaForge,
}


def open_forge(settings: ForgeSettings, repo_url: str, token: str) -> Any:
    """The client of the configured forge; a ConfigError when it cannot be named."""
    client = FORGES.get(settings.kind)
    if client is None:
        raise ConfigError(
            "stages publish pull requests, but no forge is configured",
            hint=f"set git.forge.kind to one of: {', '.join(sorted(FORGES))}",
        )
    api_url = settings.resolved_api_url(repo_url)
    if not api_url:
        raise ConfigError(
            f"the {settings.name} API URL cannot be read from GIT_REPO_URL",
            hint="set git.forge.api_url (e.g. https://api.github.com, https://HOST/api/v4 "
            "for GitLab, https://HOST/api/v1 for Gitea)",
        )
    repository = settings.resolved_repository(repo_url)
    if not repository or "/" not in repository:
        raise ConfigError(
            f"the {settings.name} repository cannot be read from GIT_REPO_URL",
            hint="set git.forge.repository to 'owner/name' (GitLab: 'group/project')",
        )
    return client(api_url, repository, token, timeout=settings.timeout_seconds)
