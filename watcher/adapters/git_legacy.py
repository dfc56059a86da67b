"""Checkouts made by older versions: a working tree beside ``.git``, turned bare in place."""

from __future__ import annotations

import logging
from pathlib import Path

from git import Repo

log = logging.getLogger(__name__)


def make_bare(repo: Repo, checkout_dir: Path, git_dir: Path) -> None:
    """``core.bare=true`` and no index: the objects and refs stay, so nothing is fetched
    again; the caller deletes the files beside ``.git`` and opens the repository anew."""
    log.info(
        "checkout %s has a working tree (made by an older version): keeping its "
        "objects and refs, deleting its files",
        checkout_dir,
    )
    # The index first: killed in between, the next sync sees non-bare and goes on.
    for name in ("index", "index.lock"):
        (git_dir / name).unlink(missing_ok=True)
    with repo.config_writer("repository") as config:
        config.set_value("core", "bare", "true")
