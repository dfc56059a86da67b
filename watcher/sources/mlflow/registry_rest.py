"""Read the MLflow model registry over its REST API: every model, alias and version.

Models are read in pages of ``registered-models/search`` and versions with one
``model-versions/search`` beside them; a registry that changes between two pages
is read again (offset paging moves), a bounded number of times. A hint reads only
the models it names (``snapshot_of``): the cost follows the hint, not the registry.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from watcher.config.settings import Credentials, RegistrySettings
from watcher.core.model import ModelVersion, RegisteredModel, RegistrySnapshot
from watcher.core.stages import NameFilter
from watcher.errors import (
    RegistryAuthError,
    RegistryError,
    RegistryUnavailableError,
)
from watcher.sources.mlflow.mlflow_http import SEARCH_PATH
from watcher.sources.mlflow.rest_artifacts import ArtifactEndpoints

log = logging.getLogger(__name__)

VERSIONS_PATH = "/api/2.0/mlflow/model-versions/search"
VERSION_PATH = "/api/2.0/mlflow/model-versions/get"
MODEL_PATH = "/api/2.0/mlflow/registered-models/get"
#: Names per ``name IN (…)`` search of a hinted read.
NAMES_PER_SEARCH = 50
#: Names that can be quoted in a search filter as they are.
_QUOTABLE = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_. /:@+"
)
#: MLflow 3 stores prompts as registered models with this tag; its search hides them.
PROMPT_TAG = "mlflow.prompt.is_prompt"
#: MLflow's ceiling for one page of ``model-versions/search``.
VERSION_PAGE_SIZE = 200_000
#: A stable order for version pages: updates (stage moves) do not reorder them.
VERSION_ORDER = ("name ASC", "version_number ASC")
#: Reads of a registry that kept changing under us before we give up for this reconcile.
CONSISTENT_READ_ATTEMPTS = 3


def _tag_pairs(items: Any) -> tuple[tuple[str, str], ...]:
    return tuple((str(t["key"]), str(t.get("value") or "")) for t in items or ())


def _is_prompt(raw: Mapping[str, Any]) -> bool:
    """A prompt (MLflow 3) is stored as a registered model; the full search hides it."""
    tags = raw.get("tags")
    return isinstance(tags, list) and any(
        isinstance(t, Mapping) and t.get("key") == PROMPT_TAG and str(t.get("value")).lower()
        == "true" for t in tags
    )  # fmt: skip


#: Characters a name prefix may hold to be sent as a ``name ILIKE 'prefix%'`` filter.
_PLAIN_PREFIX = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_. /")


def name_filter(include: Sequence[str]) -> str:
    """A server-side filter that returns at least the models ``include`` selects ("" if none).

    Only one pattern of the form ``prefix*`` (or an exact name) is sent, as
    ``name ILIKE 'prefix%'``: ILIKE is case-insensitive and ``_`` matches any
    character, so the server returns a superset, and the glob patterns are still
    applied here. Anything else (several patterns, ``?``, ``[``, a quote) is
    not sent: the server returns every model and the filter is local.
    """
    if len(include) != 1:
        return ""
    pattern = include[0]
    prefix = pattern[:-1] if pattern.endswith("*") else pattern
    if not prefix or not set(prefix) <= _PLAIN_PREFIX:
        return ""
    return f"name ILIKE '{prefix}%'" if pattern.endswith("*") else f"name ILIKE '{prefix}'"


class _Shifted(Exception):
    """The registry changed between two requests of one read (offset paging moved)."""


class RestRegistry(ArtifactEndpoints):
    """Builds a complete :class:`RegistrySnapshot` from an MLflow tracking server."""

    def __init__(
        self,
        settings: RegistrySettings,
        credentials: Credentials,
        *,
        retries: int = 3,
        backoff_seconds: float = 0.5,
        version_page_size: int = VERSION_PAGE_SIZE,
    ) -> None:
        super().__init__(settings, credentials, retries=retries, backoff_seconds=backoff_seconds)
        self._version_page_size = max(1, min(version_page_size, VERSION_PAGE_SIZE))
        self._models = NameFilter(settings.models.include, settings.models.exclude)
        #: Sent with both searches while the server accepts it ("" once it refused).
        self._filter = name_filter(settings.models.include)
        #: The version search runs beside the model pages, on a session of its own.
        self._side_session = self._new_session(credentials)
        #: Hinted reads search ``name IN (…)`` while the server accepts it.
        self._in_filter = True

    def close(self) -> None:
        super().close()
        self._side_session.close()

    def snapshot(self) -> RegistrySnapshot:
        """Read every selected model; raise rather than return anything partial.

        Cost follows pages, not versions: ``registered-models/search`` (aliases and
        the latest version per stage, up to 1,000 models a page) and one
        ``model-versions/search`` (every version with its tags, up to 200,000 a
        page). MLflow's page tokens are offsets, so a model deleted between two
        pages shifts the next page by one: the model that slid onto a page
        already read is never listed. The version search (it starts once the first
        page is in and runs beside the later ones) catches that without another
        request: a model that slid still exists, so when the models took more
        than one page, every selected model with a
        version in that answer must have been listed. A model with no version
        that slid is not noticed: it deploys nothing (no alias, no stage), so
        leaving it out changes no folder. Only when the versions too took more
        than one page (their offsets can shift as well) are the models listed a
        second time, and the read counts only if both passes agree. A registry
        that keeps changing is read again, a few times, then reported as a
        temporary error.
        """
        problem = ""
        for attempt in range(1, CONSISTENT_READ_ATTEMPTS + 1):
            try:
                models = self._read_consistent()
            except _Shifted as exc:
                problem = str(exc)
                log.debug("registry changed during read %d: %s", attempt, problem)
                continue
            log.debug("read %d models from %s", len(models), self._origin)
            return RegistrySnapshot(
                models=tuple(models), ui_url=self._settings.resolved_ui_url, origin=self._origin
            )
        raise RegistryUnavailableError(
            f"model registry at {self._origin} changed while it was being read ({problem}); "
            f"gave up after {CONSISTENT_READ_ATTEMPTS} reads",
            hint="the next reconcile reads it again",
        )

    def snapshot_of(self, names: Iterable[str]) -> RegistrySnapshot:
        """Only the models named (a hint), each as ``snapshot`` would read it; a model
        that is not there is left out (gone, as far as this read knows).

        Up to 50 names at once take two requests beside each other (``name IN (…)`` on
        both searches); a name that cannot be quoted, or a server that refuses the
        filter, takes one request per model and one per version it selects.
        """
        wanted = sorted({name for name in names if self._models.matches(name)})
        try:
            models = self._some(wanted)
        except _Shifted as exc:  # a version vanished between two requests
            raise RegistryUnavailableError(
                f"model registry at {self._origin} changed while it was being read ({exc})",
                hint="the next reconcile reads it again",
            ) from exc
        ui_url = self._settings.resolved_ui_url
        return RegistrySnapshot(models=tuple(models), ui_url=ui_url, origin=self._origin)

    def _some(self, wanted: Sequence[str]) -> list[RegisteredModel]:
        quotable = [name for name in wanted if set(name) <= _QUOTABLE and self._in_filter]
        models: list[RegisteredModel] = []
        for start in range(0, len(quotable), NAMES_PER_SEARCH):
            found = self._searched(quotable[start : start + NAMES_PER_SEARCH])
            if found is None:
                quotable = quotable[:start]  # the server refused: the rest one by one
                break
            models += found
        for name in wanted:
            if name not in quotable:
                model = self._one_model(name)
                models += [model] if model is not None else []
        return models

    def _searched(self, names: Sequence[str]) -> list[RegisteredModel] | None:
        """Two searches side by side; None when the server refuses ``name IN``."""
        quoted = ", ".join(f"'{name}'" for name in names)
        where = f"name IN ({quoted})"
        params = {"filter": where, "max_results": str(len(names))}
        version_params = {"filter": where, "max_results": str(self._version_page_size)}
        try:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="registry-some") as pool:
                versions = pool.submit(self._get, VERSIONS_PATH, version_params,
                                       session=self._side_session)  # fmt: skip
                page = self._get(SEARCH_PATH, params)
                answer = versions.result()
        except RegistryError as exc:
            if isinstance(exc, RegistryAuthError | RegistryUnavailableError) or (
                "HTTP 400" not in str(exc)
            ):
                raise
            log.info("the registry refused 'name IN (…)'; reading hinted models one by one")
            self._in_filter = False
            return None
        records = {
            (str(raw.get("name") or ""), str(raw.get("version") or "")): raw
            for raw in self._list(answer, "model_versions", VERSIONS_PATH)
        }
        raws = [raw for raw in self._list(page, "registered_models") if not _is_prompt(raw)]
        wanted = {self._field(raw, "name"): self._wanted(raw) for raw in raws}
        return [self._read_model(raw, wanted, records) for raw in raws]

    def _one_model(self, name: str) -> RegisteredModel | None:
        """``registered-models/get`` and a lookup per version it selects; None: not there."""
        answer = self._get(MODEL_PATH, {"name": name}, missing_ok=True)
        raw = (answer or {}).get("registered_model")
        if answer is None or not isinstance(raw, Mapping) or _is_prompt(raw):
            return None
        return self._read_model(raw, {name: self._wanted(raw)}, {})

    def _read_consistent(self) -> list[RegisteredModel]:
        name_filter = self._filter  # one filter for every request of this read
        pages = self._model_pages(name_filter)
        raws, more = next(pages)
        wanted_now = any(self._wanted(raw) for raw in raws)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="registry-versions") as pool:
            # Past the first page, the version search (the longest request) runs while
            # the other model pages are read: a server with several workers answers both.
            versions = (
                pool.submit(self._search_versions, name_filter) if more or wanted_now else None
            )
            count = 1
            for page, _ in pages:
                raws.extend(page)
                count += 1
            self._check_unique(raws)
            selected = [raw for raw in raws if self._models.matches(self._field(raw, "name"))]
            wanted = {self._field(raw, "name"): self._wanted(raw) for raw in selected}
            records, with_versions, version_pages = (
                versions.result() if versions is not None else ({}, set(), 0)
            )
        if count > 1:
            # A model that slid past a page boundary still has its versions here.
            unlisted = sorted(
                name for name in with_versions if name not in wanted and self._models.matches(name)
            )
            if unlisted:
                raise _Shifted(f"model {unlisted[0]!r} has versions but was not listed")
        found = {key: record for key, record in records.items() if key[1] in wanted.get(key[0], ())}
        models = [self._read_model(raw, wanted, found) for raw in selected]
        if count > 1 and version_pages > 1:
            # The version pages shift too and may have missed a slid model: list again.
            again: list[Mapping[str, Any]] = []
            for page, _ in self._model_pages(name_filter):
                again.extend(page)
            first = [self._field(raw, "name") for raw in raws]
            second = [self._field(raw, "name") for raw in again]
            if first != second:
                gone = sorted(set(first) ^ set(second))
                raise _Shifted(
                    "the list of models changed between two passes"
                    + (f" (e.g. {gone[0]!r})" if gone else "")
                )
        return models

    def _model_pages(self, name_filter: str) -> Iterator[tuple[list[Mapping[str, Any]], bool]]:
        """Pages of registered models in the server's order, each with "more follow"."""
        token = ""
        pages = 0
        while True:
            params = {"max_results": str(self._settings.page_size)}
            if token:
                params["page_token"] = token
            page = self._filtered_get(SEARCH_PATH, params, name_filter, self._session)
            if page is None:  # only a version lookup may be missing
                raise self._bad_answer(SEARCH_PATH, "HTTP 404")
            pages += 1
            token = str(page.get("next_page_token") or "")
            yield list(self._list(page, "registered_models")), bool(token)
            if not token:
                log.debug("searched %d page(s) of registered models", pages)
                return

    def _check_unique(self, raws: Sequence[Mapping[str, Any]]) -> None:
        """Offset page tokens shift when models are added mid-read: a name comes twice."""
        seen: set[str] = set()
        for raw in raws:
            name = self._field(raw, "name")
            if name in seen:
                raise _Shifted(f"model {name!r} seen twice")
            seen.add(name)

    def _wanted(self, raw: Mapping[str, Any]) -> set[str]:
        """The versions a model's snapshot holds: alias targets and the latest per stage."""
        wanted = {self._field(a, "version") for a in self._list(raw, "aliases")}
        wanted.update(self._field(v, "version") for v in self._list(raw, "latest_versions"))
        return wanted

    def _search_versions(
        self, name_filter: str
    ) -> tuple[dict[tuple[str, str], Mapping[str, Any]], set[str], int]:
        """``model-versions/search``: every version's record keyed (name, version), the
        name of every model with a version in the answer, and how many pages it took."""
        records: dict[tuple[str, str], Mapping[str, Any]] = {}
        names: set[str] = set()
        token = ""
        pages = 0
        while True:
            params: dict[str, str | list[str]] = {
                "max_results": str(self._version_page_size),
                "order_by": list(VERSION_ORDER),
            }
            if token:
                params["page_token"] = token
            page = self._filtered_get(VERSIONS_PATH, params, name_filter, self._side_session)
            if page is None:
                raise self._bad_answer(VERSIONS_PATH, "HTTP 404")
            pages += 1
            for raw in self._list(page, "model_versions", VERSIONS_PATH):
                name, version = str(raw.get("name") or ""), str(raw.get("version") or "")
                names.add(name)
                records[(name, version)] = raw
            token = str(page.get("next_page_token") or "")
            if not token:
                log.debug("searched %d page(s) of model versions", pages)
                return records, names, pages

    def _filtered_get(
        self,
        path: str,
        params: Mapping[str, str | list[str]],
        name_filter: str,
        session: requests.Session,
    ) -> Mapping[str, Any] | None:
        """A search with the read's name filter; a server that refuses it is read unfiltered.

        A server that cannot filter (an old MLflow, a proxy) answers 400: from
        then on every read is unfiltered, which is what every read did before.
        The read in progress starts over, as its page offsets were the filtered
        list's.
        """
        if not name_filter:
            return self._get(path, params, session=session)
        try:
            return self._get(path, {**params, "filter": name_filter}, session=session)
        except RegistryError as exc:
            if isinstance(exc, RegistryAuthError | RegistryUnavailableError) or (
                "HTTP 400" not in str(exc)
            ):
                raise
            if self._filter:
                log.info("the registry refused the filter %r on %s; reading unfiltered",
                         name_filter, path)  # fmt: skip
            self._filter = ""
            raise _Shifted("the registry stopped accepting the name filter") from exc

    def _read_model(
        self,
        raw: Mapping[str, Any],
        wanted: Mapping[str, set[str]],
        found: Mapping[tuple[str, str], Mapping[str, Any]],
    ) -> RegisteredModel:
        name = self._field(raw, "name")
        aliases = tuple(
            (self._field(a, "alias"), self._field(a, "version")) for a in self._list(raw, "aliases")
        )
        versions = tuple(
            self._version(name, version, found.get((name, version)))
            for version in sorted(wanted[name])
        )
        try:
            tags = _tag_pairs(raw.get("tags"))
        except (KeyError, TypeError, AttributeError) as exc:
            raise self._bad_answer(SEARCH_PATH, f"malformed tags of model {name!r}") from exc
        return RegisteredModel(name=name, aliases=aliases, tags=tags, versions=versions)

    def _version(self, name: str, version: str, raw: Mapping[str, Any] | None) -> ModelVersion:
        """A version from the search, or (when paging shifted past it) from its own lookup."""
        path = VERSIONS_PATH
        if raw is None:
            path = VERSION_PATH
            answer = self._get(VERSION_PATH, {"name": name, "version": version}, missing_ok=True)
            if answer is None:
                raise _Shifted(f"version {version} of model {name!r} vanished")
            raw = answer.get("model_version")
            if not isinstance(raw, Mapping):
                raise self._bad_answer(VERSION_PATH, "no 'model_version' in the answer")
        try:
            # The API's field names are the snapshot's; only tags come as [{key, value}].
            return ModelVersion.from_dict({**raw, "tags": _tag_pairs(raw.get("tags"))})
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise self._bad_answer(
                path, f"malformed record of {name!r} version {version}: {exc!r}"
            ) from exc
