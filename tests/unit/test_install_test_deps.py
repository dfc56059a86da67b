"""scripts/install-test-deps installs kubectl, so the `kubectl kustomize` checks run in CI.

The script is run for real with ``--print-missing`` (it prints the Debian packages it
would install and changes nothing), on a PATH made of this machine's own tools with
or without kubectl.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "install-test-deps"
TOOLS = ("bash", "ls", "id", "git", "dirname", "sshd")


def _path_with(tmp_path: Path, *, kubectl: bool) -> str:
    folder = tmp_path / ("with" if kubectl else "without")
    folder.mkdir()
    for tool in (*TOOLS, "kubectl") if kubectl else TOOLS:
        found = shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin")
        if found is None:
            pytest.skip(f"{tool} is not installed here")
        (folder / tool).symlink_to(found)
    return str(folder)


def _missing(path: str) -> list[str]:
    run = subprocess.run(
        ["bash", str(SCRIPT), "--print-missing"],
        capture_output=True, text=True, env={"PATH": path}, timeout=60, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    return run.stdout.split()


def test_kubectl_is_installed_from_debian_when_it_is_missing(tmp_path: Path) -> None:
    if not Path("/usr/lib/postgresql").exists():
        pytest.skip("PostgreSQL is not installed here, so the script would list it too")
    assert _missing(_path_with(tmp_path, kubectl=False)) == ["kubernetes-client"]
    if shutil.which("kubectl"):
        assert _missing(_path_with(tmp_path, kubectl=True)) == []
