"""The function-spec kind: ``functions[]`` entries, each a folder or a git repository of specs.

A folder is watched (any file below it changing asks for a reconcile of the
functions those files are part of); a git repository is read on every reconcile
of this source, so only the resync sees a push to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel

from watcher.config.function_settings import FunctionSourceSettings
from watcher.config.settings import Settings
from watcher.sources.functions.source import FunctionSource
from watcher.spine.source_kinds import BuildContext, SourceEntry, StatusReporter
from watcher.spine.triggers import FileTrigger, Trigger


class FunctionsKind:
    """MLRun and DigitalHub function specs committed to git (or kept in a folder)."""

    key = "functions"
    section: type[BaseModel] | None = None

    def entries(self, settings: Settings) -> list[SourceEntry]:
        return [SourceEntry(self.key, f.name, f.path, f) for f in settings.functions]

    def check(self, entries: Sequence[SourceEntry], context: BuildContext) -> None:
        """Nothing beyond the settings model's own checks and the shared name/path rule."""

    def build(self, entry: SourceEntry, context: BuildContext) -> FunctionSource:
        settings = _settings(entry)
        own = context.credentials.scoped(f"functions.{entry.name}.")
        return FunctionSource(settings, context.settings.state_path, own)

    def triggers(self, entries: Sequence[SourceEntry], context: BuildContext) -> list[Trigger]:
        found: list[Trigger] = []
        for entry in entries:
            settings = _settings(entry)
            if settings.git is None and settings.folder:
                folder = Path(settings.folder).absolute()
                found.append(
                    FileTrigger(
                        entry.name, folder, None, describe=f"watch of the folder {folder}",
                        hints=True,
                    )
                )  # fmt: skip
        return found

    def reporters(
        self, entries: Sequence[SourceEntry], context: BuildContext
    ) -> dict[str, StatusReporter]:
        return {}


def _settings(entry: SourceEntry) -> FunctionSourceSettings:
    if not isinstance(entry.settings, FunctionSourceSettings):
        raise TypeError(f"entry {entry.name!r} is not a function source's")
    return entry.settings


KIND = FunctionsKind()
