"""A registry snapshot from a file (``gitops-watcher snapshot`` output), for offline rendering."""

from __future__ import annotations

import json
from pathlib import Path

from watcher.closing import Closing
from watcher.core.model import RegistrySnapshot
from watcher.errors import ConfigError


class SnapshotFile(Closing):
    """A registry reader that always answers with the same snapshot."""

    def __init__(self, snapshot: RegistrySnapshot) -> None:
        self._snapshot = snapshot

    @classmethod
    def read(cls, path: Path) -> SnapshotFile:
        try:
            data = json.loads(path.read_text("utf-8"))
            return cls(RegistrySnapshot.from_dict(data))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"cannot read snapshot {path}: {str(exc)[:200]}") from exc

    def snapshot(self) -> RegistrySnapshot:
        return self._snapshot

    def close(self) -> None:
        """Nothing is held open."""
