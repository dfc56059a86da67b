"""URLs that are safe to print, log, or write to git."""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import unquote, urlsplit, urlunsplit

_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/@]*@")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
#: Schemes whose user name is an account, not a secret, and is needed to connect (ssh).
_KEEP_USER = ("ssh://", "git+ssh://", "ssh+git://")


def redact_url(url: str) -> str:
    """The URL without ``user:password@``: registry sources and URIs may carry credentials."""
    try:
        parts = urlsplit(url)
        if parts.username is None and parts.password is None:
            return url
        host = parts.hostname or ""
        port = parts.port
    except ValueError:  # an unparsable port or host: drop whatever precedes '@'
        return _USERINFO.sub(r"\1", url)
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class UserInfo(NamedTuple):
    """A URL split in two: what may be shown, and the user name and password it held."""

    url: str
    username: str
    password: str


def split_user_info(url: str) -> UserInfo | None:
    """``url`` without its credential, and the (percent-decoded) credential; None if it has none.

    Everything before the host's ``@`` goes, except the user name of an ssh URL
    (``ssh://git@host/…``: ssh and Argo CD need it, and it is no secret); the rest
    of the URL is kept exactly as written.
    """
    if not _SCHEME.match(url):
        return None
    scheme, _, rest = url.partition("://")
    end = min((rest.find(c) for c in "/?#" if c in rest), default=len(rest))
    netloc, tail = rest[:end], rest[end:]
    if "@" not in netloc:
        return None
    userinfo, _, host = netloc.rpartition("@")
    user, has_password, password = userinfo.partition(":")
    keep_user = url.lower().startswith(_KEEP_USER)
    if keep_user and not has_password:
        return None
    shown = f"{user}@{host}" if keep_user and user else host
    return UserInfo(f"{scheme}://{shown}{tail}", unquote(user), unquote(password))
