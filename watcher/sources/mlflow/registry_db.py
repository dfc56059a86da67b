"""Read the MLflow model registry straight from MLflow's backend database.

The seed design watched ``mlflow.db``; reading the tables (read-only, in one
transaction) needs no running MLflow server and no mlflow import. Tables are
reflected, not declared, so one adapter reads schemas from MLflow 2.0 (no
aliases table) to 3.x (a ``workspace`` column in every key). The snapshot equals
what :class:`~watcher.sources.mlflow.registry_rest.RestRegistry` builds for the same
registry: the versions an alias points at plus the newest version per stage.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    InterfaceError,
    NoSuchModuleError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.pool import NullPool

from watcher.adapters.sql_urls import MissingDriverError, engine_url
from watcher.adapters.state_store import with_login
from watcher.config.settings import Credentials, RegistrySettings
from watcher.core.model import READY_STATUS, ModelVersion, RegisteredModel, RegistrySnapshot
from watcher.core.stages import NameFilter
from watcher.errors import (
    ArtifactSourceError,
    ConfigError,
    RegistryAuthError,
    RegistryError,
    RegistryUnavailableError,
)
from watcher.sources.mlflow.db_metrics import latest_values
from watcher.sources.mlflow.db_schema import ReflectedTables
from watcher.sources.mlflow.name_prefixes import include_prefixes

log = logging.getLogger(__name__)

REQUIRED_TABLES = ("registered_models", "model_versions")
OPTIONAL_TABLES = ("model_version_tags", "registered_model_tags", "registered_model_aliases")
#: MLflow keeps deleted versions with this stage; its API never shows them.
DELETED_STAGE = "Deleted_Internal"
#: MLflow 3 stores prompts as registered models with this tag; its search API hides them.
PROMPT_TAG = "mlflow.prompt.is_prompt"
_AUTH_MARKERS = (
    "password authentication failed",
    "access denied for user",
    "authentication failed",
)


class DatabaseRegistry:
    """Builds a :class:`RegistrySnapshot` from MLflow's SQLite, PostgreSQL or MySQL store."""

    def __init__(self, settings: RegistrySettings, credentials: Credentials | None = None) -> None:
        self._settings = settings
        self._models = NameFilter(settings.models.include, settings.models.exclude)
        uri = settings.resolved_database_uri
        try:
            url = make_url(uri)
        except ArgumentError as exc:
            raise RegistryError(
                "registry database URI is not a SQLAlchemy URL",
                hint="set registry.database_uri to e.g. sqlite:////data/mlflow.db",
            ) from exc
        self._origin = url.render_as_string(hide_password=True)
        # The user info the loader took out of the URI: back in the URL we connect with only.
        key = "registry.database_uri" if settings.database_uri else "registry.tracking_uri"
        self._url = with_login(url, credentials.url_login(key) if credentials else None)
        self._password = self._url.password
        if self._url.get_backend_name() != "sqlite":
            try:  # a driver that is not installed is a setup mistake: say so at start
                engine_url(self._url)
            except MissingDriverError as exc:
                message = f"cannot use the registry database {self._origin}: {exc}"
                raise ConfigError(message) from exc
        self._sqlite_path: Path | None = None
        self._engine: Engine | None = None
        self._schema = ReflectedTables()
        #: The names of the read under way (a hint; one source's reads take turns).
        self._only: Sequence[str] | None = None

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def snapshot_of(self, names: Iterable[str]) -> RegistrySnapshot:
        """Only the models named (a hint); one that is not there is left out (gone)."""
        return self.snapshot(sorted(set(names)))

    def snapshot(self, names: Sequence[str] | None = None) -> RegistrySnapshot:
        """Everything (or the models ``names``) in one read-only transaction, so the
        snapshot is consistent."""
        engine = self._get_engine()
        try:
            with engine.connect() as conn:
                if self._sqlite_path is not None:
                    # pysqlite would not BEGIN before a SELECT; without it each query
                    # could see a different commit.
                    conn.exec_driver_sql("BEGIN")
                models = self._read(conn, names)
                conn.rollback()
        except RegistryError:
            raise
        except DBAPIError as exc:
            raise self._translate(exc) from exc
        except SQLAlchemyError as exc:
            raise RegistryError(
                f"reading the registry database {self._origin} failed: {self._scrub(exc)}",
                hint="check that it is an MLflow backend database",
            ) from exc
        log.debug("read %d models from %s", len(models), self._origin)
        return RegistrySnapshot(
            models=tuple(models), ui_url=self._settings.resolved_ui_url, origin=self._origin
        )

    # -- artifact lookups: where a version's files are --

    def run_artifact_uri(self, run_id: str) -> str:
        """The artifact root of a run, for ``runs:/<id>/…`` sources."""
        return self._lookup("runs", "run_uuid", run_id, "artifact_uri", f"run {run_id!r}")

    def logged_model_artifact_uri(self, model_id: str) -> str:
        """Where an MLflow 3 logged model keeps its files, for ``models:/m-…`` sources."""
        return self._lookup(
            "logged_models", "model_id", model_id, "artifact_location", f"logged model {model_id!r}"
        )

    # -- what a version logged, for the promotion gates --

    def run_metrics(self, run_id: str) -> dict[str, float]:
        """The latest value of each metric the run logged (MLflow's ``latest_metrics``)."""
        return self._metrics("latest_metrics", "run_uuid", run_id, ("key", "value"))

    def logged_model_metrics(self, model_id: str) -> dict[str, float]:
        """An MLflow 3 logged model's metrics, the last logged of each key."""
        columns = ("metric_name", "metric_value", "metric_step", "metric_timestamp_ms")
        return self._metrics("logged_model_metrics", "model_id", model_id, columns)

    def _metrics(
        self, table: str, key: str, value: str, columns: Sequence[str]
    ) -> dict[str, float]:
        try:
            with self._get_engine().connect() as conn:
                found = self._schema.present(conn)
                reflected = self._schema.table(conn, table) if table in found else None
                return latest_values(conn, reflected, key, value, columns)
        except DBAPIError as exc:
            raise self._translate(exc) from exc
        except SQLAlchemyError as exc:
            raise RegistryError(
                f"reading metrics ({table}) from {self._origin} failed: {self._scrub(exc)}"
            ) from exc

    def _lookup(self, table_name: str, key: str, value: str, column: str, what: str) -> str:
        engine = self._get_engine()
        try:
            with engine.connect() as conn:
                if table_name not in self._schema.present(conn):
                    raise ArtifactSourceError(
                        f"the registry database {self._origin} has no {table_name!r} table",
                        hint="this MLflow version cannot resolve such sources",
                    )
                table = self._schema.table(conn, table_name)
                found = conn.execute(
                    sa.select(table.c[column]).where(table.c[key] == value)
                ).scalar_one_or_none()
        except DBAPIError as exc:
            raise self._translate(exc) from exc
        except SQLAlchemyError as exc:
            raise RegistryError(
                f"reading {what} from {self._origin} failed: {self._scrub(exc)}"
            ) from exc
        if not found:
            raise ArtifactSourceError(
                f"{what} is not in the registry database {self._origin}",
                hint="the version's source names something that was deleted",
            )
        return str(found)

    def _get_engine(self) -> Engine:
        if self._engine is not None:
            return self._engine
        url = self._url
        timeout = self._settings.timeout_seconds
        try:
            if url.get_backend_name() == "sqlite":
                self._engine = self._sqlite_engine(url.database or "", timeout)
            else:
                connect_args: dict[str, Any] = {"connect_timeout": max(1, int(timeout))}
                options: dict[str, Any] = {"isolation_level": "REPEATABLE READ"}
                if url.get_backend_name() == "postgresql":
                    options["postgresql_readonly"] = True
                self._engine = sa.create_engine(
                    engine_url(url), connect_args=connect_args, pool_pre_ping=True
                ).execution_options(**options)
        except MissingDriverError as exc:  # its message names the extra to install
            raise ConfigError(f"cannot use the registry database {self._origin}: {exc}") from exc
        except (ArgumentError, NoSuchModuleError, ImportError) as exc:
            raise RegistryError(
                f"cannot use the registry database {self._origin}: {exc}",
                hint="pip install 'gitops-watcher[postgres]' (or '[mysql]'), or fix the URI scheme",
            ) from exc
        return self._engine

    def _sqlite_engine(self, database: str, timeout: float) -> Engine:
        if not database or database == ":memory:" or database.startswith("file:"):
            raise RegistryError(
                f"registry database URI {self._origin} does not name a SQLite file",
                hint="use sqlite:////absolute/path/to/mlflow.db",
            )
        path = Path(database).expanduser().resolve()
        self._sqlite_path = path
        # mode=ro: we never write MLflow's file; WAL databases read fine this way.
        uri = f"{path.as_uri()}?mode=ro"

        def connect() -> sqlite3.Connection:
            if not path.is_file():
                raise RegistryUnavailableError(
                    f"MLflow database file {path} does not exist",
                    hint="check registry.database_uri and that the volume is mounted",
                )
            return sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None)

        return sa.create_engine("sqlite://", creator=connect, poolclass=NullPool)

    def _read(self, conn: Connection, only: Sequence[str] | None) -> list[RegisteredModel]:
        """Models (``only`` these), their tags and aliases, and the versions a stage can
        select: the latest per registry stage and every aliased one (never the whole
        version table)."""
        tables = self._tables(conn)
        rm, mv = tables["registered_models"], tables["model_versions"]
        self._only = only
        model_tags = self._model_tags(conn, tables.get("registered_model_tags"))
        names = [
            name
            for (name,) in conn.execute(self._scoped(sa.select(rm.c.name), rm))
            if self._models.matches(name)
            and dict(model_tags[name]).get(PROMPT_TAG, "").lower() != "true"
        ]
        aliases, wanted = self._aliases_and_wanted(conn, mv, tables.get("registered_model_aliases"))
        version_tags = self._version_tags(conn, tables.get("model_version_tags"), wanted)
        versions: dict[str, list[ModelVersion]] = defaultdict(list)
        rows = self._in_workspace(sa.select(mv).join_from(mv, wanted, _joined(mv, wanted)), mv)
        for row in conn.execute(rows).mappings():
            version = str(row["version"])
            versions[row["name"]].append(
                ModelVersion(
                    name=row["name"],
                    version=version,
                    current_stage=row.get("current_stage") or "None",
                    status=row.get("status") or READY_STATUS,
                    source=row.get("source") or "",
                    run_id=row.get("run_id") or "",
                    creation_timestamp=int(row.get("creation_time") or 0),
                    last_updated_timestamp=int(row.get("last_updated_time") or 0),
                    tags=tuple(version_tags[(row["name"], version)]),
                )
            )
        return [
            RegisteredModel(
                name=name,
                aliases=tuple(aliases[name]),
                tags=tuple(model_tags[name]),
                versions=tuple(versions[name]),
            )
            for name in names
        ]

    def _tables(self, conn: Connection) -> Mapping[str, sa.Table]:
        """MLflow's registry tables as the database has them (older versions lack some)."""
        present = self._schema.present(conn)
        missing = [t for t in REQUIRED_TABLES if t not in present]
        if missing:
            raise RegistryError(
                f"{self._origin} does not look like an MLflow backend database "
                f"(no table {', '.join(missing)})",
                hint="point registry.database_uri at the database the MLflow server uses",
            )
        wanted = (t for t in (*REQUIRED_TABLES, *OPTIONAL_TABLES) if t in present)
        return {name: self._schema.table(conn, name) for name in wanted}

    def _model_tags(
        self, conn: Connection, rm_tags: sa.Table | None
    ) -> dict[str, list[tuple[str, str]]]:
        model_tags: dict[str, list[tuple[str, str]]] = defaultdict(list)
        if rm_tags is not None:
            query = sa.select(rm_tags.c.name, rm_tags.c.key, rm_tags.c.value)
            for name, key, value in conn.execute(self._scoped(query, rm_tags)):
                model_tags[name].append((key, value or ""))
        return model_tags

    def _aliases_and_wanted(
        self, conn: Connection, mv: sa.Table, aliases_t: sa.Table | None
    ) -> tuple[dict[str, list[tuple[str, str]]], Any]:
        """Each model's aliases, and a subquery of the (name, version) pairs worth reading."""
        alias_rows: dict[str, list[tuple[str, str]]] = defaultdict(list)
        latest = self._scoped(
            sa.select(mv.c.name, sa.func.max(mv.c.version).label("version"))
            .where(sa.func.coalesce(mv.c.current_stage, "None") != DELETED_STAGE)
            .group_by(mv.c.name, mv.c.current_stage),
            mv,
        )
        wanted_parts = [latest]
        if aliases_t is not None:
            query = sa.select(aliases_t.c.name, aliases_t.c.alias, aliases_t.c.version)
            for name, alias, version in conn.execute(self._scoped(query, aliases_t)):
                alias_rows[name].append((alias, str(version)))
            wanted_parts.append(
                self._scoped(sa.select(aliases_t.c.name, aliases_t.c.version), aliases_t)
            )
        return alias_rows, sa.union(*wanted_parts).subquery("wanted")

    def _version_tags(
        self, conn: Connection, mv_tags: sa.Table | None, wanted: Any
    ) -> dict[tuple[str, str], list[tuple[str, str]]]:
        version_tags: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
        if mv_tags is not None:
            tag_rows = sa.select(
                mv_tags.c.name, mv_tags.c.version, mv_tags.c.key, mv_tags.c.value
            ).join_from(mv_tags, wanted, _joined(mv_tags, wanted))
            for name, version, key, value in conn.execute(self._in_workspace(tag_rows, mv_tags)):
                version_tags[(name, str(version))].append((key, value or ""))
        return version_tags

    def _scoped(self, query: Any, table: sa.Table) -> Any:
        """The query in our workspace, for names our include patterns can match (of a
        hinted read: the names it asks for)."""
        if self._only is not None:
            return self._in_workspace(query.where(table.c.name.in_(self._only)), table)
        prefixes = include_prefixes(self._settings.models.include)
        if prefixes:
            query = query.where(
                sa.or_(*(table.c.name.startswith(p, autoescape=True) for p in prefixes))
            )
        return self._in_workspace(query, table)

    def _in_workspace(self, query: Any, table: sa.Table) -> Any:
        """Filter by workspace where MLflow's schema has one (MLflow 3.x)."""
        if "workspace" in table.c:
            return query.where(table.c.workspace == self._settings.workspace)
        return query

    def _translate(self, exc: DBAPIError) -> RegistryError:
        text = self._scrub(exc.orig if exc.orig is not None else exc)
        where = str(self._sqlite_path) if self._sqlite_path else self._origin
        if any(marker in text.lower() for marker in _AUTH_MARKERS):
            return RegistryAuthError(
                f"the registry database {self._origin} refused our credentials: {text}",
                hint="check the user and password in registry.database_uri",
            )
        if isinstance(exc, OperationalError | InterfaceError):
            return RegistryUnavailableError(
                f"cannot read the registry database {where}: {text}",
                hint="a locked SQLite file or a database that is down; the next reconcile retries"
                if self._sqlite_path
                else "check that the database server is up and reachable from here",
            )
        return RegistryError(
            f"unexpected error reading the registry database {where}: {text}",
            hint="check that it is an MLflow backend database this version can read",
        )

    def _scrub(self, exc: BaseException) -> str:
        text = " ".join(str(exc).split("\n", 1)[0].split())[:300]
        if self._password:
            text = text.replace(self._password, "***")
        return text


def _joined(table: sa.Table, wanted: Any) -> Any:
    """Rows of ``table`` for the (name, version) pairs of ``wanted``."""
    return (table.c.name == wanted.c.name) & (table.c.version == wanted.c.version)
