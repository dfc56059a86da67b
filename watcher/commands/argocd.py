"""Argo CD objects for the GitOps repository: an ApplicationSet, its project, a bootstrap.

The ApplicationSet's git *files* generator reads every ``promotion.json`` under
``git.path``, so each folder the daemon commits becomes one Application, with
the marker's fields (name, stage, namespace, registry link) as its parameters.
Adding, changing or removing a deployment therefore stays one commit in one
folder; nothing else has to be written. These files are rendered once (``gitops-watcher
argocd --out DIR``), committed by a person under ``argocd.bootstrap_path``, and
``bootstrap.yaml`` is applied once; the daemon never writes them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from watcher import __version__
from watcher.config.argocd_settings import ArgoCDSettings
from watcher.core.manifests import validate_folder
from watcher.core.targets import KUSTOMIZATION, make_environment, render_template
from watcher.errors import ConfigError

FOLDER = "argocd"
#: Written under bootstrap_path: the ApplicationSet and (optionally) its project.
BOOTSTRAP_FILES = ("appproject.yaml", "applicationset.yaml")
#: Applied by hand, once; kept outside bootstrap_path so it does not manage itself.
BOOTSTRAP_APP = "bootstrap.yaml"
MARKER = "promotion.json"


def marker_glob(path: str) -> str:
    """The files generator's pattern: every marker at any depth below the deployments path."""
    base = path.strip("/")
    return f"{base}/**/{MARKER}" if base else f"**/{MARKER}"


def _go(expression: str) -> str:
    """An Argo CD Go template expression, kept apart from Jinja's own braces."""
    return "{{ " + expression + " }}"


def argocd_settings(settings: Any) -> ArgoCDSettings:
    """``settings.argocd``, or the defaults while the settings tree has no such group."""
    config = getattr(settings, "argocd", None)
    return config if isinstance(config, ArgoCDSettings) else ArgoCDSettings()


def _links(config: ArgoCDSettings, revision: str) -> dict[str, str]:
    web = config.repo_web_url.rstrip("/")
    if not web:
        return {}
    tree = "-/tree" if config.web_flavor == "gitlab" else "tree"
    commits = "-/commits" if config.web_flavor == "gitlab" else "commits"
    path = _go(".path.path")
    return {
        "link.argocd.argoproj.io/gitops-folder": f"{web}/{tree}/{revision}/{path}",
        "link.argocd.argoproj.io/gitops-commits": f"{web}/{commits}/{revision}/{path}",
    }


def public_repo_url(url: str) -> str:
    """The URL without a password or token; an ssh user name (``git@``) is kept, ssh needs it."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    netloc = f"{user}@{host}" if parts.scheme == "ssh" and user else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def argocd_context(settings: Any) -> dict[str, Any]:
    """The templates' variables: settings, the repository, and the per-application templates."""
    config = argocd_settings(settings)
    git = settings.git
    url = config.repo_url or public_repo_url(git.repo_url)
    if not url:
        raise ConfigError(
            "Argo CD needs the GitOps repository's URL",
            hint="set git.repo_url (GIT_REPO_URL) or argocd.repo_url",
        )
    revision = config.target_revision or git.branch
    base = git.path.strip("/")
    name = _go(".path.path")
    if base:
        name = _go(f'.path.path | trimPrefix "{base}/" | replace "/" "-"')
    else:
        name = _go('.path.path | replace "/" "-"')
    labels = {
        "app.kubernetes.io/managed-by": "gitops-watcher",
        "app.kubernetes.io/part-of": config.name,
    }
    return {
        "argocd": config.model_dump(),
        "labels": labels,
        "repo": {"url": url, "revision": revision, "marker_glob": marker_glob(git.path)},
        "app": {
            "name": name,
            "path": _go(".path.path"),
            "namespace": _go(".namespace"),
            "labels": {
                **labels,
                "gitops-watcher.io/stage": _go(".stage"),
            },
            "annotations": _links(config, revision),
            "info": _info(),
            "patch": _url_patch(),
        },
    }


def _info(url_row: bool = False) -> list[dict[str, str]]:
    """The application's info rows; the marker's ``url`` row only where the marker has one."""
    rows = [
        {"name": "Name", "value": _go(".name")},
        {"name": "Kind", "value": _go(".kind")},
        {"name": "Stage", "value": _go(".stage")},
        {"name": "Revision", "value": _go(".revision_label")},
        {"name": "Target", "value": _go(".target")},
        {"name": "Source", "value": _go(".source")},
    ]
    if url_row:
        label = '{{ if eq .kind "function" }}Function spec{{ else }}Registry page{{ end }}'
        rows.append({"name": label, "value": _go(".url")})
    rows.append({"name": "Rendered by", "value": f"gitops-watcher {__version__}"})
    return rows


def _url_patch() -> str:
    """The ApplicationSet's ``templatePatch``: the link and info row of the marker's ``url``
    (the MLflow model-version page, or a function's spec in git), only when it has one.

    A plain template cannot leave a key out, so these go through Argo CD's templatePatch
    (a Go template whose YAML is merged into each application; a list such as ``info``
    is replaced whole, so the patch carries every row). Values are written with
    ``toJson``: any marker text stays one YAML string.
    """
    link = (
        '{{ if eq .kind "function" }}link.argocd.argoproj.io/function-spec'
        "{{ else }}link.argocd.argoproj.io/mlflow-model-version{{ end }}"
    )
    lines = [
        "{{- if .url }}",
        "metadata:",
        "  annotations:",
        f"    {link}: {{{{ .url | toJson }}}}",
        "spec:",
        "  info:",
    ]
    for row in _info(url_row=True):
        name, value = (_as_json(row[key]) for key in ("name", "value"))
        lines += [f"    - name: {name}", f"      value: {value}"]
    lines += ["{{- else }}", "{}", "{{- end }}"]  # no url: an empty patch
    return "\n".join(lines) + "\n"


def _as_json(text: str) -> str:
    """A row's text in the patch: a marker field via toJson, a fixed text as a JSON string."""
    if text.startswith("{{ .") and text.endswith(" }}") and text.count("{{") == 1:
        return "{{ " + text[3:-3].strip() + " | toJson }}"
    if "{{" in text:
        return text  # the url row's label: the Go template's result is plain words
    return json.dumps(text)


def render_argocd(settings: Any) -> dict[str, bytes]:
    """Relative path -> file bytes: ``<bootstrap_path>/…`` to commit, and ``bootstrap.yaml``."""
    from watcher.adapters.templates import template_loader

    env = make_environment(template_loader(settings.render.templates_dir))
    context = argocd_context(settings)
    folder: dict[str, bytes] = {}
    for name in BOOTSTRAP_FILES:
        text = render_template(env, f"{FOLDER}/{name}.j2", context)
        if text:
            folder[name] = text.encode()
    resources = sorted(folder)
    folder[KUSTOMIZATION] = render_template(
        env, f"{FOLDER}/{KUSTOMIZATION}.j2", {**context, "resources": resources}
    ).encode()
    bootstrap = render_template(env, f"{FOLDER}/{BOOTSTRAP_APP}.j2", context).encode()
    version = settings.render.kubernetes_version
    validate_folder(folder, version)
    validate_folder({BOOTSTRAP_APP: bootstrap}, version)
    base = argocd_settings(settings).bootstrap_path
    files = {f"{base}/{name}": data for name, data in folder.items()}
    files[BOOTSTRAP_APP] = bootstrap
    return files


def add_argocd_parser(commands: Any) -> argparse.ArgumentParser:
    """``gitops-watcher argocd --out DIR``; ``commands`` is the CLI's subparsers object."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "argocd",
        help="write the Argo CD ApplicationSet, project and bootstrap Application into a folder",
    )
    parser.add_argument("--out", type=Path, required=True, help="a new or empty folder")
    return parser


def argocd_command(args: argparse.Namespace, settings: Any) -> int:
    """Write the files, then say what to commit and what to apply."""
    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"{out} is not an empty folder", hint="write into a new or empty folder")
    files = render_argocd(settings)
    for relative, data in sorted(files.items()):
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        print(f"wrote {relative}")
    config = argocd_settings(settings)
    base = config.bootstrap_path
    print(
        f"commit {base}/ to {settings.git.branch} of the GitOps repository, then apply once: "
        f"kubectl apply -n {config.namespace} -f {out / BOOTSTRAP_APP}",
        file=sys.stderr,
    )
    return 0
