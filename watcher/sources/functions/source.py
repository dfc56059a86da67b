"""A source of function releases: spec files in a local folder or a git repository.

Reading is all-or-nothing at the input level (a folder that is gone, a remote
that cannot be reached: a TemporaryError, so every folder of this source is
kept) and per spec below it (a broken spec is a failure with its folder, so its
last good deployment is kept). A spec that was deleted yields no release, and
the spine removes its folders.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from watcher.adapters.git_repo import GitOpsRepo
from watcher.closing import Closing
from watcher.config.function_settings import FunctionSourceSettings
from watcher.config.settings import Credentials, GitSettings
from watcher.core.functions.catalog import read_catalog
from watcher.core.functions.documents import MAX_FILE_BYTES
from watcher.core.functions.releases import (
    FunctionOptions,
    FunctionStage,
    HelperImages,
    build_releases,
)
from watcher.core.functions.spec_links import link_template
from watcher.core.functions.units import Unit
from watcher.core.publishing import DIRECT, Publishing
from watcher.core.release import Coverage, Release, ReleaseFailure, SourceRead
from watcher.errors import ConfigError, GitError, TemporaryError

log = logging.getLogger(__name__)

#: Files bigger than this are not read (a spec folder is not a data store).
_MAX_FILES = 5000


class FunctionSourceUnavailableError(TemporaryError):
    """The spec folder or repository cannot be read now; nothing of this source changes."""


class FunctionSource(Closing):
    """Reads one folder or git repository of MLRun and DigitalHub specs."""

    artifacts = None
    kinds = frozenset({"function"})

    def __init__(
        self,
        settings: FunctionSourceSettings,
        state_dir: Path,
        git_credentials: Credentials | None = None,
    ) -> None:
        self.name = settings.name
        self.path = settings.path
        self._settings = settings
        self._repo: GitOpsRepo | None = None
        if settings.git is not None:
            git = settings.git
            git_settings = GitSettings(
                repo_url=git.repo_url,
                branch=git.branch,
                ssh_key_file=git.ssh_key_file,
                known_hosts_file=git.known_hosts_file,
                timeout_seconds=git.timeout_seconds,
            )
            checkout = Path(state_dir) / "function-specs" / settings.name
            self._repo = GitOpsRepo(git_settings, checkout, git_credentials or Credentials())
        elif not settings.folder:
            raise ConfigError(
                f"function source {settings.name!r} has neither folder nor git",
                hint="set functions[].folder or functions[].git.repo_url",
            )
        self._stages = tuple(
            FunctionStage(s.name, s.namespace, s.production) for s in settings.stages
        )
        #: At the last read: each file's functions, with the folder each deploys under.
        self._inputs: dict[str, set[tuple[str, str]]] | None = None
        images = settings.images
        spec_git = settings.git
        self._options = FunctionOptions(
            spec_link=(
                link_template(spec_git.repo_url, spec_git.branch, spec_git.spec_link)
                if spec_git
                else ""
            ),
            spec_folder=spec_git.path if spec_git else "",
            production_registry_prefix=settings.image_registry_prefix,
            images=HelperImages(
                git=images.git,
                aws_cli=images.aws_cli,
                kaniko=images.kaniko,
                python=images.python,
                tools_python=images.tools_python,
            ),
        )

    @property
    def origin(self) -> str:
        if self._settings.git is not None:
            return self._settings.git.repo_url
        return str(Path(self._settings.folder).absolute())

    def read(self) -> SourceRead:
        files = self._read_git() if self._repo is not None else self._read_folder()
        catalog = read_catalog(files)
        releases, failures = build_releases(
            self.name, self.path, catalog, self._stages, self._options
        )
        self._inputs = _inputs_of(catalog.units, releases, failures)
        log.info(
            "function source %r: %d releases, %d failures from %d files",
            self.name,
            len(releases),
            len(failures),
            len(files),
        )
        guessed = [unit.file for unit in catalog.units if unit.name_guessed]
        if guessed:
            log.info(
                "function source %r: the name of %s cannot be read; nothing of this source "
                "is removed until it can",
                self.name,
                guessed[0],
            )
        publishing = {
            stage.name: Publishing(stage.publish, stage.auto_merge)
            for stage in self._settings.stages
        }
        return SourceRead(
            _published(releases, publishing),
            failures,
            self.origin,
            complete=not guessed,
            publishing=publishing,
        )

    def read_hinted(self, hint: frozenset[str]) -> SourceRead:
        """Changed files (paths below the folder, from its watch), as a hint: the specs
        they are part of now, or were at the last read, are what this read speaks for.
        The whole catalog is read (a task may pair with a function in another file);
        only those functions are planned. Without an earlier read: the whole source."""
        before = self._inputs
        read = self.read()
        if before is None:
            return read
        names: set[str] = set()
        folders: set[str] = set()
        for inputs in (before, self._inputs or {}):
            for path in hint:
                for name, folder in inputs.get(path, ()):
                    names.add(name)
                    folders.add(folder)
        cover = Coverage(frozenset(names), frozenset(folders))
        return dataclasses.replace(
            read,
            releases=tuple(r for r in read.releases if r.id.name in names),
            failures=tuple(f for f in read.failures if f.id.name in names),
            coverage=cover,
        )

    def _read_git(self) -> dict[str, bytes]:
        assert self._repo is not None and self._settings.git is not None
        try:
            head = self._repo.sync()
        except GitError as exc:
            raise FunctionSourceUnavailableError(
                f"cannot read the function specs at {self.origin}: {exc}"
            ) from exc
        if head is None:
            raise FunctionSourceUnavailableError(
                f"branch {self._settings.git.branch!r} does not exist in {self.origin}",
                hint="check functions[].git.branch",
            )
        prefix = self._settings.git.path
        tree = self._repo.read_tree(prefix)
        cut = len(prefix) + 1 if prefix else 0
        return {path[cut:]: data for path, data in tree.items()}

    def _read_folder(self) -> dict[str, bytes]:
        return read_folder(Path(self._settings.folder))

    def close(self) -> None:
        if self._repo is not None:
            self._repo.close()


def read_folder(root: Path) -> dict[str, bytes]:
    """Every regular file under ``root`` (no symlinks, no hidden folders), by relative path."""
    if not root.is_dir():
        raise FunctionSourceUnavailableError(
            f"function spec folder {root} does not exist", hint="check functions[].folder"
        )
    files: dict[str, bytes] = {}
    try:
        for folder, dirs, names in os.walk(root, followlinks=False):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(names):
                path = Path(folder) / name
                if name.startswith(".") or path.is_symlink() or not path.is_file():
                    continue
                # An oversized file is still handed on, cut, so that it is reported as a
                # broken spec (whose folders are kept), never taken for a deleted one.
                with path.open("rb") as handle:
                    files[path.relative_to(root).as_posix()] = handle.read(MAX_FILE_BYTES + 1)
                if len(files) > _MAX_FILES:
                    raise FunctionSourceUnavailableError(
                        f"{root} holds more than {_MAX_FILES} files; is it the right folder?"
                    )
    except OSError as exc:
        raise FunctionSourceUnavailableError(f"cannot read {root}: {exc}") from exc
    return files


def _inputs_of(
    units: Sequence[Unit],
    releases: Sequence[Release],
    failures: Sequence[ReleaseFailure],
) -> dict[str, set[tuple[str, str]]]:
    """Each input file's (function name, its folder under the deployments path)."""
    folders: dict[str, str] = {}
    for release in releases:
        folders[release.id.name] = release.folder.rsplit("/", 1)[0]
    for failure in failures:
        if failure.folder:
            folders.setdefault(failure.id.name, failure.folder.rsplit("/", 1)[0])
    inputs: dict[str, set[tuple[str, str]]] = {}
    for unit in units:
        name = unit.name or unit.file
        if name not in folders:
            continue
        for path in {unit.file, *unit.inputs}:
            inputs.setdefault(path, set()).add((name, folders[name]))
    return inputs


def _published(
    releases: Sequence[Release], publishing: Mapping[str, Publishing]
) -> tuple[Release, ...]:
    """Each release with its stage's publish mode (a stage only an overlay names: direct)."""
    return tuple(
        dataclasses.replace(release, publish=publishing[release.id.stage])
        if publishing.get(release.id.stage, DIRECT) != DIRECT
        else release
        for release in releases
    )
