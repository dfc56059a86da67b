"""The README's quick start, word for word, on Debian's own externally managed python.

A fresh ``git clone`` of the committed HEAD (so this checks only committed files),
with a ``python3`` that is Debian's ``/usr/bin/python3`` first on PATH, runs
``make demo``: the Makefile must make its own venv (the system python refuses pip,
PEP 668) and the demo must push its commits. The first run installs ``.[demo]``
(mlflow) into the clone's venv, which takes a minute or two.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
DEBIAN_PYTHON = Path("/usr/bin/python3")
#: Variables of an outer venv, make or pytest run that must not leak into the clone's run.
_OUTER = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHON", "VENV", "DIR")
_OUTER_PREFIXES = ("MAKE", "MFLAGS", "PYTEST_", "PIP_REQUIRE_VIRTUALENV", "PIP_BREAK_SYSTEM")


def _externally_managed(python: Path) -> str | None:
    """Why ``python`` is not a fit for this test, or None when it is externally managed."""
    if not python.is_file():
        return f"{python} is absent"
    stdlib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('stdlib'))"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    if not (Path(stdlib) / "EXTERNALLY-MANAGED").is_file():
        return f"{python} is not externally managed (no {stdlib}/EXTERNALLY-MANAGED)"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    refused = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-index", "--dry-run", "x"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    output = refused.stdout + refused.stderr
    if "No module named pip" in output:
        return None  # no pip at all: a stock interpreter, refusing installs all the same
    if refused.returncode == 0 or "externally-managed-environment" not in output:
        return f"{python} -m pip install does not refuse: {output.strip()[-300:]}"
    return None


def test_make_demo_works_in_a_fresh_clone_on_an_externally_managed_python(
    tmp_path: Path,
) -> None:
    reason = _externally_managed(DEBIAN_PYTHON)
    if reason:
        pytest.skip(f"needs Debian's externally managed {DEBIAN_PYTHON}: {reason}")
    clone = tmp_path / "clone"
    subprocess.run(
        ["git", "clone", "-q", "--no-hardlinks", str(REPO), str(clone)],
        check=True,
        capture_output=True,
    )
    shims = tmp_path / "bin"
    shims.mkdir()
    (shims / "python3").symlink_to(DEBIAN_PYTHON)
    env = {
        k: v for k, v in os.environ.items() if k not in _OUTER and not k.startswith(_OUTER_PREFIXES)
    }
    env["PATH"] = f"{shims}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
    outer_before = _outer_traces()

    result = subprocess.run(
        ["make", "demo"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )

    output = f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}"
    assert result.returncode == 0, output
    venv_python = clone / ".venv" / "bin" / "python"
    base = subprocess.run(
        [str(venv_python), "-c", "import sys; print(sys._base_executable)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(base).resolve() == DEBIAN_PYTHON.resolve(), base
    remote = clone / "gitops-watcher-demo" / "gitops-remote.git"
    count = subprocess.run(
        ["git", "-C", str(remote), "rev-list", "--count", "main"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert int(count) >= 4, output
    assert "deploy fraud-detector v1 to staging" in result.stdout
    # The clone's venv and demo folder are ignored by git, and the outer repo is untouched.
    status = subprocess.run(
        ["git", "-C", str(clone), "status", "--porcelain"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert status == ""
    assert _outer_traces() == outer_before


def _outer_traces() -> dict[str, float | None]:
    """What ``make demo`` would leave in the outer repository if it ran there."""
    traces: dict[str, float | None] = {}
    for name in ("gitops-watcher-demo", ".venv", ".venv/.installed-demo"):
        path = REPO / name
        traces[name] = path.stat().st_mtime if path.exists() else None
    return traces
