"""Remote code sources: the URL forms the SDKs write, and what the pod's fetchers read.

DigitalHub's ``code_src`` (``spec.source.source``) and MLRun's ``spec.build.source``
name code that an init container fetches when the pod starts:

=============================================  =====================================
written in the spec                            fetched as
=============================================  =====================================
``git+https://host/repo#ref``                  git, ``https://host/repo`` at ``ref``
``git+http://host/repo#ref``                   git, ``http://host/repo`` at ``ref``
``git://host/repo#ref`` (MLRun)                git, ``https://host/repo`` at ``ref``
``zip+https://…``, ``zip+http://…``            downloaded and unpacked (a zip)
``https://….zip|.tar.gz|.tgz`` (also http)     downloaded and unpacked
``https://…/module.py`` (also http)            downloaded as that one file
``zip+s3://bucket/key``                        copied from S3, unpacked (a zip)
``s3://bucket/key.zip|.tar.gz|.tgz``           copied from S3, unpacked
=============================================  =====================================

No ref means the remote's default branch. Credentials never belong in the URL:
the overlay's ``source_secret`` gives the fetchers their keys.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from watcher.core.functions.model import RemoteSource
from watcher.core.functions.problems import Problems
from watcher.core.names import describe

_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".zip")
#: Scheme written in the spec -> the scheme the git fetcher uses.
_GIT_SCHEMES = {"git": "https", "git+https": "https", "git+http": "http"}
_HTTP_SCHEMES = ("https", "http")
SUPPORTED_FORMS = (
    "git+https://<host>/<repo>#<ref>",
    "git://<host>/<repo>#<ref>",
    "zip+https://…",
    "zip+s3://<bucket>/<key>",
    "http(s)://….tar.gz, .tgz, .zip or .py",
    "s3://<bucket>/<key>.tar.gz, .tgz or .zip",
)


def remote_source(problems: Problems, url: str, field: str, target_dir: str) -> RemoteSource | None:
    """The source ``url`` names, or None with a problem saying which forms work."""
    scheme, _, rest = url.partition("://")
    scheme = scheme.lower()
    zipped = scheme.startswith("zip+")
    inner = scheme.removeprefix("zip+")
    if not rest or not ((inner in _GIT_SCHEMES and not zipped) or inner in (*_HTTP_SCHEMES, "s3")):
        problems.add(
            field, f"{describe(url)} is not a supported source; use {', '.join(SUPPORTED_FORMS)}"
        )
        return None
    if "@" in urlsplit(f"{inner}://{rest}").netloc:
        problems.add(field, "holds credentials in the URL; use a Secret (source_secret)")
        return None
    if inner in _GIT_SCHEMES:
        return _git(problems, url, field, target_dir, f"{_GIT_SCHEMES[inner]}://{rest}")
    location = f"{inner}://{rest}"
    path = urlsplit(location).path.lower()
    if not zipped and not path.endswith(_ARCHIVE_SUFFIXES):
        if inner == "s3":
            problems.add(
                field,
                f"{describe(url)}: an s3 source must be a .tar.gz, .tgz or .zip archive "
                "(zip+s3://… for a zip of any name)",
            )
            return None
        if not path.endswith(".py"):
            problems.add(
                field,
                f"{describe(url)}: an http(s) source must be a .tar.gz, .tgz or .zip archive "
                "(zip+https://… for a zip of any name) or one .py file",
            )
            return None
    return RemoteSource("s3" if inner == "s3" else "archive", location, "", target_dir)


def _git(
    problems: Problems, url: str, field: str, target_dir: str, location: str
) -> RemoteSource | None:
    clone_url, _, ref = location.partition("#")
    parts = urlsplit(clone_url)
    if not parts.hostname or parts.path.strip("/") == "":
        problems.add(field, f"{describe(url)} is not git+https://<host>/<repo>#<ref>")
        return None
    return RemoteSource("git", clone_url, ref or "HEAD", target_dir)


def single_file(source: RemoteSource) -> str:
    """The file name of a source that is one python file ('' for archives and git)."""
    if source.kind != "archive":
        return ""
    name = urlsplit(source.url).path.rsplit("/", 1)[-1]
    return name if name.lower().endswith(".py") else ""
