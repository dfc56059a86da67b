"""Find the folder that deploys a (name, stage), for the commands that act on one."""

from __future__ import annotations

from collections.abc import Mapping

from watcher.core.provenance import PROVENANCE, Provenance, read_marker
from watcher.core.tree import marker_folders
from watcher.errors import ConfigError


def find_release(
    tree: Mapping[str, bytes], name: str, stage: str, source: str = ""
) -> tuple[str, Provenance]:
    """The folder (relative to the deployments folder) and marker of ``name`` in ``stage``;
    ``source`` picks one when several sources deploy that name (ConfigError otherwise)."""
    found = []
    for folder, files in marker_folders(tree).items():
        marker = read_marker(files[PROVENANCE])
        if not isinstance(marker, Provenance):
            continue
        if marker.name == name and marker.stage == stage and source in ("", marker.source):
            found.append((folder, marker))
    if not found:
        where = f" of source {source!r}" if source else ""
        raise ConfigError(
            f"nothing{where} named {name!r} is deployed in stage {stage!r}",
            hint="check the name and stage ('gitops-watcher history' lists what was deployed)",
        )
    if len(found) > 1:
        sources = ", ".join(sorted(marker.source for _, marker in found))
        raise ConfigError(
            f"{name!r} is deployed in stage {stage!r} by several sources ({sources})",
            hint="name one with --source",
        )
    return found[0]
