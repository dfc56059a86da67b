"""The PostgreSQL URIs the docs show, against the real PostgreSQL server of the tests.

``postgresql://user:pass@host:port/db`` names no driver: it must work with what
``pip install 'gitops-watcher[postgres]'`` installs (psycopg 3), for the registry
reader (MLflow's own database) and for the daemon's ledger alike, and so must the
Heroku-style ``postgres://`` and an explicit ``postgresql+psycopg2://``.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tomllib
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.servers.mlflow_server import MlflowServer, register_version
from tests.servers.postgres import PASSWORD, USER, PostgresServer
from watcher.adapters.ledger import Ledger, LedgerEntry
from watcher.adapters.sql_urls import engine_url
from watcher.commands.cli import main
from watcher.config.settings import ModelFilter, RegistrySettings
from watcher.sources.mlflow.registry_db import DatabaseRegistry

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]

#: The forms a user writes; the first is the one the README and docs show.
FORMS = ["postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2"]


def documented(scheme: str, port: int, database: str) -> str:
    return f"{scheme}://{USER}:{PASSWORD}@127.0.0.1:{port}/{database}"


def _database_of(server_url: str) -> str:
    return sa.make_url(server_url).database or ""


@pytest.mark.parametrize("scheme", FORMS)
def test_the_registry_reader_reads_every_documented_form(
    scheme: str, mlflow_server_postgres: MlflowServer, postgres_server: PostgresServer
) -> None:
    name = f"pg-url-{scheme.replace('+', '-')}-{uuid.uuid4().hex[:6]}"
    client = mlflow_server_postgres.client()
    register_version(client, name)
    client.set_registered_model_alias(name, "staging", "1")
    uri = documented(scheme, postgres_server.port, _database_of(mlflow_server_postgres.db_uri))
    # As documented: MLFLOW_TRACKING_URI=postgresql://... (the registry kind is inferred).
    settings = RegistrySettings(tracking_uri=uri, models=ModelFilter(include=(name,)))
    registry = DatabaseRegistry(settings)
    try:
        snapshot = registry.snapshot()
    finally:
        registry.close()
    assert [m.name for m in snapshot.models] == [name]
    assert snapshot.models[0].alias_map == {"staging": "1"}
    assert PASSWORD not in snapshot.origin


@pytest.mark.parametrize("scheme", FORMS)
def test_the_ledger_works_on_every_documented_form(
    scheme: str, postgres_server: PostgresServer
) -> None:
    database = f"ledger_{scheme.replace('+', '_')}"
    postgres_server.create_database(database)
    url = documented(scheme, postgres_server.port, database)
    store = Ledger(url)
    try:
        entry = LedgerEntry(
            action="deploy",
            outcome="applied",
            source="mlflow",
            kind="model",
            name="m",
            stage="staging",
            folder="m/staging",
            revision="1",
            commit="c0ffee",
        )
        store.append("r1", [entry])
        assert [(r.name, r.revision, r.commit) for r in store.history()] == [
            ("m", "1", "c0ffee")
        ]
    finally:
        store.close()
    # It really is PostgreSQL that holds it, not a fallback somewhere else.
    engine = sa.create_engine(postgres_server.url(database))
    try:
        with engine.connect() as conn:
            tables = sa.inspect(conn).get_table_names()
    finally:
        engine.dispose()
    assert tables, "no table was created in PostgreSQL"


def test_a_reconcile_with_both_databases_on_postgresql_urls(
    mlflow_server_postgres: MlflowServer,
    postgres_server: PostgresServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The documented variables, end to end: registry DB and state DB both ``postgresql://``."""
    name = f"pg-e2e-{uuid.uuid4().hex[:6]}"
    client = mlflow_server_postgres.client()
    register_version(client, name)
    client.set_registered_model_alias(name, "staging", "1")
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    postgres_server.create_database("ledger_e2e")
    config = tmp_path / "config.yaml"
    roots = str(mlflow_server_postgres.artifact_root)
    config.write_text(
        f"registry: {{models: {{include: [{name}]}}}}\n"
        f"artifacts: {{sources: {{local_roots: ['{roots}']}}}}\n"
    )
    mlflow_db = _database_of(mlflow_server_postgres.db_uri)
    monkeypatch.setenv(
        "MLFLOW_TRACKING_URI", documented("postgresql", postgres_server.port, mlflow_db)
    )
    monkeypatch.setenv(
        "GITOPS_WATCHER_STATE_DB_URL", documented("postgresql", postgres_server.port, "ledger_e2e")
    )
    monkeypatch.setenv("GIT_REPO_URL", str(remote))
    monkeypatch.setenv("GITOPS_WATCHER_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)

    assert main(["--config", str(config), "reconcile", "--once"]) == 0, capsys.readouterr()
    capsys.readouterr()
    assert main(["--config", str(config), "history"]) == 0
    history = capsys.readouterr().out
    assert name in history
    log = subprocess.run(
        ["git", "-C", str(remote), "log", "--format=%s", "main"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"{name} v1" in log


def test_each_form_gets_an_installed_driver() -> None:
    """Which driver each form is opened with (both are installed for the tests)."""
    port_db = "127.0.0.1:5432/db"
    chosen = {
        form: engine_url(f"{form}://u:p@{port_db}").drivername
        for form in ("postgresql", "postgres", "postgresql+psycopg2", "postgres+psycopg2")
    }
    assert chosen == {
        "postgresql": "postgresql+psycopg",
        "postgres": "postgresql+psycopg",
        "postgresql+psycopg2": "postgresql+psycopg2",
        "postgres+psycopg2": "postgresql+psycopg2",
    }
    kept = engine_url(f"postgresql://u:p%40ss@{port_db}?sslmode=disable")
    assert (kept.password, kept.query, kept.port) == ("p@ss", {"sslmode": "disable"}, 5432)


_ONE_DRIVER = r"""
import sys


class Hide:
    def find_spec(self, name, path=None, target=None):
        if name == HIDDEN or name.startswith(HIDDEN + "."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None


sys.meta_path.insert(0, Hide())
from watcher.sources.mlflow.registry_db import DatabaseRegistry
from watcher.adapters.ledger import Ledger
from watcher.config.settings import ModelFilter, RegistrySettings

settings = RegistrySettings(tracking_uri=REGISTRY, models=ModelFilter(include=(NAME,)))
registry = DatabaseRegistry(settings)
print("models", [m.name for m in registry.snapshot().models])
registry.close()
store = Ledger(LEDGER)
print("history", len(store.history()))
store.close()
"""


@pytest.mark.parametrize("hidden", ["psycopg", "psycopg2"])
def test_postgresql_urls_work_with_either_driver_alone(
    hidden: str, mlflow_server_postgres: MlflowServer, postgres_server: PostgresServer
) -> None:
    """``postgresql://`` uses the driver that is there: psycopg 3 (the extra) or psycopg2."""
    name = f"pg-one-driver-{uuid.uuid4().hex[:6]}"
    register_version(mlflow_server_postgres.client(), name)
    postgres_server.create_database("ledger_one_driver")
    port = postgres_server.port
    values = {
        "HIDDEN": hidden,
        "NAME": name,
        "REGISTRY": documented("postgresql", port, _database_of(mlflow_server_postgres.db_uri)),
        "LEDGER": documented("postgresql", port, "ledger_one_driver"),
    }
    script = "".join(f"{key} = {value!r}\n" for key, value in values.items()) + _ONE_DRIVER
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines() == [f"models [{name!r}]", "history 0"]


def test_a_missing_driver_names_the_extra_to_install() -> None:
    """No mysqlclient nor PyMySQL here: both adapters say which extra to install."""
    from watcher.adapters.sql_urls import MissingDriverError
    from watcher.errors import ConfigError

    urls = ["mysql+mysqldb://u:p@127.0.0.1:1/db"]
    if importlib.util.find_spec("pymysql") is None:
        urls.append("mysql://u:p@127.0.0.1:1/db")
    if importlib.util.find_spec("MySQLdb") is not None:
        pytest.skip("mysqlclient is installed: no driver is missing")
    for url in urls:
        with pytest.raises(MissingDriverError, match=r"gitops-watcher\[mysql\]"):
            engine_url(url)
        # A setup mistake, said when the reader is made, with the extra named once.
        with pytest.raises(ConfigError) as registry_error:
            DatabaseRegistry(RegistrySettings(tracking_uri=url))
        assert str(registry_error.value).count("gitops-watcher[mysql]") == 1
        with pytest.raises(ConfigError, match=r"gitops-watcher\[mysql\]"):
            Ledger(url)


_NO_DRIVER = r"""
import sys


class Hide:
    # No PostgreSQL driver at all, as in an install without the postgres extra.

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("psycopg", "psycopg2", "psycopg_binary", "psycopg_c"):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None


sys.meta_path.insert(0, Hide())
from watcher.commands.cli import main

sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize(
    ("variable", "command"),
    [
        ("GITOPS_WATCHER_STATE_DB_URL", ["run", "--listen", "127.0.0.1:0"]),
        ("GITOPS_WATCHER_STATE_DB_URL", ["reconcile", "--once"]),
        ("MLFLOW_TRACKING_URI", ["reconcile", "--once"]),
    ],
)
def test_a_postgresql_url_without_a_driver_is_a_configuration_error(
    variable: str, command: list[str], tmp_path: Path
) -> None:
    """Exit 2 naming the extra to install, once; not "internal error … a bug" (exit 4)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GIT_", "MLFLOW_", "GITOPS_WATCHER_", "BUCKET_NAME"))
    }
    env.update(
        MLFLOW_TRACKING_URI="http://127.0.0.1:9",
        GIT_REPO_URL=str(tmp_path / "remote.git"),
        GITOPS_WATCHER_STATE_DIR=str(tmp_path / "state"),
        PYTHONPATH=str(ROOT),
    )
    env[variable] = "postgresql://watcher:S3cret@127.0.0.1:9/db"
    done = subprocess.run(
        [sys.executable, "-c", _NO_DRIVER, *command],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    last = done.stderr.splitlines()[-1]
    assert last.startswith("configuration error: cannot "), done.stderr[-2000:]
    assert "@127.0.0.1:9/db" in last or "postgresql://127.0.0.1:9/db" in last, last
    assert "S3cret" not in done.stderr
    assert last.count("pip install 'gitops-watcher[postgres]'") == 1, last
    assert "internal error" not in done.stderr


def test_the_postgres_extra_installs_the_drivers_of_the_documented_urls() -> None:
    """psycopg 3 for ``postgresql://``, psycopg2 for ``postgresql+psycopg2://`` (chart docs)."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    names = {req.split(">")[0].split("=")[0].strip() for req in extras["postgres"]}
    assert {"psycopg[binary]", "psycopg2-binary"} <= names, extras["postgres"]
