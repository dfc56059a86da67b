"""The commands a newcomer runs first: the demo, and the clear errors of a bad setup."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.servers.mlflow_server import MlflowServer
from watcher.adapters.ledger import Ledger
from watcher.commands.cli import main


@pytest.mark.slow
def test_demo_lands_promotions_in_git(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "demo"
    assert main(["demo", str(target)]) == 0
    out = capsys.readouterr().out
    log = subprocess.run(
        ["git", "-C", str(target / "gitops-remote.git"), "log", "--reverse", "--format=%s", "main"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert log == [
        "deploy fraud-detector v1 to staging",
        "deploy fraud-detector v1 to production",
        "update fraud-detector in staging: v1 → v2",
        "update fraud-detector in production: v1 → v2",
        'Revert "update fraud-detector in staging: v1 → v2"',
        "update fraud-detector in staging: v1 → v3",
        "remove fraud-detector v2 from production",
    ]
    # One gate: v3's run logged a worse AUC than v2's, which production runs.
    gated = out.split("== step 7", 1)[1].split("== step 8", 1)[0]
    assert "GATED model fraud-detector v3 in production: auc 0.85 is worse than v2's 0.92" in (
        gated
    )
    assert "committed" not in gated
    # One hold: an operator's git revert is honoured until the registry decides anew.
    held = out.split("== step 8", 1)[1].split("== step 9", 1)[0]
    assert "HELD model fraud-detector in staging: changed by " in held
    assert "(Dana Operator): Revert " in held and "committed" not in held
    lifted = out.split("== step 9", 1)[1].split("== step 10", 1)[0]
    assert "update fraud-detector in staging: v1 → v3" in lifted
    assert "no changes; 2 deployment(s) unchanged" in out
    # The reviewer's typo fails production alone, with what to fix; staging still moves.
    typo = out.split("== step 5", 1)[1].split("== step 6", 1)[0]
    assert "committed" in typo and "update fraud-detector in staging: v1 → v2" in typo
    assert (
        "FAILED model 'fraud-detector' in production: tag 'deploy.production.replicas' must be "
        "a whole number from 1 to 20, not 'lots'"
    ) in typo
    assert typo.count("FAILED") == 1
    # The body names every cause: the demo's v2 also moves production from 2 to 3 replicas.
    bodies = subprocess.run(
        ["git", "-C", str(target / "gitops-remote.git"), "log", "-1", "--format=%b", "main~3"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Changed: v1 → v2; replicas 2 → 3; copy file://" in bodies, bodies
    # One commit is shown whole, with its trailers.
    assert "Gitops-Watcher-Action: update" in out and "Model-Version: 3" in out
    # v1 is copied for staging; promoting it to production copies nothing more.
    assert out.count("bytes sent") == 6
    production = out.split("deploy fraud-detector v1 to production\n", 1)[1].splitlines()[0]
    assert production.endswith("; artifacts: already copied, 0 bytes sent")
    copies = target / "artifact-store" / "fraud-detector"
    assert sorted(p.name for p in copies.iterdir()) == ["1", "2", "3"]
    assert (copies / "1" / "model" / "MLmodel").is_file()
    # Running it again (a new process, as a user would) starts over in the same folder.
    again = subprocess.run(
        [sys.executable, "-m", "watcher", "demo", str(target)], capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("committed ") == 6
    # A folder the demo did not make is refused and left as it was.
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    assert main(["demo", str(foreign)]) == 2
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_missing_settings_exit_2_with_what_to_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for name in ("MLFLOW_TRACKING_URI", "GIT_REPO_URL", "GITOPS_WATCHER_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["reconcile", "--once"]) == 2
    assert "MLFLOW_TRACKING_URI" in capsys.readouterr().err
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    assert main(["reconcile", "--once"]) == 2
    assert "GIT_REPO_URL" in capsys.readouterr().err


def test_config_command_prints_settings_without_secrets(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Set here, not left to an earlier test (mlflow.set_tracking_uri exports its URI to os.environ).
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://mlflow.example.com")
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "very-secret-token")
    monkeypatch.setenv("GIT_REPO_URL", "ssh://git@example.com/gitops.git")
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert "very-secret-token" not in out
    data = yaml.safe_load(out)
    assert data["git"]["repo_url"] == "ssh://git@example.com/gitops.git"
    assert data["credentials_from_environment"] == ["mlflow_token"]


def test_config_never_prints_a_password_from_a_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GIT_REPO_URL", "https://bot:hunter2@git.example.com/gitops.git")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "postgresql://mlflow:pa55word@db.example.com/mlflow")
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert "hunter2" not in out and "pa55word" not in out
    assert "git.example.com/gitops.git" in out


def test_a_tracking_uri_without_a_scheme_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "mlflow.example.com")
    monkeypatch.setenv("GIT_REPO_URL", "/tmp/nowhere.git")
    assert main(["reconcile", "--once"]) == 2
    err = capsys.readouterr().err
    assert "MLFLOW_TRACKING_URI" in err and "http(s)://" in err


def test_an_unexpected_crash_has_an_exit_code_of_its_own(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import watcher.commands.cli

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("a bug")

    # The one mock here: nothing real crashes on purpose.
    monkeypatch.setattr(watcher.commands.cli, "load_settings", broken)
    assert main(["config"]) == 4
    assert "internal error: RuntimeError: a bug" in capsys.readouterr().err


def test_render_refuses_a_non_empty_folder_and_a_broken_snapshot(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "x").write_text("x")
    bad = tmp_path / "snapshot.json"
    bad.write_text("{not json")
    assert main(["render", "--out", str(tmp_path / "out"), "--snapshot", str(bad)]) == 2
    assert main(["render", "--out", str(tmp_path / "new"), "--snapshot", str(bad)]) == 2


def test_render_with_nothing_to_render_says_so_and_prints_failures_on_stdout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in list(os.environ):
        if name.startswith(("MLFLOW_", "GIT_", "GITOPS_WATCHER_", "BUCKET_NAME")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"models": []}))
    assert main(["render", "--out", str(tmp_path / "out"), "--snapshot", str(empty)]) == 0
    captured = capsys.readouterr()
    assert captured.out == (
        "nothing to render: no release is selected for any stage (source(s) 'mlflow'); "
        f"no file was written to {tmp_path / 'out'}\n"
    )
    assert not (tmp_path / "out").exists()

    # Its only version has a bad tag: the failure is reported like after a reconcile, on stdout.
    version = {"name": "m", "version": "1", "tags": {"deploy.replicas": "lots"}}
    bad = {"models": [{"name": "m", "aliases": {"champion": "1"}, "versions": [version]}]}
    bad_file = tmp_path / "bad.json"
    bad_file.write_text(json.dumps(bad))
    assert main(["render", "--out", str(tmp_path / "out"), "--snapshot", str(bad_file)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("FAILED model 'm' in production: tag 'deploy.replicas' must be"), out
    assert out.splitlines()[-1].startswith(
        "nothing to render: no release is selected for any stage (source(s) 'mlflow', "
        "some failed above)"
    )


def test_history_before_any_reconcile_says_so_and_names_the_state_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    monkeypatch.setenv("GITOPS_WATCHER_STATE_DIR", str(state))
    monkeypatch.delenv("GITOPS_WATCHER_STATE_DB_URL", raising=False)
    monkeypatch.delenv("GITOPS_WATCHER_CONFIG", raising=False)
    assert main(["history"]) == 0
    captured = capsys.readouterr()
    assert captured.out == (
        f"no reconcile has run yet: there is no ledger (state.db) in the state folder {state}\n"
    ), captured
    assert not state.exists()  # looking made nothing
    # A ledger that exists but holds nothing yet says so too (not a bare header).
    state.mkdir()
    Ledger(f"sqlite:///{state / 'state.db'}").close()
    assert main(["history"]) == 0
    assert capsys.readouterr().out == (
        "the ledger is empty: no reconcile has recorded anything yet\n"
    )


def test_python_dash_m_watcher_works() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "watcher", "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0 and "reconcile" in done.stdout


def test_reconcile_requires_once(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["reconcile"])
    assert info.value.code == 2
    assert "--once" in capsys.readouterr().err


#: What turns MLflow's telemetry off from outside (mlflow.telemetry.utils): the demo must
#: not rely on any of them being set, so the test's demo runs without them.
_TELEMETRY_SWITCHES = ("MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK", "PYTEST_CURRENT_TEST", "CI")


@pytest.mark.slow
def test_the_demo_runs_mlflow_with_its_telemetry_off(tmp_path: Path) -> None:
    """MLflow writes an installation id to ~/.config/mlflow/telemetry.json when its
    telemetry is on; the demo leaves nothing of the sort in the user's home."""
    import os

    home = tmp_path / "home"
    home.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in _TELEMETRY_SWITCHES and not key.startswith(("XDG_", "GITOPS_WATCHER_"))
    }
    env["HOME"] = str(home)
    run = subprocess.run(
        [sys.executable, "-m", "watcher", "demo", str(tmp_path / "demo")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert not (home / ".config" / "mlflow").exists(), sorted(home.rglob("*"))


@pytest.mark.slow
def test_the_test_mlflow_servers_run_with_telemetry_off(mlflow_server: MlflowServer) -> None:
    """Started by tests and benchmarks alike (bench/ runs outside pytest)."""
    environ = Path(f"/proc/{mlflow_server.process.pid}/environ").read_bytes().split(b"\0")
    assert b"MLFLOW_DISABLE_TELEMETRY=true" in environ
    assert b"DO_NOT_TRACK=true" in environ
