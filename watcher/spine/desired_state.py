"""Read every source, copy what releases serve, render them: the folders that should exist.

Shared by ``reconcile`` and ``render``. A source that cannot be read holds back
only its own folders; a release that cannot be copied or rendered fails alone
and keeps its folder; an unexpected exception in one release is a failure of
that release, never of the reconcile.

The daemon reconciles each source on its own thread: reading and copying run
side by side, rendering (the targets and their caches are shared) one source at a
time. A hint (``spine.triggers``) makes a source that can read part of its input
read only what the hint names.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from watcher.core.artifacts import ArtifactRef, CopyStats
from watcher.core.names import describe
from watcher.core.plan import DesiredFolder, SourceScope
from watcher.core.release import ArtifactNeed, Coverage, Release, ReleaseFailure, SourceRead
from watcher.core.result import SourceOutcome
from watcher.core.targets import Target
from watcher.errors import (
    ArtifactAuthError,
    ArtifactUncheckedError,
    ConfigError,
    InternalError,
    OwnershipError,
    SourceUnavailableError,
    TemporaryError,
    WatcherError,
)
from watcher.spine.render_step import render, rendering
from watcher.spine.triggers import Hint

log = logging.getLogger(__name__)

#: Copies checked (or made) at once; each also HEADs its files in parallel.
COPY_CONCURRENCY = 8


class ArtifactStep(Protocol):
    """Copies and verifies the files a release serves; one copy per ``ArtifactNeed.key``."""

    def describe(self) -> str: ...
    def check(self, *, dry_run: bool = False) -> None: ...
    def ensure(
        self, need: ArtifactNeed, *, dry_run: bool = False
    ) -> tuple[ArtifactRef, CopyStats]: ...
    def copy_uri(self, need: ArtifactNeed) -> str:
        """Where the copy for ``need`` is, without asking the store."""
        ...


class Source(Protocol):
    """Reads one input and yields releases: an MLflow registry, a folder of function specs."""

    @property
    def name(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def kinds(self) -> frozenset[str]: ...
    @property
    def artifacts(self) -> ArtifactStep | None: ...
    def read(self) -> SourceRead: ...
    def close(self) -> None: ...


class HintedSource(Source, Protocol):
    """A source that can read again only what a hint names (``SourceRead.coverage`` says
    what that read speaks for); a source without ``read_hinted`` reads everything."""

    def read_hinted(self, hint: Hint) -> SourceRead: ...


@dataclass
class DesiredState:
    folders: dict[str, DesiredFolder] = field(default_factory=dict)
    failures: list[ReleaseFailure] = field(default_factory=list)
    sources: list[SourceOutcome] = field(default_factory=list)
    scopes: dict[str, SourceScope] = field(default_factory=dict)
    stats: CopyStats = field(default_factory=CopyStats)
    #: Copies a dry run would make: (what, the copy's URI, files, bytes).
    planned_copies: list[tuple[str, str, int, int]] = field(default_factory=list)
    #: Failed releases whose copy could not be checked (the store did not answer), by
    #: folder, with where their copy is: if git already deploys them with that copy,
    #: they are kept as deployed, not failed (``unchecked_but_deployed``).
    unchecked: dict[str, tuple[Release, str]] = field(default_factory=dict)

    @property
    def keep(self) -> set[str]:
        """Folders of failed releases: kept exactly as they are."""
        return {failure.folder for failure in self.failures if failure.folder}


def build_desired(
    sources: Sequence[Source],
    targets: Mapping[str, Target],
    *,
    dry_run: bool = False,
    hints: Mapping[str, Hint] | None = None,
) -> DesiredState:
    """``hints``: by source name, what to read again of it (the others are read whole)."""
    state = DesiredState()
    if not sources:
        raise ConfigError(
            "no source is configured",
            hint="set MLFLOW_TRACKING_URI, or list sources or functions in the config",
        )
    rendered: list[tuple[Release, DesiredFolder]] = []
    _read_and_render(sources, targets, state, rendered, dry_run=dry_run, hints=hints or {})
    if state.sources and not any(outcome.ok for outcome in state.sources):
        first = state.sources[0].error
        raise SourceUnavailableError(
            f"no source could be read; first: {first}", hint="nothing was planned or changed"
        ) from first
    _place(rendered, state)
    return state


def _read_and_render(
    sources: Sequence[Source],
    targets: Mapping[str, Target],
    state: DesiredState,
    rendered: list[tuple[Release, DesiredFolder]],
    *,
    dry_run: bool,
    hints: Mapping[str, Hint],
) -> None:
    for source in sources:
        hint = hints.get(source.name)
        try:
            read = _read(source, hint)
        except WatcherError as exc:
            _source_failed(state, source, exc, hinted=hint is not None)
            continue
        except Exception as exc:  # a bug in one source must not stop the others
            log.debug("source %r crashed", source.name, exc_info=True)
            error = InternalError(f"reading source {source.name!r}: {exc!r:.200}")
            _source_failed(state, source, error, hinted=hint is not None)
            continue
        state.sources.append(SourceOutcome(source.name, True))
        # An incomplete read deploys what it has, and removes nothing.
        state.scopes[source.name] = SourceScope(
            source.path, source.kinds, read.complete, read.publishing,
            selects=getattr(source, "selects", None), coverage=read.coverage,
        )  # fmt: skip
        state.failures.extend(read.failures)
        releases = list(read.releases)
        refs = _copy(source.artifacts, releases, state, dry_run=dry_run)
        with rendering(targets):
            for release in releases:
                if release.artifact is not None and source.artifacts is not None:
                    if release.artifact.key not in refs:
                        continue  # its failure was recorded when the copy failed
                    artifact = refs[release.artifact.key]
                else:
                    artifact = None
                folder = render(release, artifact, targets, state.failures)
                if folder is not None:
                    rendered.append((release, folder))


def _read(source: Source, hint: Hint | None) -> SourceRead:
    """The whole input, or (for a hint, when the source can) only what the hint names."""
    read_hinted = getattr(source, "read_hinted", None)
    if hint is None or not callable(read_hinted):
        return source.read()
    read: SourceRead = read_hinted(hint)
    return read


def _source_failed(
    state: DesiredState, source: Source, error: WatcherError, *, hinted: bool = False
) -> None:
    log.info("cannot read source %r: %s (its folders are kept as they are)", source.name, error)
    state.sources.append(SourceOutcome(source.name, False, error))
    # A hinted read that failed speaks for nothing (the next full read speaks for it all).
    state.scopes[source.name] = SourceScope(
        source.path, source.kinds, False, selects=getattr(source, "selects", None),
        coverage=Coverage() if hinted else None,
    )  # fmt: skip


def _place(rendered: list[tuple[Release, DesiredFolder]], state: DesiredState) -> None:
    """Keep folders that no other release claims; two claimants (or nested folders) both fail."""
    by_folder: dict[str, list[Release]] = {}
    for release, _ in rendered:
        by_folder.setdefault(release.folder, []).append(release)
    folders = set(by_folder)
    # A folder is nested when one of its parents is a folder, or it is a parent of one:
    # ancestors looked up in sets, not every pair compared (n log n, not n²).
    below: dict[str, str] = {}  # an ancestor path -> one folder beneath it
    for folder in sorted(folders):
        parts = folder.split("/")
        for depth in range(1, len(parts)):
            below.setdefault("/".join(parts[:depth]), folder)
    for release, desired in rendered:
        others = [r for r in by_folder[release.folder] if r is not release]
        parts = release.folder.split("/")
        above = [
            "/".join(parts[:d]) for d in range(1, len(parts)) if "/".join(parts[:d]) in folders
        ]
        nested = above or ([below[release.folder]] if release.folder in below else [])
        if others or nested:
            clash = others[0].id.describe() if others else f"folder {nested[0]}"
            error = OwnershipError(
                f"{release.id.describe()} and {clash} would share folder {release.folder}",
                hint="give the sources different paths, or rename one of them",
            )
            state.failures.append(
                ReleaseFailure(release.id, error, release.folder, release.revision, release.url)
            )
            continue
        state.folders[release.folder] = desired


def _copy(
    artifacts: ArtifactStep | None,
    releases: Sequence[Release],
    state: DesiredState,
    *,
    dry_run: bool,
) -> dict[tuple[str, ...], ArtifactRef]:
    """One verified copy per artifact key; a failure stops only the releases that need it.

    The store is checked once first: when it is unreachable or refuses us,
    every release fails with that one clear error instead of one timeout each.
    """
    needing = [r for r in releases if r.artifact is not None]
    refs: dict[tuple[str, ...], ArtifactRef] = {}
    if artifacts is None or not needing:
        return refs
    errors: dict[tuple[str, ...], WatcherError] = {}
    #: Copies whose state is unknown: the store did not answer, or refused our keys.
    unchecked: set[tuple[str, ...]] = set()
    try:
        artifacts.check(dry_run=dry_run)
    except WatcherError as exc:
        log.info("artifact store %s cannot be used: %s", artifacts.describe(), exc)
        errors = {r.artifact.key: exc for r in needing if r.artifact is not None}
        if isinstance(exc, TemporaryError | ArtifactAuthError):
            unchecked = set(errors)
    first: dict[tuple[str, ...], Release] = {}  # one release per copy, in release order
    for release in needing:
        assert release.artifact is not None
        if release.artifact.key not in errors:
            first.setdefault(release.artifact.key, release)

    outcomes = _ensure_all(artifacts, list(first.values()), dry_run=dry_run)
    for (key, release), outcome in zip(first.items(), outcomes, strict=True):
        if isinstance(outcome, WatcherError):
            errors[key] = outcome
            if isinstance(outcome, ArtifactUncheckedError):
                unchecked.add(key)
            continue
        ref, copied = outcome
        refs[key] = ref
        state.stats.add(copied)
        if dry_run and not copied.files_already_there:
            what = f"{release.id.kind} {describe(release.id.name)} {release.label}"
            state.planned_copies.append((what, ref.uri, ref.file_count, ref.total_bytes))
    _copy_failures(artifacts, needing, errors, unchecked, state)
    return refs


def _ensure_all(
    artifacts: ArtifactStep, releases: Sequence[Release], *, dry_run: bool
) -> list[tuple[ArtifactRef, CopyStats] | WatcherError]:
    """Each release's verified copy, or why not; a crash is that release's failure.

    Copies are independent: checking N verified copies is N round trips of waiting,
    so they run side by side (each still reads its manifest and HEADs every file).
    """

    def ensure(release: Release) -> tuple[ArtifactRef, CopyStats] | WatcherError:
        assert release.artifact is not None
        try:
            return artifacts.ensure(release.artifact, dry_run=dry_run)
        except WatcherError as exc:
            log.debug("cannot copy the files of %s: %s", release.id.describe(), exc)
            return exc
        except Exception as exc:
            log.debug("copying %s crashed", release.id.describe(), exc_info=True)
            return InternalError(f"copying {describe(release.id.name)}: {exc!r:.200}")

    if len(releases) > 1:
        with ThreadPoolExecutor(max_workers=min(COPY_CONCURRENCY, len(releases))) as pool:
            return list(pool.map(ensure, releases))
    return [ensure(release) for release in releases]


def _copy_failures(
    artifacts: ArtifactStep,
    needing: Sequence[Release],
    errors: Mapping[tuple[str, ...], WatcherError],
    unchecked: set[tuple[str, ...]],
    state: DesiredState,
) -> None:
    """Each release whose copy failed fails; where the copy could not even be checked,
    it is noted with the copy's URI (``DesiredState.unchecked``)."""
    for release in needing:
        assert release.artifact is not None
        error = errors.get(release.artifact.key)
        if error is None:
            continue
        state.failures.append(
            ReleaseFailure(release.id, error, release.folder, release.revision, release.url)
        )
        if release.artifact.key not in unchecked:
            continue
        try:
            uri = artifacts.copy_uri(release.artifact)
        except Exception:  # no URI for it (a version that is no name): it stays failed
            log.debug("no copy URI for %s", release.id.describe(), exc_info=True)
            continue
        state.unchecked[release.folder] = (release, uri)
