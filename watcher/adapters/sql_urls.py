"""Database URLs as users write them, turned into URLs SQLAlchemy can open.

``postgresql://`` (and ``postgres://``) name no driver: SQLAlchemy 2.1 then picks
psycopg 3 and 2.0 picks psycopg2, whichever is installed or not. Here a URL without
a driver gets the driver that is actually installed (psycopg 3 first, as the
``postgres`` extra installs it, then psycopg2); ``mysql://`` likewise (mysqlclient,
then PyMySQL). A URL that names its driver (``postgresql+psycopg2://``) is kept as
given. A driver that cannot be imported is an error that names the extra to install.
"""

from __future__ import annotations

import importlib

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import NoSuchModuleError

#: backend -> (SQLAlchemy driver name, module to import), the preferred one first.
_DRIVERS: dict[str, tuple[tuple[str, str], ...]] = {
    "postgresql": (("psycopg", "psycopg"), ("psycopg2", "psycopg2")),
    "mysql": (("mysqldb", "MySQLdb"), ("pymysql", "pymysql")),
}
#: Other spellings of a backend name that SQLAlchemy does not accept.
_ALIASES = {"postgres": "postgresql"}
_EXTRAS = {"postgresql": "postgres", "mysql": "mysql"}
#: Drivers we know the module of, beyond the preferred ones above.
_MODULES = {"pg8000": "pg8000", "asyncpg": "asyncpg", "mariadbconnector": "mariadb"}


class MissingDriverError(NoSuchModuleError):
    """The database driver of a URL is not installed (or cannot be imported)."""


def engine_url(url: str | URL) -> URL:
    """The URL to give ``create_engine``: with an installed driver, or MissingDriverError.

    Raises SQLAlchemy's ArgumentError for text that is not a URL at all, as
    ``make_url`` does.
    """
    parsed = make_url(url) if isinstance(url, str) else url
    backend, _, driver = parsed.drivername.partition("+")
    backend = _ALIASES.get(backend, backend)
    choices = _DRIVERS.get(backend)
    if choices is None:
        return parsed
    if driver:
        module = dict(choices).get(driver) or _MODULES.get(driver)
        if module is not None and not _importable(module):
            raise MissingDriverError(_missing(backend, f"driver {driver!r} ({module})"))
        return parsed.set(drivername=f"{backend}+{driver}")
    for name, module in choices:
        if _importable(module):
            return parsed.set(drivername=f"{backend}+{name}")
    wanted = " or ".join(module for _name, module in choices)
    raise MissingDriverError(_missing(backend, f"driver ({wanted})"))


def _importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:  # absent, or present without its C library (libpq)
        return False
    return True


def _missing(backend: str, what: str) -> str:
    extra = _EXTRAS[backend]
    return (
        f"no {backend} {what} is installed: pip install 'gitops-watcher[{extra}]'"
        f" (or name an installed driver in the URL, e.g. {backend}+{_DRIVERS[backend][1][0]}://)"
    )
