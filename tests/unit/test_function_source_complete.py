"""A spec whose name cannot be read makes its source's read incomplete: nothing is removed."""

from __future__ import annotations

import shutil
from pathlib import Path

from watcher.config.function_settings import FunctionSourceSettings
from watcher.config.settings import Settings
from watcher.sources.functions.source import FunctionSource
from watcher.spine.desired_state import build_desired
from watcher.wiring import build_targets

FIXTURES = Path(__file__).parents[1] / "fixtures" / "functions"


def test_an_unreadable_spec_keeps_every_folder_of_its_source(tmp_path: Path) -> None:
    folder = tmp_path / "specs"
    folder.mkdir()
    shutil.copy(FIXTURES / "mlrun" / "my-vizro-app.yaml", folder)
    settings = FunctionSourceSettings(folder=str(folder))
    with FunctionSource(settings, tmp_path / "state") as source:
        assert source.read().complete
        state = build_desired([source], build_targets(Settings()))
        assert state.scopes[source.name].readable and state.folders

        # A spec that someone broke so badly that its name cannot be read any more.
        (folder / "renamed-app.yaml").write_text("kind: application\nmetadata: [\n")
        read = source.read()
        assert not read.complete and read.failures
        state = build_desired([source], build_targets(Settings()))
        assert not state.scopes[source.name].readable
        # The good spec is still deployed.
        assert state.folders
