"""What runs inside the pods: a small launcher for python functions, and the source fetchers.

The launcher needs nothing but the Python standard library, so any official
``python:3.X-slim`` image runs it: the function's code and the launcher travel in
a ConfigMap, requirements are installed by an init container into a shared
volume, and the launcher either serves the handler over HTTP (``serve``) or calls
it once (``run``). The texts here are rendered into ConfigMaps and init-container
commands verbatim; a test runs them on this machine.
"""

from __future__ import annotations

#: File name of the launcher inside the code ConfigMap.
LAUNCHER = "_gitops_function.py"
#: Where the code ConfigMap is mounted, and where requirements are installed.
CODE_DIR = "/opt/function"
DEPS_DIR = "/opt/deps"

LAUNCHER_TEXT = '''\
"""gitops-watcher's launcher: serve a python handler over HTTP, or run it once.

Usage: python _gitops_function.py serve|run. Configured by environment:
FUNCTION_HANDLER (module:function), FUNCTION_INIT (function called once with the
context), FUNCTION_PROJECT, FUNCTION_NAME, FUNCTION_PARAMS (JSON, for run),
FUNCTION_PATHS (extra import folders, ':'-separated), PORT (for serve).
"""

import importlib
import inspect
import json
import logging
import os
import runpy
import sys
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

log = logging.getLogger("function")


class Context:
    """What a handler's ``context`` parameter receives: a logger, results, parameters."""

    def __init__(self, name, project, parameters):
        self.name = name
        self.project = project
        self.parameters = dict(parameters)
        self.results = {}
        self.logger = log

    def log_result(self, key, value):
        self.results[key] = value
        log.info("result %s=%r", key, value)

    def get_param(self, key, default=None):
        return self.parameters.get(key, default)


def _encode(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def _load(spec):
    for folder in reversed(os.environ.get("FUNCTION_PATHS", "").split(":")):
        if folder and folder not in sys.path:
            sys.path.insert(0, folder)
    module_name, _, function_name = spec.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, function_name)


def _call(function, context, params):
    accepted = inspect.signature(function).parameters
    kwargs = dict(params)
    if "context" in accepted:
        kwargs["context"] = context
    if "project" in accepted and "project" not in kwargs:
        kwargs["project"] = context.project
    takes_any = any(p.kind is p.VAR_KEYWORD for p in accepted.values())
    if not takes_any:
        kwargs = {k: v for k, v in kwargs.items() if k in accepted}
    return function(**kwargs)


def _context(params):
    name = os.environ.get("FUNCTION_NAME", "function")
    return Context(name, os.environ.get("FUNCTION_PROJECT", ""), params)


def run():
    params = json.loads(os.environ.get("FUNCTION_PARAMS") or "{}")
    context = _context(params)
    handler = os.environ.get("FUNCTION_HANDLER", "")
    if not handler:
        script = os.environ["FUNCTION_SCRIPT"]
        runpy.run_path(script, run_name="__main__")
        return 0
    result = _call(_load(handler), context, params)
    print(json.dumps({"result": result, "results": context.results}, default=_encode))
    return 0


def serve():
    context = _context({})
    handler = _load(os.environ["FUNCTION_HANDLER"])
    init = os.environ.get("FUNCTION_INIT", "")
    if init:
        module = os.environ["FUNCTION_HANDLER"].split(":")[0]
        _call(_load(init if ":" in init else f"{module}:{init}"), context, {})

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status, body):
            data = json.dumps(body, default=_encode).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _invoke(self, params):
            try:
                self._answer(200, {"result": _call(handler, context, params)})
            except Exception as exc:
                traceback.print_exc()
                self._answer(500, {"error": f"{type(exc).__name__}: {exc}"})

        def do_GET(self):
            url = urlsplit(self.path)
            if url.path in ("/healthz", "/ready"):
                self._answer(200, {"status": "ok"})
            else:
                self._invoke(dict(parse_qsl(url.query)))

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b"{}"
            try:
                params = json.loads(raw or b"{}")
            except ValueError:
                self._answer(400, {"error": "the body must be a JSON object"})
                return
            if not isinstance(params, dict):
                self._answer(400, {"error": "the body must be a JSON object"})
                return
            self._invoke(params)

        def log_message(self, format, *args):
            log.info("%s %s", self.address_string(), format % args)

    port = int(os.environ.get("PORT", "8080"))
    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    log.info("serving %s on port %d", os.environ["FUNCTION_HANDLER"], port)
    server.serve_forever()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    sys.exit(serve() if sys.argv[1:] == ["serve"] else run())
'''

#: Fetches a git source into $TARGET_DIR: any branch, tag or commit the server hands out.
#: GIT_USERNAME with GIT_PASSWORD, or GIT_TOKEN (from ``source_secret``), answer the
#: server's password prompt through a credential helper: never in the URL or the argv.
GIT_FETCH_SCRIPT = """\
set -eu
export GIT_TERMINAL_PROMPT=0
mkdir -p "$TARGET_DIR"
cd "$TARGET_DIR"
git init -q .
if [ -n "${GIT_PASSWORD:-}${GIT_TOKEN:-}" ]; then
  git config credential.helper '!f() { test "$1" = get || return 0; echo "username=${GIT_USERNAME:-oauth2}"; echo "password=${GIT_PASSWORD:-$GIT_TOKEN}"; }; f'
fi
git fetch -q --depth 1 "$SOURCE_URL" "$SOURCE_REF"
git checkout -q FETCH_HEAD
rm -rf .git
echo "fetched $SOURCE_REF into $TARGET_DIR"
"""  # noqa: E501

#: Downloads (http/https) or reads (a local copy from S3) the source into $TARGET_DIR: a zip
#: or a tar archive (told apart by their bytes) is unpacked safely, one .py file is copied.
ARCHIVE_FETCH_SCRIPT = """\
import os, shutil, sys, tarfile, tempfile, urllib.parse, urllib.request, zipfile
url, target = os.environ["SOURCE_URL"], os.environ["TARGET_DIR"]
os.makedirs(target, exist_ok=True)
local = os.environ.get("SOURCE_FILE", "")
if not local:
    handle, local = tempfile.mkstemp()
    with urllib.request.urlopen(url, timeout=120) as answer, os.fdopen(handle, "wb") as out:
        shutil.copyfileobj(answer, out)
name = urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1]
if zipfile.is_zipfile(local):
    with zipfile.ZipFile(local) as archive:
        root = os.path.realpath(target)
        for member in archive.namelist():
            path = os.path.realpath(os.path.join(target, member))
            if path != root and not path.startswith(root + os.sep):
                sys.exit(f"refusing {member!r}: it leaves the target folder")
        archive.extractall(target)
elif name.lower().endswith(".py"):
    shutil.copyfile(local, os.path.join(target, name))
else:
    with tarfile.open(local) as archive:
        archive.extractall(target, filter="data")
print(f"fetched {name} into {target}")
"""

#: Copies an s3:// object to the shared volume for ARCHIVE_FETCH_SCRIPT (aws-cli image).
S3_COPY_SCRIPT = 'aws s3 cp --only-show-errors "$SOURCE_URL" "$SOURCE_FILE"'

#: Installs requirements into the shared volume (never into the image).
PIP_INSTALL_SCRIPT = (
    'python -m pip install --no-cache-dir --disable-pip-version-check --target "$DEPS_DIR" '
    '-r "$REQUIREMENTS"'
)


def dockerfile(
    base_image: str,
    requirements: bool,
    instructions: tuple[str, ...],
    handler: str,
) -> str:
    """The image a build task makes: the code, its requirements and the launcher, served."""
    lines = [
        "# Generated by gitops-watcher from a DigitalHub build task.",
        f"FROM {base_image}",
        f"WORKDIR {CODE_DIR}",
    ]
    if requirements:
        lines += [
            f"COPY requirements.txt {CODE_DIR}/requirements.txt",
            f"RUN python -m pip install --no-cache-dir -r {CODE_DIR}/requirements.txt",
        ]
    lines += [f"RUN {instruction}" for instruction in instructions]
    lines += [
        f"COPY . {CODE_DIR}/",
        f"ENV PYTHONPATH={CODE_DIR} FUNCTION_HANDLER={handler}",
        f'CMD ["python", "{CODE_DIR}/{LAUNCHER}", "serve"]',
    ]
    return "\n".join(lines) + "\n"
