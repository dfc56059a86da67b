"""A function-spec folder's hint: the files its watch saw change, and nothing more.

The folder watch names the changed files; a hinted reconcile plans only the functions
defined in them (now, or at the last read) and leaves every other function's folder
as it is, however its spec changed; the next full reconcile brings the rest. Real
spec files (the MLRun SDK's export), a real bare remote, the wired reconciler.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.integration.test_reconcile_e2e import remote_files
from tests.servers.mlflow_webhook import remote_subjects
from watcher.config.settings import Credentials, Settings
from watcher.spine.triggers import hint_of
from watcher.wiring import build_reconciler

FIXTURE = Path(__file__).parents[1] / "fixtures" / "functions" / "mlrun" / "my-app.yaml"


def _write(specs: Path, name: str, value: str) -> None:
    data: dict[str, Any] = yaml.safe_load(FIXTURE.read_text())
    spec = {**data, "metadata": {**data["metadata"], "name": name}}
    spec["spec"] = {**spec["spec"], "env": [*spec["spec"]["env"], {"name": "V", "value": value}]}
    (specs / f"{name}.yaml").write_text(yaml.safe_dump(spec))


def _folders(remote: Path) -> dict[str, dict[str, bytes]]:
    """Each function folder's files on the remote's main."""
    found: dict[str, dict[str, bytes]] = {}
    for path, data in remote_files(remote).items():
        if path.startswith("deployments/functions/"):
            folder, _, name = path.rpartition("/")
            found.setdefault(folder.removeprefix("deployments/functions/"), {})[name] = data
    return found


def test_a_spec_file_hint_plans_only_its_functions_and_the_full_run_brings_the_rest(
    tmp_path: Path,
) -> None:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    specs = tmp_path / "specs"
    specs.mkdir()
    for name in ("app-a", "app-b", "app-c", "app-d"):
        _write(specs, name, "1")
    settings = Settings.model_validate(
        {
            "state_dir": str(tmp_path / "state"),
            "git": {"repo_url": str(remote), "push_backoff_seconds": 0},
            "functions": [{"folder": str(specs)}],
            "artifacts": {"store": "none"},
        }
    )
    with build_reconciler(settings, Credentials()) as reconciler:
        assert reconciler.reconcile().pushed
        before = _folders(remote)
        assert {f.split("/")[0] for f in before} == {f"app-{x}" for x in "abcd"}, before
        commits = len(remote_subjects(remote))

        # Two specs change on disk; the watch names only app-a's file.
        _write(specs, "app-a", "2")
        _write(specs, "app-b", "2")
        result = reconciler.reconcile(hints={"functions": hint_of(["app-a.yaml"])})
        after = _folders(remote)
        changed = sorted(f for f in after if after[f] != before.get(f))
        assert changed and all(f.startswith("app-a/") for f in changed), changed
        assert set(after) == set(before)
        assert [c.folder.split("/")[-2] for c in result.planned] == ["app-a"] * len(changed)
        hinted = remote_subjects(remote)[commits:]
        assert hinted and all("app-a" in subject for subject in hinted), hinted

        # A spec file goes, and the watch names it: that spec's functions go, only they.
        (specs / "app-c.yaml").unlink()
        reconciler.reconcile(hints={"functions": hint_of(["app-c.yaml"])})
        gone = _folders(remote)
        assert not any(f.startswith("app-c/") for f in gone), sorted(gone)
        assert {f: gone[f] for f in gone if f.startswith("app-b/")} == {
            f: before[f] for f in before if f.startswith("app-b/")
        }

        # The full run (the resync) brings app-b's change; then nothing is left to do.
        reconciler.reconcile()
        full = _folders(remote)
        assert all(full[f] != before[f] for f in full if f.startswith("app-b/"))
        assert all(full[f] == before[f] for f in full if f.startswith("app-d/"))
        assert not reconciler.reconcile().planned
