"""A kind of source added the way docs/architecture.md says, entirely in this test.

"Notes": a folder of ``*.txt`` files, each deployed as a ConfigMap in one stage.
The recipe is complete when these are all it takes: its settings (a config section
of its own, ``notes:``), its source (read → releases), the trigger it offers (a
watch of its folder), a target for its releases, and one registration line each.
The daemon runs the trigger without knowing the kind, the shared rule checks its
names and folders, and a change in the folder reaches git without the resync.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from tests.servers.mlflow_webhook import remote_subjects
from watcher import sources, targets, wiring
from watcher.config.daemon_settings import DaemonSettings
from watcher.config.loader import load_settings
from watcher.config.settings import Credentials, Settings
from watcher.core.artifacts import ArtifactRef
from watcher.core.release import Release, ReleaseId, SourceRead
from watcher.core.targets import TargetSpec
from watcher.daemon.service import Daemon
from watcher.errors import ConfigError
from watcher.spine.source_kinds import BuildContext, SourceEntry, StatusReporter
from watcher.spine.triggers import FileTrigger, Trigger

# -- the plug-in ----------------------------------------------------------------------------


class NoteSourceSettings(BaseModel):
    """A folder of notes, each deployed as a ConfigMap."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    path: str
    folder: str


class NoteSource:
    kinds = frozenset({"note"})
    artifacts = None

    def __init__(self, settings: NoteSourceSettings) -> None:
        self.name, self.path = settings.name, settings.path
        self._folder = Path(settings.folder)

    def read(self) -> SourceRead:
        releases = []
        for file in sorted(self._folder.glob("*.txt")):
            text = file.read_text()
            releases.append(
                Release(
                    id=ReleaseId(self.name, "note", file.stem, "default"),
                    folder=f"{self.path}/{file.stem}",
                    target="note",
                    revision=hashlib.sha256(text.encode()).hexdigest()[:12],
                    namespace="notes",
                    payload=text,
                )
            )
        return SourceRead(tuple(releases))

    def close(self) -> None:
        pass


class NotesKind:
    key = "notes"
    section: type[BaseModel] | None = NoteSourceSettings

    def entries(self, settings: Settings) -> list[SourceEntry]:
        found: Sequence[NoteSourceSettings] = getattr(settings, self.key, ())
        return [SourceEntry(self.key, s.name, s.path, s) for s in found]

    def check(self, entries: Sequence[SourceEntry], context: BuildContext) -> None:
        pass

    def build(self, entry: SourceEntry, context: BuildContext) -> NoteSource:
        return NoteSource(entry.settings)

    def triggers(self, entries: Sequence[SourceEntry], context: BuildContext) -> list[Trigger]:
        return [
            FileTrigger(e.name, Path(e.settings.folder), None, describe=f"notes in {e.name}")
            for e in entries
        ]

    def reporters(
        self, entries: Sequence[SourceEntry], context: BuildContext
    ) -> dict[str, StatusReporter]:
        return {}


def _note_context(
    release: Release, artifact: ArtifactRef | None, target: TargetSpec
) -> Mapping[str, Any]:
    return {"name": release.id.name, "namespace": release.namespace, "text": release.payload}


NOTE = TargetSpec(name="note", folder="note", context=_note_context, renders="note")
CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ name | yaml }}
  namespace: {{ namespace | yaml }}
data:
  note: {{ text | yaml }}
"""

# -- the test --------------------------------------------------------------------------------


@pytest.fixture
def notes_registered() -> Iterator[None]:
    kind = NotesKind()
    sources.register(kind)  # the source's registration line
    targets.register(NOTE)  # its target's
    try:
        yield
    finally:
        sources.unregister(kind.key)
        targets.unregister(NOTE.name)


def _config(tmp_path: Path, remote: Path, notes: list[dict[str, str]]) -> Settings:
    (tmp_path / "templates" / "note").mkdir(parents=True, exist_ok=True)
    (tmp_path / "templates" / "note" / "configmap.yaml.j2").write_text(CONFIGMAP)
    import yaml

    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "state_dir": str(tmp_path / "state"),
                "git": {"repo_url": str(remote)},
                "render": {"templates_dir": str(tmp_path / "templates")},
                "notes": notes,
            }
        )
    )
    settings, _ = load_settings(str(config), {}, sections=wiring.settings_sections())
    return settings


@pytest.mark.usefixtures("notes_registered")
def test_a_source_defined_in_a_test_is_read_triggered_and_deployed(
    tmp_path: Path, bare_remote: Path
) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "hello.txt").write_text("hello\n")
    settings = _config(
        tmp_path, bare_remote, [{"name": "team-notes", "path": "notes", "folder": str(folder)}]
    )
    config = DaemonSettings(
        listen="127.0.0.1:0", resync_interval_seconds=3600, watch_debounce_seconds=0.1
    )
    daemon = Daemon(settings, Credentials(), config, env={})
    runner = threading.Thread(target=daemon.run, daemon=True)
    runner.start()
    try:
        _wait_for(lambda: len(remote_subjects(bare_remote)) == 1, "the start-up reconcile")
        assert remote_subjects(bare_remote)[0].startswith("deploy hello ")
        (folder / "world.txt").write_text("world\n")  # only the folder watch can see this
        _wait_for(lambda: len(remote_subjects(bare_remote)) == 2, "the watched change")
        assert remote_subjects(bare_remote)[1].startswith("deploy world ")
    finally:
        daemon.request_stop()
        runner.join(30)
    assert not runner.is_alive()


@pytest.mark.usefixtures("notes_registered")
def test_the_shared_rule_checks_a_new_kind_too(tmp_path: Path, bare_remote: Path) -> None:
    folder = str(tmp_path)
    twice = [
        {"name": "a", "path": "x", "folder": folder},
        {"name": "b", "path": "x", "folder": folder},
    ]
    with pytest.raises(ConfigError, match="both own folder 'x'"):
        wiring.source_entries(_config(tmp_path, bare_remote, twice))
    with pytest.raises(ConfigError, match="two sources are named 'functions'"):
        wiring.source_entries(
            load_settings(
                None,
                {
                    "GITOPS_WATCHER_FUNCTIONS": f'[{{"name": "functions", "folder": "{folder}"}}]',
                    "GITOPS_WATCHER_NOTES": f'[{{"name": "functions", "path": "y", '
                    f'"folder": "{folder}"}}]',
                },
                sections=wiring.settings_sections(),
            )[0]
        )


def _wait_for(check: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
