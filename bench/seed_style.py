"""The seed watcher's way of reconciling, for side-by-side baselines.

On every event: read the whole registry, render every folder afresh (no cache),
write them all into the checkout, ``git add -A``, one commit for everything,
push. It makes no commit when nothing changed only because git refuses an
empty one. Same sources, templates and validation as gitops-watcher.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from watcher.config.settings import Credentials, Settings


def clone(remote: Path, checkout: Path) -> None:
    subprocess.run(["git", "clone", "-q", str(remote), str(checkout)], check=True,
                   capture_output=True)  # fmt: skip


def seed_cycle(settings: Settings, checkout: Path) -> int:
    """One seed-style reconcile; the number of folders it rendered."""
    from watcher.spine.desired_state import build_desired
    from watcher.wiring import build_sources, build_targets

    sources = build_sources(settings, Credentials(), with_artifacts=False)
    try:
        state = build_desired(sources, build_targets(settings))  # fresh targets: no cache
    finally:
        for source in sources:
            source.close()
    for folder, desired in state.folders.items():
        for name, data in desired.files.items():
            path = checkout / "deployments" / folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    git = ["git", "-C", str(checkout)]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "-c", "user.name=seed", "-c", "user.email=seed@x", "commit", "-qm",
                    "update"], capture_output=True)  # fmt: skip
    subprocess.run([*git, "push", "-q", "origin", "HEAD:main"], capture_output=True)
    return len(state.folders)
