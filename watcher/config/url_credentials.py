"""User info in URLs: taken out of the settings where they are loaded, kept as credentials.

A URL may carry ``user:password@`` (``MLFLOW_TRACKING_URI=http://alice:pw@host``, a
database URI, an https git remote). Settings are written into manifests, commit
trailers, ``/status``, logs and registry tags; rather than redact each of those,
the loader removes the user info from every URL of the tree once, and keeps it
in :class:`~watcher.config.settings.Credentials` under the URL's key, where the
adapters that need it to connect find it. Nothing downstream ever sees it.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from pydantic import BaseModel

from watcher.config.settings import Settings, UrlLogin
from watcher.core.urls import split_user_info

log = logging.getLogger(__name__)

#: Keys whose user info is used to connect (the registry's REST API or database, a git
#: remote over http(s), the state database); any other URL's is dropped with a warning.
_USED = re.compile(
    r"^((sources\.[^.]+\.)?registry\.(tracking_uri|database_uri)"
    r"|git\.repo_url|functions\.[^.]+\.git\.repo_url|state\.database_url"
    r"|notifications\.[^.]+\.url)$"
)
#: Why the user info of a URL is not used, by the URL's last key.
_UNUSED_BECAUSE = {
    "endpoint_url": "S3 keys come from the AWS chain: AWS_ACCESS_KEY_ID, a profile or a role",
    "s3_endpoint_url": "S3 keys come from the AWS chain: AWS_ACCESS_KEY_ID, a profile or a role",
    "ui_url": "links never carry credentials",
    "repo_web_url": "links never carry credentials",
    "repo_url": "Argo CD reads the repository with the credentials it is given itself",
    "destination_server": "Argo CD reaches clusters with the credentials it is given itself",
    "api_url": "the Argo CD API is read with ARGOCD_AUTH_TOKEN",
}


def take_url_credentials(settings: Settings) -> tuple[Settings, dict[str, UrlLogin]]:
    """The settings with no user info in any URL, and the user info that is used, by key."""
    found: dict[str, tuple[str, UrlLogin]] = {}
    clean = _strip(settings, "", found)
    assert isinstance(clean, Settings)
    used = {}
    for key, (scheme, login) in sorted(found.items()):
        if _USED.match(key) and "ssh" not in scheme:
            used[key] = login
        else:
            reason = (
                "an ssh remote logs in with its key (ssh_key_file)"
                if "ssh" in scheme
                else _UNUSED_BECAUSE.get(key.rsplit(".", 1)[-1], "nothing logs in to it")
            )
            log.warning("the user info in %s is not used (%s) and was removed from it", key, reason)
    return clean, used


def _strip(model: BaseModel, prefix: str, found: dict[str, tuple[str, UrlLogin]]) -> BaseModel:
    """A copy of ``model`` whose string fields hold no user info; what was there goes in
    ``found`` (key -> the URL's scheme and the login)."""
    update: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        key = f"{prefix}{name}"
        if isinstance(value, str):
            split = split_user_info(value)
            if split is not None:
                update[name] = split.url
                login = UrlLogin(username=split.username, password=split.password)
                found[key] = (value.partition("://")[0].lower(), login)
        elif isinstance(value, BaseModel):
            update[name] = _strip(value, f"{key}.", found)
        elif isinstance(value, tuple) and value and isinstance(value[0], BaseModel):
            update[name] = tuple(
                _strip(item, f"{key}.{getattr(item, 'name', index)}.", found)
                for index, item in enumerate(value)
            )
    return model.model_copy(update=update) if update else model
