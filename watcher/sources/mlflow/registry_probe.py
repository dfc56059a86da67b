"""A cheap change probe for REST registries without webhooks.

One paged ``registered-models/search`` returns every model's aliases, tags and
latest versions per stage. A fingerprint of each model's record, compared with
the one before, names the models that may have changed since: the reconcile that
follows reads just those again (a hint). A model that appeared is named too; one
that vanished asks for a full reconcile (a hinted one leaves a missing model's
folders to it). Our own status tags are left out of the fingerprints, so writing them
back does not look like a change. Only the models the source selects count (its
``registry.models`` patterns, sent as the readers' server-side name filter where they
can be): a shard's probe reads and compares its own part of a shared registry.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from watcher.config.settings import Credentials, RegistrySettings
from watcher.core.stages import NameFilter
from watcher.errors import RegistryError
from watcher.sources.mlflow.mlflow_http import SEARCH_PATH, MlflowHttp
from watcher.sources.mlflow.registry_rest import name_filter
from watcher.spine.triggers import Changed

#: Pages read per probe at most; a registry larger than this is left to the resync.
MAX_PAGES = 100
#: More changed models than this at once: read the whole registry instead.
MAX_NAMED = 500


class RegistryProbe(MlflowHttp):
    """``changed()`` names the models whose record differs from the last probe's."""

    def __init__(
        self, settings: RegistrySettings, credentials: Credentials, *, ignore_tag_prefix: str
    ) -> None:
        super().__init__(settings, credentials)
        self._ignore = ignore_tag_prefix
        self._last: dict[str, bytes] | None = None
        self._models = NameFilter(settings.models.include, settings.models.exclude)
        self._filter = name_filter(settings.models.include)

    def fingerprints(self) -> dict[str, bytes]:
        """Each selected model's digest: its name, aliases, tags and latest versions (paged).
        A server that refuses the name filter (HTTP 400) is asked without it from then on."""
        try:
            return self._fingerprints()
        except RegistryError as exc:
            if not self._filter or "HTTP 400" not in str(exc):
                raise
            self._filter = ""
            return self._fingerprints()

    def _fingerprints(self) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        token = ""
        for _page in range(MAX_PAGES):
            params = {"max_results": str(self._settings.page_size)}
            if self._filter:
                params["filter"] = self._filter
            if token:
                params["page_token"] = token
            page = self._get(SEARCH_PATH, params)
            if page is None:
                raise self._bad_answer(SEARCH_PATH, "HTTP 404")
            for raw in self._list(page, "registered_models"):
                name = str(raw.get("name"))
                if not self._models.matches(name):
                    continue
                text = json.dumps(self._strip(raw), sort_keys=True, separators=(",", ":"))
                found[name] = hashlib.blake2b(text.encode(), digest_size=16).digest()
            token = str(page.get("next_page_token") or "")
            if not token:
                break
        return found

    def fingerprint(self) -> str:
        """One digest of the whole answer (for tests and logs)."""
        digest = hashlib.sha256()
        for name, one in sorted(self.fingerprints().items()):
            digest.update(name.encode() + b"\0" + one)
        return digest.hexdigest()

    def changed(self) -> Changed:
        """Probe once: the names of the models that differ from the last probe (added ones
        too), or True when there are too many to name or one vanished (only a full
        reconcile removes a deleted model's folders); the first probe only remembers (the
        startup reconcile covers it)."""
        current = self.fingerprints()
        previous, self._last = self._last, current
        if previous is None:
            return False
        names = {name for name, one in current.items() if previous.get(name) != one}
        if len(names) > MAX_NAMED or previous.keys() - current.keys():
            return True
        return frozenset(names)

    def prime(self) -> None:
        """Take the baseline now (before the startup reconcile reads the registry)."""
        self._last = self.fingerprints()

    def _strip(self, value: Any) -> Any:
        """Drop our own status tags wherever tags appear in the answer."""
        if isinstance(value, Mapping):
            out = {}
            for key, item in value.items():
                if key == "tags" and isinstance(item, list):
                    item = [
                        t
                        for t in item
                        if not (
                            isinstance(t, Mapping)
                            and str(t.get("key", "")).startswith(self._ignore)
                        )
                    ]
                out[key] = self._strip(item)
            return out
        if isinstance(value, list):
            return [self._strip(v) for v in value]
        return value
