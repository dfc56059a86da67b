"""The one place that turns settings into sources, targets and adapters, and plugs them in.

Sources and targets are asked of their registries (``watcher.sources``,
``watcher.targets``); nothing here names a kind of source or a target. The daemon
and the commands reach the spine only through this module.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Collection, Iterator, Mapping, MutableSet, Sequence
from pathlib import Path
from typing import Any, Protocol

import jinja2
from pydantic import BaseModel

from watcher import sources as source_registry
from watcher import targets as target_registry
from watcher.adapters.git_repo import GitOpsRepo
from watcher.adapters.ledger import Ledger
from watcher.adapters.notifier import build_notifier, check_notification_variables
from watcher.adapters.templates import template_loader
from watcher.adapters.validation_cache import ValidationCache
from watcher.adapters.writer_lock import DatabaseLease, FileWriterLock, make_writer_lock
from watcher.closing import Closing
from watcher.config.daemon_settings import DaemonSettings
from watcher.config.settings import Credentials, Settings, StageSettings, UrlLogin
from watcher.core.targets import Target, TargetSpec, make_environment
from watcher.errors import ConfigError
from watcher.publishing import build_publisher
from watcher.spine.desired_state import DesiredState, Source, build_desired
from watcher.spine.reconciler import ChangeListener, Reconciler
from watcher.spine.source_kinds import BuildContext, SourceEntry, SourceKind, StatusReporter
from watcher.spine.triggers import Hint, Trigger

log = logging.getLogger(__name__)

#: In the state folder: the next reconcile of the daemon may remove above the limit.
MASS_DELETE_FLAG = "allow-mass-delete"


# -- settings -----------------------------------------------------------------------------


def settings_sections() -> dict[str, type[BaseModel]]:
    """Config sections that source plug-ins bring beside the built-in tree (for the loader)."""
    return {
        kind.key: kind.section for kind in source_registry.registered() if kind.section is not None
    }


# -- sources ------------------------------------------------------------------------------


def source_entries(settings: Settings) -> list[tuple[SourceKind, SourceEntry]]:
    """Every configured source of every kind, after the one rule every kind shares:
    names are unique, and no two sources own the same folder."""
    found = [
        (kind, entry) for kind in source_registry.registered() for entry in kind.entries(settings)
    ]
    if not found:
        raise ConfigError(
            "no source is configured",
            hint="set MLFLOW_TRACKING_URI (http(s)://… for the REST API, or a database URI), "
            "or list sources or functions in the config",
        )
    _check_unique(entry for _, entry in found)
    return found


def _check_unique(entries: Iterator[SourceEntry] | Sequence[SourceEntry]) -> None:
    names: dict[str, SourceEntry] = {}
    paths: dict[str, SourceEntry] = {}
    for entry in entries:
        twin = names.setdefault(entry.name, entry)
        if twin is not entry:
            raise ConfigError(
                f"two sources are named {entry.name!r} ({twin.kind} and {entry.kind})",
                hint="source names must be unique ('mlflow' is the top-level registry's)",
            )
        twin = paths.setdefault(entry.path, entry)
        if twin is not entry:
            where = f"folder {entry.path!r}" if entry.path else "the whole deployments folder"
            raise ConfigError(
                f"sources {twin.name!r} and {entry.name!r} both own {where}: the second's "
                "folders would land in the first's",
                hint="give each source its own path",
            )


def build_sources(
    settings: Settings,
    credentials: Credentials,
    *,
    with_artifacts: bool = True,
    env: Mapping[str, str] | None = None,
) -> list[Source]:
    """Every configured source, opened; kinds check what only they can see first."""
    context = _context(settings, credentials, with_artifacts=with_artifacts, env=env)
    found = source_entries(settings)
    for kind in source_registry.registered():
        kind.check([entry for k, entry in found if k is kind], context)
    sources: list[Source] = []
    try:
        for kind, entry in found:
            sources.append(kind.build(entry, context))
    except BaseException:
        for source in sources:
            with contextlib.suppress(Exception):
                source.close()
        raise
    return sources


def source_triggers(
    settings: Settings,
    credentials: Credentials,
    daemon: DaemonSettings,
    *,
    env: Mapping[str, str] | None = None,
) -> tuple[list[str], list[Trigger]]:
    """The names of every source, and the triggers their kinds offer (for ``run``)."""
    context = _context(settings, credentials, daemon=daemon, env=env)
    found = source_entries(settings)
    triggers: list[Trigger] = []
    for kind in source_registry.registered():
        entries = [entry for k, entry in found if k is kind]
        if entries:
            triggers += kind.triggers(entries, context)
    return [entry.name for _, entry in found], triggers


def status_reporters(
    settings: Settings, credentials: Credentials, daemon: DaemonSettings
) -> dict[str, StatusReporter]:
    """Per source name, what tells its input what is deployed (status write-back)."""
    context = _context(settings, credentials, daemon=daemon)
    found = source_entries(settings)
    reporters: dict[str, StatusReporter] = {}
    for kind in source_registry.registered():
        entries = [entry for k, entry in found if k is kind]
        if entries:
            reporters.update(kind.reporters(entries, context))
    return reporters


def _context(
    settings: Settings,
    credentials: Credentials,
    *,
    with_artifacts: bool = True,
    daemon: DaemonSettings | None = None,
    env: Mapping[str, str] | None = None,
) -> BuildContext:
    if env is None:
        return BuildContext(settings, credentials, with_artifacts, daemon)
    return BuildContext(settings, credentials, with_artifacts, daemon, env)


# -- targets ------------------------------------------------------------------------------


def build_templates(settings: Settings) -> jinja2.Environment:
    return make_environment(template_loader(settings.render.templates_dir))


def build_targets(
    settings: Settings,
    env: jinja2.Environment | None = None,
    known_valid: MutableSet[str] | None = None,
) -> dict[str, Target]:
    """Every registered target; model stages and function specs pick from these."""
    env = env or build_templates(settings)
    render = settings.render
    version = render.kubernetes_version if render.validate_manifests else None
    return {
        spec.name: spec.template_target(env, version, known_valid)
        for spec in target_registry.registered()
    }


def check_stage_targets(
    settings: Settings, *, copies: bool = True, notes: int = logging.INFO
) -> None:
    """Every stage names a model target that exists, can serve from the stage's copies
    (``copies``: False when nothing is copied, as in an offline render), and knows the
    options it is given: found before any work, as a configuration error."""
    specs = {spec.name: spec for spec in target_registry.registered() if spec.renders == "model"}
    groups = [(settings.stages, settings.artifacts.resolved_store)]
    groups += [
        (s.stages or settings.stages, (s.artifacts or settings.artifacts).resolved_store)
        for s in settings.sources
    ]
    for stages, store in groups:
        for stage in stages:
            _check_stage(stage, specs, store if copies else "", notes)


def _check_stage(
    stage: StageSettings, specs: Mapping[str, TargetSpec], store: str, notes: int
) -> None:
    """``store``: the kind of copy the stage serves from ("" when none is made)."""
    spec = specs.get(stage.target)
    if spec is None:
        raise ConfigError(
            f"stage {stage.name!r} names an unknown model target {stage.target!r}",
            hint=f"choose one of: {', '.join(sorted(specs))}",
        )
    if store and store not in spec.copies:
        raise ConfigError(
            f"stage {stage.name!r}: target {spec.name!r} cannot serve from a {store!r} copy",
            hint=f"it needs {' or '.join(sorted(spec.copies))}: set artifacts.store "
            "(and a bucket) for this source, or choose another target",
        )
    options = set(stage.target_options)
    if stage.service_template:
        options.add("service_template")
    unknown = sorted(options - spec.options)
    if unknown:
        known = ", ".join(sorted(spec.options)) or "none"
        raise ConfigError(
            f"stage {stage.name!r}: target {spec.name!r} has no option {', '.join(unknown)}",
            hint=f"its options: {known}",
        )
    if store == "local":
        log.log(
            notes,
            "stage %r serves a local folder copy: its pods start only where they can read "
            "the daemon's artifact folder (one machine, not a cluster); use an S3 store there",
            stage.name,
        )
    if store == "none" and "MLFLOW_TRACKING_URI" not in dict(stage.env) and not stage.env_from:
        log.log(
            notes,
            "stage %r serves models:/ URIs (no copies): its pods read the registry, so give "
            "them MLFLOW_TRACKING_URI (stages[].env) or a Secret with it (stages[].env_from)",
            stage.name,
        )


# -- rendering without git ----------------------------------------------------------------


def render_desired(
    settings: Settings, credentials: Credentials, *, snapshot: Path | None = None
) -> DesiredState:
    """The folders a reconcile would write, without git and without copying.

    With ``snapshot``, the top-level registry is read from that file instead (offline:
    no registry to locate files with, so manifests name ``models:/`` URIs).
    """
    targets = build_targets(settings)
    check_stage_targets(settings, copies=snapshot is None)
    if snapshot is not None:
        from watcher.sources.mlflow.kind import snapshot_source

        sources: list[Source] = [snapshot_source(settings, snapshot)]
    else:
        sources = build_sources(settings, credentials)
    try:
        # dry_run: the digest of a version not yet copied is computed from its source.
        return build_desired(sources, targets, dry_run=True)
    finally:
        for source in sources:
            source.close()


# -- the reconciler -----------------------------------------------------------------------


def build_reconciler(
    settings: Settings,
    credentials: Credentials,
    *,
    notes: int = logging.INFO,
    listener: ChangeListener | None = None,
) -> Reconciler:
    """A reconciler with every adapter open; use it as a context manager to close them.

    ``notes``: the log level of what works only on one machine (a local copy): a
    warning for the daemon, which may run in a cluster; information for one-shot
    commands on a laptop, where it is the embedded default. What the ledger records as
    changed goes to ``listener`` (the daemon's: its metrics and its notifier, which
    outlive the reconciler); without one, the reconciler gets a notifier of its own when
    notifications are configured, and closing it waits for their deliveries (at most a
    few seconds).
    """
    settings.state_path.mkdir(parents=True, exist_ok=True)
    source_entries(settings)  # what to set first: a source, then the repository
    if not settings.git.repo_url:
        raise ConfigError(
            "no GitOps repository is configured", hint="set GIT_REPO_URL or git.repo_url"
        )
    if listener is None:
        check_notification_variables(settings.notifications, credentials)
    validated = ValidationCache(settings.state_path)
    targets = build_targets(settings, known_valid=validated)
    check_stage_targets(settings, notes=notes)
    closers: list[Closing] = [validated]
    sources = build_sources(settings, credentials)
    repo = GitOpsRepo(settings.git, settings.checkout_path, credentials.scoped(""))
    publisher = build_publisher(settings, credentials, repo)
    ledger = Ledger(settings.state_database_url, credentials.url_login("state.database_url"))
    if listener is None:
        # Last: its threads start only once everything else is open (checked above).
        notifier = build_notifier(settings.notifications, credentials)
        if notifier is not None:
            closers.append(notifier)
            listener = notifier
    return Reconciler(
        sources,
        targets,
        publisher,
        ledger,
        max_delete_fraction=settings.safety.max_delete_fraction,
        closers=closers,
        history=repo,
        prefix=settings.git.path,
        listener=listener,
    )


class ReconcileFn(Protocol):
    """One reconcile (of ``sources`` only; of a source in ``hints``, only what it names):
    returns the result as the JSON-ready dict ``/status`` and ``/metrics`` read."""

    def __call__(
        self,
        dry_run: bool,
        *,
        sources: Collection[str] | None = None,
        hints: Mapping[str, Hint] | None = None,
    ) -> dict[str, Any]: ...


@contextlib.contextmanager
def open_reconciler(
    settings: Settings, credentials: Credentials, *, listener: ChangeListener | None = None
) -> Iterator[ReconcileFn]:
    """A reconcile function over one reconciler, whose adapters are closed on exit; the
    daemon's way in (an operator's ``allow-mass-delete`` flag is honoured once)."""
    flag = mass_delete_flag(settings)
    with build_reconciler(
        settings, credentials, notes=logging.WARNING, listener=listener
    ) as reconciler:

        def run(
            dry_run: bool,
            *,
            sources: Collection[str] | None = None,
            hints: Mapping[str, Hint] | None = None,
        ) -> dict[str, Any]:
            allowed = not dry_run and flag.is_file()
            if allowed:
                log.warning("an operator allowed mass deletion (%s) for this reconcile", flag)
            result = reconciler.reconcile(
                dry_run=dry_run, allow_mass_delete=allowed, sources=sources, hints=hints
            )
            if allowed:
                # One reconcile only: the next mass deletion needs a new allowance.
                flag.unlink(missing_ok=True)
            return result.to_dict()

        yield run


def writer_lock(
    settings: Settings,
    daemon: DaemonSettings,
    *,
    role: str = "",
    login: UrlLogin | None = None,
) -> FileWriterLock | DatabaseLease:
    """The lock that makes one process the writer: a file in the state folder with SQLite,
    a lease row in a shared state database. ``role`` (``run``) names the holder in refusals."""
    return make_writer_lock(
        settings.state_database_url,
        settings.state_path,
        takeover_seconds=daemon.lock_takeover_seconds,
        renew_seconds=daemon.lock_renew_seconds,
        role=role,
        login=login,
    )


def mass_delete_flag(settings: Settings) -> Path:
    """The file ``gitops-watcher allow-mass-delete`` writes for the running daemon to consume."""
    return settings.state_path / MASS_DELETE_FLAG
