"""Links to a function's spec in its repository's web pages, without credentials.

A function's ``promotion.json`` ``url`` (and from it the Argo CD application's
link and the rendered objects' ``link.argocd.argoproj.io/function-spec``) points
at the spec on the branch the source reads: the branch, not a commit, so that a
commit to another spec does not rewrite every folder. For https and ssh remotes
the link is derived as GitHub, Gitea and Forgejo serve files
(``https://host/org/repo/blob/<branch>/<path>``); ``functions[].git.spec_link``
gives another form, or ``none``. A local folder or path remote has no link.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

#: ``git@host:org/repo.git``, git's scp-like ssh syntax.
_SCP_LIKE = re.compile(r"^[A-Za-z0-9._-]+@(?P<host>[A-Za-z0-9.-]+):(?P<path>[^/].*)$")
DEFAULT_FORM = "{web}/blob/{branch}/{path}"


def web_url_of(repo_url: str) -> str:
    """The repository's web page for https, http and ssh remotes; '' for anything else."""
    scp = _SCP_LIKE.match(repo_url)
    if scp:
        host, path = scp["host"], scp["path"]
    else:
        parts = urlsplit(repo_url)
        if parts.scheme not in ("https", "http", "ssh") or not parts.hostname:
            return ""
        host = parts.hostname
        if parts.scheme != "ssh" and parts.port:
            host = f"{host}:{parts.port}"
        path = parts.path
        if parts.scheme == "http":
            return f"http://{host}/{_repo_path(path)}" if _repo_path(path) else ""
    return f"https://{host}/{_repo_path(path)}" if _repo_path(path) else ""


def _repo_path(path: str) -> str:
    return path.strip("/").removesuffix(".git").strip("/")


def link_template(repo_url: str, branch: str, form: str = "") -> str:
    """The link of a spec with ``{path}`` still open; '' when specs get no link."""
    if form.strip().lower() == "none":
        return ""
    web = web_url_of(repo_url)
    if not form:
        if not web:
            return ""
        form = DEFAULT_FORM
    link = form.replace("{web}", web).replace("{branch}", quote(branch, safe="/"))
    return _without_userinfo(link)


def _without_userinfo(link: str) -> str:
    """A user's own form may name a host with ``user:token@``: it never reaches git."""
    scheme, sep, rest = link.partition("://")
    host, slash, tail = rest.partition("/")
    return f"{scheme}{sep}{host.rpartition('@')[2]}{slash}{tail}" if sep else link


def spec_url(template: str, folder: str, file: str) -> str:
    """The link to ``file`` (relative to the spec folder ``folder`` of the repository)."""
    if not template:
        return ""
    path = f"{folder.strip('/')}/{file}" if folder.strip("/") else file
    return template.replace("{path}", quote(path, safe="/"))
