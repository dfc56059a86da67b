"""A cheap change probe for REST registries without webhooks.

One paged ``registered-models/search`` returns every model's aliases and latest
versions per stage. Its fingerprint, compared with the previous one, says
whether the registry may have changed since; only then is a reconcile worth it.
Our own status tags are left out of the fingerprint, so writing them back does
not look like a change.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from watcher.config.settings import Credentials, RegistrySettings
from watcher.sources.mlflow.mlflow_http import SEARCH_PATH, MlflowHttp

#: Pages read per probe at most; a registry larger than this is left to the resync.
MAX_PAGES = 100


class RegistryProbe(MlflowHttp):
    """``changed()`` is True when the search answer differs from the last one seen."""

    def __init__(
        self, settings: RegistrySettings, credentials: Credentials, *, ignore_tag_prefix: str
    ) -> None:
        super().__init__(settings, credentials)
        self._ignore = ignore_tag_prefix
        self._last: str | None = None

    def fingerprint(self) -> str:
        """A digest of every model's name, aliases, tags and latest versions (paged)."""
        digest = hashlib.sha256()
        token = ""
        for _page in range(MAX_PAGES):
            params = {"max_results": str(self._settings.page_size)}
            if token:
                params["page_token"] = token
            page = self._get(SEARCH_PATH, params)
            if page is None:
                raise self._bad_answer(SEARCH_PATH, "HTTP 404")
            for raw in self._list(page, "registered_models"):
                digest.update(json.dumps(self._strip(raw), sort_keys=True).encode())
                digest.update(b"\n")
            token = str(page.get("next_page_token") or "")
            if not token:
                break
        return digest.hexdigest()

    def changed(self) -> bool:
        """Probe once; the first probe only remembers (the startup reconcile covers it)."""
        current = self.fingerprint()
        previous, self._last = self._last, current
        return previous is not None and previous != current

    def prime(self) -> None:
        """Take the baseline now (before the startup reconcile reads the registry)."""
        self._last = self.fingerprint()

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
