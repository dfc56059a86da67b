"""Both registry adapters against real MLflow servers (SQLite and PostgreSQL backends).

The REST snapshot is the reference; the database adapter must read the very
same models from the server's backend store.
"""

from __future__ import annotations

import fnmatch
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.servers.mlflow_fixtures import ModelNames
from tests.servers.mlflow_server import MlflowServer, free_port, register_version
from tests.servers.postgres import PASSWORD, PostgresServer
from watcher.config.settings import Credentials, ModelFilter, RegistrySettings
from watcher.core.model import RegisteredModel, RegistrySnapshot
from watcher.errors import RegistryAuthError, RegistryError, RegistryUnavailableError
from watcher.sources.mlflow.registry_db import DatabaseRegistry
from watcher.sources.mlflow.registry_rest import CONSISTENT_READ_ATTEMPTS, RestRegistry

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


def rest_snapshot(url: str, pattern: str, **settings: Any) -> RegistrySnapshot:
    models = ModelFilter(include=(pattern,), exclude=settings.pop("exclude", ()))
    config = RegistrySettings(tracking_uri=url, models=models, **settings)
    return RestRegistry(config, Credentials(), backoff_seconds=0.01).snapshot()


def db_snapshot(db_uri: str, pattern: str = "*", **settings: Any) -> RegistrySnapshot:
    models = ModelFilter(include=(pattern,), exclude=settings.pop("exclude", ()))
    config = RegistrySettings(kind="database", database_uri=db_uri, models=models, **settings)
    return DatabaseRegistry(config).snapshot()


def shape(model: RegisteredModel) -> dict[str, Any]:
    """What a reader checks: versions with their stages and tags, and the aliases."""
    return {
        "aliases": model.alias_map,
        "tags": dict(model.tags),
        "versions": {v.version: (v.current_stage, v.tag_map) for v in model.versions},
    }


def both_agree(server: MlflowServer, pattern: str) -> tuple[RegisteredModel, ...]:
    rest = rest_snapshot(server.url, pattern)
    assert db_snapshot(server.db_uri, pattern).models == rest.models
    return rest.models


def promotion_story(server: MlflowServer, name: str) -> None:
    """Stages, aliases and tags change; each step both adapters see the same registry."""
    client = server.client()
    v1 = register_version(client, name, tags={"deploy.replicas": "3"})
    register_version(client, name)
    register_version(client, name)
    client.transition_model_version_stage(name, "1", "Production")
    client.transition_model_version_stage(name, "2", "Staging")
    client.set_registered_model_alias(name, "champion", "1")
    client.set_registered_model_alias(name, "challenger", "3")
    client.set_registered_model_tag(name, "team", "fraud")
    client.set_model_version_tag(name, "2", "owner", "ana")
    (model,) = both_agree(server, name)
    assert shape(model) == {
        "aliases": {"champion": "1", "challenger": "3"},
        "tags": {"team": "fraud"},
        "versions": {
            "1": ("Production", {"deploy.replicas": "3"}),
            "2": ("Staging", {"owner": "ana"}),
            "3": ("None", {}),
        },
    }
    first = model.version("1")
    assert first is not None
    assert (first.run_id, first.source, first.status) == (v1.run_id, v1.source, "READY")
    assert first.last_updated_timestamp >= first.creation_timestamp > 0

    client.set_registered_model_alias(name, "champion", "2")
    client.delete_registered_model_alias(name, "challenger")
    register_version(client, name)
    client.transition_model_version_stage(name, "1", "Archived")
    client.delete_model_version_tag(name, "2", "owner")
    (model,) = both_agree(server, name)
    # v3 is neither aliased nor the newest in its stage any more: v4 took "None".
    assert shape(model) == {
        "aliases": {"champion": "2"},
        "tags": {"team": "fraud"},
        "versions": {
            "1": ("Archived", {"deploy.replicas": "3"}),
            "2": ("Staging", {}),
            "4": ("None", {}),
        },
    }


def test_sqlite_backed_server(mlflow_server: MlflowServer, unique_model_name: ModelNames) -> None:
    promotion_story(mlflow_server, unique_model_name())
    snapshot = rest_snapshot(mlflow_server.url, unique_model_name.prefix + "*")
    assert (snapshot.ui_url, snapshot.origin) == (mlflow_server.url, mlflow_server.url)
    assert db_snapshot(mlflow_server.db_uri).origin == mlflow_server.db_uri


def test_postgres_backed_server(
    mlflow_server_postgres: MlflowServer, unique_model_name: ModelNames
) -> None:
    promotion_story(mlflow_server_postgres, unique_model_name())
    origin = db_snapshot(mlflow_server_postgres.db_uri, "none").origin
    assert PASSWORD not in origin and ":***@" in origin


def test_paging_filters_and_prompts(
    mlflow_server: MlflowServer, unique_model_name: ModelNames
) -> None:
    client = mlflow_server.client()
    for label in ("a-1", "a-2", "a-3", "a-skip", "b-1"):
        register_version(client, unique_model_name(label))
    # MLflow 3 keeps prompts as registered models; its search API hides them, so must we.
    client.register_prompt(unique_model_name("a-prompt"), "Answer as a {{style}} assistant.")
    pattern = f"{unique_model_name.prefix}-a-*"
    expected = [unique_model_name(x) for x in ("a-1", "a-2", "a-3")]
    one_per_page = rest_snapshot(mlflow_server.url, pattern, page_size=1, exclude=("*-skip",))
    assert [m.name for m in one_per_page.models] == expected
    assert one_per_page == rest_snapshot(mlflow_server.url, pattern, exclude=("*-skip",))
    assert (
        db_snapshot(mlflow_server.db_uri, pattern, exclude=("*-skip",)).models
        == one_per_page.models
    )


@dataclass
class Scripted:
    """A tiny HTTP server answering from a script, recording what it was sent.

    It stands in for what a plain MLflow server cannot be made to do: an auth
    proxy that answers 401/403, a server that fails mid-paging, a wrong URL.
    """

    url: str = ""
    script: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    seen: list[tuple[str, str]] = field(default_factory=list)

    def answer(self, path: str, authorization: str) -> tuple[int, str]:
        self.seen.append((path, authorization))
        answers = self.script[path.split("?")[0]]
        return answers.pop(0) if len(answers) > 1 else answers[0]


@pytest.fixture
def scripted() -> Iterator[Scripted]:
    state = Scripted()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = state.answer(self.path, self.headers.get("Authorization", ""))
            self.send_response(status)
            self.send_header("Content-Length", str(len(body.encode())))
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


SEARCH = "/api/2.0/mlflow/registered-models/search"
VERSIONS = "/api/2.0/mlflow/model-versions/search"
PAGE_1 = json.dumps({"registered_models": [{"name": "m1"}], "next_page_token": "MQ=="})


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials(scripted: Scripted, status: int) -> None:
    url, handler = scripted.url, scripted
    handler.script[SEARCH] = [(status, '{"error_code": "UNAUTHENTICATED"}')]
    token = Credentials(mlflow_token="s3cret-token")
    with pytest.raises(RegistryAuthError) as err:
        RestRegistry(RegistrySettings(tracking_uri=url), token).snapshot()
    assert "MLFLOW_TRACKING_TOKEN" in str(err.value) and "s3cret" not in str(err.value)
    assert handler.seen[0][1] == "Bearer s3cret-token"
    # user:password in the URL is sent as basic auth but never shown.
    with pytest.raises(RegistryAuthError) as err:
        RestRegistry(
            RegistrySettings(tracking_uri=url.replace("//", "//bob:pw-42@")), Credentials()
        ).snapshot()
    assert "pw-42" not in str(err.value) and handler.seen[1][1].startswith("Basic ")


def test_unreachable_and_failing_servers(scripted: Scripted) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(RegistryUnavailableError, match="cannot reach"):
        RestRegistry(RegistrySettings(tracking_uri=closed), Credentials(), retries=1).snapshot()
    handler = scripted
    settings = RegistrySettings(tracking_uri=scripted.url)
    # A failure on page 2 loses the whole read: never a partial snapshot (the version
    # search, made beside page 2, answers fine).
    handler.script[SEARCH] = [(200, PAGE_1), (503, "busy")]
    handler.script[VERSIONS] = [(200, '{"model_versions": []}')]
    with pytest.raises(RegistryUnavailableError, match="503"):
        RestRegistry(settings, Credentials(), retries=2, backoff_seconds=0.01).snapshot()
    searches = [path for path, _ in handler.seen if path.startswith(SEARCH)]
    assert len(searches) == 4  # page 1, then page 2 tried 1 + 2 times
    for status, body, text in [
        (404, "<html>Not Found</html>", "HTTP 404"),
        (200, "<html>", "not JSON"),
    ]:
        handler.script[SEARCH] = [(status, body)]
        with pytest.raises(RegistryError, match=text) as err:
            RestRegistry(settings, Credentials()).snapshot()
        assert not isinstance(err.value, RegistryUnavailableError | RegistryAuthError)
        assert "tracking_uri" in str(err.value)


def test_postgres_errors(postgres_server: PostgresServer) -> None:
    url = postgres_server.create_database("not_mlflow")
    with pytest.raises(RegistryError, match="does not look like an MLflow"):
        db_snapshot(url)
    with pytest.raises(RegistryAuthError) as err:
        db_snapshot(url.replace(PASSWORD, "wrong-pass"))
    assert "wrong-pass" not in str(err.value)
    closed = url.replace(f":{postgres_server.port}/", f":{free_port()}/")
    with pytest.raises(RegistryUnavailableError, match=r"127\.0\.0\.1") as down:
        db_snapshot(closed)
    assert PASSWORD not in str(down.value)


def test_sqlite_errors(tmp_path: Path) -> None:
    missing = tmp_path / "gone.db"
    with pytest.raises(RegistryUnavailableError, match=str(missing)):
        db_snapshot(f"sqlite:///{missing}")
    assert not missing.exists()  # read-only: never created
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE things (id INTEGER)")
    with pytest.raises(RegistryError, match="does not look like an MLflow"):
        db_snapshot(f"sqlite:///{other}")
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database, " * 100)
    with pytest.raises(RegistryError):
        db_snapshot(f"sqlite:///{garbage}")


# The registry tables as MLflow 2.0 created them: no aliases table, no workspace column.
MLFLOW_2_0_SCHEMA = """
CREATE TABLE registered_models (name VARCHAR(256), creation_time BIGINT,
    last_updated_time BIGINT, description VARCHAR(5000), PRIMARY KEY (name));
CREATE TABLE registered_model_tags (key VARCHAR(250), value VARCHAR(5000), name VARCHAR(256),
    PRIMARY KEY (key, name));
CREATE TABLE model_versions (name VARCHAR(256), version INTEGER, creation_time BIGINT,
    last_updated_time BIGINT, description VARCHAR(5000), user_id VARCHAR(256),
    current_stage VARCHAR(20), source VARCHAR(500), run_id VARCHAR(32), status VARCHAR(20),
    status_message VARCHAR(500), run_link VARCHAR(500), PRIMARY KEY (name, version));
CREATE TABLE model_version_tags (key VARCHAR(250), value VARCHAR(5000), name VARCHAR(256),
    version INTEGER, PRIMARY KEY (key, name, version));
"""


def insert(conn: sqlite3.Connection, table: str, row: dict[str, Any]) -> None:
    marks = ", ".join("?" * len(row))
    conn.execute(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({marks})", list(row.values()))  # noqa: S608


def make_registry_db(path: Path, *, workspaces: bool = False) -> None:
    """A hand-made registry in WAL mode; with ``workspaces``, keys carry MLflow 3's column."""
    schema = MLFLOW_2_0_SCHEMA
    if workspaces:
        schema = schema.replace("(name VARCHAR(256)", "(workspace VARCHAR(63), name VARCHAR(256)")
        schema = schema.replace("(key VARCHAR(250)", "(workspace VARCHAR(63), key VARCHAR(250)")
        schema = schema.replace("PRIMARY KEY (", "PRIMARY KEY (workspace, ")
    versions = [  # (workspace, version, stage, run_id); v4 is deleted and must not show.
        ("default", 1, "Production", "r1"),
        ("default", 2, "Production", None),
        ("default", 3, "Staging", "r3"),
        ("default", 4, "Deleted_Internal", "r4"),
        ("team-b", 9, "Production", "rb"),
    ]
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(schema)
        for ws, version, stage, run_id in versions if workspaces else versions[:4]:
            key = {"workspace": ws} if workspaces else {}
            if version in (1, 9):
                insert(conn, "registered_models", {**key, "name": "iris"})
            insert(conn, "model_versions", {
                **key, "name": "iris", "version": version, "creation_time": 1000 + version,
                "last_updated_time": None, "current_stage": stage, "source": f"s3://b/{version}",
                "run_id": run_id, "status": "READY",
            })  # fmt: skip
        key = {"workspace": "default"} if workspaces else {}
        insert(
            conn,
            "model_version_tags",
            {**key, "key": "k", "value": None, "name": "iris", "version": 2},
        )


def test_mlflow_2_0_schema_without_aliases(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    make_registry_db(path)
    (model,) = db_snapshot(f"sqlite:///{path}").models
    assert shape(model) == {
        "aliases": {},
        "tags": {},
        "versions": {"2": ("Production", {"k": ""}), "3": ("Staging", {})},
    }
    v2 = model.version("2")
    assert v2 is not None
    assert (v2.run_id, v2.creation_timestamp, v2.last_updated_timestamp) == ("", 1002, 0)
    # A commit still only in the WAL file (a writer holds it open) is read too.
    writer = sqlite3.connect(path)
    try:
        writer.execute("PRAGMA wal_autocheckpoint=0")
        insert(writer, "model_versions", {"name": "iris", "version": 5, "current_stage": "Staging"})
        writer.commit()
        assert Path(f"{path}-wal").stat().st_size > 0
        (model,) = db_snapshot(f"sqlite:///{path}").models
        assert [v.version for v in model.versions] == ["2", "5"]
    finally:
        writer.close()


def test_workspace_column_filters(tmp_path: Path) -> None:
    make_registry_db(tmp_path / "ws.db", workspaces=True)
    (model,) = db_snapshot(f"sqlite:///{tmp_path / 'ws.db'}", workspace="team-b").models
    assert [(v.version, v.run_id) for v in model.versions] == [("9", "rb")]


@dataclass
class Proxy:
    """A small HTTP proxy in front of the real MLflow server: counts requests and, when
    told to, deletes one of our models right after serving a page of registered models
    that has more pages after it (at most once per pass over the pages). That is what
    a user deleting a model mid-read does to MLflow's offset page tokens: the next page
    starts one model too late, and the model that slid back is never listed.

    ``victim`` is ``"last-empty"`` (the page's last model, if it is a version-less
    "-empty" one: the next page's first model slides) or ``"with-versions"`` (the
    page's first model that has versions: its versions vanish)."""

    target: str
    url: str = ""
    prefix: str = ""
    victim: str = "last-empty"
    deletions_left: int = 0
    deleted: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    #: ("start" | "end", path) of every request, in the order they happened.
    events: list[tuple[str, str]] = field(default_factory=list)
    #: Seconds every later page of models is held (to show what overlaps it).
    hold_later_pages: float = 0.0
    _deleted_this_pass: bool = False

    def _pick(self, names: list[str]) -> str | None:
        ours = [n for n in names if n.startswith(self.prefix)]
        if self.victim == "last-empty":
            last = names[-1] if names else ""
            return last if last in ours and last.endswith("-empty") else None
        return next((n for n in ours if not n.endswith("-empty")), None)

    def after_page(self, path: str, body: bytes) -> None:
        if not path.startswith(SEARCH):
            return
        if "page_token" not in path:
            self._deleted_this_pass = False
        page = json.loads(body)
        victim = self._pick([m["name"] for m in page.get("registered_models", [])])
        more = bool(page.get("next_page_token"))
        if self.deletions_left > 0 and not self._deleted_this_pass and victim and more:
            from mlflow.tracking import MlflowClient

            MlflowClient(tracking_uri=self.target).delete_registered_model(victim)
            self.deleted.append(victim)
            self.deletions_left -= 1
            self._deleted_this_pass = True


@pytest.fixture
def proxy(mlflow_server: MlflowServer) -> Iterator[Proxy]:
    import urllib.request

    state = Proxy(target=mlflow_server.url)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.paths.append(self.path)
            state.events.append(("start", self.path.split("?")[0]))
            if (
                state.hold_later_pages
                and self.path.startswith(SEARCH)
                and "page_token" in self.path
            ):
                time.sleep(state.hold_later_pages)
            try:
                with urllib.request.urlopen(state.target + self.path, timeout=60) as answer:  # noqa: S310
                    status, body = answer.status, answer.read()
            except urllib.error.HTTPError as exc:
                status, body = exc.code, exc.read()
            if status == 200:
                state.after_page(self.path, body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            state.events.append(("end", self.path.split("?")[0]))

        def log_message(self, *args: Any) -> None:
            pass

    import urllib.error

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def _requests(proxy: Proxy, path: str) -> int:
    return sum(1 for p in proxy.paths if p.split("?")[0] == path)


def test_paged_read_costs_pages_not_versions(
    mlflow_server: MlflowServer, unique_model_name: ModelNames, proxy: Proxy
) -> None:
    client = mlflow_server.client()
    names = [unique_model_name(f"m{i}") for i in range(4)]
    for index, name in enumerate(names):
        for _ in range(3):
            register_version(client, name, tags={"n": str(index)})
        client.set_registered_model_alias(name, "champion", "1")
        client.set_registered_model_alias(name, "staging", "2")
        client.transition_model_version_stage(name, "3", "Production")
    pattern = unique_model_name.prefix + "*"
    shared = {"database_uri": mlflow_server.db_uri}
    rest = rest_snapshot(proxy.url, pattern, **shared)
    assert _requests(proxy, "/api/2.0/mlflow/model-versions/get") == 0
    assert _requests(proxy, VERSIONS) == 1
    assert _requests(proxy, SEARCH) == 1
    # The same settings read through the DB give the very same snapshot, byte for byte
    # (registry link included); only ``origin``, which names the reader for logs, differs.
    db = db_snapshot(mlflow_server.db_uri, pattern, tracking_uri=proxy.url)
    assert rest.ui_url == db.ui_url == proxy.url
    as_bytes = [json.dumps({**s.to_dict(), "origin": ""}, sort_keys=True) for s in (rest, db)]
    assert as_bytes[0] == as_bytes[1]
    assert [len(m.versions) for m in rest.models] == [3, 3, 3, 3]
    # Two pages of models: each asked for once, no second pass; the version search,
    # one page, is what shows that no model slid past a page boundary.
    # The version search runs while page 2 is read (held 0.5 s here): it starts before
    # the last page of models has been answered.
    proxy.paths.clear()
    proxy.events.clear()
    proxy.hold_later_pages = 0.5
    assert rest_snapshot(proxy.url, pattern, page_size=2) == rest
    proxy.hold_later_pages = 0.0
    assert (_requests(proxy, SEARCH), _requests(proxy, VERSIONS)) == (2, 1)
    last_page_end = max(i for i, e in enumerate(proxy.events) if e == ("end", SEARCH))
    assert proxy.events.index(("start", VERSIONS)) < last_page_end, proxy.events
    # Tiny pages: many requests, the same snapshot; a version page of 1 still finds all.
    # Paged versions can shift too, so then the models are listed a second time.
    proxy.paths.clear()
    small = RestRegistry(
        RegistrySettings(
            tracking_uri=proxy.url, models=ModelFilter(include=(pattern,)), page_size=1
        ),
        Credentials(),
        version_page_size=1,
    ).snapshot()
    assert small.models == rest.models
    assert _requests(proxy, "/api/2.0/mlflow/model-versions/get") == 0
    assert _requests(proxy, SEARCH) == 2 * 4  # four pages, twice
    assert _requests(proxy, VERSIONS) >= 12


def test_model_deleted_between_pages_is_never_skipped(
    mlflow_server: MlflowServer, unique_model_name: ModelNames, proxy: Proxy
) -> None:
    """Pages of two: m00, m00-empty | m01, m01-empty | … Deleting a page's last model
    (a version-less one) makes the next page start one model late: m01, which has
    versions, slides onto the page already read. The version search still lists
    m01, so the read is seen to be incomplete and made again."""
    client = mlflow_server.client()
    names = []
    for i in range(8):
        name = unique_model_name(f"m{i:02d}")
        register_version(client, name)
        client.set_registered_model_alias(name, "champion", "1")
        client.create_registered_model(unique_model_name(f"m{i:02d}-empty"))
        names += [name, unique_model_name(f"m{i:02d}-empty")]
    pattern = unique_model_name.prefix + "*"
    proxy.prefix = unique_model_name.prefix
    settings = RegistrySettings(
        tracking_uri=proxy.url, models=ModelFilter(include=(pattern,)), page_size=2
    )
    # One deletion mid-read: a reader trusting the pages would lose m01.
    proxy.deletions_left = 1
    snapshot = RestRegistry(settings, Credentials()).snapshot()
    assert proxy.deleted == [unique_model_name("m00-empty")]
    assert _requests(proxy, VERSIONS) == 2  # the first read was refused, then read again
    assert [m.name for m in snapshot.models] == [n for n in names if n not in proxy.deleted]
    assert snapshot.models == db_snapshot(mlflow_server.db_uri, pattern).models
    assert {m.name for m in snapshot.models if m.versions} == set(names[::2])
    # A registry that changes under every read (a model with versions deleted after a
    # page that lists it: its version vanishes): a temporary error, never a partial one.
    proxy.victim, proxy.deletions_left = "with-versions", 100
    with pytest.raises(RegistryUnavailableError, match="changed while it was being read"):
        RestRegistry(settings, Credentials()).snapshot()
    assert len(proxy.deleted) == 1 + CONSISTENT_READ_ATTEMPTS


def test_name_filter_sent_to_the_server_is_a_superset(
    mlflow_server: MlflowServer, unique_model_name: ModelNames, proxy: Proxy
) -> None:
    """``prefix*`` is sent as ``name ILIKE 'prefix%'``; the glob still decides, here."""
    client = mlflow_server.client()
    # '_' is a LIKE wildcard and ILIKE ignores case: both extra names come back from
    # the server, and the case-sensitive glob drops them.
    for label in ("a_1", "aX1", "A_2"):
        name = unique_model_name(label)
        register_version(client, name)
        client.set_registered_model_alias(name, "champion", "1")
    register_version(client, unique_model_name("other"))  # never selected
    pattern = f"{unique_model_name.prefix}-a_*"
    rest = rest_snapshot(proxy.url, pattern)
    assert [m.name for m in rest.models] == [unique_model_name("a_1")]
    assert rest.models == db_snapshot(mlflow_server.db_uri, pattern).models
    searches = [p for p in proxy.paths if "/search?" in p]
    assert len(searches) == 2 and all("filter=name+ILIKE" in p for p in searches)
    # Several patterns (or other globs) are not sent: the filter stays local.
    proxy.paths.clear()
    settings = RegistrySettings(
        tracking_uri=proxy.url,
        models=ModelFilter(include=(pattern, f"{unique_model_name.prefix}-oth?r")),
    )
    both = RestRegistry(settings, Credentials()).snapshot()
    assert [m.name for m in both.models] == [unique_model_name("a_1"), unique_model_name("other")]
    assert not any("filter=" in p for p in proxy.paths)


def test_a_server_refusing_the_name_filter_is_read_unfiltered(scripted: Scripted) -> None:
    scripted.script[SEARCH] = [
        (400, '{"error_code": "INVALID_PARAMETER_VALUE", "message": "bad filter"}'),
        (200, json.dumps({"registered_models": [{"name": "team-m1"}, {"name": "x"}]})),
    ]
    settings = RegistrySettings(tracking_uri=scripted.url, models=ModelFilter(include=("team-*",)))
    snapshot = RestRegistry(settings, Credentials()).snapshot()
    assert [m.name for m in snapshot.models] == ["team-m1"]
    paths = [p for p, _ in scripted.seen]
    assert "filter=" in paths[0] and "filter=" not in paths[1]


def test_db_reader_sends_a_name_prefix_that_never_drops_a_match(
    mlflow_server: MlflowServer, mlflow_server_postgres: MlflowServer
) -> None:
    """The DB reader narrows every query with ``name LIKE 'prefix%'`` (escaped), in
    SQLite (case-insensitive LIKE) and PostgreSQL (exact): whatever the patterns,
    it reads the same models as without a filter, the globs applied locally."""
    from watcher.sources.mlflow.name_prefixes import include_prefixes

    assert include_prefixes(("team-a-*", "team-b?", "x[yz]*")) == ("team-a-", "team-b", "x")
    assert include_prefixes(("team-a-*", "*-shared")) == ()  # one pattern with no prefix
    labels = ("Ab_c-1", "ab_c-2", "abxc-3", "ab%c-4", "ab_c", "ab")
    for server in (mlflow_server, mlflow_server_postgres):
        client = server.client()
        for label in labels:
            name = f"lk{label}"
            if not client.search_registered_models(f"name = '{name}'"):
                register_version(client, name)
                client.set_registered_model_alias(name, "staging", "1")
        everything = db_snapshot(server.db_uri).models  # "*": no filter is sent
        for include in (("lkab_c*",), ("lkab%c*",), ("lkAb_c*", "lkab"), ("lkab?c*",),
                        ("lkab_c",), ("lk[Aa]b*",)):  # fmt: skip
            globbed = [
                m for m in everything
                if any(fnmatch.fnmatchcase(m.name, p) for p in include)
            ]  # fmt: skip
            config = RegistrySettings(
                kind="database", database_uri=server.db_uri, models=ModelFilter(include=include)
            )
            read = DatabaseRegistry(config).snapshot().models
            assert read == tuple(globbed), (server.db_uri, include)
            assert read, include
