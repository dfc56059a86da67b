"""The source plug-in seam: what a kind of source tells the rest of gitops-watcher.

A kind (MLflow registries, function-spec folders …) lists the sources the
settings configure, checks what only it can check, builds each source, and
offers its triggers and, optionally, a status reporter for the registry it
reads. ``watcher.sources`` registers the built-in kinds with one line each; the
reconciler, the plan and the publisher never learn a kind's name.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel

from watcher.config.daemon_settings import DaemonSettings
from watcher.config.settings import Credentials, Settings
from watcher.spine.desired_state import Source
from watcher.spine.triggers import Trigger


@dataclass(frozen=True)
class SourceEntry:
    """One configured source, as every kind names it: one rule checks names and paths."""

    kind: str
    name: str
    #: The folder under ``git.path`` it owns; "" for the whole deployments folder.
    path: str
    #: The kind's own settings of this source.
    settings: Any = None


@dataclass(frozen=True)
class BuildContext:
    """What building a source or its triggers may read."""

    settings: Settings
    credentials: Credentials
    #: Copy artifacts (False for commands that only render or print).
    with_artifacts: bool = True
    daemon: DaemonSettings | None = None
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    @property
    def daemon_settings(self) -> DaemonSettings:
        return self.daemon or self.settings.daemon


class StatusReporter(Protocol):
    """Tells the input what is deployed (registry tags), after a push; never raises."""

    def report(self, releases: Sequence[Mapping[str, Any]], finished_at: float) -> tuple[int, int]:
        """Written and failed counts for the releases of its source that changed."""
        ...

    def close(self) -> None: ...


class SourceKind(Protocol):
    """A kind of source; registered once in ``watcher.sources``."""

    #: Short id, also the config key of its own section when it has one.
    @property
    def key(self) -> str: ...

    #: Settings of one source of this kind when the kind brings its own config section
    #: (a list under ``key``); None when its settings are part of the built-in tree.
    @property
    def section(self) -> type[BaseModel] | None: ...

    def entries(self, settings: Settings) -> list[SourceEntry]: ...

    def check(self, entries: Sequence[SourceEntry], context: BuildContext) -> None:
        """Raise ``ConfigError`` for what only this kind can see is wrong."""
        ...

    def build(self, entry: SourceEntry, context: BuildContext) -> Source: ...

    def triggers(self, entries: Sequence[SourceEntry], context: BuildContext) -> list[Trigger]: ...

    def reporters(
        self, entries: Sequence[SourceEntry], context: BuildContext
    ) -> dict[str, StatusReporter]: ...


def section_entries(settings: Settings, kind: SourceKind) -> list[Any]:
    """The entries of a kind's own config section (empty when it is not configured)."""
    return list(getattr(settings, kind.key, ()) or ())
