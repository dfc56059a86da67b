"""How a stage's changes reach the GitOps branch: a commit on it, or a pull request.

Plain values the sources put on each release (``Release.publish``) and on each
source's stages (``SourceRead.publishing``, for removals, which have no release);
the plan copies them onto its changes, and the publisher routes each change by them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

PublishMode = Literal["direct", "pull-request"]

#: What may stand in a branch name segment; anything else becomes '-'.
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Publishing:
    """A stage's publish mode; ``auto_merge``: gitops-watcher merges its own pull requests."""

    mode: PublishMode = "direct"
    auto_merge: bool = False

    @property
    def pull_request(self) -> bool:
        return self.mode == "pull-request"


DIRECT = Publishing()


def pull_request_branch(prefix: str, source: str, folder: str) -> str:
    """The one branch of a (source, folder): ``gitops-watcher/mlflow/churn/production``.

    Folders are already safe names; each segment is cleaned again all the same, so no
    segment starts with '.' or '-', ends with '.lock' or '.', or holds '..'.
    """
    segments = [*prefix.split("/"), source, *folder.split("/")]
    cleaned = [_segment(part) for part in segments if part.strip("/")]
    return "/".join(part for part in cleaned if part)


def _segment(part: str) -> str:
    text = _UNSAFE.sub("-", part).replace("..", "-").strip(".-")
    while text.endswith(".lock"):
        text = text[: -len(".lock")].rstrip(".-")
    return text
