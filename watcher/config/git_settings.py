"""The GitOps repository the daemon writes to."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from watcher.config.base import Frozen
from watcher.config.forge_settings import ForgeSettings


class GitSettings(Frozen):
    """The GitOps repository the daemon writes to."""

    repo_url: str = Field("", description="Remote URL (env GIT_REPO_URL): ssh, https or a path.")
    branch: str = Field("main", description="Branch to commit to and push.")
    path: str = Field("deployments", description="Folder in the repo that holds deployments.")
    checkout_dir: str = Field(
        "",
        description="Local git objects and refs only, a bare repository in <checkout_dir>/.git "
        "without working files (default: <state_dir>/checkout). The daemon owns it.",
    )
    author_name: str = Field(
        "gitops-watcher",
        description="Commit author and committer name (no '<', '>' or line breaks).",
    )
    author_email: str = Field(
        "gitops-watcher@localhost",
        description="Commit author e-mail (no '<', '>' or line breaks).",
    )
    ssh_key_file: str = Field("", description="Private key for ssh remotes (env GIT_SSH_KEY_FILE).")
    known_hosts_file: str = Field(
        "", description="known_hosts for ssh remotes (env GIT_KNOWN_HOSTS_FILE); strict checking."
    )
    push_attempts: int = Field(5, ge=1, le=50, description="Pushes tried before giving up.")
    push_backoff_seconds: float = Field(
        0.05,
        ge=0,
        description="After a rejected push (another writer pushed first) the first retry "
        "comes at once; each later one waits a random share of this, so writers rejected "
        "together do not retry together.",
    )
    timeout_seconds: float = Field(120.0, gt=0, description="Timeout of one git network command.")
    forge: ForgeSettings = Field(default_factory=ForgeSettings)

    @field_validator("path")
    @classmethod
    def _relative_path(cls, value: str) -> str:
        parts = Path(value).parts
        if not parts or Path(value).is_absolute() or any(p in ("..", ".", ".git") for p in parts):
            raise ValueError(f"path {value!r} must be a relative folder inside the repo")
        return "/".join(parts)

    @field_validator("author_name", "author_email")
    @classmethod
    def _fits_a_commit(cls, value: str) -> str:
        # git writes "Name <email>" into each commit: these would change what it reads.
        if not value.strip() or any(char in value for char in "<>\n\r\0"):
            raise ValueError(f"{value!r} cannot go into a commit: no '<', '>' or line breaks")
        return value
