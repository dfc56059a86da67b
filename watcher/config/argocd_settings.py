"""How the Argo CD objects (``gitops-watcher argocd``) are rendered, and where the daemon
reads back what Argo CD made of each deployed folder (``api_url``, read only)."""

from __future__ import annotations

from pydantic import Field, field_validator

from watcher.config.base import Frozen, check_dns_label


class ArgoCDSettings(Frozen):
    """The ApplicationSet that turns each deployment folder into an Argo CD application."""

    namespace: str = Field("argocd", description="Namespace Argo CD runs in.")
    project: str = Field("gitops-watcher", description="Argo CD project of the applications.")
    create_project: bool = Field(
        True, description="Render that AppProject too (off: use an existing project)."
    )
    project_namespaces: tuple[str, ...] = Field(
        ("*",),
        description="Destination namespaces (globs) the project allows, e.g. ['models-*'].",
    )
    name: str = Field(
        "gitops-watcher", description="Name of the ApplicationSet and of the bootstrap app."
    )
    repo_url: str = Field(
        "",
        description="Repository URL Argo CD reads (default: git.repo_url without credentials).",
    )
    target_revision: str = Field(
        "", description="Branch or tag Argo CD tracks (default: git.branch)."
    )
    bootstrap_path: str = Field(
        "argocd",
        description="Folder of the GitOps repository that holds the ApplicationSet; the "
        "bootstrap Application syncs it.",
    )
    destination_server: str = Field(
        "https://kubernetes.default.svc", description="Cluster the applications deploy to."
    )
    automated: bool = Field(True, description="Sync every application automatically.")
    prune: bool = Field(True, description="Delete objects that left git (automated sync).")
    self_heal: bool = Field(True, description="Undo changes made in the cluster (automated sync).")
    repo_web_url: str = Field(
        "",
        description="Web page of the repository (https://github.com/org/gitops) for links to "
        "each folder and its history; empty: no such links.",
    )
    web_flavor: str = Field(
        "github",
        description="How folder and history links are built: 'github' (also Gitea, Forgejo) "
        "or 'gitlab'.",
    )

    api_url: str = Field(
        "",
        description="Argo CD API server (https://argocd.example.com) the daemon reads the "
        "Application of each deployed folder from (sync, health, revision), with the token in "
        "ARGOCD_AUTH_TOKEN; empty: no health reads (docs/observability.md).",
    )
    poll_interval_seconds: float = Field(
        30.0, gt=0, description="How often the daemon reads the Applications from api_url."
    )
    timeout_seconds: float = Field(
        10.0, gt=0, le=120, description="Seconds one request to api_url may take."
    )
    ca_bundle: str = Field(
        "",
        description="PEM file of the CA that signed api_url's certificate (default: the "
        "system's CA store).",
    )

    @field_validator("api_url")
    @classmethod
    def _api(cls, value: str) -> str:
        if value and not value.lower().startswith(("http://", "https://")):
            raise ValueError(f"argocd.api_url {value[:60]!r} must be an http(s):// URL")
        return value.rstrip("/")

    @field_validator("namespace", "project", "name")
    @classmethod
    def _label(cls, value: str) -> str:
        return check_dns_label(value, "argocd name")

    @field_validator("web_flavor")
    @classmethod
    def _flavor(cls, value: str) -> str:
        if value not in ("github", "gitlab"):
            raise ValueError(f"argocd.web_flavor {value[:40]!r} must be 'github' or 'gitlab'")
        return value

    @field_validator("bootstrap_path")
    @classmethod
    def _relative(cls, value: str) -> str:
        parts = value.strip("/").split("/")
        if not value.strip("/") or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"argocd.bootstrap_path {value[:80]!r} must be a relative folder")
        return value.strip("/")
