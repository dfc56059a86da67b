"""Independent checks of artifact copies, computed here with hashlib, not by the code under test."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path


def expected_digest(files: Mapping[str, bytes]) -> str:
    """The documented digest: sha256 over sorted '<sha256>  <size>  <path>' lines."""
    lines = "".join(
        f"{hashlib.sha256(data).hexdigest()}  {len(data)}  {path}\n"
        for path, data in sorted(files.items())
    )
    return f"sha256:{hashlib.sha256(lines.encode()).hexdigest()}"


def write_files(folder: Path, files: Mapping[str, bytes]) -> None:
    """Write ``files`` (relative path -> bytes) below ``folder``, making sub-folders."""
    for name, data in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
