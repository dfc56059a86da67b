"""Digests of rendered files that passed validation, kept in the state folder across runs.

Strict schema validation is most of the work of a reconcile that starts cold
(``reconcile --once`` from cron, a restarted daemon): 4,000 deployments take
seconds. A file whose exact bytes passed before, for the same Kubernetes version
and the same versions of gitops-watcher and its schemas, passes again, so its
digest is remembered. The file is a cache: losing it costs time, nothing else.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, MutableSet
from importlib import metadata
from pathlib import Path

from watcher import __version__
from watcher.closing import Closing

log = logging.getLogger(__name__)

#: Compact the file when it holds this many times more digests than a run used.
_COMPACT_FACTOR = 4


def _schemas_version() -> str:
    try:
        return metadata.version("kubernetes-validate")
    except metadata.PackageNotFoundError:  # pragma: no cover - a dependency
        return "unknown"


class ValidationCache(Closing, MutableSet[str]):
    """A set of digests, loaded from and appended to one file of the state folder."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / f"validated-{__version__}-{_schemas_version()}.txt"
        self._known: set[str] = set()
        self._used: set[str] = set()
        self._new: list[str] = []
        with contextlib.suppress(OSError, UnicodeDecodeError):
            self._known = {line for line in self.path.read_text("ascii").split() if line}

    def __contains__(self, digest: object) -> bool:
        if digest in self._known:
            self._used.add(str(digest))
            return True
        return False

    def __iter__(self) -> Iterator[str]:
        return iter(self._known)

    def __len__(self) -> int:
        return len(self._known)

    def add(self, value: str) -> None:
        if value not in self._known:
            self._known.add(value)
            self._new.append(value)
        self._used.add(value)

    def discard(self, value: str) -> None:
        self._known.discard(value)

    def save(self) -> None:
        """Append what is new (or rewrite the file with what was used, when it grew stale)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if len(self._known) > _COMPACT_FACTOR * max(len(self._used), 1_000):
                temporary = self.path.with_suffix(".tmp")
                temporary.write_text("".join(f"{d}\n" for d in sorted(self._used)), "ascii")
                temporary.replace(self.path)
                self._known = set(self._used)
            elif self._new:
                with self.path.open("a", encoding="ascii") as handle:
                    handle.write("".join(f"{d}\n" for d in self._new))
            self._new = []
        except OSError as exc:
            log.info("cannot keep the validation cache %s: %s", self.path, exc)

    def close(self) -> None:
        self.save()
