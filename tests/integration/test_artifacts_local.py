"""ArtifactSync end to end on real folders: a local MLflow-style source and a LocalFolderStore."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.artifact_checks import expected_digest, write_files
from watcher.adapters.object_store import LocalFolderStore
from watcher.config.settings import SourceSettings
from watcher.core.artifacts import MANIFEST_NAME, ArtifactManifest, CopyOwner
from watcher.core.model import ModelVersion
from watcher.errors import (
    ArtifactConflictError,
    ArtifactSourceError,
    ArtifactUnavailableError,
    InvalidNameError,
    error_kind,
)
from watcher.sources.mlflow.artifact_sources import SourceResolver
from watcher.spine.artifact_copy import ArtifactSync

PREFIX = "models"
SLUG = "fraud"
MODEL_FILES = {
    "MLmodel": b"artifact_path: model\nflavors:\n  python_function: {}\n",
    "conda.yaml": b"dependencies: [python=3.11]\n",
    "model.pkl": b"\x80\x04" + bytes(range(256)) * 40,
    "data/weights.bin": os.urandom(300_000),
}


class RunTable:
    """The registry's answer for run and logged-model roots, as a plain lookup.

    Not a mock of a server: path sources never ask the registry at all, and the
    runs:/ case needs only the mapping a registry adapter would return.
    """

    def __init__(self, runs: dict[str, str] | None = None) -> None:
        self.runs = runs or {}

    def run_artifact_uri(self, run_id: str) -> str:
        return self.runs[run_id]

    def logged_model_artifact_uri(self, model_id: str) -> str:
        raise KeyError(model_id)


@dataclass
class World:
    """One source tree under mlruns/, one store folder, and the sync between them."""

    tmp: Path
    mlruns: Path
    model_dir: Path
    store_root: Path
    sync: ArtifactSync

    def version(self, source: str | None = None, number: str = "3") -> ModelVersion:
        return ModelVersion(
            name="Fraud", version=number, source=source or str(self.model_dir), run_id="r3"
        )

    def copy_dir(self, number: str = "3") -> Path:
        return self.store_root / PREFIX / SLUG / number / "model"


def make_sync(tmp: Path, mlruns: Path, store_root: Path, locator: RunTable) -> ArtifactSync:
    resolver = SourceResolver(
        SourceSettings(local_roots=(str(mlruns),)), locator, proxy=None, source_s3_client=None
    )
    return ArtifactSync(
        LocalFolderStore(store_root), resolver, prefix=PREFIX, staging_dir=tmp / "staging"
    )


@pytest.fixture
def world(tmp_path: Path) -> World:
    mlruns = tmp_path / "mlruns"
    model_dir = mlruns / "1" / "r3" / "artifacts" / "model"
    write_files(model_dir, MODEL_FILES)
    store_root = tmp_path / "store"
    sync = make_sync(tmp_path, mlruns, store_root, RunTable())
    return World(tmp_path, mlruns, model_dir, store_root, sync)


def read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def stored_files(world: World) -> list[Path]:
    return [p for p in world.store_root.rglob("*") if p.is_file()]


def test_first_copy_sends_every_file_and_returns_a_verified_ref(world: World) -> None:
    ref, stats = world.sync.ensure(world.version(), SLUG)

    assert ref.uri == world.copy_dir().as_uri()
    assert ref.uri.startswith("file://") and ref.uri.endswith(f"/{SLUG}/3/model")
    assert ref.digest == expected_digest(MODEL_FILES)
    assert (ref.file_count, ref.total_bytes) == (
        len(MODEL_FILES),
        sum(len(d) for d in MODEL_FILES.values()),
    )
    assert (stats.files_sent, stats.bytes_sent, stats.files_already_there) == (
        len(MODEL_FILES),
        ref.total_bytes,
        0,
    )
    assert read_tree(world.copy_dir()) == MODEL_FILES
    manifest = ArtifactManifest.from_bytes((world.copy_dir().parent / MANIFEST_NAME).read_bytes())
    assert manifest is not None and manifest.ref == ref
    assert manifest.source == str(world.model_dir)


def test_second_copy_sends_nothing(world: World) -> None:
    first, _ = world.sync.ensure(world.version(), SLUG)
    again, stats = world.sync.ensure(world.version(), SLUG)
    assert again == first
    assert (stats.files_sent, stats.bytes_sent) == (0, 0)
    assert stats.files_already_there == len(MODEL_FILES)


def test_a_restarted_daemon_also_finds_the_copy_complete(world: World) -> None:
    """The manifest in the store, not process memory, is what says 'already copied'."""
    first, _ = world.sync.ensure(world.version(), SLUG)
    fresh = make_sync(world.tmp, world.mlruns, world.store_root, RunTable())
    again, stats = fresh.ensure(world.version(), SLUG)
    assert again == first
    assert stats.bytes_sent == 0


def tamper(path: Path) -> bytes:
    """Change every byte of a stored file but keep its size, so only a checksum can tell."""
    original = path.read_bytes()
    path.write_bytes(bytes(b ^ 0xFF for b in original))
    return original


def test_a_tampered_store_file_is_found_and_copied_again(world: World) -> None:
    world.sync.ensure(world.version(), SLUG)
    target = world.copy_dir() / "model.pkl"
    tamper(target)

    ref, stats = world.sync.ensure(world.version(), SLUG)

    assert (stats.files_sent, stats.bytes_sent) == (1, len(MODEL_FILES["model.pkl"]))
    assert stats.files_already_there == len(MODEL_FILES) - 1
    assert read_tree(world.copy_dir()) == MODEL_FILES
    assert ref.digest == expected_digest(MODEL_FILES)


def test_a_change_within_one_clock_tick_is_found_too(world: World) -> None:
    """Coarse file clocks (kernels before 6.13, many filesystems) leave the mtime of a
    quick rewrite unchanged; restoring it here gives the same picture on any host."""
    world.sync.ensure(world.version(), SLUG)
    target = world.copy_dir() / "model.pkl"
    before = target.stat()
    tamper(target)
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))

    _, stats = world.sync.ensure(world.version(), SLUG)

    assert stats.files_sent == 1
    assert target.read_bytes() == MODEL_FILES["model.pkl"]


def test_an_interrupted_copy_is_completed_sending_only_what_is_missing(world: World) -> None:
    world.sync.ensure(world.version(), SLUG)
    manifest = world.copy_dir().parent / MANIFEST_NAME
    written = manifest.read_bytes()
    manifest.unlink()
    (world.copy_dir() / "data" / "weights.bin").unlink()

    ref, stats = world.sync.ensure(world.version(), SLUG)

    assert (stats.files_sent, stats.bytes_sent) == (1, len(MODEL_FILES["data/weights.bin"]))
    assert stats.files_already_there == len(MODEL_FILES) - 1
    assert read_tree(world.copy_dir()) == MODEL_FILES
    assert manifest.read_bytes() == written
    assert ref.digest == expected_digest(MODEL_FILES)


def test_a_run_source_is_resolved_through_the_registry_answer(world: World) -> None:
    run_root = world.model_dir.parent
    sync = make_sync(world.tmp, world.mlruns, world.store_root, RunTable({"r3": run_root.as_uri()}))
    ref, _ = sync.ensure(world.version(source="runs:/r3/model"), SLUG)
    assert ref.digest == expected_digest(MODEL_FILES)
    assert read_tree(world.copy_dir()) == MODEL_FILES


def test_a_source_outside_local_roots_is_refused(world: World) -> None:
    """Otherwise a registry entry could have the daemon copy any host file into the store."""
    elsewhere = world.tmp / "elsewhere" / "model"
    write_files(elsewhere, MODEL_FILES)
    with pytest.raises(ArtifactSourceError, match="local_roots"):
        world.sync.ensure(world.version(source=str(elsewhere)), SLUG)
    with pytest.raises(ArtifactSourceError, match="local_roots"):
        world.sync.ensure(world.version(source=f"{world.model_dir}/../../../../../elsewhere"), SLUG)
    assert stored_files(world) == []


def test_a_link_out_of_the_model_folder_is_refused(world: World) -> None:
    secret = world.tmp / "host-secret.txt"
    secret.write_bytes(b"service-account-token")
    (world.model_dir / "token").symlink_to(secret)
    with pytest.raises(ArtifactSourceError, match="leaves the model folder"):
        world.sync.ensure(world.version(), SLUG)
    assert stored_files(world) == []


def test_a_folder_without_mlmodel_is_refused_with_what_it_holds(world: World) -> None:
    (world.model_dir / "MLmodel").unlink()
    with pytest.raises(ArtifactSourceError, match=r"holds no MLmodel file \(3 other files\)"):
        world.sync.ensure(world.version(), SLUG)
    empty = world.mlruns / "empty"
    empty.mkdir()
    with pytest.raises(ArtifactSourceError, match="it is empty"):
        world.sync.ensure(world.version(source=str(empty)), SLUG)
    assert stored_files(world) == []


def test_dry_run_predicts_the_real_digest_and_writes_nothing(world: World) -> None:
    predicted, stats = world.sync.ensure(world.version(), SLUG, dry_run=True)
    assert stored_files(world) == []
    assert stats.bytes_sent == 0
    real, _ = world.sync.ensure(world.version(), SLUG)
    assert predicted == real
    assert predicted.digest == expected_digest(MODEL_FILES)


def test_a_version_that_is_not_a_number_is_refused(world: World) -> None:
    """The version becomes a key segment; '1/../x' would land beside another version's copy."""
    with pytest.raises(InvalidNameError, match="not a positive integer"):
        world.sync.ensure(world.version(number="1/../x"), SLUG)
    assert stored_files(world) == []


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """A folder nobody may create files in; root ignores modes, so it gets chattr +i instead."""
    folder.chmod(0o555)
    immutable = False
    try:
        probe = folder / "probe"
        with contextlib.suppress(PermissionError):
            probe.touch()
            probe.unlink()
            made = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, check=False)
            if made.returncode != 0:
                pytest.skip("cannot make a folder read-only for this user")
            immutable = True
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o755)


def test_a_read_only_store_fails_this_copy_with_a_watcher_error(world: World) -> None:
    """check() only sees the folder exists; a raw OSError from the write would abort the whole
    reconcile instead of failing this one version (the reconciler catches WatcherError)."""
    world.store_root.mkdir()
    with read_only(world.store_root), pytest.raises(ArtifactUnavailableError, match="cannot write"):
        world.sync.ensure(world.version(), SLUG)


def test_a_copy_made_again_from_another_source_leaves_no_file_of_the_old_one(
    world: World,
) -> None:
    """A model deleted and registered anew reuses version numbers; its copy holds only its files."""
    world.sync.ensure(world.version(), SLUG)
    replacement = world.mlruns / "1" / "r9" / "artifacts" / "model"
    new_files = {"MLmodel": MODEL_FILES["MLmodel"], "model.onnx": b"a different model"}
    write_files(replacement, new_files)

    ref, _stats = world.sync.ensure(world.version(source=str(replacement)), SLUG)

    assert read_tree(world.copy_dir()) == new_files
    assert ref.digest == expected_digest(new_files)


def team_sync(world: World, registry: str, source: str) -> ArtifactSync:
    """Another source's copy step on the same store and prefix (its own registry)."""
    resolver = SourceResolver(
        SourceSettings(local_roots=(str(world.mlruns),)), RunTable(), proxy=None,
        source_s3_client=None,
    )  # fmt: skip
    return ArtifactSync(
        LocalFolderStore(world.store_root),
        resolver,
        prefix=PREFIX,
        staging_dir=world.tmp / "staging",
        registry=registry,
        source_name=source,
    )


def test_a_copy_of_another_release_at_the_same_place_is_an_error_never_rewritten(
    world: World,
) -> None:
    """Two sources whose copies land at one place: the second is refused, the first kept."""
    team_a = team_sync(world, "http://mlflow-a:5000", "team-a")
    team_b = team_sync(world, "http://mlflow-b:5000", "team-b")
    first, _ = team_a.ensure(world.version(), SLUG)
    manifest_path = world.copy_dir().parent / MANIFEST_NAME
    manifest = ArtifactManifest.from_bytes(manifest_path.read_bytes())
    assert manifest is not None and manifest.owner == CopyOwner(
        "http://mlflow-a:5000", "Fraud", "3", "team-a"
    )
    stored = read_tree(world.store_root)

    # Team B's registry also has 'Fraud' version 3, with other files.
    theirs = world.mlruns / "2" / "b3" / "artifacts" / "model"
    write_files(theirs, {"MLmodel": MODEL_FILES["MLmodel"], "model.pkl": b"team b's model"})
    with pytest.raises(ArtifactConflictError) as caught:
        team_b.ensure(world.version(source=str(theirs)), SLUG)
    error = caught.value
    assert error_kind(error) == "permanent"
    text = str(error)
    assert f"the copy at {world.copy_dir().as_uri()} belongs to model 'Fraud' version '3' " \
        "(registry 'http://mlflow-a:5000', source 'team-a')" in text  # fmt: skip
    assert "model 'Fraud' version '3' (registry 'http://mlflow-b:5000', source 'team-b') " \
        "would copy" in text and "left as it is" in text  # fmt: skip
    assert "its own copy location" in error.hint and "artifacts.s3.prefix" in error.hint
    # Nothing was rewritten, in a dry run neither; team A's copy is still found complete.
    with pytest.raises(ArtifactConflictError):
        team_b.ensure(world.version(source=str(theirs)), SLUG, dry_run=True)
    assert read_tree(world.store_root) == stored
    again, stats = team_a.ensure(world.version(), SLUG)
    assert again == first and stats.bytes_sent == 0


def test_a_copy_by_an_older_version_or_the_same_release_is_made_again(world: World) -> None:
    """No owner recorded (gitops-watcher before it did): copied again, as before."""
    world.sync.ensure(world.version(), SLUG)
    manifest_path = world.copy_dir().parent / MANIFEST_NAME
    data = json.loads(manifest_path.read_bytes())
    del data["owner"]
    manifest_path.write_text(json.dumps(data))
    replacement = world.mlruns / "1" / "r9" / "artifacts" / "model"
    write_files(replacement, {"MLmodel": MODEL_FILES["MLmodel"], "model.onnx": b"new"})
    team_a = team_sync(world, "http://mlflow-a:5000", "team-a")
    ref, _ = team_a.ensure(world.version(source=str(replacement)), SLUG)
    assert read_tree(world.copy_dir()) == {"MLmodel": MODEL_FILES["MLmodel"], "model.onnx": b"new"}
    # The same release (its version registered again) is copied again too, even when the
    # source that reads the registry has another name.
    renamed = team_sync(world, "http://mlflow-a:5000", "renamed")
    again, stats = renamed.ensure(world.version(), SLUG)
    assert again.digest == expected_digest(MODEL_FILES) != ref.digest and stats.files_sent
